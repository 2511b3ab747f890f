"""Storage conditions, curing (养护) plans and records, temperature and humidity readings.

One table (`STORAGE_CONDITIONS`) says what each storage class allows; every range check reads it. Curing plans are
generated per store and period by the `curing_plans` job (key-curing lots monthly, others quarterly by default);
records, readings and measures are append-only GSP records stamped by the server (DESIGN.md invariants 4 and 5).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core import clock
from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Notification, Store
from core.permissions import Perm
from core.services import Actor, close_notifications, is_unique_violation, notify, record_audit
from gsp.models import (CuringPlan, CuringPlanItem, CuringPlanKind, CuringRecord, CuringResult, EnvironmentMeasure,
                        EnvironmentReading)
from inventory.models import (Drug, DrugCategory, Location, LocationKind, Lot, LotStatus, StockBalance,
                              StorageClass)

# --- storage conditions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StorageCondition:
    """Allowed range, inclusive; None = no bound on that side."""

    min_c: int | None
    max_c: int | None
    min_rh: int = 35
    max_rh: int = 75

    def temperature_ok(self, celsius: Decimal) -> bool:
        return (self.min_c is None or celsius >= self.min_c) and (self.max_c is None or celsius <= self.max_c)

    def humidity_ok(self, percent: Decimal) -> bool:
        return self.min_rh <= percent <= self.max_rh


# GSP Art. 83 / Pharmacopoeia: 常温 10–30 °C, 阴凉 ≤ 20 °C, 冷处 2–10 °C; RH 35–75 % everywhere. 冷冻 ≤ −10 °C is not
# from those sources (unverified): a location's own range can come later.
STORAGE_CONDITIONS: dict[str, StorageCondition] = {
    StorageClass.ROOM: StorageCondition(10, 30),
    StorageClass.COOL: StorageCondition(None, 20),
    StorageClass.COLD: StorageCondition(2, 10),
    StorageClass.FROZEN: StorageCondition(None, -10),
}
# What a thermometer or hygrometer can plausibly show; anything else is a typing or sensor fault.
PLAUSIBLE_C = (Decimal(-40), Decimal(60))
PLAUSIBLE_RH = (Decimal(0), Decimal(100))
MAX_TEXT = 2000


def condition_for(storage_class: str) -> StorageCondition:
    return STORAGE_CONDITIONS.get(storage_class, STORAGE_CONDITIONS[StorageClass.ROOM])


def describe_condition(storage_class: str) -> str:
    c = condition_for(storage_class)
    if c.min_c is None:
        temp = f"≤ {c.max_c} °C"
    elif c.max_c is None:
        temp = f"≥ {c.min_c} °C"
    else:
        temp = f"{c.min_c}–{c.max_c} °C"
    return f"{temp}, RH {c.min_rh}–{c.max_rh} %"


def in_range(storage_class: str, temperature_dc: int, humidity_dpct: int) -> bool:
    c = condition_for(storage_class)
    return c.temperature_ok(Decimal(temperature_dc) / 10) and c.humidity_ok(Decimal(humidity_dpct) / 10)


MEASUREMENT_LABELS = {"temperature_c": _l("Temperature (°C)"), "humidity_pct": _l("Relative humidity in percent")}


def parse_measurement(value, field: str, bounds: tuple[Decimal, Decimal]) -> int:
    """A number from a form or JSON → tenths (int). Missing, not a number or physically implausible → InvalidInput.
    `field` is the API name (kept in the error details); the message shows its label."""
    name = MEASUREMENT_LABELS.get(field, field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(_l("%(field)s is required.", field=name), code="missing_field", details={"field": field})
    try:
        if isinstance(value, bool):
            raise TypeError
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
        if not number.is_finite():
            raise ValueError
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(_l("%(field)s must be a number.", field=name), code="invalid_field",
                           details={"field": field})
    low, high = bounds
    if not low <= number <= high:
        raise InvalidInput(_l("%(field)s %(value)s is outside %(low)s…%(high)s: check the reading or the sensor.",
                              field=name, value=number, low=low, high=high),
                           code="implausible_reading", details={"field": field})
    return int((number * 10).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tenths(value: int) -> Decimal:
    """Stored tenths → a Decimal with one decimal place (225 → 22.5, 550 → 55.0)."""
    return (Decimal(value) / 10).quantize(Decimal("0.1"))


# --- temperature and humidity ----------------------------------------------------------------------------------------

class ReadingSource(StrEnum):
    MANUAL = "manual"
    SENSOR = "sensor"


def _store_location(session: Session, store_id: int, location_id: int) -> Location:
    loc = session.get(Location, location_id)
    if loc is None or loc.store_id != store_id:
        raise NotFound(_l("Location %(id)s not found.", id=location_id))
    return loc


def _open_filter():
    """Out-of-range readings that no measure answers yet (a measure answers its reading and earlier ones)."""
    answered = exists().where(EnvironmentMeasure.location_id == EnvironmentReading.location_id,
                              EnvironmentMeasure.reading_id >= EnvironmentReading.id)
    return EnvironmentReading.out_of_range.is_(True), ~answered


_EXCURSION_NOTIFIED = (Perm.ENVIRONMENT_RECORD, Perm.QUALITY_LOCK)  # who hears of a reading out of range


def record_reading(session: Session, actor: Actor, *, location_id: int, temperature, humidity,
                   source: str = ReadingSource.MANUAL, sensor: str = "") -> EnvironmentReading:
    """Record a reading for a location of the actor's store. Out of the storage class's range → an alert (a
    notification for environment recorders and the quality manager) that stays open until a measure is recorded."""
    temperature_dc = parse_measurement(temperature, "temperature_c", PLAUSIBLE_C)
    humidity_dpct = parse_measurement(humidity, "humidity_pct", PLAUSIBLE_RH)
    try:
        source = ReadingSource(source).value
    except ValueError:
        raise InvalidInput(_l("Unknown reading source."), code="invalid_field", details={"field": "source"})
    sensor = (sensor or "").strip()
    if len(sensor) > 64:
        raise InvalidInput(_l("Sensor name is longer than 64 characters."), code="invalid_field",
                           details={"field": "sensor"})
    with transaction(session):
        loc = _store_location(session, actor.store_id, location_id)
        if not loc.active:
            raise Conflict(_l("Location %(code)s is not in use.", code=loc.code), code="inactive_location")
        out = not in_range(loc.storage_class, temperature_dc, humidity_dpct)
        already_open = out and session.exec(
            select(EnvironmentReading.id).where(EnvironmentReading.location_id == loc.id, *_open_filter())
            .limit(1)).first() is not None
        reading = EnvironmentReading(store_id=loc.store_id, location_id=loc.id, temperature_dc=temperature_dc,
                                     humidity_dpct=humidity_dpct, storage_class=loc.storage_class,
                                     out_of_range=out, source=source, sensor=sensor, actor_id=actor.user_id,
                                     at=clock.now())
        session.add(reading)
        session.flush()
        record_audit(session, actor, "environment.reading", "environment_reading", reading.id,
                     after={"location": loc.code, "temperature_c": str(tenths(temperature_dc)),
                            "humidity_pct": str(tenths(humidity_dpct)), "out_of_range": out, "source": source},
                     store_id=loc.store_id)
        if out and not already_open:  # a new excursion: one alert, until a measure answers it
            title = str(_l("%(code)s %(name)s out of range: %(t)s °C, RH %(h)s %% (allowed %(range)s)",
                           code=loc.code, name=loc.name, t=tenths(temperature_dc), h=tenths(humidity_dpct),
                           range=describe_condition(loc.storage_class)))
            body = str(_l("Take a measure and record it on the location's temperature page."))
            for perm in _EXCURSION_NOTIFIED:
                notify(session, kind="environment_out_of_range", dedupe_key=f"env:{reading.id}:{perm}",
                       permission=perm, title=title, body=body, store_id=loc.store_id,
                       entity_type="environment_reading", entity_id=reading.id)
    return reading


def _close_excursion_alerts(session: Session, reading: EnvironmentReading) -> None:
    """A measure answers the excursion: close the alerts its readings at that location raised, up to this one (the
    alert belongs to the reading that started the excursion, the measure is often on a later one)."""
    open_ids = session.exec(select(Notification.entity_id).where(
        Notification.kind == "environment_out_of_range", Notification.store_id == reading.store_id,
        Notification.done_at.is_(None))).all()
    ids = [int(i) for i in open_ids if i and i.isdigit()]
    if not ids:
        return
    answered = session.exec(select(EnvironmentReading.id).where(
        EnvironmentReading.id.in_(ids), EnvironmentReading.location_id == reading.location_id,
        EnvironmentReading.id <= reading.id)).all()
    close_notifications(session, *(f"env:{rid}:{perm}" for rid in answered for perm in _EXCURSION_NOTIFIED))


def record_measure(session: Session, actor: Actor, reading_id: int, measure: str) -> EnvironmentMeasure:
    measure = (measure or "").strip()
    if not measure:
        raise InvalidInput(_l("Describe the measure taken."), code="missing_field", details={"field": "measure"})
    if len(measure) > MAX_TEXT:
        raise InvalidInput(_l("The measure is longer than %(n)d characters.", n=MAX_TEXT), code="invalid_field",
                           details={"field": "measure"})
    with transaction(session):
        reading = session.get(EnvironmentReading, reading_id)
        if reading is None or reading.store_id != actor.store_id:
            raise NotFound(_l("Reading %(id)s not found.", id=reading_id))
        if not reading.out_of_range:
            raise Conflict(_l("This reading is within range: no measure is needed."), code="not_out_of_range")
        row = EnvironmentMeasure(store_id=reading.store_id, location_id=reading.location_id, reading_id=reading.id,
                                 measure=measure, actor_id=actor.user_id, at=clock.now())
        session.add(row)
        session.flush()
        _close_excursion_alerts(session, reading)
        record_audit(session, actor, "environment.measure", "environment_reading", reading.id,
                     after={"measure": measure}, store_id=reading.store_id)
    return row


def open_alerts(session: Session, store_id: int, location_id: int | None = None) -> list[EnvironmentReading]:
    stmt = select(EnvironmentReading).where(EnvironmentReading.store_id == store_id, *_open_filter())
    if location_id is not None:
        stmt = stmt.where(EnvironmentReading.location_id == location_id)
    return list(session.exec(stmt.order_by(EnvironmentReading.at, EnvironmentReading.id)).all())


def local_day_bounds(day_from: date, day_to: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime.combine(day_from, time(0), zone), datetime.combine(day_to + timedelta(days=1), time(0), zone))


def readings_between(session: Session, store_id: int, location_id: int, day_from: date, day_to: date,
                     tz: str, limit: int = 5000) -> list[EnvironmentReading]:
    start, end = local_day_bounds(day_from, day_to, tz)
    return list(session.exec(select(EnvironmentReading)
                             .where(EnvironmentReading.store_id == store_id,
                                    EnvironmentReading.location_id == location_id,
                                    EnvironmentReading.at >= start, EnvironmentReading.at < end)
                             .order_by(EnvironmentReading.at, EnvironmentReading.id).limit(limit)).all())


def measures_for(session: Session, reading_ids) -> dict[int, list[EnvironmentMeasure]]:
    out: dict[int, list[EnvironmentMeasure]] = {}
    ids = list(reading_ids)
    if ids:
        for m in session.exec(select(EnvironmentMeasure).where(EnvironmentMeasure.reading_id.in_(ids))
                              .order_by(EnvironmentMeasure.at)).all():
            out.setdefault(m.reading_id, []).append(m)
    return out


HALF_DAYS = ("morning", "afternoon")  # 上午 before 12:00, 下午 from 12:00 (store time)


def half_day(at: datetime, tz: str) -> str:
    return "morning" if at.astimezone(ZoneInfo(tz)).hour < 12 else "afternoon"


def todays_slots(session: Session, store: Store) -> dict[int, dict[str, str]]:
    """For each active location: today's morning and afternoon as 'done', 'missing' (begun, no reading yet) or
    'later' (not begun)."""
    now_local = clock.now().astimezone(ZoneInfo(store.timezone))
    today = now_local.date()
    start, end = local_day_bounds(today, today, store.timezone)
    seen: dict[int, set[str]] = {}
    for location_id, at in session.exec(select(EnvironmentReading.location_id, EnvironmentReading.at)
                                        .where(EnvironmentReading.store_id == store.id,
                                               EnvironmentReading.at >= start, EnvironmentReading.at < end)).all():
        seen.setdefault(location_id, set()).add(half_day(at, store.timezone))
    begun = {"morning": True, "afternoon": now_local.hour >= 12}
    out = {}
    for loc in session.exec(select(Location).where(Location.store_id == store.id, Location.active.is_(True))).all():
        done = seen.get(loc.id, set())
        out[loc.id] = {s: "done" if s in done else ("missing" if begun[s] else "later") for s in HALF_DAYS}
    return out


# --- curing plans ----------------------------------------------------------------------------------------------------

class KeyReason(StrEnum):
    COLD_CHAIN = "cold_chain"  # 冷链 (refrigerated or frozen storage)
    NEAR_EXPIRY = "near_expiry"  # within the first (longest) expiry warning tier
    SPLIT_PACK = "split_pack"  # 拆零: sold by the smallest unit
    TCM_PIECES = "tcm_pieces"  # 中药饮片
    FLAGGED = "flagged"  # marked for key curing in the drug master


KEY_REASON_LABELS = {
    KeyReason.COLD_CHAIN: _l("cold chain"), KeyReason.NEAR_EXPIRY: _l("near expiry"),
    KeyReason.SPLIT_PACK: _l("split-pack"), KeyReason.TCM_PIECES: _l("TCM pieces"),
    KeyReason.FLAGGED: _l("flagged for key curing"),
}
DEFAULT_KEY_MONTHS = 1
DEFAULT_NORMAL_MONTHS = 3
DEFAULT_NEAR_EXPIRY_DAYS = 180
# Stock awaiting inspection (yellow) or non-conforming (red) is handled by those flows, not cured on the shelf.
UNCURED_KINDS = (LocationKind.PENDING, LocationKind.NONCONFORMING)


def key_reasons(drug: Drug, lot: Lot, today: date, near_expiry_days: int) -> list[str]:
    reasons = []
    if drug.storage_class in (StorageClass.COLD, StorageClass.FROZEN):
        reasons.append(KeyReason.COLD_CHAIN.value)
    if lot.expiry_date is not None and lot.expiry_date <= today + timedelta(days=near_expiry_days):
        reasons.append(KeyReason.NEAR_EXPIRY.value)
    if drug.unit_price_fen is not None:
        reasons.append(KeyReason.SPLIT_PACK.value)
    if drug.category == DrugCategory.TCM_PIECES:
        reasons.append(KeyReason.TCM_PIECES.value)
    if drug.key_curing:
        reasons.append(KeyReason.FLAGGED.value)
    return reasons


def period_for(day: date, months: int) -> tuple[date, date]:
    """The plan period containing `day`: calendar blocks of `months` months from January (1 = monthly, 3 = quarterly)."""
    if months not in (1, 2, 3, 4, 6, 12):
        raise ValueError(f"curing interval must divide 12 months, got {months}")
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    after = first_month + months
    end = (date(day.year + 1, 1, 1) if after > 12 else date(day.year, after, 1)) - timedelta(days=1)
    return start, end


def generate_plans(session: Session, actor: Actor, store: Store, *, today: date | None = None,
                   near_expiry_days: int = DEFAULT_NEAR_EXPIRY_DAYS, key_months: int = DEFAULT_KEY_MONTHS,
                   normal_months: int = DEFAULT_NORMAL_MONTHS) -> list[CuringPlan]:
    """Create this period's key and normal curing plans for a store, listing every lot and location with stock.
    A plan that exists for its period is left as it is, so running again creates nothing new. Returns new plans."""
    today = today or clock.today(store.timezone)
    periods = {CuringPlanKind.KEY: period_for(today, key_months),
               CuringPlanKind.NORMAL: period_for(today, normal_months)}
    created: list[CuringPlan] = []
    try:
        with transaction(session):
            existing = set(session.exec(select(CuringPlan.kind).where(
                CuringPlan.store_id == store.id,
                ((CuringPlan.kind == CuringPlanKind.KEY) & (CuringPlan.period_start == periods[CuringPlanKind.KEY][0]))
                | ((CuringPlan.kind == CuringPlanKind.NORMAL)
                   & (CuringPlan.period_start == periods[CuringPlanKind.NORMAL][0])))).all())
            if len(existing) == 2:
                return []
            rows = session.exec(
                select(StockBalance, Lot, Drug, Location)
                .join(Lot, Lot.id == StockBalance.lot_id).join(Drug, Drug.id == Lot.drug_id)
                .join(Location, Location.id == StockBalance.location_id)
                .where(StockBalance.store_id == store.id, StockBalance.quantity > 0,
                       Location.kind.not_in([str(k) for k in UNCURED_KINDS]))
                .order_by(Location.code, Drug.generic_name, Lot.expiry_date, Lot.id)).all()
            items: dict[str, list] = {CuringPlanKind.KEY: [], CuringPlanKind.NORMAL: []}
            for bal, lot, drug, loc in rows:
                reasons = key_reasons(drug, lot, today, near_expiry_days)
                items[CuringPlanKind.KEY if reasons else CuringPlanKind.NORMAL].append((bal, reasons))
            for kind in (CuringPlanKind.KEY, CuringPlanKind.NORMAL):
                if kind in existing or not items[kind]:
                    continue  # an empty plan is not made; a later run in the period makes it if stock arrives
                start, due = periods[kind]
                plan = CuringPlan(store_id=store.id, kind=kind, period_start=start, due_date=due,
                                  created_at=clock.now())
                session.add(plan)
                session.flush()
                for bal, reasons in items[kind]:
                    session.add(CuringPlanItem(store_id=store.id, plan_id=plan.id, lot_id=bal.lot_id,
                                               location_id=bal.location_id, quantity=bal.quantity,
                                               key_reasons=",".join(reasons)))
                record_audit(session, actor, "curing.plan", "curing_plan", plan.id,
                             after={"kind": kind, "period_start": start, "due_date": due,
                                    "items": len(items[kind])}, store_id=store.id)
                created.append(plan)
    except IntegrityError as exc:  # another scheduler made the same plan at the same moment: nothing new
        if not is_unique_violation(exc):
            raise
        return []
    return created


def get_plan(session: Session, store_id: int, plan_id: int) -> CuringPlan:
    plan = session.get(CuringPlan, plan_id)
    if plan is None or plan.store_id != store_id:
        raise NotFound(_l("Curing plan %(id)s not found.", id=plan_id))
    return plan


def plans_with_progress(session: Session, store_id: int, *, limit: int = 50, overdue_on: date | None = None):
    """[(plan, items, recorded, with problems)], newest first; with `overdue_on`, only plans past their due date
    that still have unrecorded items."""
    recorded = case((exists().where(CuringRecord.plan_item_id == CuringPlanItem.id), 1), else_=0)
    problem = case((exists().where(CuringRecord.plan_item_id == CuringPlanItem.id,
                                   CuringRecord.result == CuringResult.PROBLEM), 1), else_=0)
    progress = (select(CuringPlanItem.plan_id, func.count(CuringPlanItem.id).label("total"),
                       func.sum(recorded).label("done"), func.sum(problem).label("problems"))
                .where(CuringPlanItem.store_id == store_id).group_by(CuringPlanItem.plan_id).subquery())
    stmt = (select(CuringPlan, progress.c.total, progress.c.done, progress.c.problems)
            .join(progress, progress.c.plan_id == CuringPlan.id).where(CuringPlan.store_id == store_id))
    if overdue_on is not None:
        stmt = stmt.where(CuringPlan.due_date < overdue_on, progress.c.done < progress.c.total)
    rows = session.exec(stmt.order_by(CuringPlan.period_start.desc(), CuringPlan.kind).limit(limit)).all()
    return [(plan, int(total or 0), int(done or 0), int(problems or 0)) for plan, total, done, problems in rows]


def overdue_plans(session: Session, store_id: int, today: date):
    return plans_with_progress(session, store_id, overdue_on=today)


def plan_items(session: Session, plan_id: int):
    """[(item, lot, drug, location, records newest first)] of one plan."""
    rows = session.exec(select(CuringPlanItem, Lot, Drug, Location)
                        .join(Lot, Lot.id == CuringPlanItem.lot_id).join(Drug, Drug.id == Lot.drug_id)
                        .join(Location, Location.id == CuringPlanItem.location_id)
                        .where(CuringPlanItem.plan_id == plan_id)
                        .order_by(Location.code, Drug.generic_name, Lot.expiry_date, CuringPlanItem.id)).all()
    records: dict[int, list[CuringRecord]] = {}
    ids = [item.id for item, *_ in rows]
    if ids:
        for rec in session.exec(select(CuringRecord).where(CuringRecord.plan_item_id.in_(ids))
                                .order_by(CuringRecord.at.desc(), CuringRecord.id.desc())).all():
            records.setdefault(rec.plan_item_id, []).append(rec)
    return [(item, lot, drug, loc, records.get(item.id, [])) for item, lot, drug, loc in rows]


def _flag(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("ok", "1", "true", "yes"):
        return True
    if value in ("problem", "0", "false", "no"):
        return False
    raise InvalidInput(_l("Choose OK or problem for %(field)s.", field=field), code="invalid_field",
                       details={"field": field})


def record_curing(session: Session, actor: Actor, item_id: int, *, appearance_ok, packaging_ok, storage_ok,
                  result: str, measures: str = "", note: str = "") -> CuringRecord:
    """A curing record for one plan item. A problem starts the lock flow: the lot is locked ("found in curing") if
    the actor may lock, otherwise the quality manager is notified of a suspect lot."""
    checks = {"appearance": _flag(appearance_ok, "appearance"), "packaging": _flag(packaging_ok, "packaging"),
              "storage": _flag(storage_ok, "storage")}
    try:
        result = CuringResult(result).value
    except ValueError:
        raise InvalidInput(_l("The result must be OK or problem."), code="invalid_field", details={"field": "result"})
    measures, note = (measures or "").strip(), (note or "").strip()
    if not all(checks.values()) and result == CuringResult.OK:
        raise InvalidInput(_l("A failed check means the result is a problem."), code="result_mismatch")
    if result == CuringResult.PROBLEM and not measures:
        raise InvalidInput(_l("Describe the measures taken for the problem."), code="measures_required",
                           details={"field": "measures"})
    if len(measures) > MAX_TEXT or len(note) > MAX_TEXT:
        raise InvalidInput(_l("Measures and note may have at most %(n)d characters.", n=MAX_TEXT),
                           code="invalid_field")
    from inventory.services import LOT_TRANSITIONS, change_lot_status, get_lot

    with transaction(session):
        item = session.get(CuringPlanItem, item_id)
        if item is None or item.store_id != actor.store_id:
            raise NotFound(_l("Curing plan item %(id)s not found.", id=item_id))
        lot = get_lot(session, item.lot_id)
        follow_up = ""
        if result == CuringResult.PROBLEM:
            if not actor.can(Perm.QUALITY_LOCK):
                follow_up = "reported"
            elif LotStatus.LOCKED in LOT_TRANSITIONS.get(lot.status, ()):
                follow_up = "locked"
            else:
                follow_up = f"already_{lot.status}"[:32]
        record = CuringRecord(store_id=item.store_id, plan_item_id=item.id, lot_id=item.lot_id,
                              location_id=item.location_id, appearance_ok=checks["appearance"],
                              packaging_ok=checks["packaging"], storage_ok=checks["storage"], result=result,
                              measures=measures, note=note, follow_up=follow_up, actor_id=actor.user_id,
                              at=clock.now())
        session.add(record)
        session.flush()
        record_audit(session, actor, "curing.record", "curing_record", record.id,
                     after={"plan_item_id": item.id, "lot_id": item.lot_id, "checks": checks, "result": result,
                            "follow_up": follow_up}, reason=measures, store_id=item.store_id)
        if follow_up == "locked":
            change_lot_status(session, actor, lot.id, LotStatus.LOCKED, reason_category="found_in_curing",
                              note=f"curing record {record.id}: {measures}"[:1000])
        elif follow_up == "reported":
            drug = session.get(Drug, lot.drug_id)
            failed = ", ".join(k for k, ok in checks.items() if not ok)
            notify(session, kind="suspect_lot", dedupe_key=f"suspect_lot:curing_record:{record.id}",
                   permission=Perm.QUALITY_LOCK,
                   title=str(_l("Suspect lot found in curing: %(drug)s lot %(lot)s", drug=drug.display_name,
                                lot=lot.lot_no)),
                   body=str(_l("Checks failed: %(failed)s. Measures: %(measures)s. Lock and investigate.",
                               failed=failed or "—", measures=measures)),
                   store_id=item.store_id, entity_type="lot", entity_id=lot.id)
    return record


# --- dashboard -------------------------------------------------------------------------------------------------------

def dashboard_panel(db: Session, actor: Actor, store: Store, today: date):
    """Overdue curing plans, open temperature/humidity alerts and today's missing readings, for those who act."""
    curing = actor.can(Perm.CURING_RECORD) or actor.can(Perm.QUALITY_LOCK)
    environment = actor.can(Perm.ENVIRONMENT_RECORD) or actor.can(Perm.QUALITY_LOCK)
    if not (curing or environment):
        return None
    overdue = overdue_plans(db, store.id, today) if curing else []
    alerts = open_alerts(db, store.id) if environment else []
    missing = []
    if actor.can(Perm.ENVIRONMENT_RECORD):
        slots = todays_slots(db, store)
        locations = {l.id: l for l in db.exec(select(Location).where(Location.store_id == store.id)).all()}
        missing = [(locations[loc_id], [s for s, state in states.items() if state == "missing"])
                   for loc_id, states in slots.items() if "missing" in states.values()]
        missing.sort(key=lambda pair: pair[0].code)
    if not (overdue or alerts or missing):
        return None
    locations = {l.id: l for l in db.exec(select(Location).where(Location.store_id == store.id)).all()}
    return "gsp/curing_panel.html", {"overdue": overdue, "alerts": [(r, locations.get(r.location_id))
                                                                    for r in alerts],
                                     "missing": missing}
