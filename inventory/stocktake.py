"""Stocktake (盘点): freeze expected quantities, count blind, verify by a second person, approve and post.

Flow: OPEN (counting) → SUBMITTED → VERIFIED → APPROVED (gains and losses posted), or CANCELLED with a reason.

* Starting a stocktake snapshots every stock balance in its scope (lot × location, quantity > 0) into lines in one
  write transaction: a `full` stocktake takes every lot in the store (expired, locked, pending and non-conforming lots
  included: they are still stock); a `valuables` stocktake only valuable drugs (flag set, or retail price above
  100 yuan). It may be limited to one location.
* Counting is blind: nothing shown to counters carries the expected quantity. Every count is an append-only
  `StocktakeCount` row stamped with the server's user and time; a recount is a new row and the latest one counts.
* Counter ≠ verifier: whoever submitted or counted cannot verify. Whoever started or verified cannot approve.
* Approval posts COUNT_GAIN / COUNT_LOSS movements through `inventory.services.post_movement`, all in one
  transaction with the audit event; a second approval is refused (409).

Movements during an open stocktake: the expected quantity is frozen when the stocktake starts and the adjustment
posted at approval is counted − expected (not counted − current balance). This is the paper-count rule (盘点期间
冻结账面数): the variance report is against the snapshot, and the store keeps the counted scope still while counting.
Any sale, receipt or transfer in the scope between start and approval is therefore *not* absorbed by the adjustment;
the report flags every line whose balance moved since start so the verifier can send it back or cancel and restart.
If a loss would drive a balance below zero, approval is refused as a whole (InsufficientStock) and nothing is posted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_
from sqlmodel import Session, select

from core import clock
from core.db import is_postgres, transaction
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.models import Store, User
from core.money import divide_round
from core.permissions import Perm
from core.services import Actor, close_notifications, notify, record_audit
from inventory.models import (Drug, DrugBarcode, Location, Lot, MovementKind, StockBalance, Stocktake, StocktakeCount,
                              StocktakeKind, StocktakeLine, StocktakeStatus)

VALUABLE_THRESHOLD_FEN = 10000  # retail price above 100 yuan per package: counted every shift (DOMAIN §15 #2)
MAX_COUNT_QUANTITY = 1_000_000  # smallest units; anything larger is a typing or scanning mistake
MAX_SCAN_PACKS = 10_000
MAX_REASON_LENGTH = 500
UNFINISHED = (StocktakeStatus.OPEN, StocktakeStatus.SUBMITTED, StocktakeStatus.VERIFIED)

STATUS_LABELS = {
    StocktakeStatus.OPEN: _l("Counting"),
    StocktakeStatus.SUBMITTED: _l("Counts submitted"),
    StocktakeStatus.VERIFIED: _l("Verified"),
    StocktakeStatus.APPROVED: _l("Approved and posted"),
    StocktakeStatus.CANCELLED: _l("Cancelled"),
}
KIND_LABELS = {StocktakeKind.FULL: _l("Full (monthly)"), StocktakeKind.VALUABLES: _l("Valuables (every shift)")}


def status_label(status: str):
    return STATUS_LABELS.get(status, status)


def kind_label(kind: str):
    return KIND_LABELS.get(kind, kind)


# --- reading ----------------------------------------------------------------------------------------------------------

def get_stocktake(session: Session, stocktake_id: int, store_id: int, *, for_update: bool = False) -> Stocktake:
    st = session.get(Stocktake, stocktake_id, with_for_update=True if for_update and is_postgres(session) else None,
                     populate_existing=for_update)
    if st is None or st.store_id != store_id:
        raise NotFound(_l("Stocktake %(id)s not found.", id=stocktake_id))
    return st


def list_stocktakes(session: Session, store_id: int, *, status: str | None = None, limit: int = 50,
                    offset: int = 0) -> list[Stocktake]:
    stmt = select(Stocktake).where(Stocktake.store_id == store_id)
    if status:
        stmt = stmt.where(Stocktake.status == status)
    stmt = stmt.order_by(Stocktake.started_at.desc(), Stocktake.id.desc()).limit(max(1, min(limit, 200)))
    return list(session.exec(stmt.offset(max(0, offset))).all())


@dataclass
class LineView:
    """A line with what a page needs. `expected` is None unless the viewer may see it (never while counting)."""

    line: StocktakeLine
    drug: Drug
    lot: Lot
    location: Location
    counted: int | None  # latest count
    counted_by: str | None
    counted_at: datetime | None
    count_rows: int
    expected: int | None = None
    current_balance: int | None = None

    @property
    def difference(self) -> int | None:
        if self.expected is None or self.counted is None:
            return None
        return self.counted - self.expected

    def value(self, qty: int | None) -> int | None:
        """Retail value in fen of a quantity of smallest units (price per package ÷ units per package, half up)."""
        if qty is None:
            return None
        return divide_round(qty * self.line.retail_price_fen, self.line.units_per_package)

    @property
    def moved_since_start(self) -> bool:
        return self.current_balance is not None and self.current_balance != self.line.expected_qty


def _latest_counts(session: Session, stocktake_id: int) -> dict[int, tuple[StocktakeCount, str, int]]:
    """line id → (latest count, counter's name, number of counts)."""
    latest = (select(StocktakeCount.line_id, func.max(StocktakeCount.id).label("last_id"),
                     func.count(StocktakeCount.id).label("n"))
              .where(StocktakeCount.stocktake_id == stocktake_id).group_by(StocktakeCount.line_id).subquery())
    rows = session.exec(select(StocktakeCount, User.display_name, latest.c.n)
                        .join(latest, latest.c.last_id == StocktakeCount.id)
                        .outerjoin(User, User.id == StocktakeCount.counted_by)).all()
    return {c.line_id: (c, name, n) for c, name, n in rows}


def can_see_expected(actor: Actor, stocktake: Stocktake) -> bool:
    """Blind counting: expected quantities stay hidden while counting; once counts are submitted only verifiers
    (stocktake.manage) see them, and after verification anyone who may read stock."""
    if stocktake.status == StocktakeStatus.OPEN:
        return False
    if stocktake.status == StocktakeStatus.SUBMITTED:
        return actor.can(Perm.STOCKTAKE_MANAGE)
    return actor.can(Perm.STOCK_READ)


def line_views(session: Session, stocktake: Stocktake, *, with_expected: bool = False) -> list[LineView]:
    counts = _latest_counts(session, stocktake.id)
    rows = session.exec(select(StocktakeLine, Drug, Lot, Location)
                        .join(Drug, Drug.id == StocktakeLine.drug_id).join(Lot, Lot.id == StocktakeLine.lot_id)
                        .join(Location, Location.id == StocktakeLine.location_id)
                        .where(StocktakeLine.stocktake_id == stocktake.id)
                        .order_by(Location.code, Drug.generic_name, Lot.expiry_date, Lot.id)).all()
    balances = {}
    if with_expected:
        balances = {(b.lot_id, b.location_id): b.quantity for b in session.exec(
            select(StockBalance).join(StocktakeLine, (StocktakeLine.lot_id == StockBalance.lot_id)
                                      & (StocktakeLine.location_id == StockBalance.location_id))
            .where(StocktakeLine.stocktake_id == stocktake.id)).all()}
    views = []
    for line, drug, lot, location in rows:
        count, name, n = counts.get(line.id, (None, None, 0))
        views.append(LineView(line, drug, lot, location, count.quantity if count else None, name,
                              count.counted_at if count else None, n,
                              expected=line.expected_qty if with_expected else None,
                              current_balance=balances.get((line.lot_id, line.location_id), 0)
                              if with_expected else None))
    return views


@dataclass
class Variance:
    stocktake: Stocktake
    lines: list[LineView]
    expected_value_fen: int = 0
    counted_value_fen: int = 0
    gain_value_fen: int = 0
    loss_value_fen: int = 0
    gain_qty: int = 0
    loss_qty: int = 0
    lines_with_difference: int = 0
    uncounted: int = 0
    moved: list[LineView] = field(default_factory=list)

    @property
    def net_value_fen(self) -> int:
        return self.gain_value_fen - self.loss_value_fen


def variance_report(session: Session, actor: Actor, stocktake: Stocktake) -> Variance:
    """Per line expected, counted and the difference in quantity and retail value (integer fen), with totals."""
    if stocktake.status == StocktakeStatus.OPEN:
        raise Conflict(_l("The variance report is available once the counts are submitted: counting is blind."),
                       code="still_counting")
    if not can_see_expected(actor, stocktake):
        raise PermissionDenied(_l("Expected quantities are shown to verifiers until the stocktake is verified."))
    report = Variance(stocktake, line_views(session, stocktake, with_expected=True))
    for v in report.lines:
        report.expected_value_fen += v.value(v.line.expected_qty)
        if v.counted is None:
            report.uncounted += 1
            continue
        report.counted_value_fen += v.value(v.counted)
        diff = v.difference
        if diff:
            report.lines_with_difference += 1
            if diff > 0:
                report.gain_qty += diff
                report.gain_value_fen += v.value(diff)
            else:
                report.loss_qty += -diff
                report.loss_value_fen += v.value(-diff)
        if stocktake.status != StocktakeStatus.APPROVED and v.moved_since_start:
            report.moved.append(v)
    return report


def counters_of(session: Session, stocktake_id: int) -> set[int]:
    return {uid for uid in session.exec(select(StocktakeCount.counted_by)
                                        .where(StocktakeCount.stocktake_id == stocktake_id).distinct()).all()
            if uid is not None}


def user_names(session: Session, ids) -> dict[int, str]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return dict(session.exec(select(User.id, User.display_name).where(User.id.in_(ids))).all())


# --- starting ---------------------------------------------------------------------------------------------------------

def _reason(text: str | None, what) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_l("A reason is required to %(what)s.", what=what), code="reason_required")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(_l("The reason is longer than %(n)d characters.", n=MAX_REASON_LENGTH),
                           code="reason_too_long")
    return text


