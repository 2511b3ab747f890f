"""Counter scan benchmark: an EAN-13 scan → a new line in the register's cart (server time).

Service path: `pos.services.scan_into_cart(session, actor, register, ean13)` in a new session per scan (opened and
closed around it, as a request does): decode, barcode → drug, FEFO lot, the sellability and stock checks, the cart
line INSERT and COMMIT. Every scan starts from an empty cart: the cart is cancelled between scans (not timed), so each
scan also opens the new cart, as the first scan of every sale does.

Baseline, same run, same engine: the same work by hand on the raw DBAPI connection in one transaction (BEGIN
[IMMEDIATE]; open shift; open cart, or INSERT one; barcode → drug + first sellable FEFO balance holding a pack, one
query; what the cart already holds of that lot; INSERT cart_line; COMMIT).

Optionally (--http-n, default 300) the whole HTTP path once more through Flask's test client: POST /pos/<code>/scan
with the htmx header, logged in as the cashier, which re-renders the counter workspace.

    python bench/pos_scan.py --url sqlite:///bench/out/pos.db
    python bench/pos_scan.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench_pos --n 2000
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT_DIR, engine_kind, normalise_url, summarize_ms  # noqa: E402
from pos_common import (CASHIER, CASHIER_PASSWORD, SIZES, StatementCounter, default_url, ensure_base, md_table, run_facts,  # noqa: E402
                        save, scan_rows, sellable_drugs, setup_counter, sqlite_ts, write_results)

GOAL_P95_MS = 10.0
RAW_STATEMENTS = 7  # BEGIN, shift, cart, INSERT cart, lookup, held in cart, INSERT cart_line (+ COMMIT)

RAW_LOOKUP = """
SELECT d.id, d.retail_price_fen, d.units_per_package, sb.lot_id, sb.location_id, sb.quantity
FROM drug_barcode b
JOIN drug d ON d.id = b.drug_id
LEFT JOIN stock_balance sb ON sb.id = (
    SELECT sb2.id
    FROM lot l
    JOIN stock_balance sb2 ON sb2.lot_id = l.id
    JOIN location loc ON loc.id = sb2.location_id
    WHERE l.drug_id = d.id AND l.store_id = {p} AND l.status = 'released'
      AND (l.expiry_date IS NULL OR l.expiry_date >= {p})
      AND sb2.quantity >= d.units_per_package AND loc.sellable AND loc.active
      AND d.approval_status = 'approved' AND d.active
    ORDER BY l.expiry_date IS NULL, l.expiry_date, l.created_at, l.id, loc.code
    LIMIT 1)
