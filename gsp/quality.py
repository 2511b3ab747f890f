"""Quality use cases: suspect reports, locks and unlocks, non-conforming stock, destruction, stop-sale notices,
recalls, expiry tiers and the near-expiry push list (近效期催销表).

A lot's status is the one switch every issuing path reads (`inventory.services.sellability`), so a lock here takes
effect at once everywhere: the counter re-checks every line when the sale commits, carts already open included.
Stock reaches the red (non-conforming) area and leaves by destruction only through this module.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, insert, literal, select as sa_select, update
from sqlmodel import Session, select

from core import clock
from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.models import Store, User
from core.permissions import Perm
from core.money import divide_round
from core.services import Actor, close_notifications, notify, record_audit
from inventory import services as inv
from inventory.models import (Drug, Location, LocationKind, Lot, LotStatus, LotStatusEvent, MovementKind,
                              StockBalance, StockMovement)
from gsp.models import (Destruction, DestructionStatus, ExpiryTierMark, FoundWhere, LockReason, NonconformingRecord,
                        Recall, RecallLot, RecallRecovery, RecallStatus, SaleStop, SaleStopLot, SuspectReport)

MAX_NOTE = 2000
LOCK_REASON_LABELS = {
    LockReason.SUSPECTED_QUALITY: _l("Suspected quality problem"),
    LockReason.SUSPECTED_COUNTERFEIT: _l("Suspected counterfeit"),
    LockReason.FOUND_IN_CURING: _l("Found in curing"),
    LockReason.FOUND_ON_DISPLAY: _l("Found on display"),
    LockReason.RECALL: _l("Recall"),
    LockReason.STOP_SALE: _l("Stop-sale notice"),
    LockReason.EXPIRED: _l("Expired"),
}
# Reasons a person chooses; recall, stop-sale and expiry locks come from their own steps.
MANUAL_LOCK_REASONS = (LockReason.SUSPECTED_QUALITY, LockReason.SUSPECTED_COUNTERFEIT, LockReason.FOUND_IN_CURING,
                       LockReason.FOUND_ON_DISPLAY)
FOUND_WHERE_LABELS = {
    FoundWhere.DISPLAY: _l("Display check"), FoundWhere.CURING: _l("Curing"), FoundWhere.RECEIVING: _l("Receiving"),
    FoundWhere.COUNTER: _l("Counter"), FoundWhere.CUSTOMER: _l("Customer complaint"), FoundWhere.OTHER: _l("Other"),
}
DESTRUCTION_STATUS_LABELS = {DestructionStatus.REQUESTED: _l("Waiting for approval"),
                             DestructionStatus.APPROVED: _l("Destroyed"), DestructionStatus.REJECTED: _l("Rejected")}
RECALL_MEASURES = {"return": _l("Return to the supplier"), "destroy": _l("Destroy"), "repackage": _l("Repackage")}


def _text(value, what, *, required: bool = True, limit: int = MAX_NOTE) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if value is None:
        raise InvalidInput(_l("%(what)s must be text.", what=what), code="invalid_text")
    if required and not value:
        raise InvalidInput(_l("%(what)s is required.", what=what), code="required")
    if len(value) > limit:
        raise InvalidInput(_l("%(what)s has at most %(n)d characters.", what=what, n=limit), code="too_long")
    return value


def _require(actor: Actor, perm: Perm) -> None:
    if not actor.can(perm):
        raise PermissionDenied(_l("Your role does not allow this. Ask an administrator if you need it."))


def _positive(quantity, what) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= inv.MAX_MOVEMENT_QUANTITY:
        raise InvalidInput(_l("%(what)s must be a whole number from 1 to %(max)d.", what=what,
                              max=inv.MAX_MOVEMENT_QUANTITY), code="invalid_quantity")
    return quantity


def _store_user(session: Session, user_id, store_id: int, what) -> User:
    user = session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or user.store_id != store_id or not user.active:
        raise InvalidInput(_l("Choose %(what)s from this store's staff.", what=what), code="invalid_user")
    return user


def _set_status(session: Session, actor: Actor, lot: Lot, to_status: str, reason: str, note: str) -> None:
    inv.change_lot_status(session, actor, lot.id, to_status, reason_category=str(reason), note=note)


def on_hand_by_location(session: Session, lot_id: int) -> list[tuple[Location, int]]:
    return list(session.exec(select(Location, StockBalance.quantity).join(StockBalance,
                                                                         StockBalance.location_id == Location.id)
                             .where(StockBalance.lot_id == lot_id, StockBalance.quantity > 0)
                             .order_by(Location.code)).all())


def _location_of_kind(session: Session, store_id: int, kind: str) -> Location | None:
    return session.exec(select(Location).where(Location.store_id == store_id, Location.kind == kind,
                                               Location.active.is_(True)).order_by(Location.id)).first()


# --- suspect reports, locks, unlocks ------------------------------------------------------------------------------------

def flag_suspect(session: Session, actor: Actor, lot_id: int, *, found_where: str, note: str) -> SuspectReport:
    """Any post tells the quality manager about a suspect lot (质量疑问药品); the lot stays as it is until they act."""
    _require(actor, Perm.QUALITY_FLAG)
    if not isinstance(found_where, str) or found_where not in {w.value for w in FoundWhere}:
        raise InvalidInput(_l("Say where the problem was found."), code="invalid_found_where")
    note = _text(note, _l("A description of the problem"))
    with transaction(session):
        lot = inv.get_lot(session, lot_id, actor.store_id)
        drug = session.get(Drug, lot.drug_id)
        seen = session.exec(select(func.max(LotStatusEvent.id)).where(LotStatusEvent.lot_id == lot.id)).one()
        report = SuspectReport(store_id=lot.store_id, lot_id=lot.id, found_where=found_where, note=note,
                               seen_event_id=seen, reported_by_id=actor.user_id, at=clock.now())
        session.add(report)
        session.flush()
        notify(session, kind="suspect_lot", dedupe_key=f"suspect:{report.id}", permission=Perm.QUALITY_LOCK,
               store_id=lot.store_id, entity_type="lot", entity_id=lot.id,
               title=str(_l("Suspect lot reported: %(drug)s lot %(lot)s", drug=drug.display_name, lot=lot.lot_no)),
               body=f"{actor.name}: {note}")
        record_audit(session, actor, "quality.flag", "lot", lot.id, after={"found_where": found_where}, reason=note,
                     store_id=lot.store_id)
    return report


def lock_lot(session: Session, actor: Actor, lot_id: int, *, reason: str, note: str = "") -> Lot:
    _require(actor, Perm.QUALITY_LOCK)
    if not isinstance(reason, str) or reason not in {r.value for r in MANUAL_LOCK_REASONS}:
        raise InvalidInput(_l("Choose why the lot is locked."), code="invalid_reason")
    note = _text(note, _l("Note"), required=False)
    with transaction(session):
        lot = inv.get_lot(session, lot_id, actor.store_id, for_update=True)
        if lot.status == LotStatus.LOCKED:
            raise Conflict(_l("Lot %(lot)s is already locked.", lot=lot.lot_no), code="already_locked")
        _set_status(session, actor, lot, LotStatus.LOCKED, reason, note)
    return lot


def unlock_lot(session: Session, actor: Actor, lot_id: int, *, conclusion: str) -> Lot:
    """Investigation found no problem: the lot goes back on sale. The conclusion is required and kept."""
    _require(actor, Perm.QUALITY_LOCK)
    conclusion = _text(conclusion, _l("The investigation's conclusion"))
    with transaction(session):
        lot = inv.get_lot(session, lot_id, actor.store_id, for_update=True)
        if lot.status != LotStatus.LOCKED:
            raise Conflict(_l("Only a locked lot can be unlocked; lot %(lot)s is %(status)s.", lot=lot.lot_no,
                              status=inv.lot_status_label(lot.status)), code="not_locked")
        store = session.get(Store, lot.store_id)
        if lot.expiry_date is not None and lot.expiry_date < inv.store_today(store):
            raise Conflict(_l("Lot %(lot)s has expired: it stays locked until it is returned or destroyed.",
                              lot=lot.lot_no), code="expired")
        _set_status(session, actor, lot, LotStatus.RELEASED, "unlocked", conclusion)
    return lot


def declare_nonconforming(session: Session, actor: Actor, lot_id: int, *, reason: str, note: str,
                          counterfeit: bool = False) -> NonconformingRecord:
    """不合格: the lot can never be sold again; all its stock moves to the store's red area."""
    _require(actor, Perm.QUALITY_LOCK)
    if not isinstance(reason, str) or reason not in {r.value for r in LockReason}:
        raise InvalidInput(_l("Choose why the lot is non-conforming."), code="invalid_reason")
    note = _text(note, _l("The finding"))
    with transaction(session):
        lot = inv.get_lot(session, lot_id, actor.store_id, for_update=True)
        red = _location_of_kind(session, lot.store_id, LocationKind.NONCONFORMING)
        if red is None:
            raise Conflict(_l("The store has no non-conforming (red) area: create one under Locations first."),
                           code="no_red_area")
        _set_status(session, actor, lot, LotStatus.NONCONFORMING, reason, note)
        record = NonconformingRecord(store_id=lot.store_id, lot_id=lot.id, quantity=0, reason_category=reason,
                                     counterfeit=bool(counterfeit), note=note, decided_by_id=actor.user_id,
                                     at=clock.now())
        moved = 0
        reference = f"nonconforming:{lot.id}:{clock.now():%Y%m%d%H%M%S}"
        for location, qty in on_hand_by_location(session, lot.id):
            if location.id == red.id:
                continue
            inv.post_movement(session, actor, lot=lot, location=location, quantity=-qty,
                              kind=MovementKind.TRANSFER_OUT, reference=reference, reason=note)
            inv.post_movement(session, actor, lot=lot, location=red, quantity=qty, kind=MovementKind.TRANSFER_IN,
                              reference=reference, reason=note)
            moved += qty
        record.quantity = moved
        session.add(record)
        session.flush()
        if counterfeit:
            notify(session, kind="counterfeit", dedupe_key=f"counterfeit:{record.id}", permission=Perm.QUALITY_LOCK,
                   store_id=lot.store_id, entity_type="lot", entity_id=lot.id,
                   title=str(_l("Suspected counterfeit lot %(lot)s: report it to the drug regulator.",
                                lot=lot.lot_no)))
        record_audit(session, actor, "quality.nonconforming", "lot", lot.id,
                     after={"moved_to_red": moved, "red_location_id": red.id, "counterfeit": bool(counterfeit)},
                     reason=f"{reason}: {note}", store_id=lot.store_id)
    return record


