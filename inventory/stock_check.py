"""The daily stock check: reorder suggestions below a drug's reorder point, overstock above its maximum level, and
slow movers (stock on hand, no sale or issue within SLOW_MOVER_DAYS, default 90).

Usable stock = released, unexpired lots in sellable, warehouse or cold locations (pending, red-area, locked or expired
stock is no stock to sell and no reason not to order). Every figure comes from GROUP BY queries over the balances and
the ledger, never from a loop over lots. Findings are unique per (store, drug, kind, day), so a second run of the same
day adds nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from core import clock
from core.db import transaction
from core.errors import InvalidInput
from core.models import Store
from core.services import Actor, record_audit
from inventory.models import (ApprovalStatus, Drug, FindingKind, Location, LocationKind, Lot, LotStatus,
                              MovementKind, StockBalance, StockCheckFinding, StockLevel, StockMovement)
from inventory.services import get_drug, store_today

DEFAULT_SLOW_MOVER_DAYS = 90
MAX_LEVEL = 1_000_000  # smallest units; anything larger is a typing mistake
# Movements that take stock to a customer or a ward: the only ones that make a drug "move".
OUTBOUND_USE_KINDS = (MovementKind.SALE.value, MovementKind.OTHER_OUT.value)

FINDING_LABELS = {
    FindingKind.REORDER: _l("Reorder suggestions"),
    FindingKind.OVERSTOCK: _l("Overstock"),
    FindingKind.SLOW: _l("Slow movers"),
}


# --- reorder levels -------------------------------------------------------------------------------------------------

def get_level(session: Session, store_id: int, drug_id: int) -> StockLevel | None:
    return session.exec(select(StockLevel).where(StockLevel.store_id == store_id,
                                                 StockLevel.drug_id == drug_id)).first()


def _check_level(value, name) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(_l("%(field)s must be a whole number of smallest units.", field=name))
    if value < 0 or value > MAX_LEVEL:
        raise InvalidInput(_l("%(field)s must be between 0 and %(max)d.", field=name, max=MAX_LEVEL))
    return value


def set_stock_level(session: Session, actor: Actor, *, store_id: int, drug_id: int, reorder_point: int | None,
                    max_level: int | None, reorder_qty: int | None = None, reason: str = "") -> StockLevel:
    """Set (or clear, with all three None) a drug's reorder point, maximum level and order quantity in a store."""
    reorder_point = _check_level(reorder_point, _l("Reorder point"))
    max_level = _check_level(max_level, _l("Maximum level"))
    reorder_qty = _check_level(reorder_qty, _l("Order quantity"))
    if max_level is not None and max_level < 1:
        raise InvalidInput(_l("The maximum level must be at least 1 (leave it empty for none)."))
    if reorder_qty is not None and reorder_qty < 1:
        raise InvalidInput(_l("The order quantity must be at least 1 (leave it empty to order up to the maximum)."))
    if max_level is not None and reorder_point is not None and max_level < reorder_point:
        raise InvalidInput(_l("The maximum level (%(max)d) cannot be below the reorder point (%(point)d).",
                              max=max_level, point=reorder_point))
    with transaction(session):
        drug = get_drug(session, drug_id)
        level = get_level(session, store_id, drug.id)
        before = None if level is None else {"reorder_point": level.reorder_point, "max_level": level.max_level,
                                             "reorder_qty": level.reorder_qty}
        if level is None:
            level = StockLevel(store_id=store_id, drug_id=drug.id, updated_at=clock.now())
        level.reorder_point, level.max_level, level.reorder_qty = reorder_point, max_level, reorder_qty
        level.updated_by, level.updated_at = actor.user_id, clock.now()
        session.add(level)
        session.flush()
        record_audit(session, actor, "stock.level", "drug", drug.id, before=before,
                     after={"reorder_point": reorder_point, "max_level": max_level, "reorder_qty": reorder_qty},
                     reason=reason, store_id=store_id)
    return level


# --- the check ------------------------------------------------------------------------------------------------------

