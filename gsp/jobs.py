"""Scheduled GSP jobs: expired-lot locking and expiry tiers (here), curing plans (jobs_curing)."""
from __future__ import annotations

from core.db import get_session
from core.scheduler import JobSpec, register_job
from core.services import Actor


def lock_expired(app) -> str:
    from gsp.quality import lock_expired_lots

    if not app.config.get("EXPIRED_AUTO_LOCK", True):
        return "expired lots are not locked automatically (EXPIRED_AUTO_LOCK is off); the sale path refuses them"
    locked = lock_expired_lots(get_session(), Actor.system("scheduler"))
    return f"{locked} expired lots locked"


def expiry_tiers(app) -> str:
    from gsp.quality import mark_expiry_tiers

    new = mark_expiry_tiers(get_session(), Actor.system("scheduler"), app.config["EXPIRY_TIERS_DAYS"])
    if not new:
        return "no lot entered an expiry tier today"
    return "; ".join(f"store {store}: {n} lots entered the {tier}-day tier" for (store, tier), n in sorted(new.items()))


def register() -> None:
    register_job(JobSpec(name="lock_expired", func=lock_expired, cron={"hour": 0, "minute": 5},
                         slot_format="%Y-%m-%d", description="Lock lots whose expiry date has passed (daily 00:05)"))
    register_job(JobSpec(name="expiry_tiers", func=expiry_tiers, cron={"hour": 0, "minute": 10},
                         slot_format="%Y-%m-%d",
                         description="Mark lots entering the 180/90/30-day expiry tiers, notify once (daily 00:10)"))
    from gsp import jobs_curing

    jobs_curing.register()  # curing plans (养护计划)