# --- destruction --------------------------------------------------------------------------------------------------------

def request_destruction(session: Session, actor: Actor, lot_id: int, *, quantity: int, method: str,
                        reason: str) -> Destruction:
    _require(actor, Perm.QUALITY_LOCK)
    _positive(quantity, _l("The quantity to destroy"))
    method = _text(method, _l("The method of destruction"), limit=120)
    reason = _text(reason, _l("The reason"))
    with transaction(session):
        lot = inv.get_lot(session, lot_id, actor.store_id, for_update=True)
        if lot.status != LotStatus.NONCONFORMING:
            raise Conflict(_l("Only non-conforming stock is destroyed: declare lot %(lot)s non-conforming first.",
                              lot=lot.lot_no), code="not_nonconforming")
        red = _location_of_kind(session, lot.store_id, LocationKind.NONCONFORMING)
        in_red = inv.available_quantity(session, lot.id, red.id) if red else 0
        pending = session.exec(select(func.coalesce(func.sum(Destruction.quantity), 0)).where(
            Destruction.lot_id == lot.id, Destruction.status == DestructionStatus.REQUESTED)).one()
        if quantity > in_red - pending:
            raise Conflict(_l("Only %(n)d of lot %(lot)s in the red area is not yet in a destruction request.",
                              n=max(in_red - pending, 0), lot=lot.lot_no), code="not_enough")
        item = Destruction(store_id=lot.store_id, lot_id=lot.id, location_id=red.id, quantity=quantity,
                           method=method, reason=reason, requested_by_id=actor.user_id, requested_at=clock.now())
        session.add(item)
        session.flush()
        notify(session, kind="destruction_request", dedupe_key=f"destruction:{item.id}",
               permission=Perm.QUALITY_DESTROY, store_id=lot.store_id, entity_type="destruction", entity_id=item.id,
               title=str(_l("Destruction of %(n)d of lot %(lot)s waits for approval.", n=quantity, lot=lot.lot_no)))
        record_audit(session, actor, "quality.destruction_request", "destruction", item.id,
                     after={"lot_id": lot.id, "quantity": quantity, "method": method}, reason=reason,
                     store_id=lot.store_id)
    return item