def start_stocktake(session: Session, actor: Actor, *, store: Store, kind: str, location_id: int | None = None,
                    note: str = "") -> Stocktake:
    """Open a stocktake and freeze the expected quantities (one statement reads every balance in scope, in the
    same write transaction that writes the lines)."""
    try:
        kind = StocktakeKind(kind).value
    except ValueError:
        raise InvalidInput(_l("Unknown %(field)s: %(value)s", field=_l("stocktake kind"), value=kind),
                           code="invalid_kind")
    note = (note or "").strip()
    if len(note) > MAX_REASON_LENGTH:
        raise InvalidInput(_l("The note is longer than %(n)d characters.", n=MAX_REASON_LENGTH), code="note_too_long")
    with transaction(session):
        if location_id is not None:
            from inventory.services import get_location

            get_location(session, location_id, store.id)
        clash = select(Stocktake.id).where(Stocktake.store_id == store.id, Stocktake.kind == kind,
                                           Stocktake.status.in_([str(s) for s in UNFINISHED]))
        if location_id is not None:
            clash = clash.where(or_(Stocktake.location_id.is_(None), Stocktake.location_id == location_id))
        other = session.exec(clash).first()
        if other is not None:
            raise Conflict(_l("Stocktake #%(id)s of this kind is still open for this scope: finish or cancel it "
                              "first.", id=other), code="stocktake_open", details={"stocktake_id": other})
        stmt = (select(StockBalance, Lot, Drug).join(Lot, Lot.id == StockBalance.lot_id)
                .join(Drug, Drug.id == Lot.drug_id)
                .where(StockBalance.store_id == store.id, StockBalance.quantity > 0))
        if location_id is not None:
            stmt = stmt.where(StockBalance.location_id == location_id)
        if kind == StocktakeKind.VALUABLES:
            stmt = stmt.where(or_(Drug.valuable == True, Drug.retail_price_fen > VALUABLE_THRESHOLD_FEN))  # noqa: E712
        rows = session.exec(stmt.order_by(StockBalance.location_id, Lot.drug_id, Lot.id)).all()
        if not rows:
            raise Conflict(_l("There is no stock to count in this scope."), code="nothing_to_count")
        now = clock.now()
        st = Stocktake(store_id=store.id, kind=kind, status=StocktakeStatus.OPEN, location_id=location_id, note=note,
                       started_by=actor.user_id, started_at=now)
        session.add(st)
        session.flush()
        for balance, lot, drug in rows:
            session.add(StocktakeLine(stocktake_id=st.id, store_id=store.id, drug_id=drug.id, lot_id=lot.id,
                                      location_id=balance.location_id, expected_qty=balance.quantity,
                                      retail_price_fen=drug.retail_price_fen,
                                      units_per_package=drug.units_per_package))
        record_audit(session, actor, "stocktake.start", "stocktake", st.id,
                     after={"kind": kind, "location_id": location_id, "lines": len(rows),
                            "expected_total": sum(b.quantity for b, _l2, _d in rows)}, reason=note,
                     store_id=store.id)
    return st