WHERE b.barcode = {p}
"""

DESCRIPTION = (
    "`pos.services.scan_into_cart(session, actor, register, ean13)` in a new session per scan (timed from opening the "
    "session to closing it; the call alone is listed too), each scan into an empty cart (the cart is cancelled between "
    "scans, untimed, so every scan also opens the cart, like the first scan of a sale). Barcodes: random in-store "
    "EAN-13s of approved, active drugs with a sellable balance of at least one pack. Baseline: the same work by hand "
    "on the raw DBAPI connection in one transaction (BEGIN [IMMEDIATE]; open shift; open cart or INSERT; barcode → "
    "drug + first sellable FEFO balance, one query; what the cart holds of that lot; INSERT cart_line; COMMIT). "
    "Interleaved blocks after a warm-up. The HTTP row is POST /pos/<code>/scan through Flask's test client (logged-in "
    "cashier, htmx header; it renders the counter workspace). Goal: service p95 ≤ 10 ms.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default_url())
    ap.add_argument("--size", choices=SIZES, default="full", help="data set generated if the database lacks one")
    ap.add_argument("--fresh", action="store_true", help="re-generate the data set first (drops the database)")
    ap.add_argument("--n", type=int, default=2000, help="measured scans per path")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--block", type=int, default=200)
    ap.add_argument("--http-n", type=int, default=300, help="measured HTTP scans (0: skip)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--only", choices=["service", "raw"], help="one path only (e.g. under a profiler)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="after the run, profile N more service scans (pyinstrument and cProfile) into bench/out/")
    args = ap.parse_args(argv)

    url = normalise_url(args.url)
    kind = engine_kind(url)
    pg = kind == "postgresql"
    base = ensure_base(url, args.size, args.fresh)

    from core import clock
    from core.db import end_session, make_engine, new_session
    from pos import services as pos

    engine = make_engine(url)
    counter = setup_counter(engine, ["SCAN1", "SCANR", "SCANH"])
    store, actor = counter.store, counter.actor
    pool = sellable_drugs(engine, store.id, min_packs=1)
    rng = random.Random(args.seed)
    facts = run_facts(engine)

    def reset(register):
        s = new_session(engine)
        try:
            if pos.current_cart(s, register) is not None:
                pos.cancel_cart(s, actor, register)
        finally:
            end_session(s)

    # --- service ----------------------------------------------------------------------------------------------------
    reg_s = counter.registers["SCAN1"]
    statements = StatementCounter(engine)
    call_samples: list[float] = []
    lots_by_service: dict[int, int] = {}
    perf = time.perf_counter

    def service(item, record: bool):
        drug_id, code = item[0], item[1]
        reset(reg_s)
        statements.active = record
        t0 = perf()
        s = new_session(engine)
        try:
            t1 = perf()
            out = pos.scan_into_cart(s, actor, reg_s, code)
            t2 = perf()
        finally:
            end_session(s)
        t3 = perf()
        statements.active = False
        if out.kind != "added" or out.line.drug_id != drug_id:
            raise RuntimeError(f"scan of {code} gave {out.kind} {out.line}")
        if record:
            call_samples.append(t2 - t1)
            lots_by_service[drug_id] = out.line.lot_id
        return t3 - t0

    # --- raw baseline -----------------------------------------------------------------------------------------------
    reg_r = counter.registers["SCANR"]
    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    p = "%s" if pg else "?"
    if pg:
        dbapi.autocommit = False
    cur = dbapi.cursor()
    lookup = RAW_LOOKUP.format(p=p)
    q_shift = f"SELECT id FROM shift WHERE register_id = {p} AND closed_at IS NULL"
    q_cart = f"SELECT id FROM cart WHERE register_id = {p} AND status = 'open' ORDER BY id DESC LIMIT 1"
    ins_cart = (f"INSERT INTO cart (store_id, register_id, shift_id, cashier_id, status, buyer_name, buyer_id_number, "
                f"created_at) VALUES ({p}, {p}, {p}, {p}, 'open', '', '', {p}) RETURNING id")
    q_held = (f"SELECT coalesce(sum(CASE WHEN cl.split_pack THEN cl.pack_quantity "
              f"ELSE cl.pack_quantity * d.units_per_package END), 0) "
              f"FROM cart_line cl JOIN drug d ON d.id = cl.drug_id "
              f"WHERE cl.cart_id = {p} AND cl.lot_id = {p} AND cl.location_id = {p}")
    ins_line = (f"INSERT INTO cart_line (cart_id, drug_id, lot_id, location_id, split_pack, pack_quantity, "
                f"unit_price_fen, price_override_reason, trace_code, added_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {'false' if pg else '0'}, 1, {p}, '', NULL, {p}) RETURNING id")
    lots_by_raw: dict[int, int] = {}

    def ts():
        now = clock.now()
        return now if pg else sqlite_ts(now)

    def baseline(item, record: bool):
        drug_id, code = item[0], item[1]
        reset(reg_r)
        today = clock.today(store.timezone)
        t0 = perf()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(q_shift, (reg_r.id,))
            shift_id = cur.fetchone()[0]
            cur.execute(q_cart, (reg_r.id,))
            row = cur.fetchone()
            if row is None:
                cur.execute(ins_cart, (store.id, reg_r.id, shift_id, actor.user_id, ts()))
                row = cur.fetchone()
            cart_id = row[0]
            cur.execute(lookup, (store.id, today if pg else today.isoformat(), code))
            found = cur.fetchone()
            if found is None or found[3] is None:
                raise RuntimeError(f"raw lookup of {code}: nothing sellable")
            d_id, price, units, lot_id, location_id, qty = found
            cur.execute(q_held, (cart_id, lot_id, location_id))
            if cur.fetchone()[0] + units > qty:
                raise RuntimeError("not enough stock")
            cur.execute(ins_line, (cart_id, d_id, lot_id, location_id, price, ts()))
            cur.fetchone()
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
        elapsed = perf() - t0
        if record:
            lots_by_raw[drug_id] = lot_id
        return elapsed

    paths = {"service": service, "raw": baseline}
    if args.only:
        paths = {args.only: paths[args.only]}
    for fn in paths.values():
        for item in rng.choices(pool, k=args.warmup):
            fn(item, False)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    t_start = perf()
    for b in range(0, args.n, args.block):
        order = list(paths.items()) if (b // args.block) % 2 == 0 else list(reversed(paths.items()))
        items = rng.choices(pool, k=min(args.block, args.n - b))  # both paths scan the same codes
        for name, fn in order:
            for item in items:
                samples[name].append(fn(item, True))
    wall = perf() - t_start
    reset(reg_r)
    cur.close()
    raw.close()

    result = {"engine": kind, "bench": "scan", "facts": facts, "base": base, "description": DESCRIPTION,
              "n": args.n, "warmup": args.warmup, "candidate_drugs": len(pool), "wall_s": round(wall, 1),
              "goal_p95_ms": GOAL_P95_MS}
    for name in paths:
        result[name] = summarize_ms(samples[name])
    if "service" in paths:
        result["service_call"] = summarize_ms(call_samples)
        result["goal_met"] = result["service"]["p95_ms"] <= GOAL_P95_MS
        result["statements_per_scan"] = round(statements.count / max(1, len(call_samples)), 1)
    if len(paths) == 2:
        same = sum(1 for d, lot in lots_by_service.items() if lots_by_raw.get(d) == lot)
        result["lot_agreement"] = f"{same}/{len(lots_by_service)}"

    # --- HTTP through the Flask test client -----------------------------------------------------------------------
    http_note = ""
    if args.http_n and not args.only:
        http_note = run_http(url, engine, counter, pool, rng, args.http_n, result, reset)
    if args.profile:
        profile_scans(engine, kind, args.profile, pool, rng, reg_s, actor, reset)
    engine.dispose()

    notes = [f"{len(pool):,} candidate drugs", f"wall {result['wall_s']} s"]
    if "statements_per_scan" in result:
        notes.append(f"SQL statements per scan: service {result['statements_per_scan']} (BEGIN included, COMMIT not), "
                     f"baseline {RAW_STATEMENTS}")
    if "service" in result and "raw" in result:
        notes.append(f"service/raw p50 {result['service']['p50_ms'] / result['raw']['p50_ms']:.1f}×, "
                     f"p95 {result['service']['p95_ms'] / result['raw']['p95_ms']:.1f}×")
        notes.append(f"same FEFO lot as the baseline for {result['lot_agreement']} drugs")
    if http_note:
        notes.append(http_note)
    result["notes"] = "; ".join(notes)
    if not args.only:
        save("scan", result)
    print(md_table(["Engine", "Path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "p95 / raw p95"],
                   scan_rows({kind: result})))
    print(f"\n{result['notes']}")
    if "goal_met" in result:
        print(f"goal service p95 ≤ {GOAL_P95_MS} ms: {'met' if result['goal_met'] else 'NOT met'}")
    if not args.only:
        write_results()
    return 0


def run_http(url, engine, counter, pool, rng, n, result, reset) -> str:
    """POST /pos/<code>/scan through Flask's test client, if the route exists."""
    os.environ["YAOFANG_INSTANCE_DIR"] = str(OUT_DIR / "pos-instance")
    from core.app import create_app

    app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER_IN_PROCESS": False,
                      "PRINT_WORKER_IN_PROCESS": False, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-not-for-production"})
    rules = {r.rule for r in app.url_map.iter_rules()}
    if "/pos/<code>/scan" not in rules:
        result["http_skipped"] = "no route /pos/<code>/scan in this build"
        return "HTTP path skipped: no POST /pos/<code>/scan route"
    register = counter.registers["SCANH"]
    client = app.test_client()
    login = client.post("/login", data={"username": CASHIER, "password": CASHIER_PASSWORD})
    if login.status_code != 302:
        raise RuntimeError(f"login failed: {login.status_code}")
    headers = {"HX-Request": "true"}
    samples, bad = [], 0
    perf = time.perf_counter
    for i, item in enumerate(rng.choices(pool, k=n + 30)):
        reset(register)
        t0 = perf()
        resp = client.post(f"/pos/{register.code}/scan", data={"raw": item[1]}, headers=headers)
        elapsed = perf() - t0
        if resp.status_code != 200:
            bad += 1
        if i >= 30:
            samples.append(elapsed)
    reset(register)
    app.extensions["yaofang.engine"].dispose()
    result["http"] = summarize_ms(samples)
    result["http_non_200"] = bad
    return (f"HTTP: {n} scans after 30 warm-up, {bad} non-200 answers; the answer is the re-rendered workspace "
            f"partial")


