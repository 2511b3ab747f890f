"""Scheduled jobs: APScheduler 3.x, one JobRun row claimed per (job, slot) so two schedulers never run a slot twice.

Packages register their jobs with `register_job`; `yaofang scheduler` runs them in a blocking scheduler and
`yaofang serve` may start the same scheduler in-process for the single-machine default.
"""
from __future__ import annotations

import logging
import time as _time
import traceback
import uuid
from dataclasses import dataclass
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core import clock
from core.db import session_scope, transaction
from core.models import JobRun

log = logging.getLogger("yaofang.scheduler")


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable  # func(app) -> str (a short result message); raise to fail
    cron: dict  # APScheduler CronTrigger fields, in the configured time zone
    slot_format: str  # strftime of the local fire time naming the slot, e.g. "%Y-%m-%d" for a daily job
    description: str = ""


JOBS: dict[str, JobSpec] = {}


def register_job(spec: JobSpec) -> None:
    JOBS[spec.name] = spec


def current_slot(app, spec: JobSpec) -> str:
    return clock.now().astimezone(ZoneInfo(app.config["TIMEZONE"])).strftime(spec.slot_format)


def claim_slot(engine, job: str, slot: str, triggered_by: str = "schedule") -> int | None:
    """Insert the JobRun row for this slot; None if another scheduler got there first."""
    with session_scope(engine) as session:
        try:
            with transaction(session):
                run = JobRun(job=job, slot=slot, started_at=clock.now(), triggered_by=triggered_by)
                session.add(run)
                session.flush()
                return run.id
        except IntegrityError:
            return None


def _finish(engine, run_id: int, status: str, message: str) -> JobRun:
    with session_scope(engine) as session:
        with transaction(session):
            run = session.get(JobRun, run_id)
            run.status = status
            run.message = message[:4000]
            run.finished_at = clock.now()
            session.add(run)
        return run


def run_slot(app, name: str, slot: str | None = None, triggered_by: str = "schedule") -> JobRun | None:
    spec = JOBS[name]
    engine = app.extensions["yaofang.engine"]
    slot = slot or current_slot(app, spec)
    run_id = claim_slot(engine, name, slot, triggered_by)
    if run_id is None:
        log.info("job %s slot %s already claimed; skipping", name, slot)
        return None
    started = _time.perf_counter()
    try:
        with app.app_context():
            message = spec.func(app) or "ok"
        status = "ok"
    except Exception as exc:  # a failing job is recorded, never kills the scheduler
        log.exception("job %s failed", name)
        status, message = "failed", f"{exc}\n{traceback.format_exc(limit=3)}"
    took = _time.perf_counter() - started
    return _finish(engine, run_id, status, f"{message} ({took:.2f} s)")


def run_job_now(app, name: str, triggered_by: str) -> JobRun:
    from core.errors import NotFound

    if name not in JOBS:
        raise NotFound(f"unknown job {name}")
    return run_slot(app, name, slot=f"manual-{uuid.uuid4().hex[:12]}", triggered_by=triggered_by)


def build_scheduler(app, *, blocking: bool):
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    tz = ZoneInfo(app.config["TIMEZONE"])
    cls = BlockingScheduler if blocking else BackgroundScheduler
    # APScheduler 3 skips a job more than 1 s late by default: give it an hour, coalesce, one instance at a time.
    scheduler = cls(timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for spec in JOBS.values():
        scheduler.add_job(run_slot, CronTrigger(timezone=tz, **spec.cron), args=[app, spec.name], id=spec.name,
                          name=spec.description or spec.name, replace_existing=True)
    return scheduler


def recent_runs(session, job: str, limit: int = 20):
    return session.exec(select(JobRun).where(JobRun.job == job).order_by(JobRun.started_at.desc()).limit(limit)).all()