def decide_destruction(session: Session, actor: Actor, destruction_id: int, *, approve: bool,
                       witness_id: int | None = None, note: str = "") -> Destruction:
    """Approval by someone other than the requester, done before a witness who is neither: the stock leaves by a
    destruction movement (platform code 105)."""
    _require(actor, Perm.QUALITY_DESTROY)
    note = _text(note, _l("Note"), required=not approve)
    with transaction(session):
        item = session.get(Destruction, destruction_id, with_for_update=True)
        if item is None or item.store_id != actor.store_id:
            raise NotFound(_l("Destruction %(id)s not found.", id=destruction_id))
        if item.status != DestructionStatus.REQUESTED:
            raise Conflict(_l("This destruction was already decided."), code="already_decided")
        if item.requested_by_id == actor.user_id:
            raise PermissionDenied(_l("Someone other than the requester approves a destruction."))
        lot = inv.get_lot(session, item.lot_id, item.store_id, for_update=True)
        if approve:
            witness = _store_user(session, witness_id, item.store_id, _l("a witness"))
            if witness.id in (actor.user_id, item.requested_by_id):
                raise InvalidInput(_l("The witness must be a third person, neither requester nor approver."),
                                   code="witness")
            location = session.get(Location, item.location_id)
            inv.post_movement(session, actor, lot=lot, location=location, quantity=-item.quantity,
                              kind=MovementKind.DESTRUCTION, reference=f"destruction:{item.id}",
                              reason=f"{item.method}; {item.reason}")
            item.witness_id = witness.id
            left = session.exec(select(func.coalesce(func.sum(StockBalance.quantity), 0))
                                .where(StockBalance.lot_id == lot.id)).one()
            if left == 0:
                _set_status(session, actor, lot, LotStatus.DESTROYED, "destroyed", item.method)
        item.status = DestructionStatus.APPROVED if approve else DestructionStatus.REJECTED
        close_notifications(session, f"destruction:{item.id}")
        item.decided_by_id, item.decided_at, item.decision_note = actor.user_id, clock.now(), note
        session.add(item)
        record_audit(session, actor, "quality.destruction_" + ("approve" if approve else "reject"), "destruction",
                     item.id, after={"status": item.status, "witness_id": item.witness_id}, reason=note,
                     store_id=item.store_id)
    return item


# --- stop-sale notices (停售 / 解除停售) --------------------------------------------------------------------------------------

