"""Procurement at the service layer (DOMAIN.md §3): qualified suppliers and drugs (首营企业 / 首营品种) approved by a
second person, orders within both business scopes, receiving against the purchase plan (采购计划), acceptance
inspection into the ledger (验收), purchase returns approved by the quality head and finance (采购退回), licence
warnings, and the append-only GSP records. Every refusal says why (error type and code) and writes nothing."""
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import func, select

from core.errors import Conflict, InsufficientStock, InvalidInput, NotFound, NotSellable, PermissionDenied
from core.jobs import licence_expiry
from core.models import AuditEvent, Notification
from core.services import notifications_for
from gsp import purchasing as pur, qualification as qual, quality as q
from gsp.models import (DrugRequest, Inspection, OrderStatus, PurchaseOrder, PurchaseOrderLine, PurchaseReturn,
                        PurchaseReturnLine, QualificationStatus, Receipt, ReceiptDecision, ReceiptLine, ReturnStatus,
                        SaleStopLot, Supplier, SupplierLicence, SupplierRep)
from inventory import services as inv
from inventory.models import (ApprovalStatus, Drug, Location, Lot, LotStatus, LotStatusEvent, MovementKind,
                              StockBalance, StockMovement)
from inventory.services import SkipReason
from inventory.stock_check import run_stock_check, set_stock_level
from tests.conftest import PG_URL, TEST_TODAY
from tests.integration import procurement_helpers as h

CC = h.CREDIT_CODES
LHQW_BARCODE = "6920855052082"
# A real product row of /work/shared/data/drug_barcodes_cn.csv (barcode, name, specification, unit, manufacturer,
# approval number); the retail price is a test value (the source gives none).
GRANULES_BARCODE = "6952378200060"
GRANULES = dict(code="LHQWKL", generic_name="连花清瘟颗粒", specification="6g*10袋", package_unit="盒",
                smallest_unit="袋", units_per_package=10, manufacturer="北京以岭药业有限公司",
                approval_no="国药准字Z20100040", category="patent", retail_price_fen=3280,
                barcodes=[(GRANULES_BARCODE, "ean13")])
DOCUMENTS = "药品注册证、质量标准、出厂检验报告、说明书及包装样稿"

TABLES = (Supplier, SupplierLicence, SupplierRep, DrugRequest, Drug, PurchaseOrder, PurchaseOrderLine, Receipt,
          ReceiptLine, ReceiptDecision, Inspection, Lot, LotStatusEvent, StockMovement, StockBalance, PurchaseReturn,
          PurchaseReturnLine, SaleStopLot, AuditEvent, Notification)


# --- helpers ------------------------------------------------------------------------------------------------------

def snapshot(db):
    """Row counts of every table procurement writes, and the state columns it updates."""
    db.rollback()
    counts = {t.__tablename__: db.exec(select(func.count()).select_from(t)).one() for t in TABLES}

    def rows(*cols):
        return sorted(tuple(r) for r in db.exec(select(*cols)).all())

    states = (rows(Supplier.id, Supplier.status), rows(DrugRequest.id, DrugRequest.status),
              rows(Drug.id, Drug.approval_status, Drug.specification, Drug.retail_price_fen),
              rows(PurchaseOrder.id, PurchaseOrder.status), rows(Lot.id, Lot.status),
              rows(StockBalance.id, StockBalance.quantity),
              rows(PurchaseReturn.id, PurchaseReturn.status, PurchaseReturn.quality_by_id,
                   PurchaseReturn.finance_by_id))
    return counts, states


def refused(db, error, code, call, /, *args, **kwargs):
    """call(db, *args, **kwargs) raises `error` with `code` and changes nothing."""
    before = snapshot(db)
    with pytest.raises(error) as exc:
        call(db, *args, **kwargs)
    assert exc.value.code == code, (exc.value.code, str(exc.value.message))
    assert snapshot(db) == before, "a refused call wrote something"
    return exc.value


def on_hand(db, lot_id, location_id=None):
    db.rollback()
    stmt = select(func.coalesce(func.sum(StockBalance.quantity), 0)).where(StockBalance.lot_id == lot_id)
    if location_id is not None:
        stmt = stmt.where(StockBalance.location_id == location_id)
    return db.exec(stmt).one()


def movements(db, lot_id, reference):
    return db.exec(select(StockMovement).where(StockMovement.lot_id == lot_id, StockMovement.reference == reference)
                   .order_by(StockMovement.id)).all()


def open_notices(world, role):
    """Kinds of the notifications the role's list shows (open ones: the step they announce is not done)."""
    return sorted(n.kind for n in notifications_for(world.session, world.actor(role), world.store.id))


def fresh(db, model, row_id):
    db.rollback()
    return db.get(model, row_id)


def lhqw(world, packages=10, cost=1800):
    return {"drug_id": world.drug["LHQW"].id, "packages": packages, "unit_cost_fen": cost}


def order_line(world, order, code="LHQW"):
    return next(line for line, drug in pur.order_lines(world.session, order.id) if drug.code == code)


def receipt_lines(world, receipt):
    return [row.line for row in pur.receipt_rows(world.session, receipt_id=receipt.id)]


def receive_args(world, order, lines, **kw):
    return {"store": world.store, "order_id": order.id, "lines": lines,
            "delivery_note_no": kw.pop("delivery_note_no", f"DN-{uuid.uuid4().hex[:8]}"),
            "client_uuid": kw.pop("client_uuid", str(uuid.uuid4())), **kw}


def received(world, packages=10, *, supplier=None, lot_no=None, **line_kw):
    """A confirmed order of `packages` LHQW and a receipt of all of it, waiting for inspection: (order, line)."""
    order = h.confirmed_order(world, supplier=supplier, lines=[lhqw(world, packages)])
    raw = h.receipt_line(order_line(world, order).id, world.loc["Y01"].id, packages=packages, lot_no=lot_no,
                         **line_kw)
    return order, receipt_lines(world, h.receive(world, order, [raw]))[0]


def inspect_args(world, line, *, rejected=0, location="A01", abnormal=False, **kw):
    """A passing inspection of a receipt line: the required sample, every check fine, the rest accepted."""
    drug = world.session.get(Drug, line.drug_id)
    arrived = line.quantity_received // drug.units_per_package
    plan = pur.sampling_plan(line.cases, line.part_cases, abnormal=abnormal, received_packages=arrived)
    args = {"store": world.store, "line_id": line.id, "sampled": plan.total, "appearance_ok": True,
            "packaging_ok": True, "label_ok": True, "report_ok": True, "accepted_packages": arrived - rejected,
            "rejected_packages": rejected, "reject_reason": "外包装破损" if rejected else "",
            "location_id": world.loc[location].id if location else None, "abnormal": abnormal}
    args.update(kw)
    return args


def accept(world, line, **kw):
    return pur.inspect(world.session, world.actor("inspector"), **inspect_args(world, line, **kw))


def supplier_fields(code, credit_code, **kw):
    return {"code": code, "name": f"测试医药有限公司{code}", "credit_code": credit_code,
            "business_scope": h.STORE_SCOPE, "licences": h.licences(), "reps": [], **kw}


def audit_since(db, since_id):
    db.rollback()
    return db.exec(select(AuditEvent).where(AuditEvent.id > since_id).order_by(AuditEvent.id)).all()


def last_audit_id(db):
    db.rollback()
    return db.exec(select(func.coalesce(func.max(AuditEvent.id), 0))).one()


def notification(db, kind):
    db.rollback()
    return db.exec(select(Notification).where(Notification.kind == kind)).all()


# --- 1. the whole way: new supplier, new drug, order, receipt, inspection, on the shelf -----------------------------

def test_new_supplier_and_new_drug_to_sellable_stock(world):
    db, store = world.session, world.store
    purchaser, qm, receiver, inspector = (world.actor(r) for r in ("purchaser", "quality_manager", "receiver",
                                                                   "inspector"))
    h.set_store_scope(world)
    start = last_audit_id(db)

    supplier = h.submit_supplier(world)
    assert supplier.status == QualificationStatus.PENDING and supplier.spler_pmtno == "京AA0000001"
    assert pur.waiting_for(db, qm, store, TEST_TODAY).suppliers == 1
    [note] = notification(db, "supplier_submitted")
    assert (note.permission, note.entity_id) == ("qualification.approve", str(supplier.id))
    assert open_notices(world, "quality_manager") == ["supplier_submitted"]
    refused(db, Conflict, "supplier_not_usable", pur.create_order, purchaser, store=store, supplier_id=supplier.id,
            lines=[lhqw(world)])
    supplier = qual.decide_supplier(db, qm, supplier.id, approve=True)
    assert (supplier.status, supplier.decided_by_id) == (QualificationStatus.APPROVED, qm.user_id)
    assert open_notices(world, "quality_manager") == []  # decided: off the list (the row stays, closed)
    assert notification(db, "supplier_submitted")[0].done_at is not None
    rep = qual.supplier_reps(db, supplier.id)[0]

    request = qual.submit_new_drug(db, purchaser, documents=DOCUMENTS, **GRANULES)
    drug = fresh(db, Drug, request.drug_id)
    assert (drug.approval_status, drug.approval_no, drug.units_per_package) == (ApprovalStatus.PENDING,
                                                                                 "国药准字Z20100040", 10)
    with pytest.raises(NotSellable):
        inv.sellable_lot_for_barcode(db, store, GRANULES_BARCODE)
    refused(db, Conflict, "drug_not_approved", pur.create_order, purchaser, store=store, supplier_id=supplier.id,
            lines=[{"drug_id": drug.id, "packages": 20}])
    assert open_notices(world, "quality_manager") == ["drug_request"]
    qual.decide_drug_request(db, qm, request.id, approve=True)
    assert open_notices(world, "quality_manager") == []
    assert fresh(db, Drug, drug.id).approval_status == ApprovalStatus.APPROVED
    assert fresh(db, DrugRequest, request.id).decided_by_id == qm.user_id

    order = pur.create_order(db, purchaser, store=store, supplier_id=supplier.id, rep_id=rep.id,
                             lines=[{"drug_id": drug.id, "packages": 20, "unit_cost_fen": 2000}])
    assert (order.number, order.status) == ("CGT001-000001", OrderStatus.DRAFT)
    order = pur.confirm_order(db, purchaser, store=store, order_id=order.id)
    assert order.status == OrderStatus.CONFIRMED
    assert [o.id for o, _s in pur.waiting_for(db, receiver, store, TEST_TODAY).to_receive] == [order.id]
    assert "order_confirmed" in open_notices(world, "receiver")
    line = order_line(world, order, "LHQWKL")
    assert line.quantity == 200  # 20 boxes of 10 sachets, in smallest units

    receipt = pur.receive(db, receiver, store=store, order_id=order.id, delivery_note_no="SHD20260615-001",
                          client_uuid=str(uuid.uuid4()),
                          lines=[{"order_line_id": line.id, "lot_no": "A2605012", "production_date": "2026-05-10",
                                  "expiry_date": "2028-04-30", "packages": 20, "cases": 1,
                                  "waiting_location_id": world.loc["Y01"].id, "gtin": "06952378200060"}])
    assert receipt.number == "SHT001-000001" and receipt.received_by_id == receiver.user_id
    [row] = pur.receipt_rows(db, receipt_id=receipt.id)
    assert (row.lot.status, row.line.quantity_received, row.line.needs_decision) == (LotStatus.PENDING_INSPECTION,
                                                                                      200, "")
    assert row.plan.total == 3 and row.to_inspect
    assert on_hand(db, row.lot.id) == 0  # waiting goods are not stock yet
    assert inv.sellable_lot_for_barcode(db, store, GRANULES_BARCODE).lot is None
    assert fresh(db, PurchaseOrder, order.id).status == OrderStatus.CLOSED  # received in full
    assert "order_confirmed" not in open_notices(world, "receiver")
    assert pur.waiting_for(db, inspector, store, TEST_TODAY).to_inspect == 1
    assert "receipt_to_inspect" in open_notices(world, "inspector")

    inspection = pur.inspect(db, inspector, store=store, line_id=row.line.id, sampled=3, appearance_ok=True,
                             packaging_ok=True, label_ok=True, report_ok=True, accepted_packages=20,
                             rejected_packages=0, location_id=world.loc["A01"].id)
    assert (inspection.conclusion, inspection.accepted_qty, inspection.rejected_qty, inspection.required_sample,
            inspection.sampled, inspection.inspector_id, inspection.location_id) == (
        "accepted", 200, 0, 3, 3, inspector.user_id, world.loc["A01"].id)
    assert "receipt_to_inspect" not in open_notices(world, "inspector")
    lot = fresh(db, Lot, row.lot.id)
    assert lot.status == LotStatus.RELEASED and str(lot.expiry_date) == "2028-04-30"
    assert on_hand(db, lot.id, world.loc["A01"].id) == 200 and on_hand(db, lot.id) == 200
    [movement] = db.exec(select(StockMovement).where(StockMovement.lot_id == lot.id)).all()
    assert (movement.kind, movement.quantity, movement.reference, movement.unit_cost_fen, movement.actor_id) == (
        MovementKind.RECEIPT, 200, f"receipt:{receipt.number}", 200, inspector.user_id)

    scan = inv.sellable_lot_for_barcode(db, store, GRANULES_BARCODE)
    assert (scan.lot.id, scan.location_id, scan.available, scan.price_fen) == (lot.id, world.loc["A01"].id, 200, 3280)
    allocation = inv.allocate_fefo(db, store, drug.id, 15)
    assert [(p.lot_id, p.location_id, p.quantity) for p in allocation.picks] == [(lot.id, world.loc["A01"].id, 15)]
    assert inv.verify_ledger(db) == []
    assert pur.waiting_for(db, inspector, store, TEST_TODAY).to_inspect == 0

    trail = [(e.action, e.actor_id) for e in audit_since(db, start)]
    for step in [("supplier.submit", purchaser.user_id), ("supplier.approve", qm.user_id),
                 ("drug.create", purchaser.user_id), ("drug_request.submit", purchaser.user_id),
                 ("drug.approval", qm.user_id), ("drug_request.approve", qm.user_id),
                 ("purchase_order.create", purchaser.user_id), ("purchase_order.confirm", purchaser.user_id),
                 ("receipt.create", receiver.user_id), ("lot.status", inspector.user_id),
                 ("inspection.create", inspector.user_id)]:
        assert step in trail, step
    assert trail.index(("receipt.create", receiver.user_id)) < trail.index(("inspection.create", inspector.user_id))


