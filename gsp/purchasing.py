"""Purchasing: purchase orders (the purchase plan, 采购计划), receiving (收货), acceptance inspection (验收) and
purchase returns (采购退回).

Quantities are entered in packages (购进单位) and stored in smallest units (DESIGN.md invariant 7). Goods wait in
the pending (yellow) area — cold-chain goods in a cold location — and enter the stock ledger only at acceptance:
the accepted quantity by a RECEIPT movement into the chosen location (lot RELEASED), the rejected quantity into the
non-conforming (red) area, never sellable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, insert
from sqlmodel import Session, select

from core import clock
from core.db import is_postgres, transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Store, User
from core.permissions import Perm
from core.services import Actor, close_notifications, notify, record_audit, validate_client_key
from gsp import qualification as qual
from gsp.models import (Inspection, OrderStatus, PurchaseOrder, PurchaseOrderLine, PurchaseReturn,
                        PurchaseReturnLine, Receipt, ReceiptDecision, ReceiptLine, ReturnStatus, SaleStop,
                        SaleStopLot, Supplier)
from inventory import services as inv
from inventory.models import (ApprovalStatus, Drug, Location, LocationKind, Lot, LotStatus, LotStatusEvent,
                              MovementKind, StockBalance, StockCheckFinding, StorageClass)

MAX_LINES = 500
MAX_PACKAGES = 100_000
MAX_COST_FEN = 100_000_000
MAX_LOT_NO = inv.MAX_LOT_NO_LENGTH
COLD_ARRIVAL_RANGE_DC = {StorageClass.COLD: (20, 80), StorageClass.FROZEN: (-400, -100)}  # tenths of a degree
ORDER_STATUS_LABELS = {OrderStatus.DRAFT: _l("Draft"), OrderStatus.CONFIRMED: _l("Confirmed (purchase plan)"),
                       OrderStatus.CLOSED: _l("Order closed"), OrderStatus.CANCELLED: _l("Cancelled")}
RETURN_STATUS_LABELS = {ReturnStatus.REQUESTED: _l("Waiting for approvals"), ReturnStatus.DONE: _l("Returned"),
                        ReturnStatus.REJECTED: _l("Rejected")}
CONCLUSION_LABELS = {"accepted": _l("Accepted at inspection"), "partly_accepted": _l("Partly accepted"),
                     "rejected": _l("Rejected at inspection")}


def _int(value, what, *, minimum: int = 0, maximum: int = MAX_PACKAGES) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidInput(_l("%(what)s must be a whole number from %(min)d to %(max)d.", what=what, min=minimum,
                              max=maximum), code="invalid_quantity")
    return value


def _id(value, what) -> int:
    return _int(value, what, minimum=1, maximum=2**31 - 1)


def _lock_store(session: Session, store_id: int) -> Store:
    """Numbers are per store and gap-free in practice; the store row lock serialises their allocation (SQLite's
    BEGIN IMMEDIATE already does)."""
    return session.get(Store, store_id, with_for_update=True if is_postgres(session) else None)


def _next_number(session: Session, model, store: Store, prefix: str) -> str:
    count = session.exec(select(func.count()).select_from(model).where(model.store_id == store.id)).one()
    return f"{prefix}{store.code}-{count + 1:06d}"


def _is_id(value) -> bool:
    return type(value) is int and value > 0  # not bool (True would be record 1)


def _location(session: Session, location_id, store_id: int, what) -> Location:
    location = session.get(Location, location_id) if _is_id(location_id) else None
    if location is None or location.store_id != store_id or not location.active:
        raise InvalidInput(_l("Choose %(what)s of this store.", what=what), code="invalid_location")
    return location


def red_location(session: Session, store_id: int, storage_class: str = StorageClass.ROOM) -> Location:
    """The store's non-conforming (red) area; for cold-chain goods a cold one when the store has it."""
    rows = session.exec(select(Location).where(Location.store_id == store_id,
                                               Location.kind == LocationKind.NONCONFORMING,
                                               Location.active.is_(True)).order_by(Location.id)).all()
    if not rows:
        raise Conflict(_l("This store has no non-conforming (red) area: create one before rejecting goods."),
                       code="no_red_area")
    return next((loc for loc in rows if loc.storage_class == storage_class), rows[0])


def is_cold(drug: Drug) -> bool:
    return drug.storage_class in (StorageClass.COLD, StorageClass.FROZEN)


# --- purchase orders --------------------------------------------------------------------------------------------

def _check_orderable(session: Session, drug: Drug, store: Store, supplier: Supplier) -> None:
    if drug.approval_status != ApprovalStatus.APPROVED or not drug.active:
        raise Conflict(_l("%(drug)s is not approved by the quality manager (首营品种): it cannot be ordered.",
                          drug=drug.display_name), code="drug_not_approved")
    problem = qual.scope_problem(drug, store, supplier)
    if problem:
        raise Conflict(problem, code="out_of_scope")


def _order_line(session: Session, raw, store: Store, supplier: Supplier) -> PurchaseOrderLine:
    if not isinstance(raw, dict):
        raise InvalidInput(_l("Each order line needs a drug and a quantity."), code="invalid_line")
    drug = session.get(Drug, _id(raw.get("drug_id"), _l("Drug")))
    if drug is None:
        raise NotFound(_l("Drug not found."))
    _check_orderable(session, drug, store, supplier)
    packages = _int(raw.get("packages"), _l("Quantity (packages)"), minimum=1)
    cost = _int(raw.get("unit_cost_fen", 0), _l("Cost per package (fen)"), maximum=MAX_COST_FEN)
    return PurchaseOrderLine(store_id=store.id, drug_id=drug.id, quantity=packages * drug.units_per_package,
                             unit_cost_fen=cost)


def create_order(session: Session, actor: Actor, *, store: Store, supplier_id, rep_id=None, lines=(),
                 note: str = "") -> PurchaseOrder:
    """A draft order from approved master data; every line is checked against both business scopes."""
    qual.require(actor, Perm.PURCHASE_ORDER)
    note = qual.clean_text(note, _l("Note"), required=False)
    if not isinstance(lines, (list, tuple)) or len(lines) > MAX_LINES:
        raise InvalidInput(_l("An order has at most %(n)d lines.", n=MAX_LINES), code="too_many_lines")
    with transaction(session):
        store = _lock_store(session, store.id)
        today = inv.store_today(store)
        supplier = qual.usable_supplier(session, _id(supplier_id, _l("Supplier")), today)
        rep = qual.valid_rep(session, supplier, rep_id, today)
        rows = [_order_line(session, raw, store, supplier) for raw in lines]
        if len({row.drug_id for row in rows}) != len(rows):
            raise InvalidInput(_l("Each drug appears once per order: add the quantities together."),
                               code="duplicate_line")
        order = PurchaseOrder(store_id=store.id, number=_next_number(session, PurchaseOrder, store, "CG"),
                              supplier_id=supplier.id, rep_id=rep.id if rep else None, note=note,
                              created_by_id=actor.user_id, created_at=clock.now())
        session.add(order)
        session.flush()
        for row in rows:
            row.order_id = order.id
        session.add_all(rows)
        record_audit(session, actor, "purchase_order.create", "purchase_order", order.id,
                     after={"number": order.number, "supplier_id": supplier.id, "lines": len(rows)},
                     store_id=store.id)
    return order


def get_order(session: Session, order_id, store_id: int, *, for_update: bool = False) -> PurchaseOrder:
    order = (session.get(PurchaseOrder, order_id, with_for_update=for_update and is_postgres(session) or None)
             if _is_id(order_id) else None)
    if order is None or order.store_id != store_id:
        raise NotFound(_l("Purchase order not found."))
    return order


