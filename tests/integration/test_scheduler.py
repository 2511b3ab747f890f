"""Scheduled jobs: a slot runs once however many schedulers fire it; results and failures are recorded."""
import threading

from sqlmodel import select

from core.db import new_session
from core.models import JobRun
from core.scheduler import JOBS, JobSpec, build_scheduler, register_job, run_slot


def runs(app, job):
    with new_session(app.extensions["yaofang.engine"]) as s:
        return s.exec(select(JobRun).where(JobRun.job == job)).all()


def test_two_schedulers_firing_the_same_slot_run_it_once(app, world):
    calls = []
    register_job(JobSpec(name="test_once", func=lambda a: calls.append(1) or "done", cron={"hour": 3},
                         slot_format="%Y-%m-%d"))
    try:
        barrier = threading.Barrier(4)

        def fire():
            barrier.wait()
            run_slot(app, "test_once")

        threads = [threading.Thread(target=fire) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1
        rows = runs(app, "test_once")
        assert len(rows) == 1 and rows[0].status == "ok" and rows[0].slot == "2026-06-15"
        run_slot(app, "test_once")  # the same day again: already claimed
        assert len(calls) == 1
    finally:
        JOBS.pop("test_once")


def test_failures_are_recorded_not_raised(app, world):
    def boom(_app):
        raise ValueError("sensor offline")

    register_job(JobSpec(name="test_boom", func=boom, cron={"hour": 4}, slot_format="%Y-%m-%d"))
    try:
        run = run_slot(app, "test_boom")
        assert run.status == "failed" and "sensor offline" in run.message
    finally:
        JOBS.pop("test_boom")


def test_stock_verify_job_reports_a_broken_ledger(app, world):
    from sqlalchemy import text

    world.lot(qty=5)
    assert run_slot(app, "stock_verify").status == "ok"
    with app.extensions["yaofang.engine"].begin() as conn:
        conn.execute(text("UPDATE stock_balance SET quantity = 1"))
    run = run_slot(app, "stock_verify", slot="second")
    assert run.status == "failed" and "differ" in run.message


def test_scheduler_uses_a_real_misfire_grace_and_time_zone(app):
    scheduler = build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("stock_verify")
        assert job is not None
        assert job.misfire_grace_time == 3600 and job.coalesce is True and job.max_instances == 1
        assert str(job.trigger.timezone) == "Asia/Shanghai"
    finally:
        scheduler.shutdown(wait=False)


def test_admin_runs_a_job_from_the_jobs_page(app, client, world):
    from tests.conftest import login, post_form

    login(client, "admin")
    response = post_form(client, "/jobs/stock_verify/run", {})
    assert response.status_code == 302
    page = client.get("/jobs").get_data(as_text=True)
    assert "stock_verify" in page and "ok" in page
    assert runs(app, "stock_verify")[0].triggered_by == "admin"