def _usable_lots(store_id: int, today: date):
    """Subquery: lot_id, drug_id, qty — usable stock per lot in a store (one GROUP BY over the balances)."""
    return (select(StockBalance.lot_id.label("lot_id"), Lot.drug_id.label("drug_id"),
                   func.sum(StockBalance.quantity).label("qty"))
            .select_from(StockBalance)
            .join(Lot, Lot.id == StockBalance.lot_id)
            .join(Location, Location.id == StockBalance.location_id)
            .where(StockBalance.store_id == store_id, StockBalance.quantity > 0,
                   or_(Location.sellable.is_(True), Location.kind.in_([LocationKind.WAREHOUSE.value,
                                                                       LocationKind.COLD.value])),
                   Lot.status == LotStatus.RELEASED.value,
                   or_(Lot.expiry_date.is_(None), Lot.expiry_date >= today))
            .group_by(StockBalance.lot_id, Lot.drug_id).subquery("usable_lots"))


def _usable_on_hand(store_id: int, today: date):
    """Subquery: drug_id, on_hand — usable stock per drug in a store."""
    lots = _usable_lots(store_id, today)
    return (select(lots.c.drug_id, func.sum(lots.c.qty).label("on_hand"))
            .group_by(lots.c.drug_id).subquery("on_hand"))


def reorder_and_overstock(session: Session, store_id: int, today: date) -> list[dict]:
    """Drugs with a level set in this store that are below their reorder point or above their maximum level."""
    stock = _usable_on_hand(store_id, today)
    on_hand = func.coalesce(stock.c.on_hand, 0)
    rows = session.exec(
        select(StockLevel.drug_id, StockLevel.reorder_point, StockLevel.max_level, StockLevel.reorder_qty,
               on_hand.label("on_hand"), Drug.active, Drug.approval_status)
        .join(Drug, Drug.id == StockLevel.drug_id)
        .outerjoin(stock, stock.c.drug_id == StockLevel.drug_id)
        .where(StockLevel.store_id == store_id,
               or_(on_hand < StockLevel.reorder_point, on_hand > StockLevel.max_level))).all()
    findings = []
    for drug_id, point, maximum, qty, have, active, approval in rows:
        have = int(have)
        if point is not None and have < point and active and approval == ApprovalStatus.APPROVED:
            target = maximum if maximum is not None else point
            findings.append({"drug_id": drug_id, "kind": FindingKind.REORDER.value, "on_hand": have,
                             "threshold": point, "suggested_qty": qty if qty else target - have})
        if maximum is not None and have > maximum:
            findings.append({"drug_id": drug_id, "kind": FindingKind.OVERSTOCK.value, "on_hand": have,
                             "threshold": maximum, "suggested_qty": None})
    return findings


def slow_movers(session: Session, store_id: int, today: date, since: datetime, days: int) -> list[dict]:
    """Drugs holding usable stock that arrived before `since` (a lot on hand has been here for the whole window)
    with no sale or issue of any of their lots after it. A drug restocked last week is not slow.

    One GROUP BY over the store's ledger: for each drug, the first movement of the lots it holds now and its last
    sale or issue."""
    held = _usable_lots(store_id, today)
    stock = (select(held.c.drug_id, func.sum(held.c.qty).label("on_hand"))
             .group_by(held.c.drug_id).subquery("on_hand"))
    held_since = func.min(case((held.c.lot_id.is_not(None), StockMovement.at), else_=None))
    last_out = func.max(case((StockMovement.kind.in_(OUTBOUND_USE_KINDS), StockMovement.at), else_=None))
    ledger = (select(Lot.drug_id.label("drug_id"), held_since.label("held_since"), last_out.label("last_out_at"))
              .select_from(StockMovement).join(Lot, Lot.id == StockMovement.lot_id)
              .outerjoin(held, held.c.lot_id == StockMovement.lot_id)
              .where(StockMovement.store_id == store_id)
              .group_by(Lot.drug_id).subquery("ledger"))
    rows = session.exec(
        select(stock.c.drug_id, stock.c.on_hand, ledger.c.last_out_at)
        .select_from(stock).join(ledger, ledger.c.drug_id == stock.c.drug_id)
        .where(stock.c.on_hand > 0, ledger.c.held_since <= since,
               or_(ledger.c.last_out_at.is_(None), ledger.c.last_out_at < since))).all()
    return [{"drug_id": drug_id, "kind": FindingKind.SLOW.value, "on_hand": int(have), "threshold": days,
             "suggested_qty": None, "last_out_at": last} for drug_id, have, last in rows]