# --- 2. suppliers --------------------------------------------------------------------------------------------------

def test_supplier_papers_are_checked_and_a_refusal_writes_nothing(world):
    db, purchaser = world.session, world.actor("purchaser")
    yesterday = (TEST_TODAY - timedelta(days=1)).isoformat()
    good = supplier_fields("SUP9", CC[2])
    trade, business = h.licences()
    for code, changes in [
        ("invalid_credit_code", {"credit_code": "91440300MA5DC12342"}),  # wrong check digit
        ("licence_missing", {"licences": [trade]}),  # no business licence
        ("licence_missing", {"kind": "manufacturer"}),  # a manufacturer needs its manufacturing licence
        ("licence_expired", {"licences": [{**trade, "valid_until": yesterday}, business]}),
        ("invalid_dates", {"licences": [{**trade, "valid_from": "2027-01-01", "valid_until": "2026-12-31"},
                                        business]}),
        ("invalid_licence", {"licences": [{**trade, "kind": "fishing"}, business]}),
        ("invalid_scope", {"business_scope": "化学药制剂\n保健食品"}),
        ("required", {"business_scope": " "}),
        ("invalid_kind", {"kind": "retailer"}),
        ("invalid_id_number", {"reps": [{"name": "李四", "id_number": "110105194912310021",
                                         "valid_until": "2027-01-01"}]}),
        ("authorisation_expired", {"reps": [{"name": "李四", "id_number": h.REP_ID, "valid_until": yesterday}]}),
    ]:
        refused(db, InvalidInput, code, qual.submit_supplier, purchaser, **{**good, **changes})
    for role in ("cashier", "quality_manager", "receiver"):
        refused(db, PermissionDenied, "forbidden", qual.submit_supplier, world.actor(role), **good)

    supplier = qual.submit_supplier(db, purchaser, **good)
    assert len(qual.current_licences(db, supplier.id)) == 2
    refused(db, Conflict, "duplicate_supplier", qual.submit_supplier, purchaser, **good)
    refused(db, Conflict, "duplicate_supplier", qual.submit_supplier, purchaser,
            **{**good, "code": "OTHER"})  # same credit code under another code


def test_a_supplier_is_approved_by_a_second_person_before_it_is_ordered_from(world):
    db, store = world.session, world.store
    purchaser, qm, admin = world.actor("purchaser"), world.actor("quality_manager"), world.actor("admin")
    h.set_store_scope(world)
    supplier = h.submit_supplier(world)
    refused(db, Conflict, "supplier_not_usable", pur.create_order, purchaser, store=store, supplier_id=supplier.id,
            lines=[lhqw(world)])
    for role in ("purchaser", "cashier", "finance"):
        refused(db, PermissionDenied, "forbidden", qual.decide_supplier, world.actor(role), supplier.id, approve=True)
    refused(db, InvalidInput, "required", qual.decide_supplier, qm, supplier.id, approve=False, note=" ")
    refused(db, NotFound, "not_found", qual.decide_supplier, qm, 999999, approve=True)

    own = qual.submit_supplier(db, admin, **supplier_fields("ADM1", CC[1]))  # admin holds both permissions
    refused(db, PermissionDenied, "same_person", qual.decide_supplier, admin, own.id, approve=True)
    rejected = qual.decide_supplier(db, qm, own.id, approve=False, note="资质材料不全")
    assert (rejected.status, rejected.decision_note) == (QualificationStatus.REJECTED, "资质材料不全")
    refused(db, Conflict, "already_decided", qual.decide_supplier, qm, own.id, approve=True)
    refused(db, Conflict, "supplier_not_usable", pur.create_order, purchaser, store=store, supplier_id=own.id,
            lines=[lhqw(world)])

    start = last_audit_id(db)
    qual.decide_supplier(db, qm, supplier.id, approve=True)
    [event] = audit_since(db, start)
    assert (event.action, event.actor_id, event.entity_id) == ("supplier.approve", qm.user_id, str(supplier.id))
    assert pur.create_order(db, purchaser, store=store, supplier_id=supplier.id, lines=[lhqw(world)]).id
    assert pur.waiting_for(db, qm, store, TEST_TODAY).suppliers == 0


def test_an_expired_licence_blocks_orders_until_the_renewal_is_filed(world, clock):
    db, store = world.session, world.store
    purchaser, qm = world.actor("purchaser"), world.actor("quality_manager")
    h.set_store_scope(world)
    supplier = h.approved_supplier(world, until_days=30)
    draft = pur.create_order(db, purchaser, store=store, supplier_id=supplier.id, lines=[lhqw(world)])
    plan = pur.confirm_order(db, purchaser, store=store,
                             order_id=pur.create_order(db, purchaser, store=store, supplier_id=supplier.id,
                                                       lines=[lhqw(world)]).id)
    raw = h.receipt_line(order_line(world, plan).id, world.loc["Y01"].id)

    clock.advance(days=31)  # the trade licence ended yesterday
    today = TEST_TODAY + timedelta(days=31)
    [problem] = qual.supplier_problems(db, fresh(db, Supplier, supplier.id), today)
    assert "ended on" in problem
    err = refused(db, Conflict, "supplier_not_usable", pur.create_order, purchaser, store=store,
                  supplier_id=supplier.id, lines=[lhqw(world)])
    assert err.details["problems"] == [problem]
    refused(db, Conflict, "supplier_not_usable", pur.confirm_order, purchaser, store=store, order_id=draft.id)
    refused(db, Conflict, "supplier_not_usable", pur.receive, world.actor("receiver"),
            **receive_args(world, plan, [raw]))

    renewal = {"kind": "trade", "number": "京AA0000002", "valid_from": today.isoformat(),
               "valid_until": (today + timedelta(days=5 * 365)).isoformat(), "scope": h.STORE_SCOPE}
    refused(db, InvalidInput, "licence_expired", qual.add_licence, qm, supplier.id,
            {**renewal, "valid_from": None, "valid_until": (today - timedelta(days=1)).isoformat()})
    refused(db, PermissionDenied, "forbidden", qual.add_licence, purchaser, supplier.id, renewal)
    qual.add_licence(db, qm, supplier.id, renewal)
    assert qual.current_licences(db, supplier.id)["trade"].number == "京AA0000002"
    assert qual.supplier_problems(db, fresh(db, Supplier, supplier.id), today) == []
    assert pur.confirm_order(db, purchaser, store=store, order_id=draft.id).status == OrderStatus.CONFIRMED
    assert pur.receive(db, world.actor("receiver"), **receive_args(world, plan, [raw])).id
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "supplier.licence")).one().actor_id == qm.user_id


def test_a_licence_that_ended_while_waiting_blocks_the_approval(world, clock):
    db, qm = world.session, world.actor("quality_manager")
    supplier = h.submit_supplier(world, until_days=5)
    clock.advance(days=6)
    refused(db, Conflict, "licence_invalid", qual.decide_supplier, qm, supplier.id, approve=True)
    qual.add_licence(db, qm, supplier.id, {"kind": "trade", "number": "京AA0000009",
                                           "valid_until": (TEST_TODAY + timedelta(days=900)).isoformat()})
    assert qual.decide_supplier(db, qm, supplier.id, approve=True).status == QualificationStatus.APPROVED


def test_orders_name_a_currently_authorised_representative_of_that_supplier(world, clock):
    db, store, purchaser = world.session, world.store, world.actor("purchaser")
    h.set_store_scope(world)
    supplier = h.approved_supplier(world)
    other = h.approved_supplier(world, code="SUP2", credit_code=CC[1])
    rep, other_rep = qual.supplier_reps(db, supplier.id)[0], qual.supplier_reps(db, other.id)[0]
    refused(db, InvalidInput, "invalid_rep", pur.create_order, purchaser, store=store, supplier_id=supplier.id,
            rep_id=other_rep.id, lines=[lhqw(world)])
    draft = pur.create_order(db, purchaser, store=store, supplier_id=supplier.id, rep_id=rep.id, lines=[lhqw(world)])
    clock.advance(days=201)  # the authorisation (200 days) ended; the licences (400 days) have not
    refused(db, Conflict, "authorisation_expired", pur.create_order, purchaser, store=store,
            supplier_id=supplier.id, rep_id=rep.id, lines=[lhqw(world)])
    refused(db, Conflict, "authorisation_expired", pur.confirm_order, purchaser, store=store, order_id=draft.id)
    assert pur.create_order(db, purchaser, store=store, supplier_id=supplier.id, lines=[lhqw(world)]).rep_id is None


