"""The curing-plan job: each day, make sure every store has this period's key (monthly) and normal (quarterly)
curing plans. Plans that exist are left alone, so a re-run or a second scheduler creates nothing new."""
from __future__ import annotations

from sqlmodel import select

from core.db import get_session
from core.models import Store
from core.scheduler import JobSpec, register_job
from core.services import Actor


def plan_settings(config) -> dict:
    from gsp.curing import DEFAULT_KEY_MONTHS, DEFAULT_NORMAL_MONTHS

    return {"near_expiry_days": max(config.get("EXPIRY_TIERS_DAYS") or [180]),
            "key_months": int(config.get("CURING_KEY_INTERVAL_MONTHS", DEFAULT_KEY_MONTHS)),
            "normal_months": int(config.get("CURING_NORMAL_INTERVAL_MONTHS", DEFAULT_NORMAL_MONTHS))}


def curing_plans(app) -> str:
    from gsp.curing import generate_plans

    session = get_session()
    settings = plan_settings(app.config)
    made = []
    for store in session.exec(select(Store).order_by(Store.id)).all():
        for plan in generate_plans(session, Actor.system("scheduler", store.id), store, **settings):
            made.append(f"{store.code} {plan.kind} {plan.period_start}")
    return f"{len(made)} new curing plans" + (": " + ", ".join(made) if made else " (all periods planned)")


def register() -> None:
    register_job(JobSpec(name="curing_plans", func=curing_plans, cron={"hour": 1, "minute": 15},
                         slot_format="%Y-%m-%d",
                         description="Curing plans: key items monthly, others quarterly (checked daily 01:15)"))