# --- counting ---------------------------------------------------------------------------------------------------------

def _check_count_quantity(quantity) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput(_l("A count must be a whole number of smallest units."), code="invalid_quantity")
    if quantity < 0:
        raise InvalidInput(_l("A count cannot be negative (%(q)d).", q=quantity), code="invalid_quantity")
    if quantity > MAX_COUNT_QUANTITY:
        raise InvalidInput(_l("Count %(q)d is not plausible (at most %(max)d).", q=quantity, max=MAX_COUNT_QUANTITY),
                           code="invalid_quantity")
    return quantity


def _open_for_counting(session: Session, stocktake_id: int, store_id: int) -> Stocktake:
    st = get_stocktake(session, stocktake_id, store_id, for_update=True)
    if st.status != StocktakeStatus.OPEN:
        raise Conflict(_l("Stocktake #%(id)s is %(status)s: counting is closed.", id=st.id,
                          status=status_label(st.status)), code="stocktake_closed")
    return st


def record_counts(session: Session, actor: Actor, stocktake_id: int, store: Store,
                  counts: list[tuple[int, int]], *, source: str = "typed") -> list[StocktakeCount]:
    """Record typed counts [(line id, counted quantity)] — all of them or none."""
    if not counts:
        raise InvalidInput(_l("Enter at least one counted quantity."), code="no_counts")
    checked = []
    for line_id, quantity in counts:
        if isinstance(line_id, bool) or not isinstance(line_id, int):
            raise InvalidInput(_l("Each count needs a line id."), code="invalid_line")
        checked.append((line_id, _check_count_quantity(quantity)))
    if len({line_id for line_id, _q in checked}) != len(checked):
        raise InvalidInput(_l("A line is counted twice in one request."), code="duplicate_line")
    with transaction(session):
        st = _open_for_counting(session, stocktake_id, store.id)
        ids = [line_id for line_id, _q in checked]
        known = set(session.exec(select(StocktakeLine.id).where(StocktakeLine.stocktake_id == st.id,
                                                                StocktakeLine.id.in_(ids))).all())
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound(_l("Line %(id)s is not part of stocktake #%(st)s.", id=missing[0], st=st.id),
                           code="unknown_line")
        rows = [_add_count(session, actor, st, line_id, quantity, source) for line_id, quantity in checked]
        record_audit(session, actor, "stocktake.count", "stocktake", st.id,
                     after={"counts": [{"line_id": l, "quantity": q} for l, q in checked], "source": source},
                     store_id=store.id)
    return rows


