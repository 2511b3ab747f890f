"""Demo procurement, loaded after the demo store and the quality demo through the same services the pages use, by
the demo users of the right roles: an approved wholesaler (licences, a sales representative, a trade licence that
ends in 20 days so the licence warning shows), a manufacturer still waiting for approval, a first-time drug request
(首营品种) waiting for the quality manager, a confirmed purchase order with a receipt against it (two lots waiting for
inspection, one accepted onto the shelf), a draft order, and a purchase return of the accepted lot with the quality
head's approval, waiting for finance.

The suppliers, their credit codes, licence numbers and the representative are made up for the demo ("示例…",
checksum-valid synthetic numbers); the drugs are the demo store's real catalogue rows. Lot numbers, dates, costs and
quantities are generated relative to today and are not real.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select
from stdnum.cn import ric, uscc

from core import clock
from core.clock import FixedClock, use
from core.db import transaction
from core.models import Store, User
from core.services import Actor, actor_for, record_audit
from gsp import purchasing as pur, qualification as qual
from gsp.models import DrugRequest, DrugRequestKind, Supplier
from inventory.models import (ApprovalStatus, Drug, DrugCategory, Location, Lot, LotStatus, RxClass, SpecialClass,
                              StorageClass)
from inventory.services import drug_by_barcode, store_today

APPROVED_CODE = "DEMO-GYS-01"
PENDING_CODE = "DEMO-GYS-02"
DEMO_NAMESPACE = uuid.UUID("6f1c3a52-6d4e-4c1b-9a57-3f0e2a1d9b10")  # client keys of the demo receipt (uuid5)


def synthetic_credit_code(division: str, serial: int) -> str:
    """A unified social credit code of the right shape and check digit that belongs to no company: 9 (registered
    with the market regulator) 1 (enterprise), a division code, a made-up organisation code 00000000n."""
    body = f"91{division}{serial:09d}"
    code = body + uscc.calc_check_digit(body)
    if not uscc.is_valid(code):
        raise ValueError(code)
    return code


def synthetic_id_number(region: str, birth: str, sequence: int) -> str:
    """A resident ID number with a valid region, birth date and check digit, made up for the demo (no real person)."""
    body = f"{region}{birth}{sequence:03d}"
    number = body + ric.calc_check_digit(body + "0")  # stdnum takes the number with a check digit place
    if not ric.is_valid(number):
        raise ValueError(number)
    return number


def load_procurement_demo(session: Session, config: dict) -> str:
    """Registered in app.extensions["yaofang.demo_loaders"]: runs once, when `yaofang init --demo` (or `yaofang
    demo`) fills an empty database; a second run finds the demo supplier and does nothing. One transaction (the
    services' own transactions join it): all of it or none of it."""
    with transaction(session):
        return _load(session, config)


def _load(session: Session, config: dict) -> str:
    users = {u.username: u for u in session.exec(select(User)).all()}
    needed = ("purchaser", "quality", "receiver", "inspector")
    if any(name not in users for name in needed):
        return "procurement demo: no demo users"
    if session.exec(select(Supplier.id).where(Supplier.code == APPROVED_CODE)).first() is not None:
        return "procurement demo: already loaded"
    purchaser, quality = actor_for(session, users["purchaser"]), actor_for(session, users["quality"])
    receiver, inspector = actor_for(session, users["receiver"]), actor_for(session, users["inspector"])
    store = session.get(Store, purchaser.store_id)
    today = store_today(store)
    tz = ZoneInfo(store.timezone)

    def at(days_ago: int, hour: int, minute: int = 0) -> FixedClock:
        """A clock standing at a past moment in the store, so the records carry believable times."""
        return FixedClock(datetime.combine(today - timedelta(days=days_ago), time(hour, minute), tz))

    drugs = _pick_drugs(session)
    if not drugs:
        return "procurement demo: not enough approved demo drugs"
    _cover_store_scope(session, store, drugs)
    locations = {loc.code: loc for loc in session.exec(select(Location).where(Location.store_id == store.id)).all()}
    if not {"A01", "A02", "C01", "Y01", "Y02"} <= set(locations):
        return "procurement demo: the demo store's locations are missing"
    scope = "\n".join(qual.SCOPE_ITEMS[i] for i in (0, 3, 5, 6))  # 化学药制剂 中成药 生物制品 冷藏冷冻药品

    # 首营企业: the purchaser files a wholesaler, the quality manager (another person) approves it. Its trade licence
    # ends in 20 days: the dashboard and the supplier page warn until the renewal is filed.
    credit = synthetic_credit_code("330100", 1)
    with use(at(12, 9, 30)):
        supplier = qual.submit_supplier(
            session, purchaser, code=APPROVED_CODE, name="示例医药有限公司（演示）", credit_code=credit,
            kind="wholesaler", address="演示地址（非真实）", contact="示例联系人 0571-00000000",
            business_scope=scope,
            licences=[{"kind": "trade", "number": "浙AA5710001（演示）", "scope": scope,
                       "valid_from": (today - timedelta(days=5 * 365 - 20)).isoformat(),
                       "valid_until": (today + timedelta(days=20)).isoformat()},
                      {"kind": "business", "number": credit, "valid_until": None},
                      {"kind": "quality_agreement", "number": "ZLXY-2026-001（演示）",
                       "valid_until": (today + timedelta(days=345)).isoformat()}],
            reps=[{"name": "示例销售员 林晓", "id_number": synthetic_id_number("110105", "19880312", 123),
                   "authorisation_no": "SQ-2026-001（演示）", "scope": scope,
                   "valid_until": (today + timedelta(days=180)).isoformat()}])
    with use(at(11, 14)):
        qual.decide_supplier(session, quality, supplier.id, approve=True, note="演示：证照齐全，审核通过")
    rep = qual.supplier_reps(session, supplier.id)[0]

    # A second supplier, a manufacturer, waits for the quality manager.
    with use(at(2, 10)):
        pending_credit = synthetic_credit_code("320500", 2)
        qual.submit_supplier(
            session, purchaser, code=PENDING_CODE, name="示例制药有限公司（演示）", credit_code=pending_credit,
            kind="manufacturer", address="演示地址（非真实）", contact="示例联系人 0512-00000000",
            business_scope="\n".join(qual.SCOPE_ITEMS[i] for i in (0, 3)),
            licences=[{"kind": "manufacturing", "number": "苏20260002（演示）",
                       "valid_until": (today + timedelta(days=3 * 365)).isoformat()},
                      {"kind": "business", "number": pending_credit, "valid_until": None}])

    # 首营品种 waiting for approval (see _first_time_request).
    with use(at(1, 16)):
        requested = _first_time_request(session, purchaser)

    # The purchase plan: a confirmed order of four approved drugs, one of them cold-chain.
    cold = next(d for d in drugs if d.storage_class == StorageClass.COLD)
    room = [d for d in drugs if d.storage_class != StorageClass.COLD]
    plan = [(room[0], 20), (room[1], 10), (room[2], 12), (cold, 6)]
    with use(at(4, 9, 30)) as moment:
        order = pur.create_order(session, purchaser, store=store, supplier_id=supplier.id, rep_id=rep.id,
                                 note="演示：常规补货",
                                 lines=[{"drug_id": d.id, "packages": n, "unit_cost_fen": _cost(d)} for d, n in plan])
        moment.advance(hours=1, minutes=30)
        pur.confirm_order(session, purchaser, store=store, order_id=order.id)
    lines = {line.drug_id: line for line, _drug in pur.order_lines(session, order.id)}

    # The delivery: the first drug in full, the second with one box refused at the door, the cold drug at 5.2 °C in
    # the cold pending area; the third drug has not arrived yet (the order stays open).
    def lot(drug: Drug, days_made: int, suffix: str) -> dict:
        made = today - timedelta(days=days_made)
        return {"lot_no": f"{made:%y%m%d}{suffix}", "production_date": made.isoformat(),
                "expiry_date": (pur.add_months(made, 24) - timedelta(days=1)).isoformat()}

    received = [
        {"order_line_id": lines[room[0].id].id, **lot(room[0], 75, "A1"), "packages": 20, "cases": 1,
         "part_cases": 0, "waiting_location_id": locations["Y01"].id},
        {"order_line_id": lines[room[1].id].id, **lot(room[1], 120, "B3"), "packages": 9, "refused_packages": 1,
         "refuse_reason": "演示：1盒外包装压损，当场拒收", "cases": 0, "part_cases": 1,
         "waiting_location_id": locations["Y01"].id},
        {"order_line_id": lines[cold.id].id, **lot(cold, 40, "C2"), "packages": 6, "cases": 0, "part_cases": 1,
         "arrival_temp_c": "5.2", "waiting_location_id": locations["Y02"].id},
    ]
    with use(at(1, 10, 30)):
        receipt = pur.receive(session, receiver, store=store, order_id=order.id,
                              delivery_note_no=f"SHTX-{today - timedelta(days=1):%Y%m%d}-001（演示）",
                              client_uuid=str(uuid.uuid5(DEMO_NAMESPACE, f"{store.code}:{order.number}")),
                              lines=received,
                              min_shelf_life_months=int(config.get("RECEIVING_MIN_SHELF_LIFE_MONTHS", 6)))

    # The inspector accepts the first lot onto the shelf; the other two wait for inspection.
    row = next(r for r in pur.receipt_rows(session, receipt_id=receipt.id) if r.drug.id == room[0].id)
    shelf = locations["A02"] if row.drug.rx_class == RxClass.RX else locations["A01"]
    packages = row.packages(row.line.quantity_received)
    with use(at(1, 14, 20)):
        pur.inspect(session, inspector, store=store, line_id=row.line.id, sampled=row.plan.total, appearance_ok=True,
                    packaging_ok=True, label_ok=True, report_ok=True, accepted_packages=packages,
                    rejected_packages=0, location_id=shelf.id, note="演示：外观、包装、标签说明书、检验报告均符合规定")

    # Next week's order, still a draft.
    draft = pur.create_order(session, purchaser, store=store, supplier_id=supplier.id, note="演示：下周补货（草稿）",
                             lines=[{"drug_id": room[3].id, "packages": 8, "unit_cost_fen": _cost(room[3])},
                                    {"drug_id": room[1].id, "packages": 5, "unit_cost_fen": _cost(room[1])}])

    # Two boxes of the accepted lot go back (over-stock agreed with the supplier): the quality head has approved,
    # finance has not yet, so nothing has left the store: the boxes wait in the pending (yellow) area.
    ret = pur.request_return(session, purchaser, store=store, supplier_id=supplier.id,
                             reason="演示：到货数量超出门店需求，经与供货单位协商退回 2 盒",
                             lines=[{"lot_id": row.lot.id, "location_id": shelf.id, "packages": 2}])
    pur.approve_return(session, quality, store=store, return_id=ret.id, as_role="quality")
    return (f"procurement demo: 2 suppliers (1 approved, its trade licence ends in 20 days; 1 waiting), "
            f"{'1 drug request (首营品种) waiting' if requested else 'no drug request'}, order {order.number} "
            f"confirmed with receipt {receipt.number} (1 lot accepted, 2 waiting for inspection), draft order "
            f"{draft.number}, return {ret.number} waiting for finance")


def _pick_drugs(session: Session) -> list[Drug]:
    """Approved demo drugs to order: three room-temperature oral drugs (two Western, one Chinese patent) with a
    price, whose lots are all released (not the demo's locked or pending examples), a fourth for the draft order,
    and the cold-chain one."""
    troubled = select(Lot.drug_id).where(Lot.status.in_([LotStatus.LOCKED, LotStatus.PENDING_INSPECTION,
                                                         LotStatus.NONCONFORMING]))
    base = (select(Drug).where(Drug.approval_status == ApprovalStatus.APPROVED, Drug.active.is_(True),
                               Drug.special_class == SpecialClass.NONE, Drug.retail_price_fen > 0,
                               Drug.id.not_in(troubled)).order_by(Drug.code))
    oral = Drug.dosage_form.contains("片") | Drug.dosage_form.contains("胶囊") | Drug.dosage_form.contains("颗粒")
    western = session.exec(base.where(Drug.category == DrugCategory.WESTERN, Drug.storage_class == StorageClass.ROOM,
                                      oral).limit(3)).all()
    patent = session.exec(base.where(Drug.category == DrugCategory.PATENT, Drug.storage_class == StorageClass.ROOM,
                                     oral).limit(1)).all()
    cold = session.exec(base.where(Drug.storage_class == StorageClass.COLD).limit(1)).all()
    if len(western) < 3 or not patent or not cold:
        return []
    return [western[0], western[1], patent[0], western[2], cold[0]]


def _cost(drug: Drug) -> int:
    """A believable purchase cost per package: about 72 % of the retail price, to the 10 fen."""
    return max(100, round(drug.retail_price_fen * 0.72 / 10) * 10)


def _cover_store_scope(session: Session, store: Store, drugs: list[Drug]) -> None:
    """The store's business scope must cover what it buys (the store demo sets it; add what is missing)."""
    needed = set().union(*(qual.required_scope(d) for d in drugs))
    have = qual.scope_set(store.business_scope)
    if needed <= have:
        return
    with transaction(session):
        before = store.business_scope
        store.business_scope = "\n".join(i for i in qual.SCOPE_ITEMS if i in have | needed)
        session.add(store)
        record_audit(session, Actor.system("demo", store.id), "store.update", "store", store.id,
                     before={"business_scope": before}, after={"business_scope": store.business_scope},
                     store_id=store.id)


def _first_time_request(session: Session, purchaser: Actor) -> DrugRequest | None:
    """首营品种 waiting for the quality manager, for a real product of the shared barcode list.

    Every row of drug_barcodes_cn.csv is already in the demo drug master (the store demo enters them all, and leaves
    its last ones PENDING without a request), so the request is filed for such a pending product instead of entering
    it twice (its EAN-13 is unique): the same record qualification.submit_new_drug writes — request, notice to the
    quality managers, audit — without creating the drug again. Approving it on the drug request page releases the
    drug like any new one."""
    from inventory.demo import read_barcodes

    for row in read_barcodes():
        drug = drug_by_barcode(session, row["barcode"])
        if drug is None or drug.approval_status != ApprovalStatus.PENDING or not drug.approval_no:
            continue
        if session.exec(select(DrugRequest.id).where(DrugRequest.drug_id == drug.id)).first() is not None:
            continue
        with transaction(session):
            request = DrugRequest(
                drug_id=drug.id, kind=DrugRequestKind.NEW,
                documents="演示：药品注册证书（批准文号）复印件、质量标准、首批检验报告、说明书和标签样稿，加盖供货单位公章",
                changes=json.dumps({"code": drug.code, "generic_name": drug.generic_name,
                                    "approval_no": drug.approval_no}, ensure_ascii=False, sort_keys=True),
                submitted_by_id=purchaser.user_id, submitted_at=clock.now())
            session.add(request)
            session.flush()
            qual._notify_request(session, request, drug, purchaser)
            record_audit(session, purchaser, "drug_request.submit", "drug", drug.id,
                         after={"request": request.id, "kind": request.kind})
        return request
    return None

