"""Ledger write benchmark: one stock movement per write transaction, like a real request.

Service path: a new session, `with core.db.transaction(session): inventory.services.post_movement(...)`, commit,
close (the lot and location objects are loaded beforehand, so only the ledger write is measured). Baseline, same run,
same engine: the same statements by hand through the raw DBAPI connection (BEGIN [IMMEDIATE on SQLite]; the
conditional balance UPDATE … RETURNING or the INSERT … ON CONFLICT DO UPDATE … RETURNING; the movement INSERT;
COMMIT). Movements alternate +q / −q on the same existing balance, so nothing ever goes negative; the touched
balances are checked against the sum of their movements at the end.

    python bench/bench_movements.py --url sqlite:///bench/out/bench.db
    python bench/bench_movements.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench --n 4000
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (BENCH_STORE_CODE, OUT_DIR, engine_kind, engine_version, normalise_url, summarize_ms,  # noqa: E402
                    write_json)

GOAL_RATIO = 0.5

RAW_UPSERT = ("INSERT INTO stock_balance (store_id, lot_id, location_id, quantity) VALUES ({p}, {p}, {p}, {p}) "
              "ON CONFLICT (lot_id, location_id) DO UPDATE SET quantity = stock_balance.quantity + excluded.quantity "
              "RETURNING quantity")
RAW_DECREMENT = ("UPDATE stock_balance SET quantity = quantity + {p} "
                 "WHERE lot_id = {p} AND location_id = {p} AND quantity + {p} >= 0 RETURNING quantity")
RAW_INSERT_MOVE = ("INSERT INTO stock_movement (store_id, lot_id, location_id, kind, quantity, balance_after, "
                   "reference, reason, actor_id, at, unit_cost_fen) "
                   "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=f"sqlite:///{OUT_DIR / 'bench.db'}")
    ap.add_argument("--n", type=int, default=6000, help="measured movements per path (default 6000)")
    ap.add_argument("--warmup", type=int, default=200, help="warm-up movements per path, not measured")
    ap.add_argument("--block", type=int, default=200, help="movements per interleaved block (even)")
    ap.add_argument("--balances", type=int, default=2000, help="how many existing balances to move stock on")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", choices=["service", "raw"], help="run one path only (e.g. under a profiler)")
    ap.add_argument("--json", help="write the result summary here as JSON")
    args = ap.parse_args(argv)
    if args.block % 2 or args.n % 2 or args.warmup % 2:
        raise SystemExit("--n, --warmup and --block must be even (movements come in +q/−q pairs)")

    from sqlmodel import func, select

    from core import clock
    from core.db import make_engine, new_session, transaction
    from core.models import Store
    from core.services import Actor
    from inventory.models import Location, Lot, MovementKind, StockBalance, StockMovement
    from inventory.services import post_movement

    url = normalise_url(args.url)
    kind = engine_kind(url)
    pg = kind == "postgresql"
    engine = make_engine(url)
    rng = random.Random(args.seed)

    with new_session(engine) as s:
        store = s.exec(select(Store).where(Store.code == BENCH_STORE_CODE)).one()
        max_id = s.exec(select(func.max(StockBalance.id))).one()
        ids = rng.sample(range(1, max_id + 1), min(args.balances, max_id))
        balances = list(s.exec(select(StockBalance).where(StockBalance.id.in_(ids))).all())
        lots = {lot.id: lot for lot in s.exec(select(Lot).where(Lot.id.in_({b.lot_id for b in balances}))).all()}
        locations = {loc.id: loc for loc in s.exec(select(Location)).all()}
        before = {(b.lot_id, b.location_id): b.quantity for b in balances}
    targets = [(lots[b.lot_id], locations[b.location_id]) for b in balances]
    actor = Actor.system("bench", store.id)

    def plan(n: int):
        """n movements: pairs of +q then −q on one random target balance."""
        out = []
        for _ in range(n // 2):
            lot, loc = rng.choice(targets)
            q = rng.randint(1, 20)
            out.append((lot, loc, q))
            out.append((lot, loc, -q))
        return out

    def service(lot, loc, q):
        session = new_session(engine)
        try:
            with transaction(session):
                post_movement(session, actor, lot=lot, location=loc, quantity=q,
                              kind=MovementKind.OTHER_IN if q > 0 else MovementKind.OTHER_OUT,
                              reference="bench:service")
        finally:
            session.close()

    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    p = "%s" if pg else "?"
    upsert, decrement, insert_move = (RAW_UPSERT.format(p=p), RAW_DECREMENT.format(p=p),
                                      RAW_INSERT_MOVE.format(p=p))
    if pg:
        dbapi.autocommit = False
    cur = dbapi.cursor()

    def baseline(lot, loc, q):
        at = clock.now()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        try:
            if q > 0:
                cur.execute(upsert, (lot.store_id, lot.id, loc.id, q))
            else:
                cur.execute(decrement, (q, lot.id, loc.id, q))
            row = cur.fetchone()
            if row is None:
                raise RuntimeError("balance would go negative")
            cur.execute(insert_move, (lot.store_id, lot.id, loc.id, "other_in" if q > 0 else "other_out", q, row[0],
                                      "bench:raw", "", None,
                                      at if pg else at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                                      None))
            if pg:
                dbapi.commit()
            else:
                cur.execute("COMMIT")
        except BaseException:
            if pg:
                dbapi.rollback()
            else:
                cur.execute("ROLLBACK")
            raise

    paths = {"service": service, "raw": baseline}
    if args.only:
        paths = {args.only: paths[args.only]}
    for fn in paths.values():
        for move in plan(args.warmup):
            fn(*move)

    samples: dict[str, list[float]] = {name: [] for name in paths}
    busy: dict[str, float] = {name: 0.0 for name in paths}
    perf = time.perf_counter
    t_start = perf()
    for b in range(0, args.n, args.block):
        order = list(paths.items()) if (b // args.block) % 2 == 0 else list(reversed(paths.items()))
        for name, fn in order:
            moves = plan(min(args.block, args.n - b))
            out = samples[name]
            t_block = perf()
            for move in moves:
                t0 = perf()
                fn(*move)
                out.append(perf() - t0)
            busy[name] += perf() - t_block
    wall = perf() - t_start
    cur.close()
    raw.close()

    # The touched balances still equal their opening quantity and the sum of their movements.
    with new_session(engine) as s:
        keys = list(before)
        lot_ids = {k[0] for k in keys}
        now_bal = {(b.lot_id, b.location_id): b.quantity
                   for b in s.exec(select(StockBalance).where(StockBalance.lot_id.in_(lot_ids))).all()}
        sums = {(lot_id, loc_id): int(total) for lot_id, loc_id, total in s.exec(
            select(StockMovement.lot_id, StockMovement.location_id, func.sum(StockMovement.quantity))
            .where(StockMovement.lot_id.in_(lot_ids))
            .group_by(StockMovement.lot_id, StockMovement.location_id)).all()}
    ledger_errors = sum(1 for k in keys if now_bal.get(k) != before[k] or sums.get(k, 0) != now_bal.get(k))

    result = {"engine": kind, "engine_version": engine_version(engine), "n": args.n, "warmup": args.warmup,
              "target_balances": len(targets), "wall_s": round(wall, 2), "goal_ratio": GOAL_RATIO,
              "ledger_errors": ledger_errors}
    for name in paths:
        result[name] = {"movements_per_s": round(len(samples[name]) / busy[name], 1), **summarize_ms(samples[name])}
    if len(paths) == 2:
        ratio = result["service"]["movements_per_s"] / result["raw"]["movements_per_s"]
        result["ratio_service_over_raw_throughput"] = round(ratio, 3)
        # Less sensitive to the odd WAL checkpoint or fsync stall that lands in one path's block:
        result["ratio_raw_p50_over_service_p50"] = round(result["raw"]["p50_ms"] / result["service"]["p50_ms"], 3)
        result["goal_met"] = ratio >= GOAL_RATIO
    engine.dispose()
    write_json(args.json, result)
    return 1 if ledger_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