def _add_count(session: Session, actor: Actor, st: Stocktake, line_id: int, quantity: int, source: str,
               scan_code: str = "") -> StocktakeCount:
    row = StocktakeCount(store_id=st.store_id, stocktake_id=st.id, line_id=line_id, quantity=quantity, source=source,
                         scan_code=scan_code[:64], counted_by=actor.user_id, counted_at=clock.now())
    session.add(row)
    session.flush()
    return row


@dataclass
class ScanCount:
    line_id: int
    quantity: int  # the line's count after this scan
    added: int
    new_line: bool
    drug_name: str
    lot_no: str
    location_code: str


def count_by_scan(session: Session, actor: Actor, stocktake_id: int, store: Store, raw: str, *, packs: int = 1,
                  location_id: int | None = None, separator_chars: str = "\x1d") -> ScanCount:
    """A scanned pack adds `packs` × units per package to its line's count (a new count row: the running total).

    The code goes through the one decoder (hardware.scan): an EAN-13/GTIN finds the drug by barcode, a GS1 code
    with AI 10 or our YL lot label pins the lot. A lot in the store that is not on any line of the stocktake is
    added as a found line (expected 0) when its location is known.
    """
    from hardware.scan import decode
    from inventory.services import get_location, get_lot

    if isinstance(packs, bool) or not isinstance(packs, int) or not 1 <= packs <= MAX_SCAN_PACKS:
        raise InvalidInput(_l("Packs must be a whole number from 1 to %(n)d.", n=MAX_SCAN_PACKS),
                           code="invalid_quantity")
    scan = decode(raw or "", separator_chars=separator_chars)
    with transaction(session):
        st = _open_for_counting(session, stocktake_id, store.id)
        if st.location_id is not None:
            if location_id not in (None, st.location_id):
                raise InvalidInput(_l("This stocktake counts one location only."), code="wrong_location")
            location_id = st.location_id
        location = get_location(session, location_id, store.id) if location_id is not None else None
        drug, lot = None, None
        if scan.kind == "lot_label":
            lot = get_lot(session, scan.lot_label_id, store.id)
            drug = session.get(Drug, lot.drug_id)
        elif scan.kind == "trace_code":
            raise InvalidInput(_l("A trace code names one unit, not the drug: scan the pack's barcode or type the "
                                  "quantity on the line."), code="trace_code")
        elif scan.retail_code:
            for code in dict.fromkeys(c for c in (scan.retail_code, scan.gtin) if c):
                drug = session.exec(select(Drug).join(DrugBarcode, DrugBarcode.drug_id == Drug.id)
                                    .where(DrugBarcode.barcode == code)).first()
                if drug:
                    break
            if drug is None:
                raise NotFound(_l("Unknown barcode %(code)s: type the quantity on the line instead.",
                                  code=scan.retail_code), code="unknown_barcode")
            if scan.lot:
                lot = session.exec(select(Lot).where(Lot.store_id == store.id, Lot.drug_id == drug.id,
                                                     Lot.lot_no == scan.lot)).first()
                if lot is None:
                    raise NotFound(_l("Lot %(lot)s of %(drug)s is not on record in this store: put the pack aside "
                                      "and tell the quality manager.", lot=scan.lot, drug=drug.display_name),
                                   code="unknown_lot")
        else:
            why = {"bad_check_digit": _l("the check digit is wrong — scan again or type the quantity"),
                   "empty": _l("nothing was scanned")}.get(scan.error or "", _l("not a barcode Yaofang knows"))
            raise InvalidInput(_l("Cannot read %(raw)s: %(why)s.", raw=(raw or "").strip()[:40], why=why),
                               code="unreadable_scan")
        stmt = select(StocktakeLine, Location).join(Location, Location.id == StocktakeLine.location_id).where(
            StocktakeLine.stocktake_id == st.id, StocktakeLine.drug_id == drug.id)
        if lot is not None:
            stmt = stmt.where(StocktakeLine.lot_id == lot.id)
        if location is not None:
            stmt = stmt.where(StocktakeLine.location_id == location.id)
        matches = session.exec(stmt).all()
        new_line = False
        if len(matches) > 1:
            raise Conflict(_l("%(drug)s is on %(n)d lines (lots or locations): choose the location, scan a code with "
                              "the lot, or type the quantity on the line.", drug=drug.display_name, n=len(matches)),
                           code="ambiguous_scan")
        if matches:
            line, location = matches[0]
        else:
            if lot is None or location is None:
                raise NotFound(_l("%(drug)s is not on this stocktake's list: choose the location and scan a code "
                                  "with the lot, or tell the manager.", drug=drug.display_name),
                               code="not_in_stocktake")
            if st.kind == StocktakeKind.VALUABLES and not (drug.valuable
                                                           or drug.retail_price_fen > VALUABLE_THRESHOLD_FEN):
                raise Conflict(_l("%(drug)s is not a valuable item: it is counted in the monthly stocktake.",
                                  drug=drug.display_name), code="not_in_scope")
            # Found stock: the snapshot had no balance here, so the frozen expected quantity is 0.
            line = StocktakeLine(stocktake_id=st.id, store_id=store.id, drug_id=drug.id, lot_id=lot.id,
                                 location_id=location.id, expected_qty=0, retail_price_fen=drug.retail_price_fen,
                                 units_per_package=drug.units_per_package, added=True)
            session.add(line)
            session.flush()
            new_line = True
        previous = session.exec(select(StocktakeCount.quantity).where(StocktakeCount.line_id == line.id)
                                .order_by(StocktakeCount.id.desc())).first() or 0
        add = packs * line.units_per_package
        total = _check_count_quantity(previous + add)
        _add_count(session, actor, st, line.id, total, "scan", scan_code=(raw or "").strip())
        lot = lot or session.get(Lot, line.lot_id)
        record_audit(session, actor, "stocktake.scan", "stocktake", st.id,
                     after={"line_id": line.id, "added": add, "quantity": total, "new_line": new_line,
                            "code": (raw or "").strip()[:64]}, store_id=store.id)
    return ScanCount(line.id, total, add, new_line, drug.display_name, lot.lot_no, location.code)