def _draft(session: Session, actor: Actor, store: Store, order_id) -> PurchaseOrder:
    qual.require(actor, Perm.PURCHASE_ORDER)
    order = get_order(session, order_id, store.id, for_update=True)
    if order.status != OrderStatus.DRAFT:
        raise Conflict(_l("Order %(number)s is confirmed: it can no longer be edited.", number=order.number),
                       code="not_draft")
    return order


def add_order_line(session: Session, actor: Actor, *, store: Store, order_id, drug_id, packages,
                   unit_cost_fen=0) -> PurchaseOrderLine:
    with transaction(session):
        order = _draft(session, actor, store, order_id)
        supplier = qual.get_supplier(session, order.supplier_id)
        row = _order_line(session, {"drug_id": drug_id, "packages": packages, "unit_cost_fen": unit_cost_fen},
                          store, supplier)
        if session.exec(select(PurchaseOrderLine.id).where(PurchaseOrderLine.order_id == order.id,
                                                           PurchaseOrderLine.drug_id == row.drug_id)).first():
            raise Conflict(_l("This drug is already on the order: remove its line to change the quantity."),
                           code="duplicate_line")
        if session.exec(select(func.count()).select_from(PurchaseOrderLine)
                        .where(PurchaseOrderLine.order_id == order.id)).one() >= MAX_LINES:
            raise InvalidInput(_l("An order has at most %(n)d lines.", n=MAX_LINES), code="too_many_lines")
        row.order_id = order.id
        session.add(row)
        session.flush()
        record_audit(session, actor, "purchase_order.add_line", "purchase_order", order.id,
                     after={"drug_id": row.drug_id, "quantity": row.quantity, "unit_cost_fen": row.unit_cost_fen},
                     store_id=store.id)
    return row


def remove_order_line(session: Session, actor: Actor, *, store: Store, order_id, line_id) -> None:
    with transaction(session):
        order = _draft(session, actor, store, order_id)
        row = session.get(PurchaseOrderLine, line_id) if _is_id(line_id) else None
        if row is None or row.order_id != order.id:
            raise NotFound(_l("Order line not found."))
        session.delete(row)
        record_audit(session, actor, "purchase_order.remove_line", "purchase_order", order.id,
                     before={"drug_id": row.drug_id, "quantity": row.quantity}, store_id=store.id)


def confirm_order(session: Session, actor: Actor, *, store: Store, order_id) -> PurchaseOrder:
    """The confirmed order becomes the purchase plan receiving works against. Everything is checked again now:
    a licence may have ended or a drug been suspended since the draft."""
    with transaction(session):
        order = _draft(session, actor, store, order_id)
        today = inv.store_today(store)
        supplier = qual.usable_supplier(session, order.supplier_id, today)
        if order.rep_id:
            qual.valid_rep(session, supplier, order.rep_id, today)
        lines = order_lines(session, order.id)
        if not lines:
            raise InvalidInput(_l("Add at least one line before confirming."), code="empty_order")
        for line, drug in lines:
            _check_orderable(session, drug, store, supplier)
        order.status, order.confirmed_by_id, order.confirmed_at = OrderStatus.CONFIRMED, actor.user_id, clock.now()
        session.add(order)
        notify(session, kind="order_confirmed", dedupe_key=f"order:{order.id}:confirmed",
               permission=Perm.PURCHASE_RECEIVE, store_id=store.id, entity_type="purchase_order",
               entity_id=order.id, title=_("Goods expected: order %(number)s from %(supplier)s",
                                           number=order.number, supplier=supplier.name))
        record_audit(session, actor, "purchase_order.confirm", "purchase_order", order.id,
                     before={"status": OrderStatus.DRAFT}, after={"status": OrderStatus.CONFIRMED},
                     store_id=store.id)
    return order


def close_order(session: Session, actor: Actor, *, store: Store, order_id, note: str) -> PurchaseOrder:
    """Cancel a draft or an order nothing was received against, or close a confirmed order (the rest will not
    come)."""
    qual.require(actor, Perm.PURCHASE_ORDER)
    note = qual.clean_text(note, _l("The reason"))
    with transaction(session):
        order = get_order(session, order_id, store.id, for_update=True)
        if order.status not in (OrderStatus.DRAFT, OrderStatus.CONFIRMED):
            raise Conflict(_l("Order %(number)s is already closed.", number=order.number), code="closed")
        received = session.exec(select(func.count()).select_from(Receipt).where(Receipt.order_id == order.id)).one()
        before = order.status
        order.status = OrderStatus.CLOSED if received else OrderStatus.CANCELLED
        order.closed_by_id, order.closed_at, order.close_note = actor.user_id, clock.now(), note
        session.add(order)
        close_notifications(session, f"order:{order.id}:confirmed")
        record_audit(session, actor, "purchase_order.close", "purchase_order", order.id,
                     before={"status": before}, after={"status": order.status}, reason=note, store_id=store.id)
    return order


def order_lines(session: Session, order_id: int) -> list[tuple[PurchaseOrderLine, Drug]]:
    return list(session.exec(select(PurchaseOrderLine, Drug).join(Drug, Drug.id == PurchaseOrderLine.drug_id)
                             .where(PurchaseOrderLine.order_id == order_id).order_by(PurchaseOrderLine.id)).all())