# --- business scope -------------------------------------------------------------------------------------------------

def test_scope_items_a_drug_needs():
    assert qual.scope_set(" 化学药制剂\n\n中成药 \n") == {"化学药制剂", "中成药"}
    assert qual.required_scope(Drug(code="A", generic_name="a", category="patent")) == {"中成药"}
    assert qual.required_scope(Drug(code="B", generic_name="b", category="western", storage_class="cold")) == {
        "化学药制剂", "冷藏冷冻药品"}
    assert qual.required_scope(Drug(code="C", generic_name="c", category="western", scope_item="生物制品",
                                    storage_class="frozen")) == {"生物制品", "冷藏冷冻药品"}
    assert qual.required_scope(Drug(code="D", generic_name="d", category="device")) == set()
    assert qual.check_scope_text("中成药\n化学药制剂\n中成药", "scope") == "化学药制剂\n中成药"  # canonical order
    with pytest.raises(InvalidInput) as exc:
        qual.check_scope_text("中成药\n保健品", "scope")
    assert exc.value.code == "invalid_scope"


def test_orders_stay_within_the_store_and_the_supplier_business_scope(world):
    db, store, purchaser = world.session, world.store, world.actor("purchaser")
    h.set_store_scope(world)
    full = h.approved_supplier(world)
    narrow = h.approved_supplier(world, code="SUP2", credit_code=CC[1], scope="化学药制剂\n冷藏冷冻药品")
    h.set_store_scope(world, "化学药制剂\n中成药")  # this store may not sell cold-chain drugs
    insulin, plain = world.drug["INSULIN"].id, world.drug["PLAIN"].id

    err = refused(db, Conflict, "out_of_scope", pur.create_order, purchaser, store=store, supplier_id=full.id,
                  lines=[{"drug_id": insulin, "packages": 5}])
    assert "冷藏冷冻药品" in str(err.message) and "store" in str(err.message)
    err = refused(db, Conflict, "out_of_scope", pur.create_order, purchaser, store=store, supplier_id=narrow.id,
                  lines=[{"drug_id": plain, "packages": 1}, lhqw(world)])
    assert "中成药" in str(err.message) and narrow.name in str(err.message)

    draft = pur.create_order(db, purchaser, store=store, supplier_id=narrow.id, lines=[{"drug_id": plain,
                                                                                       "packages": 1}])
    refused(db, Conflict, "out_of_scope", pur.add_order_line, purchaser, store=store, order_id=draft.id,
            drug_id=world.drug["LHQW"].id, packages=1)
    refused(db, Conflict, "out_of_scope", pur.add_order_line, purchaser, store=store, order_id=draft.id,
            drug_id=insulin, packages=1)
    h.set_store_scope(world)  # the store's licence now covers cold chain
    pur.add_order_line(db, purchaser, store=store, order_id=draft.id, drug_id=insulin, packages=1)
    h.set_store_scope(world, "化学药制剂\n中成药")  # …and lost it again before confirmation
    refused(db, Conflict, "out_of_scope", pur.confirm_order, purchaser, store=store, order_id=draft.id)
    assert fresh(db, PurchaseOrder, draft.id).status == OrderStatus.DRAFT

    # The supplier's renewed trade licence adds 中成药: filing it widens the supplier's scope (audited).
    start = last_audit_id(db)
    renewal = {"kind": "trade", "number": "京AA0000002", "scope": "化学药制剂\n中成药\n冷藏冷冻药品",
               "valid_until": (TEST_TODAY + timedelta(days=1800)).isoformat()}
    refused(db, PermissionDenied, "forbidden", qual.add_licence, purchaser, narrow.id, renewal)
    qual.add_licence(db, world.actor("quality_manager"), narrow.id, renewal)
    assert qual.scope_set(fresh(db, Supplier, narrow.id).business_scope) == {"化学药制剂", "中成药", "冷藏冷冻药品"}
    [event] = audit_since(db, start)
    assert json.loads(event.summary) == {"before": {"business_scope": "化学药制剂\n冷藏冷冻药品"},
                                         "after": {"kind": "trade", "number": "京AA0000002",
                                                   "valid_until": renewal["valid_until"],
                                                   "business_scope": "化学药制剂\n中成药\n冷藏冷冻药品"}}
    pur.add_order_line(db, purchaser, store=store, order_id=draft.id, drug_id=world.drug["LHQW"].id, packages=1)
    # A business licence's scope is not the drug business scope: filing one changes nothing.
    qual.add_licence(db, world.actor("quality_manager"), narrow.id, {"kind": "business", "number": CC[1],
                                                                     "scope": "化学药制剂"})
    assert fresh(db, Supplier, narrow.id).business_scope == "化学药制剂\n中成药\n冷藏冷冻药品"


def test_an_unapproved_drug_cannot_be_ordered(world):
    db, store, purchaser = world.session, world.store, world.actor("purchaser")
    h.set_store_scope(world)
    supplier = h.approved_supplier(world)
    pending = world.drug["PENDING"].id
    refused(db, Conflict, "drug_not_approved", pur.create_order, purchaser, store=store, supplier_id=supplier.id,
            lines=[lhqw(world), {"drug_id": pending, "packages": 1}])
    draft = pur.create_order(db, purchaser, store=store, supplier_id=supplier.id, lines=[lhqw(world)])
    refused(db, Conflict, "drug_not_approved", pur.add_order_line, purchaser, store=store, order_id=draft.id,
            drug_id=pending, packages=1)
    refused(db, NotFound, "not_found", pur.add_order_line, purchaser, store=store, order_id=draft.id,
            drug_id=999999, packages=1)


# --- drugs (首营品种) and master-data changes ----------------------------------------------------------------------

def test_a_new_drug_waits_for_a_second_person_and_a_rejected_one_stays_unorderable(world):
    db, store = world.session, world.store
    purchaser, qm, admin = world.actor("purchaser"), world.actor("quality_manager"), world.actor("admin")
    h.set_store_scope(world)
    supplier = h.approved_supplier(world)
    refused(db, PermissionDenied, "forbidden", qual.submit_new_drug, world.actor("cashier"), documents=DOCUMENTS,
            **GRANULES)
    refused(db, InvalidInput, "required", qual.submit_new_drug, purchaser, documents=" ", **GRANULES)
    refused(db, InvalidInput, "invalid_scope", qual.submit_new_drug, purchaser, documents=DOCUMENTS,
            **{**GRANULES, "scope_item": "保健食品"})
    refused(db, InvalidInput, "required", qual.submit_new_drug, purchaser, documents=DOCUMENTS,
            **{**GRANULES, "approval_no": ""})

    # A submitter cannot approve the drug by a field, nor decide the request alone.
    request = qual.submit_new_drug(db, admin, documents=DOCUMENTS, **{**GRANULES, "approval_status": "approved"})
    assert fresh(db, Drug, request.drug_id).approval_status == ApprovalStatus.PENDING
    assert pur.waiting_for(db, qm, store, TEST_TODAY).drug_requests == 1
    assert [n.entity_id for n in notification(db, "drug_request")] == [str(request.drug_id)]
    refused(db, PermissionDenied, "same_person", qual.decide_drug_request, admin, request.id, approve=True)
    refused(db, PermissionDenied, "forbidden", qual.decide_drug_request, purchaser, request.id, approve=True)
    refused(db, InvalidInput, "required", qual.decide_drug_request, qm, request.id, approve=False, note="")

    qual.decide_drug_request(db, qm, request.id, approve=False, note="缺少出厂检验报告")
    decided = fresh(db, DrugRequest, request.id)
    assert (decided.status, decided.decided_by_id, decided.decision_note) == (QualificationStatus.REJECTED,
                                                                              qm.user_id, "缺少出厂检验报告")
    assert fresh(db, Drug, request.drug_id).approval_status == ApprovalStatus.REJECTED
    refused(db, Conflict, "already_decided", qual.decide_drug_request, qm, request.id, approve=True)
    refused(db, Conflict, "drug_not_approved", pur.create_order, purchaser, store=store, supplier_id=supplier.id,
            lines=[{"drug_id": request.drug_id, "packages": 1}])


def test_a_master_data_change_applies_only_on_approval_and_keeps_before_and_after(world):
    db = world.session
    purchaser, qm, admin = world.actor("purchaser"), world.actor("quality_manager"), world.actor("admin")
    plain = world.drug["PLAIN"]
    old_spec, old_price = plain.specification, plain.retail_price_fen
    for error, code, drug_id, changes, reason in [
        (InvalidInput, "invalid_field", plain.id, {"approval_status": "approved"}, "x"),
        (InvalidInput, "invalid_field", plain.id, {"code": "NEW"}, "x"),
        (InvalidInput, "no_change", plain.id, {"specification": old_spec}, "x"),
        (InvalidInput, "required", plain.id, {"specification": "新规格"}, " "),
        (InvalidInput, "required", plain.id, {}, "x"),
        (InvalidInput, "invalid_scope", plain.id, {"scope_item": "保健食品"}, "x"),
        (Conflict, "not_approved", world.drug["PENDING"].id, {"specification": "新规格"}, "x"),
    ]:
        refused(db, error, code, qual.submit_drug_change, purchaser, drug_id, changes=changes, reason=reason)

    request = qual.submit_drug_change(db, purchaser, plain.id, changes={"specification": "50mg*24粒",
                                                                        "retail_price_fen": 1290},
                                      reason="说明书及价格更新", documents="变更备案")
    assert json.loads(request.changes) == {"specification": "50mg*24粒", "retail_price_fen": 1290}
    assert json.loads(request.before) == {"specification": old_spec, "retail_price_fen": old_price}
    drug = fresh(db, Drug, plain.id)
    assert (drug.specification, drug.retail_price_fen) == (old_spec, old_price)  # nothing changes yet
    refused(db, Conflict, "request_pending", qual.submit_drug_change, purchaser, plain.id,
            changes={"dosage_form": "片剂"}, reason="x")

    own = qual.submit_drug_change(db, admin, world.drug["EPH"].id, changes={"specification": "12粒"}, reason="x")
    refused(db, PermissionDenied, "same_person", qual.decide_drug_request, admin, own.id, approve=True)

    start = last_audit_id(db)
    qual.decide_drug_request(db, qm, request.id, approve=True)
    drug = fresh(db, Drug, plain.id)
    assert (drug.specification, drug.retail_price_fen) == ("50mg*24粒", 1290)
    view = qual.RequestView(fresh(db, DrugRequest, request.id), drug)
    assert view.request.status == QualificationStatus.APPROVED
    assert view.before == {"specification": old_spec, "retail_price_fen": old_price}
    assert view.changes == {"specification": "50mg*24粒", "retail_price_fen": 1290}
    update = next(e for e in audit_since(db, start) if e.action == "drug.update")
    assert update.actor_id == qm.user_id and update.reason == "说明书及价格更新"
    assert json.loads(update.summary) == {"before": {"specification": old_spec, "retail_price_fen": old_price},
                                          "after": {"specification": "50mg*24粒", "retail_price_fen": 1290}}

    later = qual.submit_drug_change(db, purchaser, plain.id, changes={"retail_price_fen": 9900}, reason="涨价")
    qual.decide_drug_request(db, qm, later.id, approve=False, note="价格不合理")
    assert fresh(db, Drug, plain.id).retail_price_fen == 1290