def _matching_lots(session: Session, drug_id: int, lot_nos: list[str] | None, statuses) -> list[Lot]:
    stmt = select(Lot).where(Lot.drug_id == drug_id, Lot.status.in_([str(s) for s in statuses]))
    if lot_nos:
        stmt = stmt.where(Lot.lot_no.in_(lot_nos))
    return list(session.exec(stmt.order_by(Lot.store_id, Lot.id).with_for_update()).all())


def _notify_stores(session: Session, store_ids, *, kind: str, key: str, permission: Perm, title: str,
                   entity_type: str, entity_id) -> None:
    for store_id in sorted(store_ids):
        notify(session, kind=kind, dedupe_key=f"{key}:{store_id}", permission=permission, store_id=store_id,
               title=title, entity_type=entity_type, entity_id=entity_id)


def issue_sale_stop(session: Session, actor: Actor, *, drug_id: int, lot_no: str | None, reason: str) -> SaleStop:
    """Stop the sale of a drug (or one lot number of it) in every store: every released lot it covers is locked
    now, and the counters of every store are told."""
    _require(actor, Perm.QUALITY_LOCK)
    reason = _text(reason, _l("The reason"))
    lot_no = (lot_no or "").strip() or None
    with transaction(session):
        drug = inv.get_drug(session, drug_id)
        if lot_no and not session.exec(select(Lot.id).where(Lot.drug_id == drug.id, Lot.lot_no == lot_no)).first():
            raise NotFound(_l("No lot %(lot)s of %(drug)s in any store.", lot=lot_no, drug=drug.display_name))
        stop = SaleStop(store_id=actor.store_id, drug_id=drug.id, lot_no=lot_no, reason=reason,
                        issued_by_id=actor.user_id, issued_at=clock.now())
        session.add(stop)
        session.flush()
        for lot in _matching_lots(session, drug.id, [lot_no] if lot_no else None, [LotStatus.RELEASED]):
            inv.change_lot_status(session, actor, lot.id, LotStatus.LOCKED, reason_category=LockReason.STOP_SALE,
                                  note=f"#{stop.id} {reason}")
            session.add(SaleStopLot(stop_id=stop.id, store_id=lot.store_id, lot_id=lot.id))
        stores = session.exec(select(Store.id)).all()
        title = (_l("Stop-sale notice: %(drug)s lot %(lot)s — %(why)s", drug=drug.display_name, lot=lot_no, why=reason)
                 if lot_no else _l("Stop-sale notice: %(drug)s, every lot — %(why)s", drug=drug.display_name,
                                   why=reason))
        _notify_stores(session, stores, kind="sale_stop", key=f"stop:{stop.id}", permission=Perm.POS_SELL,
                       title=str(title),
                       entity_type="sale_stop", entity_id=stop.id)
        record_audit(session, actor, "quality.sale_stop", "sale_stop", stop.id,
                     after={"drug_id": drug.id, "lot_no": lot_no}, reason=reason, store_id=actor.store_id)
    return stop


def lift_sale_stop(session: Session, actor: Actor, stop_id: int, *, note: str) -> SaleStop:
    """解除停售: release the lots this notice locked, unless something else locked them since or they expired."""
    _require(actor, Perm.QUALITY_LOCK)
    note = _text(note, _l("The reason"))
    with transaction(session):
        stop = session.get(SaleStop, stop_id, with_for_update=True)
        if stop is None:
            raise NotFound(_l("Stop-sale notice %(id)s not found.", id=stop_id))
        if stop.lifted_at is not None:
            raise Conflict(_l("This stop-sale notice was already lifted."), code="already_lifted")
        stores = {s.id: s for s in session.exec(select(Store)).all()}
        lot_ids = session.exec(select(SaleStopLot.lot_id).where(SaleStopLot.stop_id == stop.id)).all()
        for lot in session.exec(select(Lot).where(Lot.id.in_(lot_ids)).with_for_update()).all():
            last = session.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == lot.id)
                                .order_by(LotStatusEvent.id.desc())).first()
            still_ours = (lot.status == LotStatus.LOCKED and last is not None
                          and last.reason_category == LockReason.STOP_SALE and last.note.startswith(f"#{stop.id} "))
            expired = lot.expiry_date is not None and lot.expiry_date < inv.store_today(stores[lot.store_id])
            if still_ours and not expired:
                inv.change_lot_status(session, actor, lot.id, LotStatus.RELEASED, reason_category="sale_resumed",
                                      note=f"#{stop.id} {note}")
        stop.lifted_by_id, stop.lifted_at, stop.lift_note = actor.user_id, clock.now(), note
        session.add(stop)
        drug = session.get(Drug, stop.drug_id)
        _notify_stores(session, list(stores), kind="sale_resumed",
                       key=f"resume:{stop.id}", permission=Perm.POS_SELL,
                       title=str(_l("Sale resumed: %(drug)s lot %(lot)s", drug=drug.display_name, lot=stop.lot_no)
                                 if stop.lot_no else _l("Sale resumed: %(drug)s, every lot", drug=drug.display_name)),
                       entity_type="sale_stop", entity_id=stop.id)
        record_audit(session, actor, "quality.sale_resume", "sale_stop", stop.id, reason=note,
                     store_id=actor.store_id)
    return stop


