"""Scheduled inventory jobs."""
from __future__ import annotations

from core.db import get_session
from core.scheduler import JobSpec, register_job


class LedgerMismatch(Exception):
    pass


def stock_verify(app) -> str:
    """Re-verify the ledger: every balance equals the sum of its movements."""
    from inventory.services import verify_ledger

    problems = verify_ledger(get_session())
    if problems:
        shown = "; ".join(f"lot {p['lot_id']} @ location {p['location_id']}: balance {p['balance']} ≠ "
                          f"movements {p['movements_total']}" for p in problems[:20])
        raise LedgerMismatch(f"{len(problems)} balances differ from their movements: {shown}")
    return "ledger holds: every balance equals the sum of its movements"


def stock_check(app) -> str:
    """Reorder suggestions, overstock and slow movers for every store (idempotent per store and day)."""
    from core.scheduler import JOBS, current_slot
    from inventory.stock_check import DEFAULT_SLOW_MOVER_DAYS, run_stock_check

    days = int(app.config.get("SLOW_MOVER_DAYS") or DEFAULT_SLOW_MOVER_DAYS)
    result = run_stock_check(get_session(), slow_days=days, job_slot=current_slot(app, JOBS["stock_check"]))
    return result.describe()


def register() -> None:
    register_job(JobSpec(name="stock_verify", func=stock_verify, cron={"hour": 2, "minute": 30},
                         slot_format="%Y-%m-%d", description="Stock ledger verification (daily 02:30)"))
    register_job(JobSpec(name="stock_check", func=stock_check, cron={"hour": 3, "minute": 0},
                         slot_format="%Y-%m-%d",
                         description="Stock check: reorder, overstock, slow movers (daily 03:00)"))
