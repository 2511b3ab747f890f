"""Curing (养护): storage ranges, plan generation (key vs routine, idempotent, by the scheduled job), records, a
problem starting the lock flow, overdue plans, and append-only records on the real database."""
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import func, select

from core.errors import InvalidInput, NotFound
from core.models import AuditEvent, Notification
from core.services import Actor, notifications_for
from gsp import curing
from gsp.models import CuringPlan, CuringPlanItem, CuringRecord, EnvironmentMeasure, EnvironmentReading
from inventory.models import LotStatusEvent
from inventory.services import create_drug, get_lot
from tests.conftest import PG_URL, TEST_TODAY
from tests.integration.curing_helpers import make_plans


def count(db, model):
    db.rollback()
    return db.exec(select(func.count()).select_from(model)).one()


def extra_drug(world, code, **fields):
    return create_drug(world.session, Actor.system("test", world.store.id), code=code, generic_name=f"测试{code}",
                       approval_status="approved", **fields)


@pytest.fixture
def stocked(world):
    """One lot for each reason to be key curing, one routine lot, and stock that is not cured on the shelf."""
    w = world
    for code, fields in {"SPLIT": {"unit_price_fen": 50, "units_per_package": 10},
                         "TCM": {"category": "tcm_pieces"}, "FLAG": {"key_curing": True}}.items():
        w.drug[code] = extra_drug(w, code, **fields)
    lots = {
        "routine": w.lot("LHQW", lot_no="R1", qty=36, expiry_days=400),
        "routine_wh": w.lot("PLAIN", lot_no="R2", qty=5, expiry_days=400, location="W01"),
        "cold": w.lot("INSULIN", lot_no="C1", qty=4, expiry_days=400, location="C01"),
        "near": w.lot("LHQW", lot_no="N1", qty=36, expiry_days=150),
        "split": w.lot("SPLIT", lot_no="S1", qty=20, expiry_days=400),
        "tcm": w.lot("TCM", lot_no="T1", qty=3, expiry_days=400),
        "flag": w.lot("FLAG", lot_no="F1", qty=3, expiry_days=400),
        "pending": w.lot("LHQW", lot_no="P1", qty=36, expiry_days=400, location="Y01", status="pending_inspection"),
        "empty": w.lot("LHQW", lot_no="E1", qty=0, expiry_days=400),
    }
    return lots


def test_storage_table_is_the_one_range_check():
    assert curing.in_range("room", 100, 350) and curing.in_range("room", 300, 750)
    assert not curing.in_range("room", 95, 500) and not curing.in_range("room", 305, 500)
    assert curing.in_range("cool", -50, 500) and not curing.in_range("cool", 201, 500)
    assert curing.in_range("cold", 20, 500) and not curing.in_range("cold", 101, 500)
    assert not curing.in_range("cold", 19, 500)
    assert not curing.in_range("room", 200, 349) and not curing.in_range("room", 200, 751)
    assert curing.describe_condition("cold") == "2–10 °C, RH 35–75 %"
    assert curing.describe_condition("cool") == "≤ 20 °C, RH 35–75 %"


@pytest.mark.parametrize("day, months, period", [
    (date(2026, 6, 15), 1, (date(2026, 6, 1), date(2026, 6, 30))),
    (date(2026, 6, 15), 3, (date(2026, 4, 1), date(2026, 6, 30))),
    (date(2026, 12, 31), 3, (date(2026, 10, 1), date(2026, 12, 31))),
    (date(2026, 2, 10), 2, (date(2026, 1, 1), date(2026, 2, 28))),
    (date(2026, 7, 1), 6, (date(2026, 7, 1), date(2026, 12, 31))),
])
def test_plan_periods(day, months, period):
    assert curing.period_for(day, months) == period


def test_plan_periods_must_divide_the_year():
    with pytest.raises(ValueError):
        curing.period_for(date(2026, 6, 1), 5)