# --- submit, verify, approve, cancel ---------------------------------------------------------------------------------

def submit_counts(session: Session, actor: Actor, stocktake_id: int, store: Store) -> Stocktake:
    """Hand the counts in. Every line needs a count (count 0 for what is not there)."""
    with transaction(session):
        st = _open_for_counting(session, stocktake_id, store.id)
        total = session.exec(select(func.count(StocktakeLine.id)).where(StocktakeLine.stocktake_id == st.id)).one()
        counted = session.exec(select(func.count(func.distinct(StocktakeCount.line_id)))
                               .where(StocktakeCount.stocktake_id == st.id)).one()
        if counted < total:
            raise Conflict(_l("%(n)d of %(total)d lines are not counted yet: count them (0 if nothing is there) "
                              "before submitting.", n=total - counted, total=total), code="uncounted_lines",
                           details={"uncounted": total - counted})
        st.status = StocktakeStatus.SUBMITTED
        st.submitted_by = actor.user_id
        st.submitted_at = clock.now()
        session.add(st)
        record_audit(session, actor, "stocktake.submit", "stocktake", st.id, before={"status": "open"},
                     after={"status": st.status, "lines": total}, store_id=store.id)
        notify(session, kind="stocktake_submitted", dedupe_key=f"stocktake:{st.id}:submitted:{st.submitted_at}",
               permission=Perm.STOCKTAKE_MANAGE, title=str(_l("Stocktake #%(id)s waits for verification", id=st.id)),
               store_id=store.id, entity_type="stocktake", entity_id=st.id)
    return st