def sale_stops(session: Session, *, active_only: bool = False, limit: int = 100):
    stmt = select(SaleStop, Drug).join(Drug, Drug.id == SaleStop.drug_id)
    if active_only:
        stmt = stmt.where(SaleStop.lifted_at.is_(None))
    return session.exec(stmt.order_by(SaleStop.issued_at.desc()).limit(limit)).all()


# --- recall (召回) --------------------------------------------------------------------------------------------------------

def _parse_lot_nos(lot_nos) -> list[str]:
    if isinstance(lot_nos, str):
        lot_nos = lot_nos.replace("，", ",").replace("\n", ",").split(",")
    out = sorted({(n or "").strip() for n in (lot_nos or []) if (n or "").strip()})
    if any(len(n) > inv.MAX_LOT_NO_LENGTH for n in out):
        raise InvalidInput(_l("A lot number has at most %(n)d characters.", n=inv.MAX_LOT_NO_LENGTH))
    return out


def issue_recall(session: Session, actor: Actor, *, drug_id: int, lot_nos, level: int, reason: str,
                 measure: str = "return") -> Recall:
    """A recall locks (RECALLED) every affected lot in every store at once and lists the sales to recover."""
    _require(actor, Perm.QUALITY_LOCK)
    if isinstance(level, bool) or level not in (1, 2, 3):
        raise InvalidInput(_l("A recall is level 1, 2 or 3."), code="invalid_level")
    if not isinstance(measure, str) or measure not in RECALL_MEASURES:
        raise InvalidInput(_l("Choose the recall measure."), code="invalid_measure")
    reason = _text(reason, _l("The reason"))
    numbers = _parse_lot_nos(lot_nos)
    with transaction(session):
        drug = inv.get_drug(session, drug_id)
        if numbers:
            known = set(session.exec(select(Lot.lot_no).where(Lot.drug_id == drug.id, Lot.lot_no.in_(numbers))).all())
            missing = [n for n in numbers if n not in known]
            if missing:
                raise NotFound(_l("No lot %(lot)s of %(drug)s in any store.", lot=", ".join(missing),
                                  drug=drug.display_name))
        recall = Recall(store_id=actor.store_id, number="pending", level=level, drug_id=drug.id,
                        lot_nos=",".join(numbers), reason=reason, measure=measure, issued_by_id=actor.user_id,
                        issued_at=clock.now())
        session.add(recall)
        session.flush()
        recall.number = f"RC{clock.now():%Y%m%d}-{recall.id:04d}"
        lots = _matching_lots(session, drug.id, numbers or None,
                              [LotStatus.RELEASED, LotStatus.LOCKED, LotStatus.PENDING_INSPECTION])
        for lot in lots:
            on_hand = session.exec(select(func.coalesce(func.sum(StockBalance.quantity), 0))
                                   .where(StockBalance.lot_id == lot.id)).one()
            session.add(RecallLot(recall_id=recall.id, store_id=lot.store_id, lot_id=lot.id,
                                  previous_status=lot.status, on_hand_at_recall=on_hand))
            if lot.status == LotStatus.PENDING_INSPECTION:  # not yet accepted: lock it first, then recall
                inv.change_lot_status(session, actor, lot.id, LotStatus.LOCKED, reason_category=LockReason.RECALL,
                                      note=recall.number)
            inv.change_lot_status(session, actor, lot.id, LotStatus.RECALLED, reason_category=LockReason.RECALL,
                                  note=f"{recall.number} {reason}")
        session.add(recall)
        stores = session.exec(select(Store.id)).all()
        _notify_stores(session, stores, kind="recall", key=f"recall:{recall.id}", permission=Perm.QUALITY_READ,
                       title=str(_l("Level %(level)d recall %(n)s: %(drug)s — %(why)s", level=level, n=recall.number,
                                    drug=drug.display_name, why=reason)),
                       entity_type="recall", entity_id=recall.id)
        record_audit(session, actor, "quality.recall", "recall", recall.id,
                     after={"number": recall.number, "level": level, "drug_id": drug.id, "lots": len(lots)},
                     reason=reason, store_id=actor.store_id)
    return recall


@dataclass
class RecallSale:
    store_id: int
    sale_number: str
    at: object
    lot_id: int
    lot_no: str
    sold: int  # net of counter returns
    recovered: int = 0
    contact: str = ""


def get_recall(session: Session, recall_id: int) -> Recall:
    recall = session.get(Recall, recall_id)
    if recall is None:
        raise NotFound(_l("Recall %(id)s not found.", id=recall_id))
    return recall


def recall_lots(session: Session, recall_id: int):
    return session.exec(select(RecallLot, Lot, Store).join(Lot, Lot.id == RecallLot.lot_id)
                        .join(Store, Store.id == RecallLot.store_id).where(RecallLot.recall_id == recall_id)
                        .order_by(Store.code, Lot.lot_no)).all()