def test_plans_split_key_and_routine_lots_and_a_rerun_adds_nothing(world, stocked, db):
    plans = make_plans(world)
    assert {p.kind: (p.period_start, p.due_date) for p in plans} == {
        "key": (date(2026, 6, 1), date(2026, 6, 30)), "normal": (date(2026, 4, 1), date(2026, 6, 30))}
    by_kind = {p.kind: p for p in plans}
    key = {(lot.lot_no, loc.code): item.key_reasons
           for item, lot, drug, loc, _r in curing.plan_items(db, by_kind["key"].id)}
    assert key == {("C1", "C01"): "cold_chain,flagged",  # the demo data flags insulin for key curing too
                   ("N1", "A01"): "near_expiry", ("S1", "A01"): "split_pack", ("T1", "A01"): "tcm_pieces",
                   ("F1", "A01"): "flagged"}
    routine = {(lot.lot_no, loc.code, item.quantity)
               for item, lot, drug, loc, _r in curing.plan_items(db, by_kind["normal"].id)}
    assert routine == {("R1", "A01", 36), ("R2", "W01", 5)}  # not the pending area, not empty balances
    before = (count(db, CuringPlan), count(db, CuringPlanItem), count(db, AuditEvent))
    assert make_plans(world) == []
    assert (count(db, CuringPlan), count(db, CuringPlanItem), count(db, AuditEvent)) == before
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "curing.plan")).all()
    assert len(events) == 2


def test_near_expiry_follows_the_first_expiry_tier(world, db):
    world.lot("LHQW", lot_no="X1", qty=36, expiry_days=100)
    plans = curing.generate_plans(db, world.actor(), world.store, today=TEST_TODAY, near_expiry_days=90)
    assert [p.kind for p in plans] == ["normal"]


def test_the_scheduled_job_makes_plans_once_per_period_with_configured_intervals(app, world, stocked, db):
    from core.scheduler import JOBS, run_job_now

    assert "curing_plans" in JOBS
    app.config["CURING_KEY_INTERVAL_MONTHS"] = 2
    first = run_job_now(app, "curing_plans", triggered_by="test")
    assert first.status == "ok" and first.message.startswith("2 new curing plans"), first.message
    db.rollback()
    periods = {p.kind: (p.period_start, p.due_date) for p in db.exec(select(CuringPlan)).all()}
    assert periods == {"key": (date(2026, 5, 1), date(2026, 6, 30)), "normal": (date(2026, 4, 1), date(2026, 6, 30))}
    again = run_job_now(app, "curing_plans", triggered_by="test")
    assert again.status == "ok" and again.message.startswith("0 new curing plans"), again.message
    assert count(db, CuringPlan) == 2


def record(db, actor, item_id, result="ok", **checks):
    values = {"appearance_ok": "ok", "packaging_ok": "ok", "storage_ok": "ok", "measures": "", **checks}
    return curing.record_curing(db, actor, item_id, result=result, **values)


def first_item(world, kind="normal", lot_no=None):
    plan = next(p for p in make_plans(world) if p.kind == kind)
    rows = curing.plan_items(world.session, plan.id)
    return next(item for item, lot, *_ in rows if lot_no is None or lot.lot_no == lot_no)


def test_a_record_is_stamped_by_the_server_and_audited(world, stocked, db, clock):
    item = first_item(world)
    rec = record(db, world.actor("curator"), item.id, note="货架整洁")
    db.rollback()
    saved = db.get(CuringRecord, rec.id)
    assert saved.actor_id == world.users["curator"].id and saved.at == clock.now()
    assert (saved.result, saved.follow_up, saved.lot_id, saved.location_id) == ("ok", "", item.lot_id,
                                                                                item.location_id)
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "curing.record")).one().actor_name == "curator"


@pytest.mark.parametrize("kwargs, code", [
    ({"result": "ok", "packaging_ok": "problem"}, "result_mismatch"),
    ({"result": "problem", "appearance_ok": "problem"}, "measures_required"),
    ({"result": "maybe"}, "invalid_field"),
    ({"result": "ok", "storage_ok": "perhaps"}, "invalid_field"),
])
def test_bad_records_write_nothing(world, stocked, db, kwargs, code):
    item = first_item(world)
    before = (count(db, CuringRecord), count(db, AuditEvent))
    with pytest.raises(InvalidInput) as exc:
        record(db, world.actor("curator"), item.id, **kwargs)
    assert exc.value.code == code
    assert (count(db, CuringRecord), count(db, AuditEvent)) == before


def test_records_stay_in_their_store(world, stocked, db):
    item = first_item(world)
    outsider = world.actor("other_admin")
    with pytest.raises(NotFound):
        record(db, outsider, item.id)