def _second_person_rules(session: Session, actor: Actor, st: Stocktake) -> None:
    if actor.user_id is None:
        raise PermissionDenied(_l("Verifying needs a named user."))
    if actor.user_id == st.submitted_by or actor.user_id in counters_of(session, st.id):
        raise PermissionDenied(_l("You counted or submitted this stocktake: a second person must verify it."),
                               code="same_person")


def return_for_recount(session: Session, actor: Actor, stocktake_id: int, store: Store, reason: str) -> Stocktake:
    """The verifier sends submitted counts back for counting again (the counts stay in the history)."""
    reason = _reason(reason, _l("send the stocktake back for recount"))
    with transaction(session):
        st = get_stocktake(session, stocktake_id, store.id, for_update=True)
        if st.status != StocktakeStatus.SUBMITTED:
            raise Conflict(_l("Only submitted counts can be sent back (the stocktake is %(status)s).",
                              status=status_label(st.status)), code="invalid_transition")
        _second_person_rules(session, actor, st)
        close_notifications(session, kind="stocktake_submitted", entity_id=st.id)
        st.status = StocktakeStatus.OPEN
        session.add(st)
        record_audit(session, actor, "stocktake.recount", "stocktake", st.id, before={"status": "submitted"},
                     after={"status": "open"}, reason=reason, store_id=store.id)
    return st


