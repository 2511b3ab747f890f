"""Procurement records for tests: an approved supplier, a confirmed order, a receipt waiting for inspection.

The supplier's credit code and the representative's ID number are checksum-valid examples, not real parties; drugs
come from the test world (real catalogue rows)."""
import uuid
from datetime import timedelta

from core import clock
from gsp import purchasing as pur, qualification as qual
from tests.conftest import TEST_TODAY

STORE_SCOPE = "化学药制剂\n中成药\n生物制品\n冷藏冷冻药品"
CREDIT_CODES = ["91110000802100433B", "91320000134789012J", "91440300MA5DC12341", "91330100MA27X9876K",
                "91510100MA61R45670"]
REP_ID = "11010519491231002X"


def set_store_scope(world, scope: str = STORE_SCOPE) -> None:
    from core.db import transaction

    with transaction(world.session):
        world.store.business_scope = scope
        world.session.add(world.store)


def licences(kind: str = "wholesaler", *, until_days: int = 400) -> list[dict]:
    first = "trade" if kind == "wholesaler" else "manufacturing"
    return [{"kind": first, "number": "京AA0000001", "valid_until": (TEST_TODAY + timedelta(days=until_days))
             .isoformat(), "scope": STORE_SCOPE},
            {"kind": "business", "number": CREDIT_CODES[0], "valid_until": None}]


def submit_supplier(world, *, code: str = "SUP1", credit_code: str = CREDIT_CODES[0], scope: str = STORE_SCOPE,
                    until_days: int = 400, **kw):
    return qual.submit_supplier(world.session, world.actor("purchaser"), code=code, name=f"测试医药有限公司{code}",
                                credit_code=credit_code, business_scope=scope,
                                licences=kw.pop("licences", licences(until_days=until_days)),
                                reps=kw.pop("reps", [{"name": "张三", "id_number": REP_ID,
                                                      "valid_until": (TEST_TODAY + timedelta(days=200)).isoformat()}]),
                                **kw)


def approved_supplier(world, **kw):
    supplier = submit_supplier(world, **kw)
    return qual.decide_supplier(world.session, world.actor("quality_manager"), supplier.id, approve=True)


def confirmed_order(world, supplier=None, lines=None):
    set_store_scope(world)
    supplier = supplier or approved_supplier(world)
    lines = lines or [{"drug_id": world.drug["LHQW"].id, "packages": 10, "unit_cost_fen": 1800}]
    purchaser = world.actor("purchaser")
    order = pur.create_order(world.session, purchaser, store=world.store, supplier_id=supplier.id, lines=lines)
    return pur.confirm_order(world.session, purchaser, store=world.store, order_id=order.id)


def receipt_line(order_line_id: int, waiting_location_id: int, *, lot_no: str | None = None, packages: int = 10,
                 expiry_days: int = 720, production_days_ago: int = 30, **kw) -> dict:
    return {"order_line_id": order_line_id, "lot_no": lot_no or f"R{uuid.uuid4().hex[:8].upper()}",
            "production_date": (TEST_TODAY - timedelta(days=production_days_ago)).isoformat(),
            "expiry_date": (TEST_TODAY + timedelta(days=expiry_days)).isoformat(), "packages": packages,
            "waiting_location_id": waiting_location_id, "cases": 1, **kw}


def receive(world, order, lines=None, *, delivery_note_no: str | None = None, client_uuid: str | None = None):
    first_line, _drug = pur.order_lines(world.session, order.id)[0]
    lines = lines or [receipt_line(first_line.id, world.loc["Y01"].id)]
    return pur.receive(world.session, world.actor("receiver"), store=world.store, order_id=order.id,
                       delivery_note_no=delivery_note_no or f"DN{uuid.uuid4().hex[:8]}",
                       client_uuid=client_uuid or str(uuid.uuid4()), lines=lines)


def procurement_url_args(world) -> dict:
    """Real records for the procurement routes of the permission matrix."""
    order = confirmed_order(world)
    receipt = receive(world, order)
    line = pur.receipt_rows(world.session, receipt_id=receipt.id)[0].line
    request = qual.submit_drug_change(world.session, world.actor("purchaser"), world.drug["PLAIN"].id,
                                      changes={"specification": "新规格"}, reason="说明书更新")
    return {"supplier_id": order.supplier_id, "order_id": order.id, "receipt_id": receipt.id,
            "receipt_line_id": line.id, "order_line_id": line.order_line_id, "request_id": request.id,
            "return_id": _a_return(world, order, line).id}


def _a_return(world, order, line):
    pur.inspect(world.session, world.actor("inspector"), store=world.store, line_id=line.id, sampled=line.quantity_received // 36,
                appearance_ok=True, packaging_ok=True, label_ok=True, report_ok=True,
                accepted_packages=line.quantity_received // 36, rejected_packages=0, location_id=world.loc["A01"].id)
    return pur.request_return(world.session, world.actor("purchaser"), store=world.store,
                              supplier_id=order.supplier_id, reason="包装破损",
                              lines=[{"lot_id": line.lot_id, "location_id": world.loc["A01"].id, "packages": 1}])