@dataclass
class CheckResult:
    stores: int = 0
    found: int = 0
    new: int = 0
    by_kind: dict | None = None

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted((self.by_kind or {}).items())) or "nothing"
        return f"stock check of {self.stores} stores: {self.found} findings ({kinds}); {self.new} new"


def run_stock_check(session: Session, *, slow_days: int = DEFAULT_SLOW_MOVER_DAYS, job_slot: str = "",
                    store_ids: list[int] | None = None) -> CheckResult:
    """Check every store (or the given ones) for its own calendar day; record findings not yet recorded today."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = CheckResult(by_kind={})
    stmt = select(Store).order_by(Store.id)
    if store_ids is not None:
        stmt = stmt.where(Store.id.in_(store_ids))
    for store in session.exec(stmt).all():
        today = store_today(store)
        # "N days" counted from the start of the store's day, so a run at 01:00 or 23:00 finds the same drugs.
        since = datetime.combine(today - timedelta(days=slow_days), time.min, ZoneInfo(store.timezone))
        with transaction(session):
            findings = reorder_and_overstock(session, store.id, today) + slow_movers(session, store.id, today,
                                                                                      since, slow_days)
            result.stores += 1
            result.found += len(findings)
            for f in findings:
                result.by_kind[f["kind"]] = result.by_kind.get(f["kind"], 0) + 1
            if findings:
                now = clock.now()
                rows = [{"store_id": store.id, "check_date": today, "job_slot": job_slot[:40], "created_at": now,
                         "last_out_at": None, **f} for f in findings]
                ins = (insert(StockCheckFinding).values(rows)
                       .on_conflict_do_nothing(index_elements=["store_id", "drug_id", "kind", "check_date"])
                       .returning(StockCheckFinding.id))
                result.new += len(session.connection().execute(ins).all())
    return result


# --- reading findings -----------------------------------------------------------------------------------------------

def latest_findings(session: Session, store: Store) -> tuple[date | None, dict[str, list]]:
    """The newest check day of a store and its findings by kind: (finding, drug, level) rows. A check that found
    nothing is the newest check too (yesterday's suggestions are not shown as today's)."""
    from core.models import JobRun

    store_id = store.id
    days = [session.exec(select(func.max(StockCheckFinding.check_date))
                         .where(StockCheckFinding.store_id == store_id)).one()]
    last_run = session.exec(select(JobRun.started_at).where(JobRun.job == "stock_check", JobRun.status == "ok")
                            .order_by(JobRun.started_at.desc())).first()
    if last_run is not None:
        days.append(last_run.astimezone(ZoneInfo(store.timezone)).date())
    grouped: dict[str, list] = {k.value: [] for k in FindingKind}
    day = max((d for d in days if d is not None), default=None)
    if day is None:
        return None, grouped
    rows = session.exec(
        select(StockCheckFinding, Drug, StockLevel).join(Drug, Drug.id == StockCheckFinding.drug_id)
        .outerjoin(StockLevel, (StockLevel.store_id == StockCheckFinding.store_id)
                   & (StockLevel.drug_id == StockCheckFinding.drug_id))
        .where(StockCheckFinding.store_id == store_id, StockCheckFinding.check_date == day)
        .order_by(StockCheckFinding.kind, Drug.generic_name, Drug.id)).all()
    for finding, drug, level in rows:
        grouped.setdefault(finding.kind, []).append((finding, drug, level))
    return day, grouped


def store_levels(session: Session, store_id: int) -> list:
    return session.exec(select(StockLevel, Drug).join(Drug, Drug.id == StockLevel.drug_id)
                        .where(StockLevel.store_id == store_id)
                        .order_by(Drug.generic_name, Drug.id)).all()