def verify_stocktake(session: Session, actor: Actor, stocktake_id: int, store: Store, note: str = "") -> Stocktake:
    """A second person (neither the submitter nor a counter) confirms the counts."""
    note = (note or "").strip()[:MAX_REASON_LENGTH]
    with transaction(session):
        st = get_stocktake(session, stocktake_id, store.id, for_update=True)
        if st.status != StocktakeStatus.SUBMITTED:
            raise Conflict(_l("Stocktake #%(id)s cannot be verified: it is %(status)s.", id=st.id,
                              status=status_label(st.status)), code="invalid_transition")
        _second_person_rules(session, actor, st)
        close_notifications(session, kind="stocktake_submitted", entity_id=st.id)
        st.status = StocktakeStatus.VERIFIED
        st.verified_by = actor.user_id
        st.verified_at = clock.now()
        session.add(st)
        record_audit(session, actor, "stocktake.verify", "stocktake", st.id, before={"status": "submitted"},
                     after={"status": st.status}, reason=note, store_id=store.id)
        notify(session, kind="stocktake_verified", dedupe_key=f"stocktake:{st.id}:verified",
               permission=Perm.STOCKTAKE_APPROVE, title=str(_l("Stocktake #%(id)s waits for approval", id=st.id)),
               store_id=store.id, entity_type="stocktake", entity_id=st.id)
    return st


@dataclass
class Approval:
    stocktake: Stocktake
    movements: list  # PostedMovement
    gain_value_fen: int
    loss_value_fen: int


def approve_stocktake(session: Session, actor: Actor, stocktake_id: int, store: Store) -> Approval:
    """Post counted − expected for every line with a difference, as COUNT_GAIN / COUNT_LOSS movements, in one
    transaction with the audit event. A second approval is refused (409, nothing posted twice)."""
    from inventory.services import post_movement

    with transaction(session):
        st = get_stocktake(session, stocktake_id, store.id, for_update=True)
        if st.status == StocktakeStatus.APPROVED:
            raise Conflict(_l("Stocktake #%(id)s is already approved and posted.", id=st.id),
                           code="already_approved")
        if st.status != StocktakeStatus.VERIFIED:
            raise Conflict(_l("Stocktake #%(id)s cannot be approved: it is %(status)s (it must be verified first).",
                              id=st.id, status=status_label(st.status)), code="invalid_transition")
        if actor.user_id is None or actor.user_id in (st.started_by, st.verified_by):
            raise PermissionDenied(_l("You started or verified this stocktake: approving one's own stocktake is not "
                                      "allowed; another approver must do it."), code="own_stocktake")
        views = line_views(session, st, with_expected=True)
        posted, gain, loss = [], 0, 0
        reference = f"stocktake:{st.id}"
        for v in views:
            if v.counted is None:  # cannot happen after submit; refuse rather than guess
                raise Conflict(_l("Line %(id)s has no count.", id=v.line.id), code="uncounted_lines")
            # Counted − frozen expected (see the module docstring for movements during the count).
            diff = v.counted - v.line.expected_qty
            if diff == 0:
                continue
            kind = MovementKind.COUNT_GAIN if diff > 0 else MovementKind.COUNT_LOSS
            posted.append(post_movement(session, actor, lot=v.lot, location=v.location, quantity=diff, kind=kind,
                                        reference=reference,
                                        reason=f"stocktake #{st.id}: expected {v.line.expected_qty}, "
                                               f"counted {v.counted}"))
            if diff > 0:
                gain += v.value(diff)
            else:
                loss += v.value(-diff)
        close_notifications(session, f"stocktake:{st.id}:verified")
        st.status = StocktakeStatus.APPROVED
        st.approved_by = actor.user_id
        st.approved_at = clock.now()
        session.add(st)
        record_audit(session, actor, "stocktake.approve", "stocktake", st.id, before={"status": "verified"},
                     after={"status": st.status, "movements": [m.id for m in posted], "gain_value_fen": gain,
                            "loss_value_fen": loss}, store_id=store.id)
    return Approval(st, posted, gain, loss)


