"""`ledger verify` benchmark: `pos.services.verify_journal(session)` over 1,000,000 hash-chained sales.

A store of its own (code PV01) with a few registers gets a valid chain of sales bulk-loaded with raw SQL (1 line and
1 cash payment per sale; hashes computed in Python exactly as the writer does: sha256(prev_hash +
pos.services.canonical_rows(sale, lines, payments))): SQLite executemany in 100k-sale transactions with
PRAGMA synchronous=OFF on the load connection only; PostgreSQL COPY. The sales reference the drugs and lots of the
bench/generate.py data set. A database that already holds the chain is reused (load skipped).

Then, timed: verify_journal over every register of the database — every chain must be reported OK. Then one sale_line
amount deep in one chain is altered with its append-only trigger dropped (SQLite) or disabled (PostgreSQL) for that
one UPDATE, verify runs again and must name exactly that sale; the amount is put back afterwards.

    python bench/pos_verify.py --url sqlite:///bench/out/pos.db
    python bench/pos_verify.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench_pos --sales 1000000
    python bench/pos_verify.py --url … --jobs 2            # also ledger verify --jobs 2 (registers in parallel)
    python bench/pos_verify.py --url … --profile 100000    # profile verify over one register of that many sales
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT_DIR, engine_kind, normalise_url  # noqa: E402
from pos_common import (CASHIER, LINE_COLS, PAY_COLS, SALE_COLS, SIZES, default_url, ensure_base,  # noqa: E402
                        insert_sql, md_table, run_facts, sale_hash, save, setup_counter, sqlite_ts, verify_rows,
                        write_results)

GOAL_SALES_PER_S = 100_000
VERIFY_STORE = "PV01"
CHUNK = 100_000

DESCRIPTION = (
    "A store of its own (PV01) with 4 registers and a valid chain of 1,000,000 sales (1 line + 1 cash payment each, "
    "hashes computed in Python with `pos.services.canonical_rows` + sha256 exactly as the writer does), bulk-loaded "
    "with raw SQL (SQLite: executemany in 100k-sale transactions, synchronous=OFF on the load connection only; "
    "PostgreSQL: COPY), then ANALYZE. Timed: `pos.services.verify_journal(session)` over every register of the "
    "database (the other benchmarks' registers included), which must report every chain OK. Then one sale_line "
    "amount deep in one chain is altered (append-only trigger dropped / disabled for that UPDATE only) and verify runs "
    "again: it must name exactly that sale (its chain stops there; the others are verified in full). Goal: ≥ 100,000 "
    "sales/s.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default_url())
    ap.add_argument("--size", choices=SIZES, default="full", help="data set generated if the database lacks one")
    ap.add_argument("--fresh", action="store_true", help="re-generate the data set first (drops the database)")
    ap.add_argument("--sales", type=int, default=1_000_000)
    ap.add_argument("--registers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--jobs", type=int, default=2, metavar="N",
                    help="also time verify_journal_parallel with N worker processes (ledger verify --jobs N)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="only profile verify_journal over a register of N sales (pyinstrument + cProfile)")
    args = ap.parse_args(argv)

    url = normalise_url(args.url)
    kind = engine_kind(url)
    pg = kind == "postgresql"
    base = ensure_base(url, args.size, args.fresh)

    from sqlmodel import func, select

    from core.db import end_session, make_engine, new_session
    from core.models import Store
    from core.services import Actor, actor_for, create_store
    from core.models import User
    from pos import services as pos
    from pos.models import Register, Sale

    engine = make_engine(url)
    setup_counter(engine, [])  # the cashier
    codes = [f"V{i}" for i in range(1, args.registers + 1)]
    store_code = VERIFY_STORE
    if args.profile:  # a store of its own, so verify_journal(session, store_id) reads that one register only
        codes, store_code = [f"VP{args.profile}"], f"{VERIFY_STORE}P"
    with new_session(engine) as s:
        store = s.exec(select(Store).where(Store.code == store_code)).first()
        system = Actor.system("bench")
        if store is None:
            store = create_store(s, system, code=store_code, name="基准测试药房（日志校验）", timezone="Asia/Shanghai")
        user = s.exec(select(User).where(User.username == CASHIER)).one()
        actor = actor_for(s, user)
        registers = []
        for code in codes:
            reg = s.exec(select(Register).where(Register.store_id == store.id, Register.code == code)).first()
            if reg is None:
                reg = pos.create_register(s, Actor.system("bench", store.id), store_id=store.id, code=code,
                                          name=f"校验 {code}")
            if pos.open_shift_of(s, reg.id) is None:
                pos.open_shift(s, actor, reg, 0)
            registers.append(reg)
        shifts = {r.id: pos.open_shift_of(s, r.id).id for r in registers}
        for obj in (store, user, *registers):
            s.refresh(obj)
        have = s.exec(select(func.count(Sale.id)).where(Sale.store_id == store.id,
                                                         Sale.register_id.in_([r.id for r in registers]))).one()
        s.commit()
    target = args.profile or args.sales
    facts = run_facts(engine)
    load = {}
    if have == 0:
        load = bulk_load(engine, pg, store, registers, shifts, user.id, target, random.Random(args.seed))
    elif have != target:
        raise SystemExit(f"{store_code} already holds {have:,} sales on {codes}, not {target:,}: use --fresh")
    else:
        print(f"reusing the {have:,} sales already loaded for {store_code} {codes}", flush=True)

    if args.profile:
        return profile_verify(engine, kind, store.id, registers[0])

    # --- verify the intact chains -------------------------------------------------------------------------------------
    def timed_verify():
        s = new_session(engine)
        try:
            t0 = time.perf_counter()
            reports = pos.verify_journal(s)
            return reports, time.perf_counter() - t0
        finally:
            end_session(s)

    reports, seconds = timed_verify()
    checked = sum(r.sales for r in reports)
    broken = [r for r in reports if not r.ok]
    clean = {"sales_checked": checked, "seconds": round(seconds, 2), "sales_per_s": round(checked / seconds),
             "registers": len(reports), "outcome": "all chains OK" if not broken else
             "BROKEN: " + ", ".join(f"{r.register_code} at {r.first_bad_sale} ({r.problem})" for r in broken)}
    print(f"verify, intact: {checked:,} sales over {len(reports)} registers in {seconds:.2f} s = "
          f"{checked / seconds:,.0f} sales/s; {clean['outcome']}", flush=True)

    # --- alter one sale_line deep in one chain ------------------------------------------------------------------------
    victim_reg = registers[len(registers) // 2]
    per_register = target // len(registers)
    victim_seq = int(per_register * 0.8)
    line_id, amount, number = tamper(engine, pg, victim_reg.id, victim_seq, +1)
    try:
        reports2, seconds2 = timed_verify()
    finally:
        tamper(engine, pg, victim_reg.id, victim_seq, -1)
    checked2 = sum(r.sales for r in reports2)
    bad2 = [r for r in reports2 if not r.ok]
    found = (len(bad2) == 1 and bad2[0].register_code == victim_reg.code and bad2[0].first_bad_sale == number
             and "altered" in bad2[0].problem)
    corrupt = {"sales_checked": checked2, "seconds": round(seconds2, 2), "sales_per_s": round(checked2 / seconds2),
               "altered_sale": number, "altered_line_id": line_id, "found": found,
               "outcome": ("named " + ", ".join(f"{r.register_code}: {r.first_bad_sale} — {r.problem}" for r in bad2))
               if bad2 else "NOT FOUND"}
    print(f"verify, one line altered in {number}: {corrupt['outcome']} in {seconds2:.2f} s", flush=True)

    proto = {}
    if args.jobs > 1:  # `yaofang ledger verify --jobs N`: registers in N worker processes
        expected = {r.register_code: (r.sales, r.ok) for r in reports}
        s = new_session(engine)
        try:
            t0 = time.perf_counter()
            got = pos.verify_journal_parallel(s, url, args.jobs)
            secs = time.perf_counter() - t0
        finally:
            end_session(s)
        n = sum(r.sales for r in got)
        same = {r.register_code: (r.sales, r.ok) for r in got} == expected
        proto[f"jobs_{args.jobs}"] = {"sales_checked": n, "seconds": round(secs, 2), "sales_per_s": round(n / secs),
                                      "same_reports_as_verify_journal": same}
        print(f"verify_journal_parallel, {args.jobs} processes: {n:,} sales in {secs:.2f} s = {n / secs:,.0f} "
              f"sales/s; same reports as verify_journal: {same}", flush=True)

    result = {"engine": kind, "bench": "verify", "facts": facts, "base": base, "description": DESCRIPTION,
              "sales_loaded": target, "registers": codes, "load": load, "clean": clean, "corrupt": corrupt,
              "goal_sales_per_s": GOAL_SALES_PER_S, "goal_met": clean["sales_per_s"] >= GOAL_SALES_PER_S,
              "all_ok": not broken, "parallel": proto}
    load_text = (f"load of {target:,} sales: hashing {load['hash_s']} s, inserts {load['insert_s']} s, "
                 f"ANALYZE {load['analyze_s']} s" if load else "chain reused from an earlier run")
    result["notes"] = (f"{load_text}; altered sale {number} (line {line_id}, amount {amount} → {amount + 1}) in "
                       f"register {victim_reg.code} at seq {victim_seq:,} of {per_register:,}; "
                       f"{'named correctly' if found else 'NOT named correctly'}; the amount was put back afterwards")
    if proto:
        result["notes"] += "; verify_journal_parallel: " + ", ".join(
            f"{k.replace('_', ' ')}: {v['sales_per_s']:,} sales/s"
            f"{'' if v['same_reports_as_verify_journal'] else ' (DIFFERENT reports!)'}" for k, v in proto.items())
    save("verify", result)
    engine.dispose()
    print(md_table(["Engine", "Chains", "sales checked", "seconds", "sales/s", "outcome"], verify_rows({kind: result})))
    print(f"\ngoal ≥ {GOAL_SALES_PER_S:,} sales/s: {'met' if result['goal_met'] else 'NOT met'}")
    write_results()
    return 0 if (not broken and found) else 1


def bulk_load(engine, pg, store, registers, shifts, cashier_id, total, rng) -> dict:
    """A valid chain per register, round-robin in time order; ids given explicitly."""
    from pos.services import GENESIS_HASH, sale_number

    raw = engine.raw_connection()
    con = raw.driver_connection
    timings = {"hash_s": 0.0, "insert_s": 0.0}
    try:
        cur = con.cursor()
        ids = {}
        for table in ("sale", "sale_line", "sale_payment"):
            cur.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"')
            ids[table] = cur.fetchone()[0]
        cur.execute("SELECT id, lot_id, location_id FROM stock_balance ORDER BY id LIMIT 5000")
        places = cur.fetchall()
        cur.execute("SELECT id, drug_id FROM lot WHERE id IN (%s)" % ",".join(str(p[1]) for p in places))
        lot_drug = dict(cur.fetchall())
        cur.execute("SELECT id, retail_price_fen, units_per_package FROM drug WHERE id IN (%s)"
                    % ",".join(str(d) for d in set(lot_drug.values())))
        drugs = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
        con.commit()
        if not pg:
            con.isolation_level = None
            cur.execute("PRAGMA synchronous=OFF")  # for the load only; this connection is discarded afterwards
            cur.execute("PRAGMA cache_size=-524288")
        heads = {r.id: (0, GENESIS_HASH) for r in registers}
        tz = ZoneInfo("Asia/Shanghai")
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=3 * total + 86400)
        sale_id, line_id, pay_id = ids["sale"], ids["sale_line"], ids["sale_payment"]
        sql_sale = insert_sql("sale", ("id",) + SALE_COLS, pg)
        sql_line = insert_sql("sale_line", ("id",) + LINE_COLS, pg)
        sql_pay = insert_sql("sale_payment", ("id",) + PAY_COLS, pg)
        done = 0
        while done < total:
            n = min(CHUNK, total - done)
            t0 = time.perf_counter()
            sales, lines, pays = [], [], []
            for i in range(done, done + n):
                reg = registers[i % len(registers)]
                seq, prev = heads[reg.id]
                seq += 1
                sale_id += 1
                line_id += 1
                pay_id += 1
                created = start + timedelta(seconds=3 * i)
                _bal, lot_id, loc_id = places[rng.randrange(len(places))]
                drug_id = lot_drug[lot_id]
                price, units = drugs[drug_id]
                packs = 1 + (rng.random() < 0.2)
                amount = price * packs
                cash = (amount // 10_000 + 1) * 10_000
                sale = {"store_id": store.id, "register_id": reg.id, "shift_id": shifts[reg.id], "seq": seq,
                        "sale_number": sale_number(reg, seq), "kind": "sale", "original_sale_id": None,
                        "business_date": created.astimezone(tz).date(), "cashier_id": cashier_id,
                        "pharmacist_id": None, "prescription_id": None,
                        "client_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "total_fen": amount,
                        "paid_fen": cash, "change_fen": cash - amount, "buyer_name": "", "buyer_id_number": "",
                        "reason": "", "created_at": created, "prev_hash": prev}
                line = {"sale_id": sale_id, "line_no": 1, "drug_id": drug_id, "lot_id": lot_id, "location_id": loc_id,
                        "quantity": packs * units, "pack_quantity": packs, "split_pack": False,
                        "unit_price_fen": price, "list_price_fen": price, "amount_fen": amount,
                        "price_override_reason": "", "rx": False, "valuable": price > 10_000, "trace_code": None,
                        "trace_generation": None, "returned_trace_code": None, "original_line_id": None,
                        "hi_code": None, "fund_pay_fen": 0, "personal_pay_fen": amount}
                pay = {"sale_id": sale_id, "tender": "cash", "amount_fen": cash, "reference": ""}
                sale["hash"] = sale_hash(prev, sale, [line], [pay])
                heads[reg.id] = (seq, sale["hash"])
                srow = [sale_id] + [sale[c] for c in SALE_COLS]
                if not pg:
                    srow[1 + SALE_COLS.index("business_date")] = sale["business_date"].isoformat()
                    srow[1 + SALE_COLS.index("created_at")] = sqlite_ts(created)
                sales.append(srow)
                lines.append([line_id] + [line[c] for c in LINE_COLS])
                pays.append((pay_id, sale_id, "cash", cash, ""))
            t1 = time.perf_counter()
            timings["hash_s"] += t1 - t0
            if pg:
                with cur.copy(f'COPY sale (id, {", ".join(SALE_COLS)}) FROM STDIN') as cp:
                    for r in sales:
                        cp.write_row(r)
                with cur.copy(f'COPY sale_line (id, {", ".join(LINE_COLS)}) FROM STDIN') as cp:
                    for r in lines:
                        cp.write_row(r)
                with cur.copy(f'COPY sale_payment (id, {", ".join(PAY_COLS)}) FROM STDIN') as cp:
                    for r in pays:
                        cp.write_row(r)
                con.commit()
            else:
                cur.execute("BEGIN")
                cur.executemany(sql_sale, sales)
                cur.executemany(sql_line, lines)
                cur.executemany(sql_pay, pays)
                cur.execute("COMMIT")
            timings["insert_s"] += time.perf_counter() - t1
            done += n
            print(f"  loaded {done:,} / {total:,} sales", flush=True)
        # The journal heads, then sequences and statistics.
        p = "%s" if pg else "?"
        if not pg:
            cur.execute("BEGIN")
        for reg_id, (seq, h) in heads.items():
            cur.execute(f"DELETE FROM register_journal WHERE register_id = {p}", (reg_id,))
            cur.execute(f"INSERT INTO register_journal (register_id, last_seq, last_hash) VALUES ({p}, {p}, {p})",
                        (reg_id, seq, h))
        if pg:
            for table in ("sale", "sale_line", "sale_payment"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                            f"(SELECT max(id) FROM \"{table}\"))")
            con.commit()
        else:
            cur.execute("COMMIT")
        t0 = time.perf_counter()
        if pg:
            con.autocommit = True
            cur.execute("VACUUM (ANALYZE) sale, sale_line, sale_payment")
        else:
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("ANALYZE")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        timings["analyze_s"] = time.perf_counter() - t0
        cur.close()
    finally:
        raw.invalidate()  # never hand the load connection back to the pool
        engine.dispose()
    return {k: round(v, 1) for k, v in timings.items()}


def tamper(engine, pg: bool, register_id: int, seq: int, delta: int) -> tuple[int, int, str]:
    """Add delta to the amount of one sale_line of a sale, with the append-only trigger out of the way for that one
    UPDATE only (SQLite: dropped and re-created from its own stored SQL; PostgreSQL: disabled and re-enabled)."""
    p = "%s" if pg else "?"
    raw = engine.raw_connection()
    con = raw.driver_connection
    try:
        cur = con.cursor()
        if not pg:
            con.isolation_level = None
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(f"SELECT sl.id, sl.amount_fen, s.sale_number FROM sale s JOIN sale_line sl ON sl.sale_id = s.id "
                    f"WHERE s.register_id = {p} AND s.seq = {p} ORDER BY sl.line_no LIMIT 1", (register_id, seq))
        line_id, amount, number = cur.fetchone()
        if pg:
            cur.execute("ALTER TABLE sale_line DISABLE TRIGGER trg_sale_line_append_only")
            cur.execute(f"UPDATE sale_line SET amount_fen = amount_fen + {p} WHERE id = {p}", (delta, line_id))
            cur.execute("ALTER TABLE sale_line ENABLE TRIGGER trg_sale_line_append_only")
            con.commit()
        else:
            cur.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'trg_sale_line_no_update'")
            trigger_sql = cur.fetchone()[0]
            cur.execute("DROP TRIGGER trg_sale_line_no_update")
            cur.execute(f"UPDATE sale_line SET amount_fen = amount_fen + {p} WHERE id = {p}", (delta, line_id))
            cur.execute(trigger_sql)
            cur.execute("COMMIT")
        cur.close()
    finally:
        raw.invalidate()
    return line_id, amount, number


# --- a leaner verify loop, to size the suggested fix (nothing in Yaofang uses it) --------------------------------------

def profile_verify(engine, kind: str, store_id: int, register) -> int:
    import cProfile
    import io
    import pstats

    from core.db import end_session, new_session
    from pos import services as pos

    out = []
    try:
        from pyinstrument import Profiler

        s = new_session(engine)
        prof = Profiler(interval=0.001)
        prof.start()
        t0 = time.perf_counter()
        reports = pos.verify_journal(s, store_id)
        wall = time.perf_counter() - t0
        prof.stop()
        end_session(s)
        path = OUT_DIR / f"pos_verify_profile_{kind}.txt"
        path.write_text(prof.output_text(unicode=True, color=False), encoding="utf-8")
        out.append(str(path))
        print(f"pyinstrument run: {sum(r.sales for r in reports):,} sales in {wall:.2f} s")
    except ImportError:
        pass
    s = new_session(engine)
    cp = cProfile.Profile()
    cp.enable()
    reports = pos.verify_journal(s, store_id)
    cp.disable()
    end_session(s)
    buf = io.StringIO()
    stats = pstats.Stats(cp, stream=buf)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    path = OUT_DIR / f"pos_verify_cprofile_{kind}.txt"
    path.write_text(buf.getvalue(), encoding="utf-8")
    out.append(str(path))
    print("profiles: " + ", ".join(out))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
