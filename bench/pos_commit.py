"""Sale commit benchmark: a 3-line cart paid in cash → one committed, hash-chained sale.

Service path: `pos.services.commit_sale(session, actor, register, tenders=[("cash", …)], client_uuid=…)` in a new
session (opened and closed around it, as a request does). Only the commit is timed: the three lines are put in the
cart beforehand with `pos.services.add_item` (untimed, one session per cart).

Baseline, same run, same engine, its own register and carts filled the same way: the commit by hand on the raw DBAPI
connection in one transaction per sale — BEGIN [IMMEDIATE]; the cart's lines with their drug, lot and location (one
SELECT, sellability checked in Python); UPDATE register_journal … RETURNING (number + previous hash); the chain hash in
Python (pos.services.canonical_rows + sha256, as the writer does); INSERT sale; 3× INSERT sale_line; INSERT
sale_payment; 3× conditional UPDATE stock_balance … RETURNING + INSERT stock_movement; INSERT print_job; INSERT
audit_event; UPDATE cart; UPDATE register_journal (new head hash); COMMIT.

Both paths alternate in blocks. Afterwards `verify_journal` must pass for both registers' chains (so the baseline's
hashes are the writer's) and the touched stock balances must equal the sum of their movements.

    python bench/pos_commit.py --url sqlite:///bench/out/pos.db
    python bench/pos_commit.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench_pos --n 1000
    python bench/pos_commit.py --url … --only service --profile 300     # pyinstrument + cProfile of commit_sale
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT_DIR, engine_kind, normalise_url, summarize_ms  # noqa: E402
from pos_common import (LINE_COLS, PAY_COLS, SALE_COLS, SIZES, StatementCounter, commit_rows, default_url, ensure_base,  # noqa: E402
                        insert_sql, md_table, run_facts, sale_hash, save, sellable_drugs, setup_counter, sqlite_ts,
                        write_results)

GOAL_P95_MS = 30.0
GOAL_RATIO = 0.5
LINES_PER_SALE = 3
RAW_STATEMENTS = 18  # BEGIN, cart, journal, sale, 3 lines, payment, 3×(balance + movement), print, audit, cart, head

DESCRIPTION = (
    "`pos.services.commit_sale` of a 3-line cart (three different OTC drugs, one pack each, FEFO lots) paid in cash "
    "with change, in a new session per sale (timed from opening the session to closing it); the lines are added "
    "beforehand with `add_item`, untimed. Baseline: the same sale committed by hand on the raw DBAPI connection in one "
    "transaction — BEGIN [IMMEDIATE]; cart lines + drug/lot/location (one SELECT, sellability checked in Python); "
    "UPDATE register_journal … RETURNING; chain hash in Python; INSERT sale, 3× sale_line, sale_payment; 3× "
    "conditional UPDATE stock_balance … RETURNING + INSERT stock_movement; INSERT print_job, audit_event; UPDATE "
    "cart; UPDATE register_journal (head hash); COMMIT. Interleaved blocks after a warm-up; sales/s = sales / time "
    "spent in the commits. Goals: service p95 ≤ 30 ms and service/raw throughput ≥ 0.5.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default_url())
    ap.add_argument("--size", choices=SIZES, default="full", help="data set generated if the database lacks one")
    ap.add_argument("--fresh", action="store_true", help="re-generate the data set first (drops the database)")
    ap.add_argument("--n", type=int, default=600, help="measured sales per path")
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--only", choices=["service", "raw"], help="one path only")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="after the run, profile N more service commits (pyinstrument and cProfile) into bench/out/")
    args = ap.parse_args(argv)

    url = normalise_url(args.url)
    kind = engine_kind(url)
    pg = kind == "postgresql"
    base = ensure_base(url, args.size, args.fresh)

    from sqlmodel import func, select

    from core import clock
    from core.db import end_session, make_engine, new_session
    from core.errors import NotSellable
    from inventory.models import StockBalance, StockMovement
    from pos import services as pos

    engine = make_engine(url)
    counter = setup_counter(engine, ["CMTS", "CMTR"])
    store, actor = counter.store, counter.actor
    pool = sellable_drugs(engine, store.id, min_packs=3, counter_only=True)
    rng = random.Random(args.seed)
    facts = run_facts(engine)
    perf = time.perf_counter
    touched: set[tuple[int, int]] = set()

    def fill_cart(register) -> int:
        """Three different drugs, one pack each, through add_item (untimed). Returns the cart total."""
        s = new_session(engine)
        try:
            if pos.current_cart(s, register) is not None:
                pos.cancel_cart(s, actor, register)
            total, chosen = 0, set()
            while len(chosen) < LINES_PER_SALE:
                drug = rng.choice(pool)
                if drug[0] in chosen:
                    continue
                try:
                    line, _notices = pos.add_item(s, actor, register, drug_id=drug[0])
                except NotSellable:  # sold out by earlier sales of this run
                    continue
                chosen.add(drug[0])
                total += line.unit_price_fen * line.pack_quantity
                touched.add((line.lot_id, line.location_id))
            return total
        finally:
            end_session(s)

    def cash_for(total: int) -> int:
        return (total // 10_000 + 1) * 10_000  # the next 100 yuan note: change is given

    # --- service --------------------------------------------------------------------------------------------------
    reg_s = counter.registers["CMTS"]
    statements = StatementCounter(engine)
    call_samples: list[float] = []

    def service(record: bool) -> float:
        total = fill_cart(reg_s)
        key = str(uuid.uuid4())
        statements.active = record
        t0 = perf()
        s = new_session(engine)
        try:
            t1 = perf()
            sale = pos.commit_sale(s, actor, reg_s, tenders=[("cash", cash_for(total))], client_uuid=key)
            t2 = perf()
        finally:
            end_session(s)
        t3 = perf()
        statements.active = False
        if sale.total_fen != total or sale.client_uuid != key:
            raise RuntimeError(f"unexpected sale {sale.sale_number}: total {sale.total_fen} != {total}")
        if record:
            call_samples.append(t2 - t1)
        return t3 - t0

    # --- raw baseline ------------------------------------------------------------------------------------------------
    reg_r = counter.registers["CMTR"]
    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    p = "%s" if pg else "?"
    if pg:
        dbapi.autocommit = False
    cur = dbapi.cursor()
    cur.execute(f"SELECT count(*) FROM register_journal WHERE register_id = {p}", (reg_r.id,))
    if not cur.fetchone()[0]:
        cur.execute(f"INSERT INTO register_journal (register_id, last_seq, last_hash) VALUES ({p}, 0, {p})",
                    (reg_r.id, pos.GENESIS_HASH))
    dbapi.commit()
    q_cart = f"""
        SELECT c.id, c.shift_id, cl.drug_id, cl.lot_id, cl.location_id, cl.pack_quantity, cl.split_pack,
               cl.unit_price_fen, cl.price_override_reason, d.units_per_package, d.retail_price_fen, d.unit_price_fen,
               d.rx_class, d.hi_code, d.approval_status, d.active, l.status, l.expiry_date, loc.sellable, loc.active
        FROM cart c JOIN cart_line cl ON cl.cart_id = c.id JOIN drug d ON d.id = cl.drug_id
        JOIN lot l ON l.id = cl.lot_id JOIN location loc ON loc.id = cl.location_id
        WHERE c.register_id = {p} AND c.status = 'open' ORDER BY cl.id"""
    q_next = (f"UPDATE register_journal SET last_seq = last_seq + 1 WHERE register_id = {p} "
              f"RETURNING last_seq, last_hash")
    ins_sale = insert_sql("sale", SALE_COLS, pg, "id")
    ins_line = insert_sql("sale_line", LINE_COLS, pg)
    ins_pay = insert_sql("sale_payment", PAY_COLS, pg)
    take = (f"UPDATE stock_balance SET quantity = quantity + {p} "
            f"WHERE lot_id = {p} AND location_id = {p} AND quantity + {p} >= 0 RETURNING quantity")
    ins_move = insert_sql("stock_movement", ("store_id", "lot_id", "location_id", "kind", "quantity", "balance_after",
                                             "reference", "reason", "actor_id", "at", "unit_cost_fen"), pg)
    ins_print = insert_sql("print_job", ("store_id", "register_id", "kind", "sale_id", "day_close_id", "kick_drawer",
                                         "status", "attempts", "next_attempt_at", "last_error", "created_at"), pg)
    ins_audit = insert_sql("audit_event", ("store_id", "actor_id", "actor_name", "action", "entity_type", "entity_id",
                                           "summary", "reason", "ip_address", "at"), pg)
    upd_cart = f"UPDATE cart SET status = 'committed', sale_id = {p} WHERE id = {p}"
    upd_head = f"UPDATE register_journal SET last_hash = {p} WHERE register_id = {p}"

    def raw_commit(cash: int, key: str) -> None:
        now = clock.now()
        today = clock.today(store.timezone)
        ts = now if pg else sqlite_ts(now)
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(q_cart, (reg_r.id,))
            rows = cur.fetchall()
            if not rows:
                raise RuntimeError("empty cart")
            cart_id, shift_id = rows[0][0], rows[0][1]
            lines, moves = [], []
            for n, (_c, _s, drug_id, lot_id, loc_id, packs, split, price, override, units, retail, unit_price, rx,
                    hi_code, approval, d_active, lot_status, expiry, sellable, loc_active) in enumerate(rows, start=1):
                if isinstance(expiry, str):
                    expiry = type(today).fromisoformat(expiry)
                if (approval != "approved" or not d_active or lot_status != "released" or not sellable
                        or not loc_active or (expiry is not None and expiry < today)):
                    raise RuntimeError("not sellable")
                list_price = unit_price if split else retail
                if price != list_price and not override:
                    price = list_price
                qty = packs if split else packs * units
                amount = price * packs
                lines.append({"line_no": n, "drug_id": drug_id, "lot_id": lot_id, "location_id": loc_id,
                              "quantity": qty, "pack_quantity": packs, "split_pack": bool(split),
                              "unit_price_fen": price, "list_price_fen": list_price, "amount_fen": amount,
                              "price_override_reason": override, "rx": rx == "rx",
                              "valuable": price > 10_000 and not split, "trace_code": None, "trace_generation": None,
                              "returned_trace_code": None, "original_line_id": None, "hi_code": hi_code,
                              "fund_pay_fen": 0, "personal_pay_fen": amount})
            total = sum(l["amount_fen"] for l in lines)
            payments = [{"tender": "cash", "amount_fen": cash, "reference": ""}]
            cur.execute(q_next, (reg_r.id,))
            seq, prev = cur.fetchone()
            sale = {"store_id": store.id, "register_id": reg_r.id, "shift_id": shift_id, "seq": seq,
                    "sale_number": pos.sale_number(reg_r, seq), "kind": "sale", "original_sale_id": None,
                    "business_date": today, "cashier_id": actor.user_id, "pharmacist_id": None,
                    "prescription_id": None, "client_uuid": key, "total_fen": total, "paid_fen": cash,
                    "change_fen": cash - total, "buyer_name": "", "buyer_id_number": "", "reason": "",
                    "created_at": now.replace(microsecond=0), "prev_hash": prev}
            sale["hash"] = sale_hash(prev, sale, lines, payments)
            values = [sale[c] for c in SALE_COLS]
            if not pg:
                values[SALE_COLS.index("business_date")] = today.isoformat()
                values[SALE_COLS.index("created_at")] = sqlite_ts(sale["created_at"])
            cur.execute(ins_sale, values)
            sale_id = cur.fetchone()[0]
            for l in lines:
                l["sale_id"] = sale_id
                cur.execute(ins_line, [l[c] for c in LINE_COLS])
            cur.execute(ins_pay, (sale_id, "cash", cash, ""))
            reference = f"sale:{sale['sale_number']}"
            for l in lines:
                cur.execute(take, (-l["quantity"], l["lot_id"], l["location_id"], -l["quantity"]))
                row = cur.fetchone()
                if row is None:
                    raise RuntimeError("insufficient stock")
                cur.execute(ins_move, (store.id, l["lot_id"], l["location_id"], "sale", -l["quantity"], row[0],
                                       reference, "", actor.user_id, ts, None))
            cur.execute(ins_print, (store.id, reg_r.id, "receipt", sale_id, None, True, "pending", 0, ts, "", ts))
            summary = json.dumps({"after": {"sale_number": sale["sale_number"], "total_fen": total,
                                            "lines": len(lines), "tenders": ["cash"]}}, ensure_ascii=False,
                                 sort_keys=True)
            cur.execute(ins_audit, (store.id, actor.user_id, actor.name, "sale.commit", "sale", str(sale_id), summary,
                                    "", None, ts))
            cur.execute(upd_cart, (sale_id, cart_id))
            cur.execute(upd_head, (sale["hash"], reg_r.id))
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

    def baseline(record: bool) -> float:
        total = fill_cart(reg_r)
        key = str(uuid.uuid4())
        t0 = perf()
        raw_commit(cash_for(total), key)
        return perf() - t0

    paths = {"service": service, "raw": baseline}
    if args.only:
        paths = {args.only: paths[args.only]}
    for fn in paths.values():
        for _ in range(args.warmup):
            fn(False)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    t_start = perf()
    for b in range(0, args.n, args.block):
        order = list(paths.items()) if (b // args.block) % 2 == 0 else list(reversed(paths.items()))
        for name, fn in order:
            for _ in range(min(args.block, args.n - b)):
                samples[name].append(fn(True))
    wall = perf() - t_start
    cur.close()
    raw.close()

    # Both chains verify (the baseline's hashes are the writer's), and the touched balances hold.
    s = new_session(engine)
    try:
        reports = {r.register_code: r for r in pos.verify_journal(s, store.id)}
        lot_ids = {k[0] for k in touched}
        bal = {(b.lot_id, b.location_id): b.quantity
               for b in s.exec(select(StockBalance).where(StockBalance.lot_id.in_(lot_ids))).all()}
        sums = {(a, b): int(t) for a, b, t in s.exec(
            select(StockMovement.lot_id, StockMovement.location_id, func.sum(StockMovement.quantity))
            .where(StockMovement.lot_id.in_(lot_ids)).group_by(StockMovement.lot_id, StockMovement.location_id)).all()}
    finally:
        end_session(s)
    chains = {code: (reports[code].ok, reports[code].sales, reports[code].problem) for code in ("CMTS", "CMTR")
              if code in reports}
    ledger_errors = sum(1 for k in touched if bal.get(k) != sums.get(k) or (bal.get(k) or 0) < 0)

    result = {"engine": kind, "bench": "commit", "facts": facts, "base": base, "description": DESCRIPTION,
              "n": args.n, "warmup": args.warmup, "candidate_drugs": len(pool), "wall_s": round(wall, 1),
              "goal_p95_ms": GOAL_P95_MS, "goal_ratio": GOAL_RATIO, "chains": chains, "ledger_errors": ledger_errors}
    for name in paths:
        result[name] = {"sales_per_s": round(len(samples[name]) / sum(samples[name]), 1), **summarize_ms(samples[name])}
    if "service" in paths:
        result["service_call"] = summarize_ms(call_samples)
        result["goal_p95_met"] = result["service"]["p95_ms"] <= GOAL_P95_MS
        result["statements_per_commit"] = round(statements.count / max(1, len(call_samples)), 1)
    if len(paths) == 2:
        result["ratio_throughput"] = round(result["service"]["sales_per_s"] / result["raw"]["sales_per_s"], 3)
        result["goal_ratio_met"] = result["ratio_throughput"] >= GOAL_RATIO
    chain_text = ", ".join(f"{c} {'OK' if ok else 'BROKEN: ' + why} ({n:,} sales)" for c, (ok, n, why) in chains.items())
    notes = [f"{len(pool):,} candidate OTC drugs", f"wall {result['wall_s']} s (incl. untimed cart filling)",
             f"chains after the run: {chain_text}", f"ledger errors on {len(touched):,} touched balances: "
             f"{ledger_errors}"]
    if "statements_per_commit" in result:
        notes.append(f"SQL statements per sale: service {result['statements_per_commit']} (BEGIN included, COMMIT "
                     f"not), baseline {RAW_STATEMENTS}")
    if "service" in result:
        notes.append(f"`commit_sale` call alone p50 {result['service_call']['p50_ms']:.2f} / p95 "
                     f"{result['service_call']['p95_ms']:.2f} ms")
    result["notes"] = "; ".join(notes)

    if args.profile:
        result["profile"] = profile_service(engine, pg, kind, args.profile, fill_cart, reg_s, actor, cash_for)
    engine.dispose()
    if not args.only:
        save("commit", result)
    print(md_table(["Engine", "Path", "n", "sales/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                   commit_rows({kind: result})))
    print(f"\n{result['notes']}")
    if "ratio_throughput" in result:
        print(f"throughput service/raw {result['ratio_throughput']:.2f} (goal ≥ {GOAL_RATIO}): "
              f"{'met' if result['goal_ratio_met'] else 'NOT met'}")
    if "goal_p95_met" in result:
        print(f"service p95 ≤ {GOAL_P95_MS} ms: {'met' if result['goal_p95_met'] else 'NOT met'}")
    if not args.only:
        write_results()
    bad = ledger_errors or any(not ok for ok, _n, _w in chains.values())
    return 1 if bad else 0


def profile_service(engine, pg, kind, n, fill_cart, register, actor, cash_for) -> dict:
    """pyinstrument (wall clock, call tree) and cProfile (per function) over n commits; text into bench/out/."""
    import cProfile
    import io
    import pstats

    from core.db import end_session, new_session
    from pos import services as pos

    def one():
        total = fill_cart(register)
        key = str(uuid.uuid4())
        yield  # only the commit below is profiled
        s = new_session(engine)
        try:
            pos.commit_sale(s, actor, register, tenders=[("cash", cash_for(total))], client_uuid=key)
        finally:
            end_session(s)
        yield

    out = {}
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    if Profiler is not None:
        prof = Profiler(interval=0.0002)
        for _ in range(n):
            g = one()
            next(g)
            prof.start()
            next(g)
            prof.stop()
        path = OUT_DIR / f"pos_commit_profile_{kind}.txt"
        path.write_text(prof.output_text(unicode=True, color=False, show_all=False), encoding="utf-8")
        out["pyinstrument"] = str(path)
    cp = cProfile.Profile()
    for _ in range(n):
        g = one()
        next(g)
        cp.enable()
        next(g, None)
        cp.disable()
    buf = io.StringIO()
    stats = pstats.Stats(cp, stream=buf)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    path = OUT_DIR / f"pos_commit_cprofile_{kind}.txt"
    path.write_text(buf.getvalue(), encoding="utf-8")
    out["cprofile"] = str(path)
    print(f"profiles: {', '.join(out.values())}")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