# --- purchase orders ------------------------------------------------------------------------------------------------

def test_order_lines_confirmation_and_closing(world):
    db, store = world.session, world.store
    purchaser, receiver = world.actor("purchaser"), world.actor("receiver")
    h.set_store_scope(world)
    supplier = h.approved_supplier(world)

    def create(lines=None):
        return dict(store=store, supplier_id=supplier.id, lines=[lhqw(world)] if lines is None else lines)

    refused(db, InvalidInput, "duplicate_line", pur.create_order, purchaser, **create(lines=[lhqw(world)] * 2))
    for bad in (0, -1, "abc", True, 100_001):
        refused(db, InvalidInput, "invalid_quantity", pur.create_order, purchaser,
                **create(lines=[lhqw(world, packages=bad)]))
    refused(db, InvalidInput, "invalid_quantity", pur.create_order, purchaser, **create(lines=[lhqw(world, 1, -5)]))
    refused(db, NotFound, "not_found", pur.create_order, purchaser, **create(lines=[{"drug_id": 999999,
                                                                                     "packages": 1}]))
    refused(db, NotFound, "not_found", pur.create_order, purchaser, store=store, supplier_id=999999, lines=[])
    for role in ("cashier", "receiver", "quality_manager"):
        refused(db, PermissionDenied, "forbidden", pur.create_order, world.actor(role), **create())

    order = pur.create_order(db, purchaser, **create(lines=[lhqw(world, 10, 1800)]))
    assert order_line(world, order).quantity == 360 and order_line(world, order).unit_cost_fen == 1800
    line = pur.add_order_line(db, purchaser, store=store, order_id=order.id, drug_id=world.drug["PLAIN"].id,
                              packages="5", unit_cost_fen=900)
    assert line.quantity == 5 * world.drug["PLAIN"].units_per_package
    refused(db, Conflict, "duplicate_line", pur.add_order_line, purchaser, store=store, order_id=order.id,
            drug_id=world.drug["LHQW"].id, packages=1)
    pur.remove_order_line(db, purchaser, store=store, order_id=order.id, line_id=line.id)
    refused(db, NotFound, "not_found", pur.remove_order_line, purchaser, store=store, order_id=order.id,
            line_id=line.id)
    raw = h.receipt_line(order_line(world, order).id, world.loc["Y01"].id, packages=4)
    refused(db, Conflict, "order_not_confirmed", pur.receive, receiver, **receive_args(world, order, [raw]))
    refused(db, NotFound, "not_found", pur.confirm_order, purchaser, store=world.other_store, order_id=order.id)

    empty = pur.create_order(db, purchaser, **create(lines=[]))
    refused(db, InvalidInput, "empty_order", pur.confirm_order, purchaser, store=store, order_id=empty.id)
    order = pur.confirm_order(db, purchaser, store=store, order_id=order.id)
    assert (order.status, order.confirmed_by_id) == (OrderStatus.CONFIRMED, purchaser.user_id)
    [note] = notification(db, "order_confirmed")
    assert (note.permission, note.store_id) == ("purchase.receive", store.id)
    refused(db, Conflict, "not_draft", pur.confirm_order, purchaser, store=store, order_id=order.id)
    refused(db, Conflict, "not_draft", pur.add_order_line, purchaser, store=store, order_id=order.id,
            drug_id=world.drug["PLAIN"].id, packages=1)
    refused(db, Conflict, "not_draft", pur.remove_order_line, purchaser, store=store, order_id=order.id,
            line_id=order_line(world, order).id)

    refused(db, InvalidInput, "required", pur.close_order, purchaser, store=store, order_id=empty.id, note=" ")
    assert pur.close_order(db, purchaser, store=store, order_id=empty.id, note="不再需要").status == \
        OrderStatus.CANCELLED
    refused(db, Conflict, "closed", pur.close_order, purchaser, store=store, order_id=empty.id, note="again")

    pur.receive(db, receiver, **receive_args(world, order, [raw]))
    [progress] = pur.order_progress(db, order.id)
    assert (progress.received, progress.remaining, progress.packages(progress.remaining)) == (144, 216, "6")
    closed = pur.close_order(db, purchaser, store=store, order_id=order.id, note="供应商缺货，余量不再发")
    assert (closed.status, closed.closed_by_id) == (OrderStatus.CLOSED, purchaser.user_id)
    more = h.receipt_line(order_line(world, order).id, world.loc["Y01"].id, packages=1)
    refused(db, Conflict, "order_not_confirmed", pur.receive, receiver, **receive_args(world, order, [more]))
    assert [o.number for o, _s in pur.orders(db, store.id)] == ["CGT001-000002", "CGT001-000001"]


def test_reorder_suggestions_come_from_the_stock_check_within_the_supplier_scope(world):
    db, store, admin = world.session, world.store, world.actor("admin")
    h.set_store_scope(world)
    full = h.approved_supplier(world)
    patent_only = h.approved_supplier(world, code="SUP2", credit_code=CC[1], scope="中成药")
    assert pur.reorder_suggestions(db, store, full) == []  # no stock check yet
    set_stock_level(db, admin, store_id=store.id, drug_id=world.drug["LHQW"].id, reorder_point=100, max_level=300)
    set_stock_level(db, admin, store_id=store.id, drug_id=world.drug["INSULIN"].id, reorder_point=50,
                    max_level=None, reorder_qty=40)
    run_stock_check(db, store_ids=[store.id])
    lhqw_id, insulin_id = world.drug["LHQW"].id, world.drug["INSULIN"].id
    suggestions = {s["drug_id"]: s["packages"] for s in pur.reorder_suggestions(db, store, full)}
    assert suggestions == {lhqw_id: 9, insulin_id: 40}  # 300 capsules = 8⅓ boxes of 36 → 9; insulin 1 per pack
    lines = pur.reorder_suggestions(db, store, patent_only)
    assert lines == [{"drug_id": lhqw_id, "packages": 9}]
    order = pur.create_order(db, world.actor("purchaser"), store=store, supplier_id=patent_only.id, lines=lines)
    assert order_line(world, order).quantity == 9 * 36


# --- receiving ------------------------------------------------------------------------------------------------------

def test_receiving_refusals_write_nothing(world):
    db, receiver = world.session, world.actor("receiver")
    order = h.confirmed_order(world)  # 10 boxes of LHQW
    line_id, waiting = order_line(world, order).id, world.loc["Y01"].id
    other_store_location = db.exec(select(Location).where(Location.store_id == world.other_store.id)).first()

    def day(days):
        return (TEST_TODAY + timedelta(days=days)).isoformat()

    def attempt(error, code, actor=receiver, **changes):
        raw = {**h.receipt_line(line_id, waiting, lot_no="B2606001"), **changes}
        return refused(db, error, code, pur.receive, actor, **receive_args(world, order, [raw]))

    attempt(Conflict, "over_receipt", packages=11)
    attempt(InvalidInput, "invalid_dates", production_date=day(-30), expiry_date=day(-31))  # expiry before production
    attempt(InvalidInput, "invalid_dates", production_date=day(-30), expiry_date=day(-30))
    attempt(InvalidInput, "expired", production_date=day(-700), expiry_date=day(-1))  # expiry in the past
    attempt(InvalidInput, "invalid_dates", production_date=day(1), expiry_date=day(700))  # made tomorrow
    attempt(InvalidInput, "invalid_date", expiry_date="2027-02-30")
    attempt(InvalidInput, "required", expiry_date="")
    attempt(InvalidInput, "required", lot_no="  ")
    attempt(InvalidInput, "too_long", lot_no="L" * 41)
    attempt(InvalidInput, "invalid_text", lot_no=12345)
    attempt(InvalidInput, "invalid_quantity", packages=0)  # nothing received and nothing refused
    attempt(InvalidInput, "invalid_quantity", packages=-2)
    attempt(InvalidInput, "required", packages=8, refused_packages=2)  # refusing needs the reason
    attempt(InvalidInput, "invalid_location", waiting_location_id=world.loc["A01"].id)  # not straight to the shelf
    attempt(InvalidInput, "invalid_location", waiting_location_id=other_store_location.id)
    attempt(Conflict, "not_on_order", order_line_id=999999)
    attempt(PermissionDenied, "forbidden", actor=world.actor("cashier"))
    attempt(PermissionDenied, "forbidden", actor=world.actor("inspector"))
    raw = h.receipt_line(line_id, waiting, lot_no="B2606001", packages=5)
    refused(db, InvalidInput, "invalid_client_uuid", pur.receive, receiver,
            **receive_args(world, order, [raw], client_uuid="not-a-uuid"))
    refused(db, InvalidInput, "required", pur.receive, receiver,
            **receive_args(world, order, [raw], delivery_note_no=" "))
    refused(db, InvalidInput, "invalid_lines", pur.receive, receiver, **receive_args(world, order, []))
    refused(db, InvalidInput, "duplicate_line", pur.receive, receiver, **receive_args(world, order, [raw, raw]))
    refused(db, NotFound, "not_found", pur.receive, receiver,
            **receive_args(world, order, [raw], store=world.other_store))

    # The longest lot number allowed is fine.
    receipt = pur.receive(db, receiver, **receive_args(world, order, [{**raw, "lot_no": "L" * 40}]))
    assert fresh(db, Lot, receipt_lines(world, receipt)[0].lot_id).lot_no == "L" * 40


def test_over_receipt_counts_earlier_deliveries_and_refusals_at_the_door_do_not(world):
    db, receiver = world.session, world.actor("receiver")
    order = h.confirmed_order(world)  # 10 boxes
    line_id, waiting = order_line(world, order).id, world.loc["Y01"].id
    h.receive(world, order, [h.receipt_line(line_id, waiting, packages=6)])
    err = refused(db, Conflict, "over_receipt", pur.receive, receiver,
                  **receive_args(world, order, [h.receipt_line(line_id, waiting, packages=5)]))
    assert "11" in str(err.message) and "10" in str(err.message)
    # Two lots in one delivery count together.
    refused(db, Conflict, "over_receipt", pur.receive, receiver,
            **receive_args(world, order, [h.receipt_line(line_id, waiting, packages=2),
                                          h.receipt_line(line_id, waiting, packages=3)]))
    h.receive(world, order, [h.receipt_line(line_id, waiting, packages=3, refused_packages=4,
                                            refuse_reason="外箱浸水")])
    [progress] = pur.order_progress(db, order.id)
    assert (progress.received, progress.refused, progress.remaining) == (9 * 36, 4 * 36, 36)
    assert fresh(db, PurchaseOrder, order.id).status == OrderStatus.CONFIRMED
    h.receive(world, order, [h.receipt_line(line_id, waiting, packages=1)])
    closed = fresh(db, PurchaseOrder, order.id)
    assert (closed.status, closed.close_note) == (OrderStatus.CLOSED, "received in full")
    assert pur.waiting_for(db, receiver, world.store, TEST_TODAY).to_receive == []