def recall_sales(session: Session, recall_id: int, store_id: int | None = None, finder=None) -> list[RecallSale]:
    """Every sale of the recalled lots with what was recovered so far. `finder(session, lot_ids, store_id)` is the
    counter's own list (net of returns, with buyer and trace codes; the app plugs in pos.services.sales_of_lots);
    without one, the stock ledger's sale movements (gross) are used."""
    lots = dict(session.exec(select(RecallLot.lot_id, Lot.lot_no).join(Lot, Lot.id == RecallLot.lot_id)
                             .where(RecallLot.recall_id == recall_id)).all())
    if not lots:
        return []
    if finder is not None:
        rows = finder(session, list(lots), store_id)
    else:
        stmt = (select(StockMovement.store_id, StockMovement.reference, StockMovement.lot_id,
                       func.min(StockMovement.at), func.sum(StockMovement.quantity))
                .where(StockMovement.lot_id.in_(list(lots)), StockMovement.kind == MovementKind.SALE)
                .group_by(StockMovement.store_id, StockMovement.reference, StockMovement.lot_id))
        if store_id is not None:
            stmt = stmt.where(StockMovement.store_id == store_id)
        rows = [{"store_id": st, "sale_number": ref.removeprefix("sale:"), "at": at, "lot_id": lot_id,
                 "quantity": -qty, "contact": ""} for st, ref, lot_id, at, qty in session.exec(stmt).all()]
    recovered = defaultdict(int)
    for number, lot_id, qty in session.exec(
            select(RecallRecovery.sale_number, RecallRecovery.lot_id, func.sum(RecallRecovery.quantity))
            .where(RecallRecovery.recall_id == recall_id)
            .group_by(RecallRecovery.sale_number, RecallRecovery.lot_id)).all():
        recovered[(number, lot_id)] += qty
    merged: dict[tuple[str, int], RecallSale] = {}
    for row in rows:
        key = (row["sale_number"], row["lot_id"])
        if key in merged:
            merged[key].sold += row["quantity"]
        else:
            merged[key] = RecallSale(row["store_id"], row["sale_number"], row["at"], row["lot_id"],
                                     lots[row["lot_id"]], row["quantity"], recovered.get(key, 0),
                                     row.get("contact", ""))
    return sorted(merged.values(), key=lambda r: (r.at, r.sale_number))


def record_recovery(session: Session, actor: Actor, recall_id: int, *, lot_id: int, quantity: int,
                    sale_number: str = "", note: str = "", finder=None) -> RecallRecovery:
    """Units brought back by customers. The refund itself is a return at the counter (which sends the goods to the
    yellow area); this record tracks the recall's progress."""
    _require(actor, Perm.QUALITY_LOCK)
    _positive(quantity, _l("The recovered quantity"))
    sale_number = _text(sale_number, _l("Sale number"), required=False, limit=32)
    note = _text(note, _l("Note"), required=False)
    with transaction(session):
        recall = get_recall(session, recall_id)
        if recall.status != RecallStatus.OPEN:
            raise Conflict(_l("Recall %(n)s is closed.", n=recall.number), code="recall_closed")
        link = session.exec(select(RecallLot).where(RecallLot.recall_id == recall.id, RecallLot.lot_id == lot_id,
                                                    RecallLot.store_id == actor.store_id)).first()
        if link is None:
            raise InvalidInput(_l("That lot is not part of this recall in your store."), code="not_recalled")
        sales = [s for s in recall_sales(session, recall.id, actor.store_id, finder) if s.lot_id == lot_id]
        if sale_number:
            sale = next((s for s in sales if s.sale_number == sale_number), None)
            if sale is None:
                raise InvalidInput(_l("Sale %(n)s did not sell this lot.", n=sale_number), code="not_sold")
            if quantity > sale.sold - sale.recovered:
                raise Conflict(_l("Only %(n)d of sale %(s)s is still to recover.", n=sale.sold - sale.recovered,
                                  s=sale_number), code="too_many")
        else:  # brought back without a ticket: never more than this store sold of the lot and has not recovered
            unnamed = session.exec(select(func.coalesce(func.sum(RecallRecovery.quantity), 0)).where(
                RecallRecovery.recall_id == recall.id, RecallRecovery.lot_id == lot_id,
                RecallRecovery.store_id == actor.store_id, RecallRecovery.sale_number == "")).one()
            left = sum(s.sold - s.recovered for s in sales) - unnamed
            if quantity > left:
                raise Conflict(_l("Only %(n)d of this lot sold here is still to recover.", n=max(left, 0)),
                               code="too_many")
        row = RecallRecovery(recall_id=recall.id, store_id=actor.store_id, lot_id=lot_id, sale_number=sale_number,
                             quantity=quantity, note=note, recorded_by_id=actor.user_id, at=clock.now())
        session.add(row)
        session.flush()
        record_audit(session, actor, "quality.recall_recovery", "recall", recall.id,
                     after={"lot_id": lot_id, "quantity": quantity, "sale_number": sale_number}, reason=note,
                     store_id=actor.store_id)
    return row


def close_recall(session: Session, actor: Actor, recall_id: int, *, note: str) -> Recall:
    _require(actor, Perm.QUALITY_LOCK)
    note = _text(note, _l("The closing summary"))
    with transaction(session):
        recall = session.get(Recall, recall_id, with_for_update=True)
        if recall is None:
            raise NotFound(_l("Recall %(id)s not found.", id=recall_id))
        if recall.status != RecallStatus.OPEN:
            raise Conflict(_l("Recall %(n)s is already closed.", n=recall.number), code="recall_closed")
        recall.status, recall.closed_by_id, recall.closed_at, recall.close_note = (RecallStatus.CLOSED,
                                                                                   actor.user_id, clock.now(), note)
        session.add(recall)
        record_audit(session, actor, "quality.recall_close", "recall", recall.id, reason=note,
                     store_id=actor.store_id)
    return recall


