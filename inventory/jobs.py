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


def register() -> None:
    register_job(JobSpec(name="stock_verify", func=stock_verify, cron={"hour": 2, "minute": 30},
                         slot_format="%Y-%m-%d", description="Stock ledger verification (daily 02:30)"))