def test_a_replayed_receipt_returns_the_first_and_a_delivery_note_is_received_once(world):
    db, receiver = world.session, world.actor("receiver")
    supplier = h.approved_supplier(world)
    order = h.confirmed_order(world, supplier=supplier)
    raw = h.receipt_line(order_line(world, order).id, world.loc["Y01"].id, packages=10, lot_no="C2606001")
    key = str(uuid.uuid4())
    first = pur.receive(db, receiver, **receive_args(world, order, [raw], delivery_note_no="DN-001",
                                                     client_uuid=key))
    assert fresh(db, PurchaseOrder, order.id).status == OrderStatus.CLOSED
    before = snapshot(db)
    # The retry of a request that succeeded (its answer was lost): the first receipt, nothing more — even though
    # the order is closed by now and the body differs; the client's key identifies the request.
    again = pur.receive(db, receiver, **receive_args(world, order, [{**raw, "packages": 3}],
                                                     delivery_note_no="DN-XYZ", client_uuid=key.upper()))
    assert again.id == first.id
    assert snapshot(db) == before

    second = h.confirmed_order(world, supplier=supplier)
    raw2 = h.receipt_line(order_line(world, second).id, world.loc["Y01"].id, packages=2)
    err = refused(db, Conflict, "duplicate_receipt", pur.receive, receiver,
                  **receive_args(world, second, [raw2], delivery_note_no="DN-001"))
    assert first.number in str(err.message)
    # The same number on another supplier's delivery note is that supplier's own note.
    other = h.approved_supplier(world, code="SUP2", credit_code=CC[1])
    third = h.confirmed_order(world, supplier=other)
    raw3 = h.receipt_line(order_line(world, third).id, world.loc["Y01"].id, packages=2)
    assert pur.receive(db, receiver, **receive_args(world, third, [raw3], delivery_note_no="DN-001")).id


def test_two_identical_receipts_at_the_same_instant_make_one_and_only_one_is_told_it_did(app, world):
    import threading

    from core.db import new_session

    db = world.session
    order = h.confirmed_order(world)
    args = receive_args(world, order, [h.receipt_line(order_line(world, order).id, world.loc["Y01"].id,
                                                      packages=10, lot_no="RACE01")], delivery_note_no="DN-RACE")
    args.pop("store")
    engine, barrier, results, errors = app.extensions["yaofang.engine"], threading.Barrier(2), [], []

    def submit():
        session = new_session(engine)
        try:
            store = session.get(type(world.store), world.store.id)
            barrier.wait(timeout=10)
            receipt, created = pur.receive_or_replay(session, world.actor("receiver"), store=store, **args)
            results.append((receipt.id, created))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            session.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(created for _id, created in results) == [False, True]
    assert len({receipt_id for receipt_id, _created in results}) == 1
    db.rollback()
    assert db.exec(select(func.count()).select_from(Receipt).where(Receipt.order_id == order.id)).one() == 1


def test_a_known_lot_must_match_its_dates_and_be_receivable(world):
    db, receiver = world.session, world.actor("receiver")
    order, line = received(world, packages=4, lot_no="K1")
    accept(world, line)
    second = h.confirmed_order(world, supplier=fresh(db, Supplier, order.supplier_id))
    line_id = order_line(world, second).id
    lot = fresh(db, Lot, line.lot_id)
    same = {"production_date": lot.production_date.isoformat(), "expiry_date": lot.expiry_date.isoformat()}
    refused(db, Conflict, "lot_dates_differ", pur.receive, receiver,
            **receive_args(world, second, [h.receipt_line(line_id, world.loc["Y01"].id, lot_no="K1", packages=2,
                                                          expiry_days=800)]))
    q.lock_lot(db, world.actor("quality_manager"), lot.id, reason="suspected_quality", note="待查")
    refused(db, Conflict, "lot_not_receivable", pur.receive, receiver,
            **receive_args(world, second, [{**h.receipt_line(line_id, world.loc["Y01"].id, lot_no="K1",
                                                             packages=2), **same}]))
    q.unlock_lot(db, world.actor("quality_manager"), lot.id, conclusion="核查无问题")
    receipt = pur.receive(db, receiver, **receive_args(world, second, [{**h.receipt_line(
        line_id, world.loc["Y01"].id, lot_no="K1", packages=2), **same}]))
    again = receipt_lines(world, receipt)[0]
    assert again.lot_id == lot.id  # the same lot, more of it
    accept(world, again)
    assert on_hand(db, lot.id, world.loc["A01"].id) == 6 * 36


def test_short_shelf_life_waits_for_the_quality_managers_decision(world):
    db, store = world.session, world.store
    qm, inspector, admin = world.actor("quality_manager"), world.actor("inspector"), world.actor("admin")
    order = h.confirmed_order(world, lines=[lhqw(world, 20)])
    line_id, waiting = order_line(world, order).id, world.loc["Y01"].id
    receipt = h.receive(world, order, [
        h.receipt_line(line_id, waiting, lot_no="S-OK", packages=4, expiry_days=700),
        {**h.receipt_line(line_id, waiting, lot_no="S-EDGE", packages=2), "expiry_date": "2026-12-15"},  # 6 months
        {**h.receipt_line(line_id, waiting, lot_no="S-APPROVE", packages=4), "expiry_date": "2026-12-14"},
        h.receipt_line(line_id, waiting, lot_no="S-REFUSE", packages=4, expiry_days=100),
    ])
    ok, edge, short, refuse = receipt_lines(world, receipt)
    assert [r.needs_decision for r in (ok, edge, short, refuse)] == ["", "", "short_shelf_life", "short_shelf_life"]
    [note] = notification(db, "receipt_decision")
    assert (note.permission, note.entity_id) == ("qualification.approve", str(receipt.id))
    assert pur.waiting_for(db, qm, store, TEST_TODAY).decisions == 2
    assert [r.waits_for_decision for r in pur.receipt_rows(db, receipt_id=receipt.id)] == [False, False, True, True]

    refused(db, Conflict, "decision_pending", pur.inspect, inspector, **inspect_args(world, short))
    refused(db, PermissionDenied, "forbidden", pur.decide_receipt_line, world.actor("receiver"), store=store,
            line_id=short.id, approve=True, note="x")
    refused(db, PermissionDenied, "forbidden", pur.decide_receipt_line, inspector, store=store, line_id=short.id,
            approve=True, note="x")
    refused(db, Conflict, "no_decision_needed", pur.decide_receipt_line, qm, store=store, line_id=ok.id,
            approve=True, note="x")
    refused(db, InvalidInput, "required", pur.decide_receipt_line, qm, store=store, line_id=short.id,
            approve=True, note=" ")
    refused(db, NotFound, "not_found", pur.decide_receipt_line, qm, store=world.other_store, line_id=short.id,
            approve=True, note="x")

    decision = pur.decide_receipt_line(db, qm, store=store, line_id=short.id, approve=True, note="周转快，同意收货")
    assert (decision.approved, decision.decided_by_id) == (True, qm.user_id)
    refused(db, Conflict, "already_decided", pur.decide_receipt_line, qm, store=store, line_id=short.id,
            approve=False, note="改主意")
    accept(world, short)
    assert fresh(db, Lot, short.lot_id).status == LotStatus.RELEASED
    assert on_hand(db, short.lot_id, world.loc["A01"].id) == 4 * 36

    pur.decide_receipt_line(db, qm, store=store, line_id=refuse.id, approve=False, note="效期不足四个月，拒收")
    refused(db, Conflict, "decision_refused", pur.inspect, inspector, **inspect_args(world, refuse))
    refused(db, Conflict, "decision_refused", pur.inspect, inspector, **inspect_args(world, refuse, rejected=1))
    inspection = pur.inspect(db, inspector, **inspect_args(world, refuse, rejected=4, location=None,
                                                           reject_reason="近效期，质量负责人不同意收货"))
    assert inspection.conclusion == "rejected"
    assert fresh(db, Lot, refuse.lot_id).status == LotStatus.NONCONFORMING
    assert on_hand(db, refuse.lot_id, world.loc["R01"].id) == 4 * 36 and on_hand(db, refuse.lot_id) == 4 * 36
    assert pur.waiting_for(db, qm, store, TEST_TODAY).decisions == 0

    # Two-person rule: whoever received the goods does not decide on them.
    own = pur.receive(db, admin, **receive_args(world, order, [h.receipt_line(line_id, waiting, lot_no="S-ADMIN",
                                                                               packages=2, expiry_days=90)]))
    own_line = receipt_lines(world, own)[0]
    refused(db, PermissionDenied, "same_person", pur.decide_receipt_line, admin, store=store, line_id=own_line.id,
            approve=True, note="自己决定")


def test_cold_chain_goods_arrive_cold_wait_cold_and_are_stored_cold(world):
    db, receiver, inspector = world.session, world.actor("receiver"), world.actor("inspector")
    order = h.confirmed_order(world, lines=[{"drug_id": world.drug["INSULIN"].id, "packages": 20,
                                             "unit_cost_fen": 1500}])
    line_id, cold = order_line(world, order, "INSULIN").id, world.loc["C01"].id

    def attempt(error, code, **changes):
        raw = {**h.receipt_line(line_id, cold, lot_no="INS1", packages=10, arrival_temp_c="5.0"), **changes}
        return refused(db, error, code, pur.receive, receiver, **receive_args(world, order, [raw]))

    attempt(InvalidInput, "temperature_required", arrival_temp_c=None)
    attempt(InvalidInput, "temperature_required", arrival_temp_c="")
    for warm in ("8.1", "1.9", "-0.5", 12):
        err = attempt(Conflict, "cold_chain_broken", arrival_temp_c=warm)
    assert "2.0" in str(err.message) and "8.0" in str(err.message)
    attempt(InvalidInput, "invalid_temperature", arrival_temp_c="warm")
    attempt(InvalidInput, "invalid_temperature", arrival_temp_c="99")
    attempt(Conflict, "storage_class", waiting_location_id=world.loc["Y01"].id)  # the room-temperature yellow area

    # Goods refused at the door may have arrived warm: nothing is received, so nothing waits for inspection.
    door = h.receive(world, order, [h.receipt_line(line_id, cold, lot_no="INS-WARM", packages=0, refused_packages=5,
                                                   refuse_reason="到货温度12.0℃，拒收", arrival_temp_c="12")])
    [warm_line] = receipt_lines(world, door)
    assert (warm_line.quantity_received, warm_line.arrival_temp_dc) == (0, 120)
    assert warm_line.lot_id is None and warm_line.lot_no == "INS-WARM"  # kept on the line; no lot waits forever
    assert db.exec(select(Lot).where(Lot.lot_no == "INS-WARM")).first() is None
    refused(db, Conflict, "nothing_to_inspect", pur.inspect, inspector,
            **inspect_args(world, warm_line, location="C01"))

    receipt = h.receive(world, order, [
        h.receipt_line(line_id, cold, lot_no="INS1", packages=10, arrival_temp_c="5.0"),
        h.receipt_line(line_id, cold, lot_no="INS2", packages=5, arrival_temp_c=2),  # the limits are inside
        h.receipt_line(line_id, cold, lot_no="INS3", packages=5, arrival_temp_c=8.0)])
    first, low, high = receipt_lines(world, receipt)
    assert [r.arrival_temp_dc for r in (first, low, high)] == [50, 20, 80]
    assert {r.waiting_location_id for r in (first, low, high)} == {cold}
    for room in ("A01", "W01"):
        refused(db, Conflict, "storage_class", pur.inspect, inspector, **inspect_args(world, first, location=room))
    accept(world, first, location="C01")
    assert on_hand(db, first.lot_id, cold) == 10 and fresh(db, Lot, first.lot_id).status == LotStatus.RELEASED