def recalls(session: Session, limit: int = 100):
    return session.exec(select(Recall, Drug).join(Drug, Drug.id == Recall.drug_id)
                        .order_by(Recall.issued_at.desc()).limit(limit)).all()


# --- one lot's quality file -----------------------------------------------------------------------------------------------

@dataclass
class LotQuality:
    lot: Lot
    drug: Drug
    store: Store
    on_hand: list
    events: list
    reports: list
    nonconforming: list
    destructions: list
    red_quantity: int


def lot_quality(session: Session, lot_id: int, store_id: int) -> LotQuality:
    lot = inv.get_lot(session, lot_id, store_id)
    red = _location_of_kind(session, lot.store_id, LocationKind.NONCONFORMING)
    return LotQuality(
        lot=lot, drug=session.get(Drug, lot.drug_id), store=session.get(Store, lot.store_id),
        on_hand=on_hand_by_location(session, lot.id),
        events=session.exec(select(LotStatusEvent, User).outerjoin(User, User.id == LotStatusEvent.actor_id)
                            .where(LotStatusEvent.lot_id == lot.id).order_by(LotStatusEvent.id.desc())).all(),
        reports=session.exec(select(SuspectReport, User).join(User, User.id == SuspectReport.reported_by_id)
                             .where(SuspectReport.lot_id == lot.id).order_by(SuspectReport.id.desc())).all(),
        nonconforming=session.exec(select(NonconformingRecord).where(NonconformingRecord.lot_id == lot.id)
                                   .order_by(NonconformingRecord.id.desc())).all(),
        destructions=session.exec(select(Destruction).where(Destruction.lot_id == lot.id)
                                  .order_by(Destruction.id.desc())).all(),
        red_quantity=inv.available_quantity(session, lot.id, red.id) if red else 0)


def open_suspect_reports(session: Session, store_id: int, limit: int = 50):
    """Reports no quality decision has followed yet (no status change of the lot since the report)."""
    later = exists().where(LotStatusEvent.lot_id == SuspectReport.lot_id,
                           LotStatusEvent.id > func.coalesce(SuspectReport.seen_event_id, 0))
    return session.exec(select(SuspectReport, Lot, Drug).join(Lot, Lot.id == SuspectReport.lot_id)
                        .join(Drug, Drug.id == Lot.drug_id)
                        .where(SuspectReport.store_id == store_id, ~later)
                        .order_by(SuspectReport.at.desc()).limit(limit)).all()


def lots_in_status(session: Session, store_id: int, statuses, limit: int = 200):
    on_hand = func.coalesce(func.sum(StockBalance.quantity), 0).label("on_hand")
    return session.exec(select(Lot, Drug, on_hand).join(Drug, Drug.id == Lot.drug_id)
                        .outerjoin(StockBalance, StockBalance.lot_id == Lot.id)
                        .where(Lot.store_id == store_id, Lot.status.in_([str(s) for s in statuses]))
                        .group_by(Lot.id, Drug.id).order_by(Lot.expiry_date, Lot.id).limit(limit)).all()


def pending_destructions(session: Session, store_id: int):
    return session.exec(select(Destruction, Lot, Drug).join(Lot, Lot.id == Destruction.lot_id)
                        .join(Drug, Drug.id == Lot.drug_id)
                        .where(Destruction.store_id == store_id,
                               Destruction.status == DestructionStatus.REQUESTED)
                        .order_by(Destruction.requested_at)).all()


# --- expiry ---------------------------------------------------------------------------------------------------------------

def _today_by_timezone(session: Session) -> dict[str, tuple[date, list[int]]]:
    """Each time zone's business date and its stores: 'today' is judged in the store's own time zone."""
    groups: dict[str, tuple[date, list[int]]] = {}
    for store_id, tz in session.exec(select(Store.id, Store.timezone)).all():
        if tz not in groups:
            groups[tz] = (clock.now().astimezone(ZoneInfo(tz)).date(), [])
        groups[tz][1].append(store_id)
    return groups


def _has_stock():
    return exists().where(StockBalance.lot_id == Lot.id, StockBalance.quantity > 0)


