"""What the suggested fixes would buy: prototypes of leaner versions of the two hot paths, measured side by side.

Nothing here is used by Yaofang; these are sketches to size the fixes proposed in bench/RESULTS.md, run on a database
made by bench/generate.py (kept with run_all.py --keep-db):

    .venv/bin/python bench/experiments/prototypes.py movements --url sqlite:///bench/out/bench.db
    .venv/bin/python bench/experiments/prototypes.py lookup --url postgresql://postgres@127.0.0.1:5432/yaofang_bench

movements — one movement per transaction, variants (all inside core.db.transaction() on a new session unless noted):
  service         inventory.services.post_movement as it is in the checkout
  prebuilt        balance statements built once with bindparam() (no per-call `stmt.excluded` alias), movement still
                  added to the session and flushed by the unit of work at commit
  prebuilt+core   as prebuilt, and the movement written with a prebuilt Core INSERT … RETURNING id on the session's
                  connection (a StockMovement object is still built for the caller, but not flushed)
  core-conn       the same Core statements on engine.begin() (no ORM Session at all): the floor of SQLAlchemy
  raw             the DBAPI baseline of bench_movements.py
lookup — barcode scan, variants:
  service         inventory.services.sellable_lot_for_barcode as it is in the checkout
  one-stmt        one prebuilt ORM statement (drug + FEFO lot through a correlated subquery), new session per scan
  service/commit  the service as it is, but the session ends with COMMIT instead of ROLLBACK (PostgreSQL only:
                  psycopg forgets its prepared statements on every rollback, so every scan re-plans both queries)
  one-stmt/nopp   as one-stmt, on an engine without pool_pre_ping (PostgreSQL only: one round trip less per request)
  one-stmt/autocommit  as one-stmt/nopp with isolation_level=AUTOCOMMIT for the read (PostgreSQL only: no BEGIN /
                  ROLLBACK round trips, prepared statements kept)
  raw             the DBAPI baseline of bench_lookup.py
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

from common import BENCH_STORE_CODE, OUT_DIR, engine_kind, normalise_url, summarize_ms, write_json  # noqa: E402


# --- movements -----------------------------------------------------------------------------------------------------

def movement_variants(engine, pg: bool):
    from sqlalchemy import bindparam, insert, literal_column, update
    from sqlalchemy.dialects import postgresql, sqlite

    from core import clock
    from core.db import new_session, transaction
    from inventory.models import MovementKind, StockBalance, StockMovement
    from inventory.services import post_movement

    sb, sm = StockBalance.__table__, StockMovement.__table__
    upsert = ((postgresql.insert if pg else sqlite.insert)(sb)
              .values(store_id=bindparam("b_store"), lot_id=bindparam("b_lot"),
                      location_id=bindparam("b_location"), quantity=bindparam("q"))
              .on_conflict_do_update(index_elements=["lot_id", "location_id"],
                                     set_={"quantity": sb.c.quantity + literal_column("excluded.quantity")})
              .returning(sb.c.quantity))
    decrement = (update(sb).where(sb.c.lot_id == bindparam("b_lot"), sb.c.location_id == bindparam("b_location"),
                                  sb.c.quantity + bindparam("q") >= 0)
                 .values(quantity=sb.c.quantity + bindparam("q")).returning(sb.c.quantity))
    insert_move = insert(sm).returning(sm.c.id)

    def balance(conn, lot, loc, q):
        stmt = upsert if q > 0 else decrement
        new_qty = conn.execute(stmt, {"b_store": lot.store_id, "b_lot": lot.id, "b_location": loc.id,
                                      "q": q}).scalar_one_or_none()
        if new_qty is None:
            raise RuntimeError("insufficient stock")
        return new_qty

    def kind_of(q):
        return MovementKind.OTHER_IN if q > 0 else MovementKind.OTHER_OUT

    def v_service(actor, lot, loc, q):
        session = new_session(engine)
        try:
            with transaction(session):
                post_movement(session, actor, lot=lot, location=loc, quantity=q, kind=kind_of(q),
                              reference="bench:proto")
        finally:
            session.close()

    def v_prebuilt(actor, lot, loc, q):
        session = new_session(engine)
        try:
            with transaction(session):
                new_qty = balance(session.connection(), lot, loc, q)
                session.add(StockMovement(store_id=lot.store_id, lot_id=lot.id, location_id=loc.id, kind=kind_of(q),
                                          quantity=q, balance_after=new_qty, reference="bench:proto", reason="",
                                          actor_id=actor.user_id, at=clock.now()))
        finally:
            session.close()

    def core_insert(conn, actor, lot, loc, q, new_qty):
        values = dict(store_id=lot.store_id, lot_id=lot.id, location_id=loc.id, kind=str(kind_of(q)), quantity=q,
                      balance_after=new_qty, reference="bench:proto", reason="", actor_id=actor.user_id,
                      at=clock.now(), unit_cost_fen=None)
        return values, conn.execute(insert_move, values).scalar_one()

    def v_prebuilt_core(actor, lot, loc, q):
        session = new_session(engine)
        try:
            with transaction(session):
                conn = session.connection()
                new_qty = balance(conn, lot, loc, q)
                values, movement_id = core_insert(conn, actor, lot, loc, q, new_qty)
                StockMovement(id=movement_id, **values)  # what the caller gets back
        finally:
            session.close()

    write_opts = {"yaofang_write": True}  # BEGIN IMMEDIATE on SQLite, as core.db.transaction() does

    def v_core_conn(actor, lot, loc, q):
        with engine.connect().execution_options(**write_opts) as conn, conn.begin():
            new_qty = balance(conn, lot, loc, q)
            core_insert(conn, actor, lot, loc, q, new_qty)

    return {"service": v_service, "prebuilt": v_prebuilt, "prebuilt+core": v_prebuilt_core,
            "core-conn": v_core_conn}


def run_movements(args) -> dict:
    from sqlmodel import func, select

    from core.db import make_engine, new_session
    from core.models import Store
    from core.services import Actor
    from inventory.models import Location, Lot, StockBalance
    from bench_movements import RAW_DECREMENT, RAW_INSERT_MOVE, RAW_UPSERT
    from core import clock

    url = normalise_url(args.url)
    pg = engine_kind(url) == "postgresql"
    engine = make_engine(url)
    rng = random.Random(args.seed)
    with new_session(engine) as s:
        store = s.exec(select(Store).where(Store.code == BENCH_STORE_CODE)).one()
        max_id = s.exec(select(func.max(StockBalance.id))).one()
        ids = rng.sample(range(1, max_id + 1), 2000)
        balances = list(s.exec(select(StockBalance).where(StockBalance.id.in_(ids))).all())
        lots = {x.id: x for x in s.exec(select(Lot).where(Lot.id.in_({b.lot_id for b in balances}))).all()}
        locs = {x.id: x for x in s.exec(select(Location)).all()}
    targets = [(lots[b.lot_id], locs[b.location_id]) for b in balances]
    actor = Actor.system("bench", store.id)
    variants = movement_variants(engine, pg)

    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    p = "%s" if pg else "?"
    up, dec, ins = RAW_UPSERT.format(p=p), RAW_DECREMENT.format(p=p), RAW_INSERT_MOVE.format(p=p)
    if pg:
        dbapi.autocommit = False
    cur = dbapi.cursor()

    def v_raw(_actor, lot, loc, q):
        at = clock.now()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(up, (lot.store_id, lot.id, loc.id, q)) if q > 0 else cur.execute(dec, (q, lot.id, loc.id, q))
        new_qty = cur.fetchone()[0]
        cur.execute(ins, (lot.store_id, lot.id, loc.id, "other_in" if q > 0 else "other_out", q, new_qty,
                          "bench:proto", "", None,
                          at if pg else at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"), None))
        dbapi.commit() if pg else cur.execute("COMMIT")

    variants["raw"] = v_raw

    def plan(n):
        out = []
        for _ in range(n // 2):
            lot, loc = rng.choice(targets)
            q = rng.randint(1, 20)
            out += [(lot, loc, q), (lot, loc, -q)]
        return out

    for fn in variants.values():
        for m in plan(args.warmup):
            fn(actor, *m)
    samples = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    busy = {k: 0.0 for k in variants}
    names = list(variants)
    for b in range(0, args.n, args.block):
        rng.shuffle(names)
        for name in names:
            fn = variants[name]
            t_block = time.perf_counter()
            for m in plan(args.block):
                c0, t0 = time.thread_time(), time.perf_counter()
                fn(actor, *m)
                samples[name].append(time.perf_counter() - t0)
                cpu[name].append(time.thread_time() - c0)
            busy[name] += time.perf_counter() - t_block
    cur.close()
    raw.close()
    engine.dispose()
    raw_rate = len(samples["raw"]) / busy["raw"]
    raw_cpu = sum(cpu["raw"]) / len(cpu["raw"])
    # client_cpu_ms: this process's CPU per movement (no I/O stalls, no waiting for the server): the Python cost.
    return {name: {"movements_per_s": round(len(samples[name]) / busy[name], 1),
                   "ratio_vs_raw": round(len(samples[name]) / busy[name] / raw_rate, 3),
                   "client_cpu_ms": round(sum(cpu[name]) / len(cpu[name]) * 1000, 4),
                   "client_cpu_vs_raw": round(sum(cpu[name]) / len(cpu[name]) / raw_cpu, 1),
                   **summarize_ms(samples[name])}
            for name in variants}


# --- lookup --------------------------------------------------------------------------------------------------------

def lookup_statement():
    from sqlalchemy import bindparam, or_, select
    from sqlalchemy.orm import aliased

    from inventory.models import (ApprovalStatus, Drug, DrugBarcode, Location, Lot, LotStatus, StockBalance)

    l2, sb2 = aliased(Lot), aliased(StockBalance)
    fefo = (select(sb2.id)
            .join(l2, l2.id == sb2.lot_id)
            .join(Location, Location.id == sb2.location_id)
            .where(l2.drug_id == Drug.id, l2.store_id == bindparam("store_id"), l2.status == LotStatus.RELEASED,
                   or_(l2.expiry_date.is_(None), l2.expiry_date >= bindparam("today")), sb2.quantity > 0,
                   Location.sellable == True, Location.active == True,  # noqa: E712
                   Drug.approval_status == ApprovalStatus.APPROVED, Drug.active == True)  # noqa: E712
            .order_by(l2.expiry_date.is_(None), l2.expiry_date, l2.created_at, l2.id)
            .limit(1).correlate(Drug).scalar_subquery())
    return (select(Drug, Lot, StockBalance.location_id, StockBalance.quantity)
            .select_from(DrugBarcode)
            .join(Drug, Drug.id == DrugBarcode.drug_id)
            .outerjoin(StockBalance, StockBalance.id == fefo)
            .outerjoin(Lot, Lot.id == StockBalance.lot_id)
            .where(DrugBarcode.barcode == bindparam("barcode")))


def run_lookup(args) -> dict:
    from sqlmodel import select

    from core import clock
    from core.db import make_engine, new_session
    from core.errors import NotSellable
    from core.models import Store
    from inventory.models import ApprovalStatus, DrugBarcode
    from inventory.services import sellable_lot_for_barcode
    from bench_lookup import RAW_SQL

    url = normalise_url(args.url)
    pg = engine_kind(url) == "postgresql"
    engine = make_engine(url)
    engines = {"one-stmt": engine}
    if pg:
        engines["one-stmt/nopp"] = make_engine(url, pool_pre_ping=False)
        engines["one-stmt/autocommit"] = make_engine(url, pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    with new_session(engine) as s:
        store = s.exec(select(Store).where(Store.code == BENCH_STORE_CODE)).one()
        barcodes = list(s.exec(select(DrugBarcode.barcode)).all())
    rng = random.Random(args.seed)
    stmt = lookup_statement()

    def v_service(code):
        session = new_session(engine)
        try:
            f = sellable_lot_for_barcode(session, store, code)
            return f.drug.id, (f.lot.id if f.lot else None)
        except NotSellable:
            return ("not_sellable",)
        finally:
            session.close()

    def one_stmt(eng):
        def run(code):
            session = new_session(eng)
            try:
                row = session.execute(stmt, {"barcode": code, "store_id": store.id,
                                             "today": clock.today(store.timezone)}).first()
                drug, lot, location_id, qty = row
                if drug.approval_status != ApprovalStatus.APPROVED or not drug.active:
                    return ("not_sellable",)
                return drug.id, (lot.id if lot else None)
            finally:
                session.close()
        return run

    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    if pg:
        dbapi.autocommit = True
    sql = RAW_SQL.format(p="%s" if pg else "?")
    cur = dbapi.cursor()

    def v_raw(code):
        today = clock.today(store.timezone)
        cur.execute(sql, (store.id, today if pg else today.isoformat(), code))
        d, _price, approval, active, lot_id, _loc, _qty = cur.fetchone()
        return ("not_sellable",) if approval != "approved" or not active else (d, lot_id)

    def v_service_commit(code):
        # The service unchanged, but the read session ends with COMMIT instead of ROLLBACK: psycopg drops its
        # prepared statements on every rollback(), so a read path that always rolls back never reuses a plan.
        session = new_session(engine)
        try:
            f = sellable_lot_for_barcode(session, store, code)
            return f.drug.id, (f.lot.id if f.lot else None)
        except NotSellable:
            return ("not_sellable",)
        finally:
            session.commit()
            session.close()

    variants = {"service": v_service, **({"service/commit": v_service_commit} if pg else {}),
                **{k: one_stmt(e) for k, e in engines.items()}, "raw": v_raw}
    for fn in variants.values():
        for code in rng.choices(barcodes, k=args.warmup):
            fn(code)
    samples = {k: [] for k in variants}
    mismatches = 0
    names = list(variants)
    for _ in range(0, args.n, args.block):
        codes = rng.choices(barcodes, k=args.block)
        answers = {}
        rng.shuffle(names)
        for name in names:
            fn = variants[name]
            out = answers[name] = []
            for code in codes:
                t0 = time.perf_counter()
                out.append(fn(code))
                samples[name].append(time.perf_counter() - t0)
        mismatches += sum(1 for a in zip(*answers.values()) if len(set(a)) > 1)
    cur.close()
    raw.close()
    for e in engines.values():
        e.dispose()
    engine.dispose()
    result = {name: summarize_ms(samples[name]) for name in variants}
    result["answer_mismatches"] = mismatches
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["movements", "lookup"])
    ap.add_argument("--url", default=f"sqlite:///{OUT_DIR / 'bench.db'}")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    result = {"what": args.what, "engine": engine_kind(normalise_url(args.url)), "n": args.n}
    result.update(run_movements(args) if args.what == "movements" else run_lookup(args))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