# --- inspection -----------------------------------------------------------------------------------------------------

def test_inspection_checks_the_sample_and_quantities_then_splits_accepted_and_rejected(world):
    db, inspector = world.session, world.actor("inspector")
    _order, line = received(world, packages=60, cases=4, part_cases=1)
    [row] = pur.receipt_rows(db, receipt_id=line.receipt_id)
    assert row.plan == pur.SamplingPlan(cases_to_open=3, packs_per_case=3, part_case_packs=1, total=10)
    other_store_location = db.exec(select(Location).where(Location.store_id == world.other_store.id)).first()

    def attempt(error, code, actor=inspector, **changes):
        return refused(db, error, code, pur.inspect, actor, **inspect_args(world, line, **changes))

    attempt(InvalidInput, "sample_too_small", sampled=9)
    attempt(InvalidInput, "sample_too_small", sampled=61)  # more than arrived
    attempt(InvalidInput, "sample_too_small", sampled=18, abnormal=True)  # abnormal cases: 3×6 + 1 = 19
    attempt(InvalidInput, "quantities_do_not_add_up", accepted_packages=50, rejected_packages=5)
    attempt(InvalidInput, "quantities_do_not_add_up", accepted_packages=61, rejected_packages=0)
    attempt(InvalidInput, "invalid_quantity", accepted_packages=-1, rejected_packages=61)
    attempt(InvalidInput, "failed_check_accepted", packaging_ok=False)  # a failed check, nothing rejected
    attempt(InvalidInput, "failed_check_accepted", report_ok=False)
    attempt(InvalidInput, "required", rejected=5, reject_reason=" ")
    attempt(InvalidInput, "invalid_location", location="Y01")
    attempt(InvalidInput, "invalid_location", location="R01")
    attempt(InvalidInput, "invalid_location", location=None)
    attempt(InvalidInput, "invalid_location", location_id=other_store_location.id)
    attempt(Conflict, "storage_class", location="C01")  # room-temperature goods in the fridge
    attempt(NotFound, "not_found", line_id=999999)
    attempt(NotFound, "not_found", store=world.other_store)
    for role in ("receiver", "cashier", "purchaser"):
        attempt(PermissionDenied, "forbidden", actor=world.actor(role))

    inspection = pur.inspect(db, inspector, **inspect_args(world, line, rejected=5, packaging_ok=False,
                                                           reject_reason="外箱破损，5盒受潮", abnormal=True,
                                                           sampled=19))
    assert (inspection.conclusion, inspection.accepted_qty, inspection.rejected_qty, inspection.required_sample,
            inspection.sampled, inspection.packaging_ok) == ("partly_accepted", 55 * 36, 5 * 36, 19, 19, False)
    red, shelf = world.loc["R01"].id, world.loc["A01"].id
    assert on_hand(db, line.lot_id, shelf) == 55 * 36 and on_hand(db, line.lot_id, red) == 5 * 36
    assert on_hand(db, line.lot_id, world.loc["Y01"].id) == 0
    assert fresh(db, Lot, line.lot_id).status == LotStatus.RELEASED
    moves = db.exec(select(StockMovement).where(StockMovement.lot_id == line.lot_id).order_by(StockMovement.id)).all()
    assert [(m.kind, m.location_id, m.quantity, m.unit_cost_fen) for m in moves] == [
        (MovementKind.RECEIPT, shelf, 55 * 36, 50), (MovementKind.RECEIPT, red, 5 * 36, 50)]
    assert moves[1].reason == "验收不合格：外箱破损，5盒受潮"
    # The red area is never sold from.
    allocation = inv.allocate_fefo(db, world.store, world.drug["LHQW"].id, 56 * 36)
    assert [(p.location_id, p.quantity) for p in allocation.picks] == [(shelf, 55 * 36)]
    assert allocation.shortage == 36
    assert any(s.location_id == red and SkipReason.WRONG_LOCATION in s.reasons for s in allocation.skipped)

    refused(db, Conflict, "already_inspected", pur.inspect, inspector, **inspect_args(world, line))
    [row] = pur.receipt_rows(db, receipt_id=line.receipt_id)
    assert (row.inspector.username, row.destination.code, row.to_inspect) == ("inspector", "A01", False)
    assert inv.verify_ledger(db) == []


def test_a_lot_rejected_in_full_is_nonconforming_and_never_sellable(world):
    db = world.session
    _order, line = received(world, packages=10)
    inspection = accept(world, line, rejected=10, appearance_ok=False, reject_reason="颗粒结块、变色", location=None)
    assert (inspection.conclusion, inspection.location_id) == ("rejected", None)
    assert fresh(db, Lot, line.lot_id).status == LotStatus.NONCONFORMING
    assert on_hand(db, line.lot_id, world.loc["R01"].id) == 360 and on_hand(db, line.lot_id) == 360
    assert inv.sellable_lot_for_barcode(db, world.store, LHQW_BARCODE).lot is None
    assert inv.allocate_fefo(db, world.store, world.drug["LHQW"].id, 1).picks == []


def test_a_lot_recalled_or_declared_nonconforming_while_it_waits_cannot_be_accepted(world):
    """A recall covers lots still waiting for inspection (gsp.quality.issue_recall); so can a non-conforming
    decision. The inspector may only reject such a lot: accepted stock would land on the shelf."""
    db, qm, inspector = world.session, world.actor("quality_manager"), world.actor("inspector")
    order = h.confirmed_order(world, lines=[lhqw(world, 20)])
    line_id, waiting = order_line(world, order).id, world.loc["Y01"].id
    receipt = h.receive(world, order, [h.receipt_line(line_id, waiting, lot_no="RC1", packages=10),
                                       h.receipt_line(line_id, waiting, lot_no="NC1", packages=10)])
    recalled, nonconforming = receipt_lines(world, receipt)
    q.issue_recall(db, qm, drug_id=world.drug["LHQW"].id, lot_nos=["RC1"], level=3, reason="厂家召回")
    q.declare_nonconforming(db, qm, nonconforming.lot_id, reason="suspected_quality", note="同批号抽检不合格")
    for line, status in ((recalled, LotStatus.RECALLED), (nonconforming, LotStatus.NONCONFORMING)):
        assert fresh(db, Lot, line.lot_id).status == status
        refused(db, Conflict, "lot_not_receivable", pur.inspect, inspector, **inspect_args(world, line))
        refused(db, Conflict, "lot_not_receivable", pur.inspect, inspector, **inspect_args(world, line, rejected=4))
        accept(world, line, rejected=10, reject_reason="该批号已召回或不合格", location=None)
        assert on_hand(db, line.lot_id, world.loc["R01"].id) == 360 and on_hand(db, line.lot_id) == 360
        assert fresh(db, Lot, line.lot_id).status == status
    assert inv.verify_ledger(db) == []


def test_a_stop_sale_notice_covers_goods_accepted_after_it(world):
    db, qm = world.session, world.actor("quality_manager")
    order, line = received(world, packages=10)
    stop = q.issue_sale_stop(db, qm, drug_id=world.drug["LHQW"].id, lot_no=None, reason="药监局停售通知")
    accept(world, line)
    lot = fresh(db, Lot, line.lot_id)
    assert lot.status == LotStatus.LOCKED and on_hand(db, lot.id, world.loc["A01"].id) == 360
    assert db.exec(select(SaleStopLot.lot_id).where(SaleStopLot.stop_id == stop.id)).all() == [lot.id]
    event = db.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == lot.id)
                    .order_by(LotStatusEvent.id.desc())).first()
    assert event.reason_category == "stop_sale" and event.note.startswith(f"#{stop.id} ")
    assert inv.sellable_lot_for_barcode(db, world.store, LHQW_BARCODE).lot is None

    q.lift_sale_stop(db, qm, stop.id, note="解除停售")
    assert fresh(db, Lot, lot.id).status == LotStatus.RELEASED
    assert inv.sellable_lot_for_barcode(db, world.store, LHQW_BARCODE).lot.id == lot.id
    # A lifted notice does not cover later deliveries.
    _order, later = received(world, packages=2, supplier=fresh(db, Supplier, order.supplier_id))
    accept(world, later)
    assert fresh(db, Lot, later.lot_id).status == LotStatus.RELEASED


# --- purchase returns -----------------------------------------------------------------------------------------------

def test_a_locked_lot_goes_back_after_quality_and_finance_approve(world):
    db, store = world.session, world.store
    purchaser, qm, finance = world.actor("purchaser"), world.actor("quality_manager"), world.actor("finance")
    order, line = received(world, packages=10)
    accept(world, line)
    q.lock_lot(db, qm, line.lot_id, reason="suspected_quality", note="抽检不合格")
    shelf, waiting = world.loc["A01"].id, world.loc["Y01"].id
    start = last_audit_id(db)
    ret = pur.request_return(db, purchaser, store=store, supplier_id=order.supplier_id, reason="质量可疑，退回供应商",
                             lines=[{"lot_id": line.lot_id, "location_id": shelf, "packages": 10}])
    assert (ret.status, ret.number, ret.requested_by_id) == (ReturnStatus.REQUESTED, "THT001-000001",
                                                             purchaser.user_id)
    assert {n.permission for n in notification(db, "purchase_return")} == {"purchase_return.quality",
                                                                           "purchase_return.finance"}
    # Nothing leaves the store on the request: the goods wait in the pending (yellow) area, off the shelf.
    assert (on_hand(db, line.lot_id, shelf), on_hand(db, line.lot_id, waiting)) == (0, 360)
    assert [(m.kind, m.quantity, m.location_id) for m in movements(db, line.lot_id, f"return:{ret.number}")] == [
        (MovementKind.TRANSFER_OUT, -360, shelf), (MovementKind.TRANSFER_IN, 360, waiting)]
    assert [(r.from_location_id, r.location_id) for r, *_ in pur.return_lines(db, ret.id)] == [(shelf, waiting)]
    assert pur.waiting_for(db, qm, store, TEST_TODAY).returns_quality == 1
    assert pur.waiting_for(db, finance, store, TEST_TODAY).returns_finance == 1

    for actor, role in [(purchaser, "quality"), (finance, "quality"), (qm, "finance"),
                        (world.actor("cashier"), "finance"), (world.actor("store_manager"), "quality")]:
        refused(db, PermissionDenied, "forbidden", pur.approve_return, actor, store=store, return_id=ret.id,
                as_role=role)
    refused(db, InvalidInput, "invalid_role", pur.approve_return, qm, store=store, return_id=ret.id, as_role="boss")
    refused(db, NotFound, "not_found", pur.approve_return, qm, store=world.other_store, return_id=ret.id,
            as_role="quality")

    assert "purchase_return" in open_notices(world, "quality_manager")
    assert "purchase_return" in open_notices(world, "finance")
    half = pur.approve_return(db, qm, store=store, return_id=ret.id, as_role="quality")
    assert "purchase_return" not in open_notices(world, "quality_manager")  # their part is done
    assert "purchase_return" in open_notices(world, "finance")
    assert (half.status, half.quality_by_id, half.finance_by_id) == (ReturnStatus.REQUESTED, qm.user_id, None)
    assert on_hand(db, line.lot_id) == 360
    refused(db, Conflict, "already_approved", pur.approve_return, qm, store=store, return_id=ret.id,
            as_role="quality")
    done = pur.approve_return(db, finance, store=store, return_id=ret.id, as_role="finance")
    assert (done.status, done.finance_by_id) == (ReturnStatus.DONE, finance.user_id)
    assert "purchase_return" not in open_notices(world, "finance")
    assert on_hand(db, line.lot_id) == 0
    assert fresh(db, Lot, line.lot_id).status == LotStatus.RETURNED
    movement = db.exec(select(StockMovement).where(StockMovement.lot_id == line.lot_id,
                                                   StockMovement.kind == MovementKind.PURCHASE_RETURN)).one()
    assert (movement.quantity, movement.location_id, movement.reference, movement.actor_id) == (
        -360, waiting, f"return:{ret.number}", finance.user_id)
    actions = [(e.action, e.actor_id) for e in audit_since(db, start)]
    assert actions[0] == ("purchase_return.request", purchaser.user_id)
    assert ("purchase_return.approve_quality", qm.user_id) in actions
    assert ("purchase_return.approve_finance", finance.user_id) in actions
    assert ("lot.status", finance.user_id) in actions
    refused(db, Conflict, "already_decided", pur.approve_return, world.actor("admin"), store=store,
            return_id=ret.id, as_role="quality")
    refused(db, Conflict, "lot_gone", pur.request_return, purchaser, store=store, supplier_id=order.supplier_id,
            reason="再退", lines=[{"lot_id": line.lot_id, "location_id": shelf, "packages": 1}])
    assert inv.verify_ledger(db) == []
    assert pur.waiting_for(db, qm, store, TEST_TODAY).returns_quality == 0


