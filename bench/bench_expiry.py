"""Expiry-tier job benchmark over the generated data set (500,000 lots): `gsp.quality.mark_expiry_tiers` and
`gsp.quality.lock_expired_lots`, each one transaction of set-based SQL, timed as the daily job runs them.

Days are simulated with the injectable clock, starting the day after the last day an earlier run marked (marks are
append-only, so a re-run continues where the last one stopped). Day 1 is the heavy one: every lot already inside a
tier gets its mark, like the first night after going live. The following days mark what newly entered a tier.

Baseline, same run, same day: the same INSERT … SELECT statements written by hand on the raw DBAPI connection into a
scratch table of the same shape (`bench_expiry_mark`, created by this script), so it never collides with the real
marks. Goal: the job ≤ 2 s on SQLite and PostgreSQL.

    python bench/bench_expiry.py --url sqlite:///bench/out/pos.db --days 8
    python bench/bench_expiry.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench_pos
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT_DIR, engine_kind, engine_version, machine_facts, normalise_url, summarize_ms  # noqa: E402
from pos_common import ensure_base  # noqa: E402

GOAL_S = 2.0
TIERS = (180, 90, 30)
SCRATCH = "bench_expiry_mark"


def scratch_table(conn, pg: bool) -> None:
    ident = "SERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {SCRATCH} (id {ident}, store_id INTEGER NOT NULL, "
                         "lot_id INTEGER NOT NULL, tier_days INTEGER NOT NULL, expiry_date DATE NOT NULL, "
                         "marked_on DATE NOT NULL, UNIQUE (lot_id, tier_days))")
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{SCRATCH}_store_on ON {SCRATCH} (store_id, marked_on)")


def raw_mark(engine, pg: bool, today, store_ids: list[int]) -> int:
    """The baseline: per tier, innermost first, one INSERT … SELECT over the band between the inner tier and this
    one; then the per-store counts."""
    p = "%s" if pg else "?"
    stores = ", ".join(str(int(s)) for s in store_ids)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        inserted, inner = 0, -1
        for tier in sorted(TIERS):
            cur.execute(
                f"INSERT INTO {SCRATCH} (store_id, lot_id, tier_days, expiry_date, marked_on) "
                f"SELECT l.store_id, l.id, {p}, l.expiry_date, {p} FROM lot l "
                f"WHERE l.store_id IN ({stores}) AND l.expiry_date IS NOT NULL AND l.expiry_date > {p} "
                f"AND l.expiry_date <= {p} AND l.status NOT IN ('destroyed', 'returned') "
                f"AND EXISTS (SELECT 1 FROM stock_balance b WHERE b.lot_id = l.id AND b.quantity > 0) "
                f"AND NOT EXISTS (SELECT 1 FROM {SCRATCH} m WHERE m.lot_id = l.id AND m.tier_days <= {p})",
                (tier, today, today + timedelta(days=inner), today + timedelta(days=tier), tier))
            inserted += max(cur.rowcount, 0)
            inner = tier
        cur.execute(f"SELECT store_id, tier_days, count(*) FROM {SCRATCH} WHERE store_id IN ({stores}) "
                    f"AND marked_on = {p} GROUP BY store_id, tier_days", (today,))
        cur.fetchall()
        raw.commit()
        return inserted
    finally:
        raw.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=f"sqlite:///{OUT_DIR / 'pos.db'}")
    ap.add_argument("--days", type=int, default=8, help="simulated days (day 1 is the first, heavy run)")
    ap.add_argument("--size", choices=("full", "small"), default="full")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    url = normalise_url(args.url)
    kind = engine_kind(url)
    pg = kind == "postgresql"
    base = ensure_base(url, args.size)

    from sqlalchemy import text
    from sqlmodel import func, select

    from core import clock
    from core.db import make_engine, new_session
    from core.migrate import upgrade
    from core.models import Store
    from core.services import Actor
    from gsp.models import ExpiryTierMark
    from gsp.quality import lock_expired_lots, mark_expiry_tiers
    from inventory.models import Lot

    upgrade(url)  # the data set may predate the quality tables
    engine = make_engine(url)
    with engine.begin() as conn:
        scratch_table(conn, pg)
    with new_session(engine) as s:
        stores = s.exec(select(Store.id, Store.timezone)).all()
        last = s.exec(select(func.max(ExpiryTierMark.marked_on))).one()
        lots = s.exec(select(func.count()).select_from(Lot)).one()
    tz = ZoneInfo(stores[0][1])
    first_day = max(datetime.now(tz).date(), (last + timedelta(days=1)) if last else datetime.min.date())
    system = Actor.system("bench")
    rows = []
    for i in range(args.days):
        day = first_day + timedelta(days=i)
        at = datetime.combine(day, dtime(0, 10), tz).astimezone(timezone.utc)  # the job's slot, 00:10 local
        with clock.use(clock.FixedClock(at)):
            session = new_session(engine)
            t0 = time.perf_counter()
            locked = lock_expired_lots(session, system)
            t1 = time.perf_counter()
            new = mark_expiry_tiers(session, system, TIERS)
            t2 = time.perf_counter()
            session.close()
        r0 = time.perf_counter()
        raw_new = raw_mark(engine, pg, day, [sid for sid, _tz in stores])
        r1 = time.perf_counter()
        marked = sum(new.values()) if i == 0 else None
        with engine.connect() as conn:
            today_marks = conn.execute(text("SELECT count(*) FROM expiry_tier_mark WHERE marked_on = :d"),
                                       {"d": day}).scalar()
        rows.append({"day": day.isoformat(), "lock_expired_s": t1 - t0, "mark_tiers_s": t2 - t1,
                     "job_s": t2 - t0, "raw_mark_s": r1 - r0, "locked": locked, "marked": today_marks,
                     "raw_marked": raw_new, "notified_groups": len(new), "first_total": marked})
        print(f"{day}: lock_expired {t1 - t0:.3f} s ({locked} locked), mark_tiers {t2 - t1:.3f} s "
              f"({today_marks} marks), raw mark {r1 - r0:.3f} s ({raw_new} marks)", flush=True)
    later = rows[1:] or rows
    summary = {
        "engine": kind, "engine_version": engine_version(engine), "machine": machine_facts(), "base": base,
        "lots": lots, "days": rows,
        "first_day_job_s": round(rows[0]["job_s"], 3), "first_day_raw_s": round(rows[0]["raw_mark_s"], 3),
        "daily_job": summarize_ms([r["job_s"] for r in later]),
        "daily_raw_mark": summarize_ms([r["raw_mark_s"] for r in later]),
        "daily_mark_only": summarize_ms([r["mark_tiers_s"] for r in later]),
        "goal_s": GOAL_S, "goal_met": max(r["job_s"] for r in rows) <= GOAL_S,
        "same_marks_as_baseline": all(r["marked"] == r["raw_marked"] for r in rows),
    }
    engine.dispose()
    out = Path(args.json) if args.json else OUT_DIR / f"expiry_{kind}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    print(f"\n{kind}: {lots:,} lots; first day job {summary['first_day_job_s']} s (raw mark "
          f"{summary['first_day_raw_s']} s); daily job p50 {summary['daily_job']['p50_ms']:.0f} ms p95 "
          f"{summary['daily_job']['p95_ms']:.0f} ms, raw mark p50 {summary['daily_raw_mark']['p50_ms']:.0f} ms; "
          f"goal ≤ {GOAL_S} s {'met' if summary['goal_met'] else 'NOT met'}; same marks as baseline: "
          f"{summary['same_marks_as_baseline']}; written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