def profile_scans(engine, kind, n, pool, rng, register, actor, reset) -> None:
    """pyinstrument (call tree) and cProfile (per function) over n scans; text into bench/out/."""
    import cProfile
    import io
    import pstats

    from core.db import end_session, new_session
    from pos import services as pos

    def scan(item):
        s = new_session(engine)
        try:
            pos.scan_into_cart(s, actor, register, item[1])
        finally:
            end_session(s)

    items = rng.choices(pool, k=n)
    written = []
    try:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0002)
        for item in items:
            reset(register)
            prof.start()
            scan(item)
            prof.stop()
        path = OUT_DIR / f"pos_scan_profile_{kind}.txt"
        path.write_text(prof.output_text(unicode=True, color=False), encoding="utf-8")
        written.append(str(path))
    except ImportError:
        pass
    cp = cProfile.Profile()
    for item in items:
        reset(register)
        cp.enable()
        scan(item)
        cp.disable()
    reset(register)
    buf = io.StringIO()
    stats = pstats.Stats(cp, stream=buf)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    path = OUT_DIR / f"pos_scan_cprofile_{kind}.txt"
    path.write_text(buf.getvalue(), encoding="utf-8")
    written.append(str(path))
    print("profiles: " + ", ".join(written))


if __name__ == "__main__":
    raise SystemExit(main())
