"""Curing (养护) and storage-condition pages: plans and their records, temperature/humidity per location with a
server-rendered SVG chart, hand entry of readings and the measures for out-of-range readings."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core import clock
from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput, NotFound, YaofangError
from core.permissions import Perm
from core.services import get_store
from core.web import date_arg, form_errors
from gsp import curing
from gsp.forms_curing import CuringRecordForm, MeasureForm, ReadingForm
from gsp.jobs_curing import plan_settings
from inventory.services import get_location, label, lot_status_label, store_locations

bp = Blueprint("curing", __name__)

MAX_CHART_DAYS = 92


# --- curing plans ---------------------------------------------------------------------------------------------------

@bp.route("/curing")
@requires(Perm.QUALITY_READ)
def plans():
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    return render_template("gsp/curing_plans.html", plans=curing.plans_with_progress(db, store.id, limit=100),
                           today=clock.today(store.timezone), settings=plan_settings(current_app.config))


@bp.route("/curing/plans/generate", methods=["POST"])
@requires(Perm.CURING_RECORD)
def generate():
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    made = curing.generate_plans(db, actor, store, **plan_settings(current_app.config))
    if made:
        flash(_("%(n)d new curing plans.", n=len(made)), "success")
    else:
        flash(_("This period's curing plans exist already (or there is no stock to cure)."), "info")
    return redirect(url_for("curing.plans"))


def _plan_page(plan_id: int, status: int = 200, form_item_id: int | None = None, form=None):
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    plan = curing.get_plan(db, store.id, plan_id)
    return render_template("gsp/curing_plan.html", plan=plan, items=curing.plan_items(db, plan.id),
                           today=clock.today(store.timezone), reason_labels=curing.KEY_REASON_LABELS,
                           status_label=lot_status_label, form_item_id=form_item_id, form=form), status


@bp.route("/curing/plans/<int:plan_id>")
@requires(Perm.QUALITY_READ)
def plan_detail(plan_id: int):
    return _plan_page(plan_id)


@bp.route("/curing/items/<int:item_id>/records", methods=["POST"])
@requires(Perm.CURING_RECORD)
def record(item_id: int):
    from gsp.models import CuringPlanItem

    actor = current_actor()
    db = get_session()
    item = db.get(CuringPlanItem, item_id)
    if item is None or item.store_id != actor.store_id:
        raise NotFound(_l("Curing plan item %(id)s not found.", id=item_id))
    form = CuringRecordForm()
    if not form.validate():
        flash(_("Please correct the curing record: %(errors)s", errors=form_errors(form)), "error")
        return _plan_page(item.plan_id, 422, item.id, form)
    try:
        rec = curing.record_curing(db, actor, item.id, appearance_ok=form.appearance.data,
                                   packaging_ok=form.packaging.data, storage_ok=form.storage.data,
                                   result=form.result.data, measures=form.measures.data, note=form.note.data)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _plan_page(item.plan_id, exc.status, item.id, form)
    messages = {"locked": _("Curing recorded; the lot is locked (found in curing) for the quality manager."),
                "reported": _("Curing recorded; the quality manager has been told of the suspect lot.")}
    flash(messages.get(rec.follow_up, _("Curing recorded.")), "success")
    return redirect(url_for("curing.plan_detail", plan_id=item.plan_id))


# --- temperature and humidity --------------------------------------------------------------------------------------

@bp.route("/environment")
@requires(Perm.QUALITY_READ)
def environment():
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    locations = [l for l in store_locations(db, store.id) if l.active]
    latest = {}
    from sqlmodel import func, select

    from gsp.models import EnvironmentReading

    newest = (select(EnvironmentReading.location_id, func.max(EnvironmentReading.id).label("rid"))
              .where(EnvironmentReading.store_id == store.id).group_by(EnvironmentReading.location_id).subquery())
    for reading in db.exec(select(EnvironmentReading).join(newest, newest.c.rid == EnvironmentReading.id)).all():
        latest[reading.location_id] = reading
    alerts = curing.open_alerts(db, store.id)
    return render_template("gsp/environment_index.html", locations=locations, latest=latest,
                           slots=curing.todays_slots(db, store), alerts=alerts,
                           open_by_location={a.location_id for a in alerts},
                           by_id={l.id: l for l in locations}, describe=curing.describe_condition,
                           tenths=curing.tenths, today=clock.today(store.timezone))


def _period() -> tuple[date, date]:
    actor = current_actor()
    store = get_store(get_session(), actor.store_id)
    today = clock.today(store.timezone)

    end = date_arg("end", today)
    start = date_arg("start", end - timedelta(days=6))
    if start > end or (end - start).days >= MAX_CHART_DAYS:
        raise InvalidInput(_l("Choose a period of 1 to %(n)d days, start before end.", n=MAX_CHART_DAYS),
                           code="invalid_parameter")
    return start, end


def build_chart(readings, start: datetime, end: datetime, band: tuple, value, is_out, axis: tuple | None = None,
                width: int = 760, height: int = 220) -> dict:
    """Geometry for an inline SVG: the allowed band, a line through the readings, out-of-range points marked."""
    left, right, top, bottom = 48, 12, 12, 28
    pw, ph = width - left - right, height - top - bottom
    values = [float(value(r)) for r in readings]
    if axis:
        lo, hi = axis
    else:
        known = values + [b for b in band if b is not None]
        lo, hi = math.floor(min(known)) - 2, math.ceil(max(known)) + 2
        if hi - lo < 10:  # keep a readable scale when readings are steady
            pad = (10 - (hi - lo)) / 2
            lo, hi = math.floor(lo - pad), math.ceil(hi + pad)
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50) if (hi - lo) / s <= 6)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    span = max((end - start).total_seconds(), 1)

    def x(at: datetime) -> float:
        return left + (at - start).total_seconds() / span * pw

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * ph

    band_lo = lo if band[0] is None else max(lo, band[0])
    band_hi = hi if band[1] is None else min(hi, band[1])
    points = [{"x": round(x(r.at), 1), "y": round(y(v), 1), "out": is_out(r), "value": value(r), "at": r.at}
              for r, v in zip(readings, values)]
    days = max(1, round(span / 86400))
    every = 1 if days <= 10 else math.ceil(days / 10)
    xticks = []
    day = start
    while day < end:
        xticks.append({"x": round(x(day), 1), "label": day.strftime("%m-%d")})
        day += timedelta(days=every)
    return {"width": width, "height": height, "left": left, "top": top, "pw": pw, "ph": ph,
            "band": {"y": round(y(band_hi), 1), "h": round(max(y(band_lo) - y(band_hi), 0), 1)},
            "points": points, "line": " ".join(f"{p['x']},{p['y']}" for p in points),
            "yticks": [{"y": round(y(v), 1), "label": str(v)} for v in range(lo, hi + 1, step)],
            "xticks": xticks}


def _location_page(location_id: int, form: ReadingForm | None = None, status: int = 200):
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    location = get_location(db, location_id, store.id)
    start, end = _period()
    readings = curing.readings_between(db, store.id, location.id, start, end, store.timezone)
    begin, finish = curing.local_day_bounds(start, end, store.timezone)
    cond = curing.condition_for(location.storage_class)
    temp_chart = build_chart(readings, begin, finish, (cond.min_c, cond.max_c),
                             lambda r: curing.tenths(r.temperature_dc),
                             lambda r: not curing.condition_for(r.storage_class).temperature_ok(
                                 curing.tenths(r.temperature_dc)))
    rh_chart = build_chart(readings, begin, finish, (cond.min_rh, cond.max_rh),
                           lambda r: curing.tenths(r.humidity_dpct),
                           lambda r: not curing.condition_for(r.storage_class).humidity_ok(
                               curing.tenths(r.humidity_dpct)), axis=(0, 100))
    if form is None and actor.can(Perm.ENVIRONMENT_RECORD):
        form = ReadingForm(formdata=None)
    open_ids = {r.id for r in curing.open_alerts(db, store.id, location.id)}
    return render_template("gsp/environment_location.html", location=location, readings=list(reversed(readings)),
                           temp_chart=temp_chart, rh_chart=rh_chart, start=start, end=end, form=form,
                           measure_form=MeasureForm(formdata=None), open_ids=open_ids,
                           measures=curing.measures_for(db, [r.id for r in readings]),
                           slots=curing.todays_slots(db, store).get(location.id, {}),
                           describe=curing.describe_condition(location.storage_class),
                           class_label=label(location.storage_class, "storage_class"),
                           tenths=curing.tenths), status


@bp.route("/environment/locations/<int:location_id>")
@requires(Perm.QUALITY_READ)
def location_environment(location_id: int):
    return _location_page(location_id)


@bp.route("/environment/locations/<int:location_id>/readings", methods=["POST"])
@requires(Perm.ENVIRONMENT_RECORD)
def add_reading(location_id: int):
    actor = current_actor()
    db = get_session()
    get_location(db, location_id, actor.store_id)
    form = ReadingForm()
    if not form.validate():
        flash(_("Please correct the reading: %(errors)s", errors=form_errors(form)), "error")
        return _location_page(location_id, form, 422)
    try:
        reading = curing.record_reading(db, actor, location_id=location_id, temperature=form.temperature.data,
                                        humidity=form.humidity.data)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _location_page(location_id, form, exc.status)
    if reading.out_of_range:
        flash(_("Reading recorded: OUT OF RANGE. Take a measure and record it below."), "warning")
    else:
        flash(_("Reading recorded."), "success")
    return redirect(url_for("curing.location_environment", location_id=location_id))


@bp.route("/environment/readings/<int:reading_id>/measures", methods=["POST"])
@requires(Perm.ENVIRONMENT_RECORD)
def add_measure(reading_id: int):
    from gsp.models import EnvironmentReading

    actor = current_actor()
    db = get_session()
    reading = db.get(EnvironmentReading, reading_id)
    if reading is None or reading.store_id != actor.store_id:
        raise NotFound(_l("Reading %(id)s not found.", id=reading_id))
    form = MeasureForm()
    if not form.validate():
        flash(_("Please describe the measure: %(errors)s", errors=form_errors(form)), "error")
        return _location_page(reading.location_id, None, 422)
    try:
        curing.record_measure(db, actor, reading.id, form.measure.data)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _location_page(reading.location_id, None, exc.status)
    flash(_("Measure recorded; the alert is closed."), "success")
    return redirect(url_for("curing.location_environment", location_id=reading.location_id))

