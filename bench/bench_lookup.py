"""Counter scan benchmark: barcode → first sellable FEFO lot + price.

Measures `inventory.services.sellable_lot_for_barcode(session, store, barcode)` the way a request uses it (a new
session per scan, closed afterwards, so BEGIN/ROLLBACK and the ORM are included), and, in the same run, one
hand-written SQL query through the raw DBAPI connection of the same engine as the baseline. Both see the same random
barcodes, in interleaved blocks. Every answer of the service is checked against the baseline's.

    python bench/bench_lookup.py --url sqlite:///bench/out/bench.db
    python bench/bench_lookup.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench --n 5000
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

GOAL_P95_MS = 5.0

# One query: barcode → drug, and (only for an approved, active drug) its first sellable lot in FEFO order, picked by
# a correlated subquery (SQLite would materialise a parenthesised LEFT JOIN over every released lot instead).
RAW_SQL = """
SELECT d.id, d.retail_price_fen, d.approval_status, d.active, sb.lot_id, sb.location_id, sb.quantity
FROM drug_barcode b
JOIN drug d ON d.id = b.drug_id
LEFT JOIN stock_balance sb ON sb.id = (
    SELECT sb2.id
    FROM lot l
    JOIN stock_balance sb2 ON sb2.lot_id = l.id
    JOIN location loc ON loc.id = sb2.location_id
    WHERE l.drug_id = d.id AND l.store_id = {p} AND l.status = 'released'
      AND (l.expiry_date IS NULL OR l.expiry_date >= {p})
      AND sb2.quantity > 0 AND loc.sellable AND loc.active
      AND d.approval_status = 'approved' AND d.active
    ORDER BY l.expiry_date IS NULL, l.expiry_date, l.created_at, l.id
    LIMIT 1)
WHERE b.barcode = {p}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=f"sqlite:///{OUT_DIR / 'bench.db'}")
    ap.add_argument("--n", type=int, default=5000, help="measured lookups per path (default 5000)")
    ap.add_argument("--warmup", type=int, default=500, help="warm-up lookups per path, not measured")
    ap.add_argument("--block", type=int, default=250, help="lookups per interleaved block")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", choices=["service", "raw"], help="run one path only (e.g. under a profiler)")
    ap.add_argument("--json", help="write the result summary here as JSON")
    args = ap.parse_args(argv)

    from sqlmodel import select

    from core import clock
    from core.db import make_engine, new_session
    from core.errors import NotSellable
    from core.models import Store
    from inventory.models import DrugBarcode
    from inventory.services import sellable_lot_for_barcode

    url = normalise_url(args.url)
    kind = engine_kind(url)
    engine = make_engine(url)
    with new_session(engine) as s:
        store = s.exec(select(Store).where(Store.code == BENCH_STORE_CODE)).one()
        barcodes = list(s.exec(select(DrugBarcode.barcode)).all())
    rng = random.Random(args.seed)
    warm = rng.choices(barcodes, k=args.warmup)
    codes = rng.choices(barcodes, k=args.n)

    def service(code: str):
        session = new_session(engine)
        try:
            found = sellable_lot_for_barcode(session, store, code)
            return (found.drug.id, found.lot.id if found.lot else None, found.location_id, found.available,
                    found.price_fen)
        except NotSellable:
            return ("not_sellable",)
        finally:
            session.close()

    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    if kind == "postgresql":
        dbapi.autocommit = True
        sql = RAW_SQL.format(p="%s")
    else:
        sql = RAW_SQL.format(p="?")
    cur = dbapi.cursor()

    def baseline(code: str):
        today = clock.today(store.timezone)
        cur.execute(sql, (store.id, today.isoformat() if kind == "sqlite" else today, code))
        row = cur.fetchone()
        if row is None:
            raise LookupError(code)
        drug_id, price, approval, active, lot_id, location_id, qty = row
        if approval != "approved" or not active:
            return ("not_sellable",)
        return (drug_id, lot_id, location_id, qty or 0, price)

    paths = {"service": service, "raw": baseline}
    if args.only:
        paths = {args.only: paths[args.only]}
    for fn in paths.values():
        for code in warm:
            fn(code)

    samples: dict[str, list[float]] = {name: [] for name in paths}
    answers: dict[str, list] = {name: [] for name in paths}
    perf = time.perf_counter
    t_start = perf()
    for b, start in enumerate(range(0, len(codes), args.block)):
        block = codes[start:start + args.block]
        order = list(paths.items()) if b % 2 == 0 else list(reversed(paths.items()))
        for name, fn in order:
            out, ans = samples[name], answers[name]
            for code in block:
                t0 = perf()
                r = fn(code)
                out.append(perf() - t0)
                ans.append(r)
    wall = perf() - t_start
    cur.close()
    raw.close()

    result = {"engine": kind, "engine_version": engine_version(engine), "n": args.n, "warmup": args.warmup,
              "barcodes_in_db": len(barcodes), "wall_s": round(wall, 2), "goal_p95_ms": GOAL_P95_MS}
    for name in paths:
        result[name] = summarize_ms(samples[name])
    if "service" in paths:
        ans = answers["service"]
        result["outcomes"] = {"lot_found": sum(1 for a in ans if len(a) > 1 and a[1] is not None),
                              "no_sellable_lot": sum(1 for a in ans if len(a) > 1 and a[1] is None),
                              "drug_not_sellable": sum(1 for a in ans if len(a) == 1)}
        result["goal_met"] = result["service"]["p95_ms"] <= GOAL_P95_MS
    if len(paths) == 2:
        s, r = result["service"], result["raw"]
        result["ratio_service_over_raw"] = {k: round(s[k] / r[k], 2) for k in ("p50_ms", "p95_ms", "p99_ms")}
        # Same drug, same lot (the location may differ when one lot sits in two sellable places: a tie in FEFO order).
        result["answer_mismatches"] = sum(
            1 for a, b in zip(answers["service"], answers["raw"])
            if (a[0], a[1] if len(a) > 1 else None) != (b[0], b[1] if len(b) > 1 else None))
    engine.dispose()
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