def mark_expiry_tiers(session: Session, actor: Actor, tiers_days=(180, 90, 30)) -> dict[tuple[int, int], int]:
    """Mark lots with stock that entered an expiry tier, innermost tier first, each lot and tier once: set-based
    INSERT … SELECT per time zone and tier, so it runs over hundreds of thousands of lots in one pass. A lot first
    seen already within 30 days gets the 30-day mark only. Then one notification per store and tier for what is
    new today. Returns {(store_id, tier): newly marked lots}."""
    tiers = sorted({int(t) for t in tiers_days})
    table = ExpiryTierMark.__table__
    new: dict[tuple[int, int], int] = {}
    with transaction(session):
        for tz, (today, store_ids) in _today_by_timezone(session).items():
            inner_tier = -1
            for tier in tiers:
                # Only the band between the next inner tier and this one: a lot inside the inner tier belongs there.
                inner = sa_select(table.c.id).where(table.c.lot_id == Lot.id, table.c.tier_days <= tier)
                source = (sa_select(Lot.store_id, Lot.id, literal(tier), Lot.expiry_date, literal(today))
                          .where(Lot.store_id.in_(store_ids), Lot.expiry_date.is_not(None),
                                 Lot.expiry_date > today + timedelta(days=inner_tier),
                                 Lot.expiry_date <= today + timedelta(days=tier),
                                 Lot.status.not_in([LotStatus.DESTROYED, LotStatus.RETURNED]),
                                 _has_stock(), ~exists(inner)))
                session.execute(insert(table).from_select(
                    ["store_id", "lot_id", "tier_days", "expiry_date", "marked_on"], source))
                inner_tier = tier
            counts = session.execute(sa_select(table.c.store_id, table.c.tier_days, func.count())
                                     .where(table.c.store_id.in_(store_ids), table.c.marked_on == today)
                                     .group_by(table.c.store_id, table.c.tier_days)).all()
            for store_id, tier, count in counts:
                new[(store_id, tier)] = count
                notify(session, kind="expiry_tier", dedupe_key=f"expiry:{store_id}:{tier}:{today}",
                       permission=Perm.QUALITY_READ, store_id=store_id, entity_type="expiry_tier", entity_id=tier,
                       title=str(_l("%(n)d lots entered the %(d)d-day expiry tier: put them on the near-expiry "
                                    "push list.", n=count, d=tier)))
    return new


def lock_expired_lots(session: Session, actor: Actor) -> int:
    """Lock released lots whose expiry date has passed in their store's time zone (GSP: expired stock is locked
    for sale; the sale path refuses it on its own anyway). One status event per lot, written set-based."""
    event = LotStatusEvent.__table__
    locked = 0
    now = clock.now()
    with transaction(session):
        for tz, (today, store_ids) in _today_by_timezone(session).items():
            expired = and_(Lot.store_id.in_(store_ids), Lot.status == LotStatus.RELEASED,
                           Lot.expiry_date.is_not(None), Lot.expiry_date < today)
            session.execute(insert(event).from_select(
                ["store_id", "lot_id", "from_status", "to_status", "reason_category", "note", "actor_id", "at"],
                sa_select(Lot.store_id, Lot.id, literal(LotStatus.RELEASED.value), literal(LotStatus.LOCKED.value),
                          literal(LockReason.EXPIRED.value), literal(str(_l("expired on its expiry date"))),
                          literal(None), literal(now, type_=event.c.at.type)).where(expired)))
            result = session.execute(update(Lot).where(expired).values(status=LotStatus.LOCKED)
                                     .execution_options(synchronize_session=False))
            locked += result.rowcount
        if locked:
            record_audit(session, actor, "quality.lock_expired", "lot", None, after={"locked": locked},
                         reason="expired")
    return locked


@dataclass
class PushRow:
    lot: Lot
    drug: Drug
    location: Location
    quantity: int
    value_fen: int
    days_left: int
    tier: str


def near_expiry_push_list(session: Session, store: Store, *, within_days: int, location_id: int | None = None,
                          tiers_days=(180, 90, 30)) -> list[PushRow]:
    """近效期催销表: stock per lot and location expiring within `within_days` (expired stock included, flagged),
    with its value at retail price."""
    today = inv.store_today(store)
    stmt = (select(Lot, Drug, Location, StockBalance.quantity).join(Drug, Drug.id == Lot.drug_id)
            .join(StockBalance, StockBalance.lot_id == Lot.id).join(Location, Location.id == StockBalance.location_id)
            .where(Lot.store_id == store.id, StockBalance.quantity > 0, Lot.expiry_date.is_not(None),
                   Lot.expiry_date <= today + timedelta(days=within_days),
                   Location.kind != LocationKind.NONCONFORMING)
            .order_by(Lot.expiry_date, Location.code, Drug.generic_name))
    if location_id is not None:
        stmt = stmt.where(Location.id == location_id)
    rows = []
    for lot, drug, location, qty in session.exec(stmt).all():
        value = (drug.unit_price_fen * qty if drug.unit_price_fen is not None
                 else divide_round(drug.retail_price_fen * qty, max(drug.units_per_package or 1, 1)))
        rows.append(PushRow(lot, drug, location, qty, value, (lot.expiry_date - today).days,
                            inv.expiry_tier(lot.expiry_date, today, tiers_days) or ""))
    return rows


def dashboard_panel(session: Session, actor: Actor, store: Store, today: date):
    """What waits on a quality manager or destruction approver: suspect reports and destructions to decide."""
    reports = open_suspect_reports(session, store.id, limit=10) if actor.can(Perm.QUALITY_LOCK) else []
    destructions = [row for row in pending_destructions(session, store.id)
                    if row[0].requested_by_id != actor.user_id] if actor.can(Perm.QUALITY_DESTROY) else []
    if not reports and not destructions:
        return None
    return "gsp/quality_panel.html", {"reports": reports, "destructions": destructions}