@dataclass
class LineProgress:
    line: PurchaseOrderLine
    drug: Drug
    received: int = 0  # smallest units
    refused: int = 0

    @property
    def remaining(self) -> int:
        return max(self.line.quantity - self.received, 0)

    def packages(self, quantity: int) -> str:
        units = self.drug.units_per_package
        return str(quantity // units) if quantity % units == 0 else f"{quantity / units:.2f}"


def order_progress(session: Session, order_id: int) -> list[LineProgress]:
    rows = [LineProgress(line, drug) for line, drug in order_lines(session, order_id)]
    by_line = {row.line.id: row for row in rows}
    sums = session.exec(select(ReceiptLine.order_line_id, func.sum(ReceiptLine.quantity_received),
                               func.sum(ReceiptLine.quantity_refused))
                        .where(ReceiptLine.order_line_id.in_(list(by_line) or [0]))
                        .group_by(ReceiptLine.order_line_id)).all()
    for line_id, received, refused in sums:
        by_line[line_id].received, by_line[line_id].refused = int(received or 0), int(refused or 0)
    return rows


def orders(session: Session, store_id: int, *, status: str | None = None, limit: int = 200):
    stmt = (select(PurchaseOrder, Supplier).join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .where(PurchaseOrder.store_id == store_id))
    if status:
        stmt = stmt.where(PurchaseOrder.status == status)
    return list(session.exec(stmt.order_by(PurchaseOrder.id.desc()).limit(limit)).all())


def reorder_suggestions(session: Session, store: Store, supplier: Supplier) -> list[dict]:
    """Drugs the latest stock check said to reorder, that this supplier may sell us: lines for a draft order."""
    latest = session.exec(select(func.max(StockCheckFinding.check_date))
                          .where(StockCheckFinding.store_id == store.id, StockCheckFinding.kind == "reorder")).one()
    if latest is None:
        return []
    rows = session.exec(select(StockCheckFinding, Drug).join(Drug, Drug.id == StockCheckFinding.drug_id)
                        .where(StockCheckFinding.store_id == store.id, StockCheckFinding.kind == "reorder",
                               StockCheckFinding.check_date == latest, Drug.active.is_(True),
                               Drug.approval_status == ApprovalStatus.APPROVED)
                        .order_by(Drug.generic_name)).all()
    return [{"drug_id": drug.id, "packages": max(1, math.ceil((f.suggested_qty or 1) / drug.units_per_package))}
            for f, drug in rows if qual.scope_problem(drug, store, supplier) is None]


# --- receiving (收货) -------------------------------------------------------------------------------------------------

def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def _dates(raw: dict, today: date) -> tuple[date, date]:
    production = qual.parse_date(raw.get("production_date"), _l("Production date"))
    expiry = qual.parse_date(raw.get("expiry_date"), _l("Expiry date"))
    if expiry <= production:
        raise InvalidInput(_l("The expiry date must be after the production date."), code="invalid_dates")
    if production > today:
        raise InvalidInput(_l("The production date %(date)s is in the future.", date=production.isoformat()),
                           code="invalid_dates")
    if expiry < today:
        raise InvalidInput(_l("Lot expired on %(date)s: refuse the goods.", date=expiry.isoformat()),
                           code="expired")
    return production, expiry


def _temperature(raw: dict, drug: Drug) -> int | None:
    value = raw.get("arrival_temp_c")
    if value in (None, ""):
        if is_cold(drug):
            raise InvalidInput(_l("%(drug)s is cold-chain: record the arrival temperature.", drug=drug.display_name),
                               code="temperature_required")
        return None
    try:
        tenths = round(float(value) * 10)
    except (TypeError, ValueError):
        raise InvalidInput(_l("Arrival temperature must be a number (°C)."), code="invalid_temperature")
    if not -400 <= tenths <= 600:
        raise InvalidInput(_l("Arrival temperature must be between -40 and 60 °C."), code="invalid_temperature")
    return tenths


@dataclass
class _Line:
    order_line: PurchaseOrderLine
    drug: Drug
    lot_no: str
    production: date
    expiry: date
    received: int
    refused: int
    refuse_reason: str
    cases: int
    part_cases: int
    temp: int | None
    waiting: Location
    gtin: str
    trace_code: str
    needs_decision: str = ""


def _receipt_line(session: Session, raw, store: Store, order_lines_by_id: dict, locations: dict, today: date,
                  min_expiry: date) -> _Line:
    if not isinstance(raw, dict):
        raise InvalidInput(_l("Each received line needs the order line, lot, dates and quantity."),
                           code="invalid_line")
    order_line_id = raw.get("order_line_id")
    if not _is_id(order_line_id) or order_line_id not in order_lines_by_id:
        raise Conflict(_l("This line is not on the order: goods not on the purchase plan are refused (拒收)."),
                       code="not_on_order")
    order_line, drug = order_lines_by_id[order_line_id]
    lot_no = qual.clean_text(raw.get("lot_no"), _l("Lot number (批号)"), limit=MAX_LOT_NO)
    production, expiry = _dates(raw, today)
    units = drug.units_per_package
    received = _int(raw.get("packages", 0), _l("Quantity received (packages)")) * units
    refused = _int(raw.get("refused_packages", 0), _l("Quantity refused (packages)")) * units
    if received + refused == 0:
        raise InvalidInput(_l("Enter the quantity received or refused for lot %(lot)s.", lot=lot_no),
                           code="invalid_quantity")
    reason = qual.clean_text(raw.get("refuse_reason"), _l("The reason for refusing"), required=refused > 0)
    temp = _temperature(raw, drug)
    waiting_id = raw.get("waiting_location_id")
    waiting = locations.get(waiting_id) if _is_id(waiting_id) else None
    if waiting is None:
        raise InvalidInput(_l("Choose where the goods wait for inspection."), code="invalid_location")
    if is_cold(drug):
        low, high = COLD_ARRIVAL_RANGE_DC[drug.storage_class]
        if received and not low <= temp <= high:
            raise Conflict(_l("%(drug)s arrived at %(t)s °C, outside %(low)s–%(high)s °C: refuse the goods (拒收).",
                              drug=drug.display_name, t=temp / 10, low=low / 10, high=high / 10),
                           code="cold_chain_broken")
        if waiting.storage_class != drug.storage_class:
            raise Conflict(_l("%(drug)s is cold-chain: it waits for inspection in a cold location.",
                              drug=drug.display_name), code="storage_class")
    elif waiting.kind != LocationKind.PENDING:
        raise InvalidInput(_l("Goods wait for inspection in the pending (yellow) area."), code="invalid_location")
    gtin = str(raw.get("gtin") or "")[:14]
    trace_code = str(raw.get("trace_code") or "")[:20]
    line = _Line(order_line, drug, lot_no, production, expiry, received, refused, reason,
                 _int(raw.get("cases", 0), _l("Cases")), _int(raw.get("part_cases", 0), _l("Part cases")), temp,
                 waiting, gtin, trace_code)
    if received and expiry < min_expiry:
        line.needs_decision = "short_shelf_life"
    return line


def receive(session: Session, actor: Actor, *, store: Store, order_id, delivery_note_no, client_uuid, lines,
            min_shelf_life_months: int = 6) -> Receipt:
    """Record a delivery against a confirmed order. A replay with the same client_uuid returns the first receipt;
    the same delivery note of the same supplier twice is refused."""
    return receive_or_replay(session, actor, store=store, order_id=order_id, delivery_note_no=delivery_note_no,
                             client_uuid=client_uuid, lines=lines, min_shelf_life_months=min_shelf_life_months)[0]


def receive_or_replay(session: Session, actor: Actor, *, store: Store, order_id, delivery_note_no, client_uuid,
                      lines, min_shelf_life_months: int = 6) -> tuple[Receipt, bool]:
    """`receive`, also saying whether the receipt was made now (False: a replay got the first one) — decided under
    the store lock, so of two identical requests at the same instant exactly one is told it made the receipt."""
    qual.require(actor, Perm.PURCHASE_RECEIVE)
    key = validate_client_key(client_uuid)
    delivery_note_no = qual.clean_text(delivery_note_no, _l("Delivery note number (随货同行单号)"), limit=64)
    if not isinstance(lines, (list, tuple)) or not lines or len(lines) > MAX_LINES:
        raise InvalidInput(_l("A receipt has 1 to %(n)d lines.", n=MAX_LINES), code="invalid_lines")
    with transaction(session):
        store = _lock_store(session, store.id)  # first: a concurrent replay waits here, then finds the receipt
        earlier = session.exec(select(Receipt).where(Receipt.store_id == store.id, Receipt.client_uuid == key)).first()
        if earlier is not None:
            if earlier.order_id != order_id:
                raise Conflict(_l("This client_uuid was already used for another request."),
                               code="client_uuid_reused")
            return earlier, False
        order = get_order(session, order_id, store.id, for_update=True)
        if order.status != OrderStatus.CONFIRMED:
            raise Conflict(_l("Order %(number)s is not a confirmed purchase plan: goods cannot be received "
                              "against it.", number=order.number), code="order_not_confirmed")
        today = inv.store_today(store)
        supplier = qual.usable_supplier(session, order.supplier_id, today)
        duplicate = session.exec(select(Receipt.number).where(Receipt.supplier_id == supplier.id,
                                                              Receipt.delivery_note_no == delivery_note_no)).first()
        if duplicate:
            raise Conflict(_l("Delivery note %(no)s of this supplier was already received as %(receipt)s.",
                              no=delivery_note_no, receipt=duplicate), code="duplicate_receipt")
        by_id = {line.id: (line, drug) for line, drug in order_lines(session, order.id)}
        locations = {loc.id: loc for loc in inv.store_locations(session, store.id) if loc.active}
        min_expiry = add_months(today, min_shelf_life_months)
        parsed = [_receipt_line(session, raw, store, by_id, locations, today, min_expiry) for raw in lines]
        keys = [(p.order_line.id, p.lot_no) for p in parsed]
        if len(set(keys)) != len(keys):
            raise InvalidInput(_l("A lot appears twice for the same order line: add the quantities together."),
                               code="duplicate_line")
        totals = _received_totals(session, parsed, by_id)
        number = _next_number(session, Receipt, store, "SH")  # before any pending row: no flush needed
        lot_ids = _lot_ids_for(session, actor, store, parsed)
        receipt = Receipt(store_id=store.id, number=number, order_id=order.id, supplier_id=supplier.id,
                          delivery_note_no=delivery_note_no, client_uuid=key, received_by_id=actor.user_id,
                          received_at=clock.now())
        session.add(receipt)
        session.flush()
        # Plain rows through Core: a 200-line delivery is one request, without 200 ORM objects.
        session.connection().execute(insert(ReceiptLine.__table__), [
            {"receipt_id": receipt.id, "store_id": store.id, "order_line_id": p.order_line.id, "drug_id": p.drug.id,
             "lot_no": p.lot_no, "production_date": p.production, "expiry_date": p.expiry,
             "lot_id": lot_ids[(p.drug.id, p.lot_no)] if p.received else None, "quantity_received": p.received,
             "quantity_refused": p.refused, "refuse_reason": p.refuse_reason, "cases": p.cases,
             "part_cases": p.part_cases, "arrival_temp_dc": p.temp, "waiting_location_id": p.waiting.id,
             "needs_decision": p.needs_decision, "gtin": p.gtin, "trace_code": p.trace_code} for p in parsed])
        if all(totals[line.id] >= line.quantity for line, _drug in by_id.values()):
            order.status, order.closed_at, order.close_note = OrderStatus.CLOSED, clock.now(), "received in full"
            session.add(order)
            close_notifications(session, f"order:{order.id}:confirmed")
        decisions = sum(1 for p in parsed if p.needs_decision)
        if decisions:
            notify(session, kind="receipt_decision", dedupe_key=f"receipt:{receipt.id}:decision",
                   permission=Perm.QUALIFICATION_APPROVE, store_id=store.id, entity_type="receipt",
                   entity_id=receipt.id,
                   title=_("Receipt %(number)s: %(n)d lot(s) with short shelf life need your decision",
                           number=receipt.number, n=decisions))
        if any(p.received for p in parsed):
            notify(session, kind="receipt_to_inspect", dedupe_key=f"receipt:{receipt.id}:inspect",
                   permission=Perm.PURCHASE_INSPECT, store_id=store.id, entity_type="receipt", entity_id=receipt.id,
                   title=_("Goods to inspect: receipt %(number)s from %(supplier)s", number=receipt.number,
                           supplier=supplier.name))
        record_audit(session, actor, "receipt.create", "receipt", receipt.id,
                     after={"number": receipt.number, "order": order.number, "delivery_note_no": delivery_note_no,
                            "lines": len(parsed), "received": sum(p.received for p in parsed),
                            "refused": sum(p.refused for p in parsed), "new_lots": sorted(lot_ids.values())},
                     store_id=store.id)
    return receipt, True


def _received_totals(session: Session, parsed: list[_Line], by_id: dict) -> dict[int, int]:
    """Received per order line once this delivery is in (smallest units); refuses more than was ordered."""
    earlier = dict(session.exec(select(ReceiptLine.order_line_id, func.sum(ReceiptLine.quantity_received))
                                .where(ReceiptLine.order_line_id.in_(list(by_id)))
                                .group_by(ReceiptLine.order_line_id)).all())
    totals = {line_id: int(earlier.get(line_id) or 0) for line_id in by_id}
    for p in parsed:
        totals[p.order_line.id] += p.received
    for p in parsed:
        if totals[p.order_line.id] > p.order_line.quantity:
            units = p.drug.units_per_package
            raise Conflict(_l("%(drug)s: %(total)s packages received against %(ordered)s ordered. Receive at most "
                              "the ordered quantity and refuse the rest (or order the difference).",
                              drug=p.drug.display_name, total=totals[p.order_line.id] // units,
                              ordered=p.order_line.quantity // units), code="over_receipt")
    return totals


def _lot_ids_for(session: Session, actor: Actor, store: Store, parsed: list[_Line]) -> dict[tuple[int, str], int]:
    """The lot of each received line: an existing lot of this store (same dates; not locked or worse) or a new one,
    PENDING inspection, with its status event. Goods refused in full get no lot. Read and written in bulk."""
    wanted = {(p.drug.id, p.lot_no): p for p in parsed if p.received}
    if not wanted:
        return {}
    existing = session.exec(select(Lot).where(Lot.store_id == store.id,
                                              Lot.drug_id.in_({d for d, _n in wanted}),
                                              Lot.lot_no.in_({n for _d, n in wanted}))).all()
    ids = {}
    for lot in existing:
        p = wanted.get((lot.drug_id, lot.lot_no))
        if p is None:
            continue
        if lot.status not in (LotStatus.PENDING_INSPECTION, LotStatus.RELEASED):
            raise Conflict(_l("Lot %(lot)s of %(drug)s is %(status)s in this store: refuse the goods and tell the "
                              "quality manager.", lot=lot.lot_no, drug=p.drug.display_name,
                              status=inv.lot_status_label(lot.status)), code="lot_not_receivable")
        if lot.expiry_date != p.expiry or (lot.production_date and lot.production_date != p.production):
            raise Conflict(_l("Lot %(lot)s of %(drug)s is on file with other dates (expiry %(expiry)s): check the "
                              "label.", lot=lot.lot_no, drug=p.drug.display_name,
                              expiry=lot.expiry_date.isoformat() if lot.expiry_date else "—"),
                           code="lot_dates_differ")
        ids[(lot.drug_id, lot.lot_no)] = lot.id
    new = [p for key, p in wanted.items() if key not in ids]
    if new:
        now = clock.now()
        lot_table, conn = Lot.__table__, session.connection()
        created = conn.execute(
            insert(lot_table).returning(lot_table.c.id, lot_table.c.drug_id, lot_table.c.lot_no,
                                        sort_by_parameter_order=True),
            [{"store_id": store.id, "drug_id": p.drug.id, "lot_no": p.lot_no, "production_date": p.production,
              "expiry_date": p.expiry, "status": LotStatus.PENDING_INSPECTION.value, "created_at": now}
             for p in new]).all()
        conn.execute(insert(LotStatusEvent.__table__), [
            {"store_id": store.id, "lot_id": lot_id, "from_status": None,
             "to_status": LotStatus.PENDING_INSPECTION.value, "reason_category": "received", "note": "",
             "actor_id": actor.user_id, "at": now} for lot_id, _drug, _no in created])
        ids.update({(drug_id, lot_no): lot_id for lot_id, drug_id, lot_no in created})
    return ids


def decide_receipt_line(session: Session, actor: Actor, *, store: Store, line_id, approve: bool,
                        note: str) -> ReceiptDecision:
    """The quality manager's decision on a lot that needed one (short remaining shelf life). Rejected: the whole
    lot is rejected at inspection."""
    qual.require(actor, Perm.QUALIFICATION_APPROVE)
    note = qual.clean_text(note, _l("The reason for the decision"))
    with transaction(session):
        line, receipt = _receipt_line_of(session, line_id, store.id)
        if not line.needs_decision:
            raise Conflict(_l("This line needs no decision."), code="no_decision_needed")
        if session.exec(select(ReceiptDecision.id).where(ReceiptDecision.receipt_line_id == line.id)).first():
            raise Conflict(_l("This line was already decided."), code="already_decided")
        qual.not_submitter(actor, receipt.received_by_id)
        decision = ReceiptDecision(store_id=store.id, receipt_line_id=line.id, approved=approve, note=note,
                                   decided_by_id=actor.user_id, decided_at=clock.now())
        session.add(decision)
        session.flush()
        undecided = session.exec(select(ReceiptLine.id)
                                 .outerjoin(ReceiptDecision, ReceiptDecision.receipt_line_id == ReceiptLine.id)
                                 .where(ReceiptLine.receipt_id == receipt.id, ReceiptLine.needs_decision != "",
                                        ReceiptDecision.id.is_(None))).first()
        if undecided is None:
            close_notifications(session, f"receipt:{receipt.id}:decision")
        record_audit(session, actor, "receipt.decision", "receipt", receipt.id,
                     after={"line": line.id, "approved": approve, "why": line.needs_decision}, reason=note,
                     store_id=store.id)
    return decision


def _receipt_line_of(session: Session, line_id, store_id: int) -> tuple[ReceiptLine, Receipt]:
    line = session.get(ReceiptLine, line_id) if _is_id(line_id) else None
    if line is None or line.store_id != store_id:
        raise NotFound(_l("Receipt line not found."))
    return line, session.get(Receipt, line.receipt_id)


def get_receipt(session: Session, receipt_id, store_id: int) -> Receipt:
    receipt = session.get(Receipt, receipt_id) if _is_id(receipt_id) else None
    if receipt is None or receipt.store_id != store_id:
        raise NotFound(_l("Receipt not found."))
    return receipt


@dataclass
class ReceiptRow:
    line: ReceiptLine
    drug: Drug
    lot: Lot | None  # None: everything refused at the door
    order_line: PurchaseOrderLine
    waiting: Location
    decision: ReceiptDecision | None
    inspection: Inspection | None
    inspector: User | None = None
    destination: Location | None = None

    @property
    def to_inspect(self) -> bool:
        return self.inspection is None and self.line.quantity_received > 0

    @property
    def waits_for_decision(self) -> bool:
        return bool(self.line.needs_decision) and self.decision is None

    @property
    def plan(self) -> "SamplingPlan":
        return sampling_plan(self.line.cases, self.line.part_cases,
                             received_packages=self.line.quantity_received // self.drug.units_per_package)

    def packages(self, quantity: int) -> int:
        return quantity // self.drug.units_per_package


def receipt_rows(session: Session, *, receipt_id: int | None = None, store_id: int | None = None,
                 line_id: int | None = None, to_inspect: bool = False, limit: int = 1000) -> list[ReceiptRow]:
    stmt = (select(ReceiptLine, Drug, Lot, PurchaseOrderLine, Location, ReceiptDecision, Inspection)
            .join(Drug, Drug.id == ReceiptLine.drug_id).outerjoin(Lot, Lot.id == ReceiptLine.lot_id)
            .join(PurchaseOrderLine, PurchaseOrderLine.id == ReceiptLine.order_line_id)
            .join(Location, Location.id == ReceiptLine.waiting_location_id)
            .outerjoin(ReceiptDecision, ReceiptDecision.receipt_line_id == ReceiptLine.id)
            .outerjoin(Inspection, Inspection.receipt_line_id == ReceiptLine.id))
    if receipt_id is not None:
        stmt = stmt.where(ReceiptLine.receipt_id == receipt_id)
    if store_id is not None:
        stmt = stmt.where(ReceiptLine.store_id == store_id)
    if line_id is not None:
        stmt = stmt.where(ReceiptLine.id == line_id)
    if to_inspect:
        stmt = stmt.where(Inspection.id.is_(None), ReceiptLine.quantity_received > 0)
    rows = [ReceiptRow(*r) for r in session.exec(stmt.order_by(ReceiptLine.id).limit(limit)).all()]
    people = {u.id: u for u in session.exec(select(User).where(
        User.id.in_({r.inspection.inspector_id for r in rows if r.inspection} or {0}))).all()}
    places = {loc.id: loc for loc in session.exec(select(Location).where(
        Location.id.in_({r.inspection.location_id for r in rows if r.inspection and r.inspection.location_id}
                        or {0}))).all()}
    for r in rows:
        if r.inspection:
            r.inspector = people.get(r.inspection.inspector_id)
            r.destination = places.get(r.inspection.location_id)
    return rows


def receipts(session: Session, store_id: int, *, order_id: int | None = None, limit: int = 200):
    stmt = (select(Receipt, Supplier, PurchaseOrder).join(Supplier, Supplier.id == Receipt.supplier_id)
            .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id).where(Receipt.store_id == store_id))
    if order_id:
        stmt = stmt.where(Receipt.order_id == order_id)
    return list(session.exec(stmt.order_by(Receipt.id.desc()).limit(limit)).all())


# --- acceptance inspection (验收) -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SamplingPlan:
    """GSP Annex 4: whole cases ≤ 2 all, up to 50 three, above 50 one more per further 50 (a part counts as 50);
    3 minimum packs from each opened case (top, middle, bottom), doubled when seal, label, weight or look is
    abnormal; part cases: every one, at least 1 pack each."""

    cases_to_open: int
    packs_per_case: int
    part_case_packs: int
    total: int  # minimum packs to sample, capped at what arrived


def sampling_plan(cases: int, part_cases: int, *, abnormal: bool = False, received_packages: int | None = None
                  ) -> SamplingPlan:
    if cases <= 2:
        to_open = cases
    elif cases <= 50:
        to_open = 3
    else:
        to_open = 3 + math.ceil((cases - 50) / 50)
    per_case = 6 if abnormal else 3
    part = part_cases if (part_cases or cases) else 1  # nothing said about cases: one part case
    total = to_open * per_case + part
    if received_packages is not None:
        total = min(total, received_packages)
    return SamplingPlan(to_open, per_case, part, total)


# Where a drug of each storage class may be put away: room-temperature goods also in a cool (阴凉) place; fridges
# and freezers are kept for the cold chain.
STORAGE_FITS = {StorageClass.ROOM: {StorageClass.ROOM, StorageClass.COOL}, StorageClass.COOL: {StorageClass.COOL},
                StorageClass.COLD: {StorageClass.COLD}, StorageClass.FROZEN: {StorageClass.FROZEN}}


def fits_destination(drug: Drug, location: Location) -> bool:
    return (location.active and location.kind not in (LocationKind.PENDING, LocationKind.NONCONFORMING)
            and location.storage_class in STORAGE_FITS.get(drug.storage_class, set()))


def _check_destination(drug: Drug, location: Location) -> None:
    if location.kind in (LocationKind.PENDING, LocationKind.NONCONFORMING):
        raise InvalidInput(_l("Accepted goods go to a sales, warehouse or cold location, not the pending or red "
                              "area."), code="invalid_location")
    if not fits_destination(drug, location):
        raise Conflict(_l("%(drug)s needs %(storage)s storage: choose a location that provides it.",
                          drug=drug.display_name, storage=inv.label(drug.storage_class, "storage_class")),
                       code="storage_class")


def inspect(session: Session, actor: Actor, *, store: Store, line_id, sampled, appearance_ok: bool,
            packaging_ok: bool, label_ok: bool, report_ok: bool, accepted_packages, rejected_packages,
            reject_reason: str = "", location_id=None, note: str = "", abnormal: bool = False) -> Inspection:
    """The acceptance record of one received lot. Accepted stock enters the ledger in the chosen location and the
    lot is released; rejected stock goes to the red area. The server stamps inspector and time."""
    qual.require(actor, Perm.PURCHASE_INSPECT)
    checks = [appearance_ok, packaging_ok, label_ok, report_ok]
    if not all(isinstance(check, bool) for check in checks + [abnormal]):
        raise InvalidInput(_l("Each check is passed or failed (true or false)."), code="invalid_check")
    note = qual.clean_text(note, _l("Note"), required=False)
    with transaction(session):
        line, receipt = _receipt_line_of(session, line_id, store.id)
        lot = None
        if line.lot_id is not None:  # the lot's row lock first: a concurrent inspection of the line waits here
            lot = inv.get_lot(session, line.lot_id, store.id, for_update=True)
        if session.exec(select(Inspection.id).where(Inspection.receipt_line_id == line.id)).first():
            raise Conflict(_l("This lot was already inspected; a correction is a new record through the quality "
                              "manager."), code="already_inspected")
        if not line.quantity_received:
            raise Conflict(_l("Everything on this line was refused at receiving: there is nothing to inspect."),
                           code="nothing_to_inspect")
        decision = session.exec(select(ReceiptDecision).where(ReceiptDecision.receipt_line_id == line.id)).first()
        if line.needs_decision and decision is None:
            raise Conflict(_l("The lot's remaining shelf life is short: the quality manager decides first."),
                           code="decision_pending")
        drug = session.get(Drug, line.drug_id)
        units = drug.units_per_package
        received_packages = line.quantity_received // units
        accepted = _int(accepted_packages, _l("Accepted (packages)")) * units
        rejected = _int(rejected_packages, _l("Rejected (packages)")) * units
        if accepted + rejected != line.quantity_received:
            raise InvalidInput(_l("Accepted and rejected must add up to the %(n)d packages received.",
                                  n=received_packages), code="quantities_do_not_add_up")
        plan = sampling_plan(line.cases, line.part_cases, abnormal=abnormal, received_packages=received_packages)
        sampled = _int(sampled, _l("Packs sampled"))
        if sampled < plan.total or sampled > received_packages:
            raise InvalidInput(_l("Sample at least %(n)d packs (sampling rule), at most what arrived.", n=plan.total),
                               code="sample_too_small")
        if decision is not None and not decision.approved and accepted:
            raise Conflict(_l("The quality manager refused this lot: reject all of it."), code="decision_refused")
        if not all(checks) and not rejected:
            raise InvalidInput(_l("A check failed: reject the affected quantity (or all of it)."),
                               code="failed_check_accepted")
        reject_reason = qual.clean_text(reject_reason, _l("The reason for rejecting"), required=rejected > 0)
        destination = None
        if accepted:
            destination = _location(session, location_id, store.id, _l("where the accepted goods go"))
            _check_destination(drug, destination)
        if accepted and lot.status not in (LotStatus.PENDING_INSPECTION, LotStatus.RELEASED, LotStatus.LOCKED):
            # Recalled or declared non-conforming while it waited: it may only be rejected (to the red area).
            raise Conflict(_l("Lot %(lot)s of %(drug)s is %(status)s in this store: refuse the goods and tell the "
                              "quality manager.", lot=lot.lot_no, drug=drug.display_name,
                              status=inv.lot_status_label(lot.status)), code="lot_not_receivable")
        order_line = session.get(PurchaseOrderLine, line.order_line_id)
        unit_cost = round(order_line.unit_cost_fen / units) if order_line.unit_cost_fen else None
        reference = f"receipt:{receipt.number}"
        if accepted:
            if lot.status == LotStatus.PENDING_INSPECTION:
                inv.change_lot_status(session, actor, lot.id, LotStatus.RELEASED, reason_category="accepted",
                                      note=reference)
            inv.post_movement(session, actor, lot=lot, location=destination, quantity=accepted,
                              kind=MovementKind.RECEIPT, reference=reference, reason="验收合格",
                              unit_cost_fen=unit_cost)
            _apply_sale_stops(session, actor, lot)
        if rejected:
            inv.post_movement(session, actor, lot=lot, location=red_location(session, store.id, drug.storage_class),
                              quantity=rejected,
                              kind=MovementKind.RECEIPT, reference=reference, reason=f"验收不合格：{reject_reason}",
                              unit_cost_fen=unit_cost)
            if not accepted and lot.status == LotStatus.PENDING_INSPECTION:
                inv.change_lot_status(session, actor, lot.id, LotStatus.NONCONFORMING, reason_category="rejected",
                                      note=reject_reason)
        conclusion = "accepted" if not rejected else ("rejected" if not accepted else "partly_accepted")
        inspection = Inspection(store_id=store.id, receipt_line_id=line.id, lot_id=lot.id,
                                required_sample=plan.total, sampled=sampled, appearance_ok=checks[0],
                                packaging_ok=checks[1], label_ok=checks[2], report_ok=checks[3],
                                accepted_qty=accepted, rejected_qty=rejected, reject_reason=reject_reason,
                                conclusion=conclusion, location_id=destination.id if destination else None,
                                note=note, inspector_id=actor.user_id, at=clock.now())
        session.add(inspection)
        session.flush()
        uninspected = session.exec(select(ReceiptLine.id)
                                   .outerjoin(Inspection, Inspection.receipt_line_id == ReceiptLine.id)
                                   .where(ReceiptLine.receipt_id == receipt.id, ReceiptLine.quantity_received > 0,
                                          Inspection.id.is_(None))).first()
        if uninspected is None:
            close_notifications(session, f"receipt:{receipt.id}:inspect")
        record_audit(session, actor, "inspection.create", "lot", lot.id,
                     after={"receipt": receipt.number, "accepted": accepted, "rejected": rejected,
                            "conclusion": conclusion}, reason=reject_reason, store_id=store.id)
    return inspection


def _apply_sale_stops(session: Session, actor: Actor, lot: Lot) -> None:
    """A stop-sale notice issued before these goods arrived covers them too: the new lot is locked under it, so
    lifting the notice releases it like the others."""
    with session.no_autoflush:  # a read: the status change and movement just added need not be written first
        stop = session.exec(select(SaleStop).where(SaleStop.drug_id == lot.drug_id, SaleStop.lifted_at.is_(None),
                                                   (SaleStop.lot_no.is_(None)) | (SaleStop.lot_no == lot.lot_no))
                            .order_by(SaleStop.id)).first()
    if stop is None or lot.status != LotStatus.RELEASED:
        return
    inv.change_lot_status(session, actor, lot.id, LotStatus.LOCKED, reason_category="stop_sale",
                          note=f"#{stop.id} {stop.reason}")
    session.add(SaleStopLot(stop_id=stop.id, store_id=lot.store_id, lot_id=lot.id))


# --- purchase returns (采购退回) ---------------------------------------------------------------------------------------

def request_return(session: Session, actor: Actor, *, store: Store, supplier_id, lines, reason) -> PurchaseReturn:
    """Stock going back to the supplier it came from (expired and locked lots included); it leaves only when the
    quality head and finance have both approved. Meanwhile it waits in the pending (yellow) area, the 退货区 — off
    the shelf, so the counter cannot sell what is promised back; rejecting the return puts it back."""
    qual.require(actor, Perm.PURCHASE_RETURN_REQUEST)
    reason = qual.clean_text(reason, _l("The reason for the return"))
    if not isinstance(lines, (list, tuple)) or not lines or len(lines) > MAX_LINES:
        raise InvalidInput(_l("A return has 1 to %(n)d lines.", n=MAX_LINES), code="invalid_lines")
    with transaction(session):
        store = _lock_store(session, store.id)
        supplier = qual.get_supplier(session, supplier_id)
        rows, seen = [], set()
        for raw in lines:
            if not isinstance(raw, dict):
                raise InvalidInput(_l("Each return line needs a lot, a location and a quantity."),
                                   code="invalid_line")
            lot = inv.get_lot(session, _id(raw.get("lot_id"), _l("Lot")), store.id)
            location = _location(session, raw.get("location_id"), store.id, _l("the location the stock is in"))
            if (lot.id, location.id) in seen:
                raise InvalidInput(_l("A lot and location appear twice."), code="duplicate_line")
            seen.add((lot.id, location.id))
            drug = session.get(Drug, lot.drug_id)
            quantity = _int(raw.get("packages"), _l("Quantity (packages)"), minimum=1) * drug.units_per_package
            if lot.status in (LotStatus.DESTROYED, LotStatus.RETURNED):
                raise Conflict(_l("Lot %(lot)s is %(status)s.", lot=lot.lot_no,
                                  status=inv.lot_status_label(lot.status)), code="lot_gone")
            came_from = session.exec(select(Receipt.id).join(ReceiptLine, ReceiptLine.receipt_id == Receipt.id)
                                     .where(ReceiptLine.lot_id == lot.id, Receipt.supplier_id == supplier.id)).first()
            if came_from is None:
                raise Conflict(_l("Lot %(lot)s was not received from %(supplier)s.", lot=lot.lot_no,
                                  supplier=supplier.name), code="not_from_supplier")
            have = inv.available_quantity(session, lot.id, location.id) - _on_open_returns(session, lot.id,
                                                                                         location.id)
            if quantity > have:
                raise Conflict(_l("Only %(have)d packages of lot %(lot)s are at %(loc)s.",
                                  have=have // drug.units_per_package, lot=lot.lot_no, loc=location.name),
                               code="insufficient_stock")
            if location.kind in (LocationKind.PENDING, LocationKind.NONCONFORMING):
                rows.append(PurchaseReturnLine(store_id=store.id, lot_id=lot.id, location_id=location.id,
                                               quantity=quantity))
            else:
                rows.append(PurchaseReturnLine(store_id=store.id, lot_id=lot.id, from_location_id=location.id,
                                               location_id=return_holding_location(session, store.id, drug).id,
                                               quantity=quantity))
        ret = PurchaseReturn(store_id=store.id, number=_next_number(session, PurchaseReturn, store, "TH"),
                             supplier_id=supplier.id, reason=reason, requested_by_id=actor.user_id,
                             requested_at=clock.now())
        session.add(ret)
        session.flush()
        for row in rows:
            row.return_id = ret.id
            if row.from_location_id is not None:
                _move_for_return(session, actor, ret, row.lot_id, row.quantity, row.from_location_id,
                                 row.location_id)
        session.add_all(rows)
        for role, perm in _RETURN_APPROVERS.items():
            notify(session, kind="purchase_return", dedupe_key=_return_notice_key(ret, role), permission=perm,
                   store_id=store.id, entity_type="purchase_return", entity_id=ret.id,
                   title=_("Purchase return %(number)s to %(supplier)s waits for your approval", number=ret.number,
                           supplier=supplier.name))
        record_audit(session, actor, "purchase_return.request", "purchase_return", ret.id,
                     after={"number": ret.number, "supplier_id": supplier.id,
                            "lines": [(r.lot_id, r.location_id, r.quantity) for r in rows]}, reason=reason,
                     store_id=store.id)
    return ret


def return_holding_location(session: Session, store_id: int, drug: Drug) -> Location:
    """Where goods asked back wait to leave: the store's pending (yellow) area — for a cold-chain drug one of its
    storage class, else preferably one of the drug's class, then a room-temperature one."""
    rows = session.exec(select(Location).where(Location.store_id == store_id, Location.kind == LocationKind.PENDING,
                                               Location.active.is_(True)).order_by(Location.id)).all()
    if is_cold(drug):
        rows = [loc for loc in rows if loc.storage_class == drug.storage_class]
        if not rows:
            raise Conflict(_l("%(drug)s is cold-chain: goods going back wait in a cold pending area, and this store "
                              "has none. Create one (kind pending, cold) first.", drug=drug.display_name),
                           code="no_holding_area")
        return rows[0]
    if not rows:
        raise Conflict(_l("This store has no pending (yellow) area for goods waiting to go back: create one first."),
                       code="no_holding_area")
    for wanted in (drug.storage_class, StorageClass.ROOM):
        match = next((loc for loc in rows if loc.storage_class == wanted), None)
        if match is not None:
            return match
    return next((loc for loc in rows if loc.storage_class not in (StorageClass.COLD, StorageClass.FROZEN)), rows[0])


def _move_for_return(session: Session, actor: Actor, ret: PurchaseReturn, lot_id: int, quantity: int,
                     from_id: int, to_id: int) -> None:
    """Move goods of a return between their place in the store and the pending area (a transfer pair)."""
    lot = inv.get_lot(session, lot_id, ret.store_id, for_update=True)
    reference = f"return:{ret.number}"
    inv.post_movement(session, actor, lot=lot, location=session.get(Location, from_id), quantity=-quantity,
                      kind=MovementKind.TRANSFER_OUT, reference=reference, reason=ret.reason)
    inv.post_movement(session, actor, lot=lot, location=session.get(Location, to_id), quantity=quantity,
                      kind=MovementKind.TRANSFER_IN, reference=reference, reason=ret.reason)


def _put_back(session: Session, actor: Actor, ret: PurchaseReturn, today: date) -> list[int]:
    """A rejected return's goods go back where they were taken from, when they may (lot released, and still
    sellable for a sales location) and as far as they are still in the pending area beside what other open returns
    wait for. Returns the ids of lines left (wholly or partly) in the pending area, for the audit."""
    session.flush()  # the return is REJECTED now: its own lines no longer count as open
    kept = []
    for line, lot, drug, _location in return_lines(session, ret.id):
        if line.from_location_id is None:
            continue
        home = session.get(Location, line.from_location_id)
        may_go = (home.active and lot.status == LotStatus.RELEASED
                  and not (home.sellable and inv.sellability(drug, lot, home, today)))
        there = (inv.available_quantity(session, lot.id, line.location_id)
                 - _on_open_returns(session, lot.id, line.location_id))
        back = min(line.quantity, max(there, 0)) if may_go else 0
        if back:
            _move_for_return(session, actor, ret, lot.id, back, line.location_id, home.id)
        if back < line.quantity:
            kept.append(line.id)
    return kept


_RETURN_APPROVERS = {"quality": Perm.PURCHASE_RETURN_QUALITY, "finance": Perm.PURCHASE_RETURN_FINANCE}


def _return_notice_key(ret: PurchaseReturn, role: str) -> str:
    return f"return:{ret.id}:{_RETURN_APPROVERS[role]}"


def _on_open_returns(session: Session, lot_id: int, location_id: int) -> int:
    """Stock already asked back on returns still waiting for approval: not offered twice."""
    return int(session.exec(select(func.coalesce(func.sum(PurchaseReturnLine.quantity), 0))
                            .join(PurchaseReturn, PurchaseReturn.id == PurchaseReturnLine.return_id)
                            .where(PurchaseReturnLine.lot_id == lot_id, PurchaseReturnLine.location_id == location_id,
                                   PurchaseReturn.status == ReturnStatus.REQUESTED)).one())


def get_return(session: Session, return_id, store_id: int, *, for_update: bool = False) -> PurchaseReturn:
    ret = (session.get(PurchaseReturn, return_id, with_for_update=for_update and is_postgres(session) or None)
           if _is_id(return_id) else None)
    if ret is None or ret.store_id != store_id:
        raise NotFound(_l("Purchase return not found."))
    return ret


def approve_return(session: Session, actor: Actor, *, store: Store, return_id, as_role: str) -> PurchaseReturn:
    """`as_role` is "quality" or "finance". Two different people, neither the requester; the second approval
    posts the return movements (all or nothing: if stock has moved since, nothing is written)."""
    if as_role not in ("quality", "finance"):
        raise InvalidInput(_l("Approve as quality or as finance."), code="invalid_role")
    qual.require(actor, Perm.PURCHASE_RETURN_QUALITY if as_role == "quality" else Perm.PURCHASE_RETURN_FINANCE)
    with transaction(session):
        ret = get_return(session, return_id, store.id, for_update=True)
        if ret.status != ReturnStatus.REQUESTED:
            raise Conflict(_l("Return %(number)s was already decided.", number=ret.number), code="already_decided")
        qual.not_submitter(actor, ret.requested_by_id)
        mine, other = ("quality_by_id", "finance_by_id") if as_role == "quality" else ("finance_by_id",
                                                                                        "quality_by_id")
        if getattr(ret, mine) is not None:
            raise Conflict(_l("This approval was already given."), code="already_approved")
        if getattr(ret, other) == actor.user_id:
            raise Conflict(_l("The quality head and finance approve as two different people."),
                           code="same_person")
        setattr(ret, mine, actor.user_id)
        setattr(ret, mine.replace("_by_id", "_at"), clock.now())
        close_notifications(session, _return_notice_key(ret, as_role))
        if ret.quality_by_id and ret.finance_by_id:
            _ship_return(session, actor, ret)
        session.add(ret)
        record_audit(session, actor, f"purchase_return.approve_{as_role}", "purchase_return", ret.id,
                     after={"status": ret.status}, store_id=store.id)
    return ret


def _ship_return(session: Session, actor: Actor, ret: PurchaseReturn) -> None:
    reference = f"return:{ret.number}"
    for row in return_lines(session, ret.id):
        line, lot, drug, location = row
        lot = inv.get_lot(session, lot.id, ret.store_id, for_update=True)
        inv.post_movement(session, actor, lot=lot, location=location, quantity=-line.quantity,
                          kind=MovementKind.PURCHASE_RETURN, reference=reference, reason=ret.reason)
        left = session.exec(select(func.coalesce(func.sum(StockBalance.quantity), 0))
                            .where(StockBalance.lot_id == lot.id)).one()
        if not left and LotStatus.RETURNED in inv.LOT_TRANSITIONS[lot.status]:
            inv.change_lot_status(session, actor, lot.id, LotStatus.RETURNED, reason_category="purchase_return",
                                  note=reference)
    ret.status = ReturnStatus.DONE


def reject_return(session: Session, actor: Actor, *, store: Store, return_id, note) -> PurchaseReturn:
    if not (actor.can(Perm.PURCHASE_RETURN_QUALITY) or actor.can(Perm.PURCHASE_RETURN_FINANCE)):
        qual.require(actor, Perm.PURCHASE_RETURN_QUALITY)
    note = qual.clean_text(note, _l("The reason for rejecting"))
    with transaction(session):
        ret = get_return(session, return_id, store.id, for_update=True)
        if ret.status != ReturnStatus.REQUESTED:
            raise Conflict(_l("Return %(number)s was already decided.", number=ret.number), code="already_decided")
        qual.not_submitter(actor, ret.requested_by_id)
        ret.status, ret.rejected_by_id, ret.rejected_at, ret.reject_note = (ReturnStatus.REJECTED, actor.user_id,
                                                                             clock.now(), note)
        session.add(ret)
        kept = _put_back(session, actor, ret, inv.store_today(store))
        close_notifications(session, _return_notice_key(ret, "quality"), _return_notice_key(ret, "finance"))
        record_audit(session, actor, "purchase_return.reject", "purchase_return", ret.id,
                     after={"status": ret.status, "lines_left_in_pending_area": kept}, reason=note,
                     store_id=store.id)
    return ret


def decide_return(session: Session, actor: Actor, *, store: Store, return_id, as_role: str, approve: bool,
                  note: str = "") -> PurchaseReturn:
    """The quality head's or finance's decision on a return: approve it, or reject it with a note."""
    if approve:
        return approve_return(session, actor, store=store, return_id=return_id, as_role=as_role)
    qual.require(actor, Perm.PURCHASE_RETURN_FINANCE if as_role == "finance" else Perm.PURCHASE_RETURN_QUALITY)
    return reject_return(session, actor, store=store, return_id=return_id, note=note)


def return_lines(session: Session, return_id: int):
    return list(session.exec(select(PurchaseReturnLine, Lot, Drug, Location)
                             .join(Lot, Lot.id == PurchaseReturnLine.lot_id).join(Drug, Drug.id == Lot.drug_id)
                             .join(Location, Location.id == PurchaseReturnLine.location_id)
                             .where(PurchaseReturnLine.return_id == return_id)
                             .order_by(PurchaseReturnLine.id)).all())


def returns(session: Session, store_id: int, *, status: str | None = None, limit: int = 200):
    stmt = (select(PurchaseReturn, Supplier).join(Supplier, Supplier.id == PurchaseReturn.supplier_id)
            .where(PurchaseReturn.store_id == store_id))
    if status:
        stmt = stmt.where(PurchaseReturn.status == status)
    return list(session.exec(stmt.order_by(PurchaseReturn.id.desc()).limit(limit)).all())


def returnable_stock(session: Session, store_id: int, supplier_id: int):
    """Lots this store received from the supplier that still have stock, by location."""
    lot_ids = select(ReceiptLine.lot_id).join(Receipt, Receipt.id == ReceiptLine.receipt_id).where(
        Receipt.supplier_id == supplier_id, Receipt.store_id == store_id)
    return list(session.exec(select(Lot, Drug, Location, StockBalance.quantity)
                             .join(Drug, Drug.id == Lot.drug_id).join(StockBalance, StockBalance.lot_id == Lot.id)
                             .join(Location, Location.id == StockBalance.location_id)
                             .where(Lot.id.in_(lot_ids), StockBalance.quantity > 0)
                             .order_by(Drug.generic_name, Lot.lot_no, Location.code)).all())


# --- what waits on whom -----------------------------------------------------------------------------------------------

@dataclass
class Waiting:
    suppliers: int = 0
    drug_requests: int = 0
    decisions: int = 0
    to_receive: list = field(default_factory=list)
    to_inspect: int = 0
    returns_quality: int = 0
    returns_finance: int = 0
    licences: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.suppliers or self.drug_requests or self.decisions or self.to_receive or self.to_inspect
                    or self.returns_quality or self.returns_finance or self.licences)


def waiting_for(session: Session, actor: Actor, store: Store, today: date, warning_days: int = 30) -> Waiting:
    w = Waiting()
    if actor.can(Perm.QUALIFICATION_APPROVE):
        counts = qual.pending_counts(session)
        w.suppliers, w.drug_requests = counts["suppliers"], counts["drugs"]
        w.decisions = session.exec(select(func.count()).select_from(ReceiptLine)
                                   .outerjoin(ReceiptDecision, ReceiptDecision.receipt_line_id == ReceiptLine.id)
                                   .where(ReceiptLine.store_id == store.id, ReceiptLine.needs_decision != "",
                                          ReceiptDecision.id.is_(None))).one()
        w.licences = qual.licences_ending(session, today + timedelta(days=warning_days))
    if actor.can(Perm.PURCHASE_RECEIVE):
        w.to_receive = orders(session, store.id, status=OrderStatus.CONFIRMED, limit=20)
    if actor.can(Perm.PURCHASE_INSPECT):
        w.to_inspect = session.exec(select(func.count()).select_from(ReceiptLine)
                                    .outerjoin(Inspection, Inspection.receipt_line_id == ReceiptLine.id)
                                    .where(ReceiptLine.store_id == store.id, ReceiptLine.quantity_received > 0,
                                           Inspection.id.is_(None))).one()
    for perm, column, attr in ((Perm.PURCHASE_RETURN_QUALITY, PurchaseReturn.quality_by_id, "returns_quality"),
                               (Perm.PURCHASE_RETURN_FINANCE, PurchaseReturn.finance_by_id, "returns_finance")):
        if actor.can(perm):
            setattr(w, attr, session.exec(select(func.count()).select_from(PurchaseReturn).where(
                PurchaseReturn.store_id == store.id, PurchaseReturn.status == ReturnStatus.REQUESTED,
                column.is_(None), PurchaseReturn.requested_by_id != actor.user_id)).one())
    return w


def dashboard_panel(session: Session, actor: Actor, store: Store, today: date):
    from flask import current_app

    waiting = waiting_for(session, actor, store, today, int(current_app.config.get("LICENCE_WARNING_DAYS", 30)))
    if not waiting:
        return None
    return "gsp/procurement_panel.html", {"w": waiting, "today": today}