def test_a_released_lot_returned_in_full_is_returned(world):
    db, store = world.session, world.store
    order, line = received(world, packages=2)
    accept(world, line)
    ret = pur.request_return(db, world.actor("purchaser"), store=store, supplier_id=order.supplier_id,
                             reason="滞销退货", lines=[{"lot_id": line.lot_id, "location_id": world.loc["A01"].id,
                                                    "packages": 2}])
    pur.approve_return(db, world.actor("quality_manager"), store=store, return_id=ret.id, as_role="quality")
    pur.approve_return(db, world.actor("finance"), store=store, return_id=ret.id, as_role="finance")
    assert on_hand(db, line.lot_id) == 0
    assert fresh(db, Lot, line.lot_id).status == LotStatus.RETURNED


def test_purchase_return_refusals_and_the_two_person_rule(world):
    db, store = world.session, world.store
    purchaser, qm, finance, admin = (world.actor(r) for r in ("purchaser", "quality_manager", "finance", "admin"))
    order, line = received(world, packages=10)
    accept(world, line)
    other = h.approved_supplier(world, code="SUP2", credit_code=CC[1])
    opening = world.lot(qty=72)  # opening stock: never received from any supplier
    shelf = world.loc["A01"].id

    def ask(error, code, actor=purchaser, supplier_id=order.supplier_id, lines=None, reason="包装破损", **changes):
        raw = {"lot_id": line.lot_id, "location_id": shelf, "packages": 2, **changes}
        return refused(db, error, code, pur.request_return, actor, store=store, supplier_id=supplier_id,
                       reason=reason, lines=[raw] if lines is None else lines)

    err = ask(Conflict, "insufficient_stock", packages=11)  # more than there is
    assert "10" in str(err.message)
    ask(Conflict, "insufficient_stock", location_id=world.loc["W01"].id)  # nothing of it there
    ask(Conflict, "not_from_supplier", supplier_id=other.id)
    ask(Conflict, "not_from_supplier", lot_id=opening.id)
    ask(InvalidInput, "invalid_quantity", packages=0)
    ask(InvalidInput, "invalid_location", location_id=999999)
    ask(NotFound, "not_found", lot_id=999999)
    ask(NotFound, "not_found", supplier_id=999999)
    ask(InvalidInput, "required", reason=" ")
    ask(InvalidInput, "invalid_lines", lines=[])
    ask(InvalidInput, "duplicate_line", lines=[{"lot_id": line.lot_id, "location_id": shelf, "packages": 1}] * 2)
    for role in ("cashier", "quality_manager", "finance"):
        ask(PermissionDenied, "forbidden", actor=world.actor(role))

    own = pur.request_return(db, admin, store=store, supplier_id=order.supplier_id, reason="包装破损",
                             lines=[{"lot_id": line.lot_id, "location_id": shelf, "packages": 2}])
    refused(db, PermissionDenied, "same_person", pur.approve_return, admin, store=store, return_id=own.id,
            as_role="quality")
    refused(db, PermissionDenied, "same_person", pur.reject_return, admin, store=store, return_id=own.id,
            note="撤回")
    assert pur.waiting_for(db, admin, store, TEST_TODAY).returns_quality == 0  # not one's own request

    ret = pur.request_return(db, purchaser, store=store, supplier_id=order.supplier_id, reason="包装破损",
                             lines=[{"lot_id": line.lot_id, "location_id": shelf, "packages": 3}])
    pur.approve_return(db, admin, store=store, return_id=ret.id, as_role="quality")
    refused(db, Conflict, "same_person", pur.approve_return, admin, store=store, return_id=ret.id,
            as_role="finance")

    refused(db, InvalidInput, "required", pur.reject_return, finance, store=store, return_id=own.id, note="")
    refused(db, PermissionDenied, "forbidden", pur.reject_return, world.actor("cashier"), store=store,
            return_id=own.id, note="不退")
    rejected = pur.reject_return(db, finance, store=store, return_id=own.id, note="供应商不接受退货")
    assert (rejected.status, rejected.rejected_by_id) == (ReturnStatus.REJECTED, finance.user_id)
    refused(db, Conflict, "already_decided", pur.approve_return, qm, store=store, return_id=own.id,
            as_role="quality")
    refused(db, Conflict, "already_decided", pur.reject_return, qm, store=store, return_id=own.id, note="again")

    assert pur.approve_return(db, finance, store=store, return_id=ret.id, as_role="finance").status == \
        ReturnStatus.DONE
    assert on_hand(db, line.lot_id, shelf) == 7 * 36
    assert fresh(db, Lot, line.lot_id).status == LotStatus.RELEASED  # stock is left: the lot stays


def test_goods_asked_back_wait_off_the_shelf_and_a_rejection_puts_back_what_may_go_back(world):
    db, store = world.session, world.store
    purchaser, qm, finance = world.actor("purchaser"), world.actor("quality_manager"), world.actor("finance")
    order, line = received(world, packages=10)
    accept(world, line)
    shelf, waiting = world.loc["A01"].id, world.loc["Y01"].id
    assert inv.sellable_lot_for_barcode(db, store, LHQW_BARCODE).lot.id == line.lot_id

    def ask(packages, location_id=shelf):
        return pur.request_return(db, purchaser, store=store, supplier_id=order.supplier_id, reason="滞销退货",
                                  lines=[{"lot_id": line.lot_id, "location_id": location_id, "packages": packages}])

    # All of it asked back: the counter finds nothing to sell while the return waits.
    whole = ask(10)
    assert inv.sellable_lot_for_barcode(db, store, LHQW_BARCODE).lot is None
    refused(db, Conflict, "insufficient_stock", pur.request_return, purchaser, store=store,
            supplier_id=order.supplier_id, reason="再退",
            lines=[{"lot_id": line.lot_id, "location_id": waiting, "packages": 1}])  # not asked back twice
    pur.reject_return(db, finance, store=store, return_id=whole.id, note="供应商不接受退货")
    assert (on_hand(db, line.lot_id, shelf), on_hand(db, line.lot_id, waiting)) == (360, 0)
    assert inv.sellable_lot_for_barcode(db, store, LHQW_BARCODE).lot.id == line.lot_id
    assert [(m.kind, m.quantity, m.location_id) for m in movements(db, line.lot_id, f"return:{whole.number}")] == [
        (MovementKind.TRANSFER_OUT, -360, shelf), (MovementKind.TRANSFER_IN, 360, waiting),
        (MovementKind.TRANSFER_OUT, -360, waiting), (MovementKind.TRANSFER_IN, 360, shelf)]

    # Two returns wait side by side; the lot is locked meanwhile, so a rejected one's goods stay in the pending
    # area for the quality manager instead of going back on the shelf.
    first, second = ask(3), ask(2)
    assert (on_hand(db, line.lot_id, shelf), on_hand(db, line.lot_id, waiting)) == (5 * 36, 5 * 36)
    q.lock_lot(db, qm, line.lot_id, reason="suspected_quality", note="抽检可疑")
    start = last_audit_id(db)
    pur.reject_return(db, qm, store=store, return_id=first.id, note="待质量部处理")
    assert (on_hand(db, line.lot_id, shelf), on_hand(db, line.lot_id, waiting)) == (5 * 36, 5 * 36)
    [event] = [e for e in audit_since(db, start) if e.action == "purchase_return.reject"]
    [first_line] = [row for row, *_ in pur.return_lines(db, first.id)]
    assert json.loads(event.summary)["after"]["lines_left_in_pending_area"] == [first_line.id]
    # The other return still ships from the pending area.
    pur.approve_return(db, qm, store=store, return_id=second.id, as_role="quality")
    pur.approve_return(db, finance, store=store, return_id=second.id, as_role="finance")
    assert (on_hand(db, line.lot_id, shelf), on_hand(db, line.lot_id, waiting)) == (5 * 36, 3 * 36)
    assert inv.verify_ledger(db) == []


def test_cold_chain_goods_asked_back_need_a_cold_pending_area(world):
    db, store, purchaser = world.session, world.store, world.actor("purchaser")
    order = h.confirmed_order(world, lines=[{"drug_id": world.drug["INSULIN"].id, "packages": 4,
                                             "unit_cost_fen": 1500}])
    cold = world.loc["C01"].id
    [line] = receipt_lines(world, h.receive(world, order, [
        h.receipt_line(order_line(world, order, "INSULIN").id, cold, lot_no="INS-R", packages=4,
                       arrival_temp_c="5.0")]))
    accept(world, line, location="C01")
    args = dict(store=store, supplier_id=order.supplier_id, reason="近效期退货",
                lines=[{"lot_id": line.lot_id, "location_id": cold, "packages": 4}])
    err = refused(db, Conflict, "no_holding_area", pur.request_return, purchaser, **args)
    assert "cold" in str(err.message).lower() or "冷" in str(err.message)
    fridge = inv.create_location(db, world.actor("admin"), store_id=store.id, code="Y02", name="冷藏待验区",
                                 kind="pending", sellable=False, storage_class="cold")
    ret = pur.request_return(db, purchaser, **args)
    assert [(r.from_location_id, r.location_id) for r, *_ in pur.return_lines(db, ret.id)] == [(cold, fridge.id)]
    assert on_hand(db, line.lot_id, fridge.id) == on_hand(db, line.lot_id)