def test_a_problem_found_by_the_quality_manager_locks_the_lot(world, stocked, db):
    item = first_item(world, "key", "N1")
    rec = record(db, world.actor("quality_manager"), item.id, result="problem", packaging_ok="problem",
                 measures="包装破损，移出货架")
    db.rollback()
    assert rec.follow_up == "locked"
    assert get_lot(db, item.lot_id).status == "locked"
    event = db.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == item.lot_id)
                    .order_by(LotStatusEvent.id.desc())).first()
    assert (event.from_status, event.to_status, event.reason_category) == ("released", "locked", "found_in_curing")
    assert f"curing record {rec.id}" in event.note and event.actor_id == world.users["quality_manager"].id
    # The same lot found again: already locked, nothing else changes.
    again = record(db, world.actor("quality_manager"), item.id, result="problem", measures="复查仍破损")
    assert again.follow_up == "already_locked"


def test_a_problem_found_by_a_curator_notifies_the_quality_manager(world, stocked, db):
    item = first_item(world, "key", "T1")
    rec = record(db, world.actor("curator"), item.id, result="problem", appearance_ok="problem",
                 measures="发现虫蛀，单独存放")
    db.rollback()
    assert rec.follow_up == "reported"
    assert get_lot(db, item.lot_id).status == "released"  # the curator cannot lock
    note = db.exec(select(Notification).where(Notification.kind == "suspect_lot")).one()
    assert (note.permission, note.entity_type, note.entity_id) == ("quality.lock", "lot", str(item.lot_id))
    assert "T1" in note.title and "发现虫蛀" in note.body
    assert note in notifications_for(db, world.actor("quality_manager"), world.store.id)
    assert note not in notifications_for(db, world.actor("curator"), world.store.id)


def test_overdue_plans_are_past_due_with_unrecorded_items(world, stocked, db):
    plans = {p.kind: p for p in make_plans(world)}
    assert curing.overdue_plans(db, world.store.id, TEST_TODAY) == []
    after = date(2026, 7, 1)
    assert {p.kind for p, *_ in curing.overdue_plans(db, world.store.id, after)} == {"key", "normal"}
    for item, *_ in curing.plan_items(db, plans["normal"].id):
        record(db, world.actor("curator"), item.id)
    overdue = curing.overdue_plans(db, world.store.id, after)
    assert [(p.kind, total - done) for p, total, done, _ in overdue] == [("key", 5)]


# --- append-only on both engines -------------------------------------------------------------------------------------

@pytest.mark.parametrize("table", ["curing_record", "environment_reading", "environment_measure", "curing_plan",
                                   "curing_plan_item"])
def test_curing_and_environment_tables_refuse_update_and_delete(app, world, stocked, db, table):
    item = first_item(world)
    record(db, world.actor("curator"), item.id)
    reading = curing.record_reading(db, world.actor("curator"), location_id=world.loc["C01"].id, temperature="12",
                                    humidity="50")
    curing.record_measure(db, world.actor("curator"), reading.id, "调整冷藏柜温控")
    engine = app.extensions["yaofang.engine"]
    for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(DatabaseError) as exc:
            with engine.begin() as conn:
                conn.execute(text(sql))
        assert "append-only" in str(exc.value)
    if PG_URL:
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table} CASCADE"))
    else:
        with engine.connect() as conn:
            cols = ", ".join(r[1] for r in conn.execute(text(f"PRAGMA table_info({table})")))
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(f"REPLACE INTO {table} ({cols}) SELECT {cols} FROM {table} LIMIT 1"))
    assert count(db, EnvironmentReading) == 1 and count(db, EnvironmentMeasure) == 1 and count(db, CuringRecord) == 1


def test_the_dashboard_panel_names_overdue_plans_for_curators_only(world, stocked, db, clock):
    make_plans(world)
    clock.advance(days=20)  # 2026-07-05 in Shanghai
    today = TEST_TODAY + timedelta(days=20)
    result = curing.dashboard_panel(db, world.actor("curator"), world.store, today)
    assert result is not None and result[0] == "gsp/curing_panel.html"
    assert {p.kind for p, *_ in result[1]["overdue"]} == {"key", "normal"}
    assert curing.dashboard_panel(db, world.actor("cashier"), world.store, today) is None