def cancel_stocktake(session: Session, actor: Actor, stocktake_id: int, store: Store, reason: str) -> Stocktake:
    reason = _reason(reason, _l("cancel a stocktake"))
    with transaction(session):
        st = get_stocktake(session, stocktake_id, store.id, for_update=True)
        if st.status not in UNFINISHED:
            raise Conflict(_l("Stocktake #%(id)s is %(status)s and can no longer be cancelled.", id=st.id,
                              status=status_label(st.status)), code="invalid_transition")
        before = st.status
        close_notifications(session, kind="stocktake_submitted", entity_id=st.id)
        close_notifications(session, f"stocktake:{st.id}:verified")
        st.status = StocktakeStatus.CANCELLED
        st.cancelled_by = actor.user_id
        st.cancelled_at = clock.now()
        st.cancel_reason = reason
        session.add(st)
        record_audit(session, actor, "stocktake.cancel", "stocktake", st.id, before={"status": before},
                     after={"status": st.status}, reason=reason, store_id=store.id)
    return st


# --- what waits on whom -----------------------------------------------------------------------------------------------

def tasks_for(session: Session, actor: Actor, store_id: int) -> list[tuple[Stocktake, str]]:
    """Unfinished stocktakes waiting on this user: ("count" | "verify" | "approve")."""
    rows = session.exec(select(Stocktake).where(Stocktake.store_id == store_id,
                                                Stocktake.status.in_([str(s) for s in UNFINISHED]))
                        .order_by(Stocktake.started_at)).all()
    tasks = []
    for st in rows:
        if st.status == StocktakeStatus.OPEN and actor.can(Perm.STOCKTAKE_COUNT):
            tasks.append((st, "count"))
        elif st.status == StocktakeStatus.SUBMITTED and actor.can(Perm.STOCKTAKE_MANAGE) \
                and actor.user_id != st.submitted_by and actor.user_id not in counters_of(session, st.id):
            tasks.append((st, "verify"))
        elif st.status == StocktakeStatus.VERIFIED and actor.can(Perm.STOCKTAKE_APPROVE) \
                and actor.user_id not in (st.started_by, st.verified_by):
            tasks.append((st, "approve"))
    return tasks


def dashboard_panel(session: Session, actor: Actor, store: Store, today):
    """Dashboard panel: stocktakes waiting on the current user."""
    if not any(actor.can(p) for p in (Perm.STOCKTAKE_COUNT, Perm.STOCKTAKE_MANAGE, Perm.STOCKTAKE_APPROVE)):
        return None
    tasks = tasks_for(session, actor, store.id)
    if not tasks:
        return None
    return "inventory/_stocktake_panel.html", {"tasks": tasks, "kind_label": kind_label}