def test_a_return_ships_all_or_nothing_when_stock_moved_since_the_request(world):
    db, store = world.session, world.store
    qm, finance = world.actor("quality_manager"), world.actor("finance")
    order, line = received(world, packages=10)
    accept(world, line)
    shelf = world.loc["A01"].id
    ret = pur.request_return(db, world.actor("purchaser"), store=store, supplier_id=order.supplier_id,
                             reason="滞销退货", lines=[{"lot_id": line.lot_id, "location_id": shelf, "packages": 10}])
    # Someone carries part of it out of the pending area meanwhile (a transfer is audited, and allowed).
    inv.transfer_stock(db, world.actor("receiver"), store=store, lot_id=line.lot_id,
                       from_location_id=world.loc["Y01"].id, to_location_id=world.loc["W01"].id, quantity=4 * 36)
    pur.approve_return(db, qm, store=store, return_id=ret.id, as_role="quality")
    refused(db, InsufficientStock, "insufficient_stock", pur.approve_return, finance, store=store,
            return_id=ret.id, as_role="finance")
    assert fresh(db, PurchaseReturn, ret.id).finance_by_id is None
    assert on_hand(db, line.lot_id) == 360
    assert on_hand(db, line.lot_id, world.loc["Y01"].id) == 6 * 36
    # Rejecting puts back what is there (6 packages); the 4 moved meanwhile stay where they were taken.
    pur.reject_return(db, finance, store=store, return_id=ret.id, note="库存已变动，请重新申请")


def test_rejected_goods_go_back_to_the_supplier_from_the_red_area(world):
    db, store = world.session, world.store
    order = h.confirmed_order(world, lines=[lhqw(world, 20)])
    line_id, waiting, red, shelf = (order_line(world, order).id, world.loc["Y01"].id, world.loc["R01"].id,
                                    world.loc["A01"].id)
    receipt = h.receive(world, order, [h.receipt_line(line_id, waiting, lot_no="P1", packages=10),
                                       h.receipt_line(line_id, waiting, lot_no="F1", packages=10)])
    part, full = receipt_lines(world, receipt)
    accept(world, part, rejected=3, packaging_ok=False, reject_reason="3盒破损")
    accept(world, full, rejected=10, label_ok=False, reject_reason="标签与批准文号不符", location=None)
    stock = {(lot.lot_no, loc.code, qty) for lot, _d, loc, qty in pur.returnable_stock(db, store.id,
                                                                                          order.supplier_id)}
    assert stock == {("P1", "A01", 7 * 36), ("P1", "R01", 3 * 36), ("F1", "R01", 10 * 36)}

    ret = pur.request_return(db, world.actor("purchaser"), store=store, supplier_id=order.supplier_id,
                             reason="验收不合格退货", lines=[{"lot_id": part.lot_id, "location_id": red, "packages": 3},
                                                       {"lot_id": full.lot_id, "location_id": red, "packages": 10}])
    assert [(l.quantity, lot.lot_no) for l, lot, _d, _loc in pur.return_lines(db, ret.id)] == [(108, "P1"),
                                                                                              (360, "F1")]
    pur.approve_return(db, world.actor("finance"), store=store, return_id=ret.id, as_role="finance")
    pur.approve_return(db, world.actor("quality_manager"), store=store, return_id=ret.id, as_role="quality")
    assert on_hand(db, part.lot_id, red) == 0 and on_hand(db, part.lot_id, shelf) == 7 * 36
    assert on_hand(db, full.lot_id) == 0
    assert fresh(db, Lot, part.lot_id).status == LotStatus.RELEASED
    assert fresh(db, Lot, full.lot_id).status == LotStatus.RETURNED
    assert {(lot.lot_no, loc.code) for lot, _d, loc, _q in pur.returnable_stock(db, store.id,
                                                                                 order.supplier_id)} == {("P1", "A01")}
    assert inv.verify_ledger(db) == []


# --- who waits for what ---------------------------------------------------------------------------------------------

def test_the_dashboard_counts_what_waits_on_each_role(world):
    db, store = world.session, world.store
    order = h.confirmed_order(world, lines=[lhqw(world, 20)])
    h.submit_supplier(world, code="SUP2", credit_code=CC[1])
    line_id = order_line(world, order).id
    h.receive(world, order, [h.receipt_line(line_id, world.loc["Y01"].id, packages=4),
                             h.receipt_line(line_id, world.loc["Y01"].id, packages=4, expiry_days=60)])
    qm_view = pur.waiting_for(db, world.actor("quality_manager"), store, TEST_TODAY)
    assert (qm_view.suppliers, qm_view.decisions, qm_view.to_receive, qm_view.to_inspect) == (1, 1, [], 0)
    assert [o.id for o, _s in pur.waiting_for(db, world.actor("receiver"), store, TEST_TODAY).to_receive] == [
        order.id]
    assert pur.waiting_for(db, world.actor("inspector"), store, TEST_TODAY).to_inspect == 2
    assert not pur.waiting_for(db, world.actor("cashier"), store, TEST_TODAY)
    assert not pur.waiting_for(db, world.actor("receiver"), world.other_store, TEST_TODAY)


# --- licence warnings -----------------------------------------------------------------------------------------------

def test_the_licence_job_warns_once_about_supplier_licences_ending_and_not_after_renewal(app, world, clock):
    db, qm = world.session, world.actor("quality_manager")
    soon = h.approved_supplier(world, code="SOON", credit_code=CC[0], until_days=20)
    lapses = h.approved_supplier(world, code="LAPSE", credit_code=CC[1], until_days=15)
    renewed = h.approved_supplier(world, code="RENEW", credit_code=CC[2], until_days=10)
    h.approved_supplier(world, code="LATER", credit_code=CC[3], until_days=400)
    h.submit_supplier(world, code="WAIT", credit_code=CC[4], until_days=5)  # not approved: not ordered from
    renewal = {"kind": "trade", "number": "京AA0000099", "valid_until": (TEST_TODAY + timedelta(days=1000)).isoformat()}
    qual.add_licence(db, qm, renewed.id, renewal)

    def run():
        with app.app_context():
            message = licence_expiry(app)
        db.rollback()
        notes = db.exec(select(Notification).where(Notification.kind == "licence_expiry",
                                                   Notification.entity_type == "supplier")).all()
        return message, {n.dedupe_key: n for n in notes}

    def trade(supplier):
        return qual.current_licences(db, supplier.id)["trade"]

    message, notes = run()
    assert set(notes) == {f"supplier_licence:{trade(soon).id}:ending", f"supplier_licence:{trade(lapses).id}:ending"}
    note = notes[f"supplier_licence:{trade(soon).id}:ending"]
    assert (note.permission, note.store_id, note.entity_id) == ("qualification.approve", None, str(soon.id))
    assert soon.name in note.title and "20" in note.title and "京AA0000001" in note.body
    assert "2 new" in message
    assert {s.id for s, _l in pur.waiting_for(db, qm, world.store, TEST_TODAY).licences} == {soon.id, lapses.id}

    message, again = run()
    assert set(again) == set(notes) and "0 new" in message  # once only

    qual.add_licence(db, qm, soon.id, renewal)
    clock.advance(days=21)  # both old licences have ended; only one was renewed
    message, after = run()
    assert set(after) - set(notes) == {f"supplier_licence:{trade(lapses).id}:ended"}
    assert "1 new" in message
    today = TEST_TODAY + timedelta(days=21)
    assert qual.supplier_problems(db, fresh(db, Supplier, soon.id), today) == []
    assert qual.supplier_problems(db, fresh(db, Supplier, lapses.id), today)


# --- append-only GSP records ----------------------------------------------------------------------------------------

PROTECTED = ("receipt", "receipt_line", "receipt_decision", "inspection", "supplier_licence")


@pytest.fixture
def records(world):
    """One row in each protected procurement table."""
    order = h.confirmed_order(world)
    receipt = h.receive(world, order, [h.receipt_line(order_line(world, order).id, world.loc["Y01"].id,
                                                      expiry_days=120)])
    line = receipt_lines(world, receipt)[0]
    pur.decide_receipt_line(world.session, world.actor("quality_manager"), store=world.store, line_id=line.id,
                            approve=True, note="周转快，同意收货")
    accept(world, line)
    return receipt


def _refused_sql(engine, sql):
    with pytest.raises(DatabaseError) as exc:
        with engine.begin() as conn:
            conn.execute(text(sql))
    assert "append-only" in str(exc.value)


@pytest.mark.parametrize("table", PROTECTED)
def test_procurement_records_refuse_update_and_delete(app, records, table):
    engine = app.extensions["yaofang.engine"]
    with engine.connect() as conn:
        before = conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).all()
    assert before
    _refused_sql(engine, f"UPDATE {table} SET id = id")
    _refused_sql(engine, f"DELETE FROM {table}")
    if PG_URL:
        _refused_sql(engine, f"TRUNCATE {table} CASCADE")
    else:
        with engine.connect() as conn:
            cols = ", ".join(r[1] for r in conn.execute(text(f"PRAGMA table_info({table})")))
        _refused_sql(engine, f"INSERT OR REPLACE INTO {table} ({cols}) SELECT {cols} FROM {table} LIMIT 1")
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).all() == before


def test_the_permission_matrix_helper_builds_every_record(world):
    args = h.procurement_url_args(world)
    assert set(args) >= {"supplier_id", "order_id", "receipt_id", "receipt_line_id", "request_id", "return_id"}
    assert all(isinstance(v, int) and v > 0 for v in args.values())


def test_bad_types_and_a_reused_client_uuid_are_refused(world):
    """Values of the wrong type get a clear refusal (never a TypeError or True read as record 1)."""
    db = world.session
    order, line = received(world, packages=2)
    inspector = world.actor("inspector")
    for name in ("appearance_ok", "report_ok", "abnormal"):
        refused(db, InvalidInput, "invalid_check", pur.inspect, inspector,
                **inspect_args(world, line, **{name: "false"}))  # the text "false" is not a passed check
    refused(db, InvalidInput, "invalid_location", pur.inspect, inspector, **inspect_args(world, line, location=None,
                                                                                        location_id=True))
    other = h.confirmed_order(world, supplier=qual.get_supplier(db, order.supplier_id),
                              lines=[lhqw(world, 3)])
    first = db.exec(select(Receipt).where(Receipt.order_id == order.id)).one()
    raw = h.receipt_line(order_line(world, other).id, world.loc["Y01"].id, packages=1)
    refused(db, Conflict, "client_uuid_reused", pur.receive, world.actor("receiver"), store=world.store,
            order_id=other.id, delivery_note_no="DN-OTHER", client_uuid=first.client_uuid, lines=[raw])
    for bad in (True, [1], "1"):
        refused(db, Conflict, "not_on_order", pur.receive, world.actor("receiver"), store=world.store,
                order_id=other.id, delivery_note_no="DN-BAD", client_uuid=str(uuid.uuid4()),
                lines=[{**raw, "order_line_id": bad}])
    for bad in ([1], {"kind": 1}):
        refused(db, InvalidInput, "invalid_kind", qual.submit_supplier, world.actor("purchaser"),
                **supplier_fields("SUPX", CC[2], kind=bad))


def test_the_licence_job_warns_about_a_representatives_authorisation_until_it_is_renewed(app, world, clock):
    db, qm = world.session, world.actor("quality_manager")
    rep = {"name": "王五", "id_number": h.REP_ID, "valid_until": (TEST_TODAY + timedelta(days=10)).isoformat()}
    supplier = h.approved_supplier(world, reps=[rep])

    def warned():
        with app.app_context():
            licence_expiry(app)
        db.rollback()
        return set(db.exec(select(Notification.dedupe_key).where(
            Notification.dedupe_key.startswith("supplier_rep:"))).all())

    first = warned()
    assert len(first) == 1 and first.pop().endswith(":ending")
    qual.add_rep(db, qm, supplier.id, {**rep, "valid_until": (TEST_TODAY + timedelta(days=365)).isoformat()})
    clock.advance(days=11)
    assert len(warned()) == 1  # renewed: no "ended" notice for the old authorisation
