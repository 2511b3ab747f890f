"""Fill a freshly migrated Yaofang database with a large, consistent data set for the benchmarks.

    python bench/generate.py --url sqlite:///bench/out/bench.db --recreate
    python bench/generate.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench --recreate
    python bench/generate.py --url sqlite:////tmp/bench-small.db --small --recreate

The schema comes from the Alembic migrations (core.migrate.upgrade). The store and its locations are created through
the real services; drugs, barcodes, lots, stock balances and the stock movement ledger are bulk-loaded with raw SQL
(executemany in big transactions with PRAGMA synchronous=OFF on SQLite, COPY on PostgreSQL). Every stock balance is
the sum of its movements, every movement's balance_after is the running balance, and no running balance is ever
negative. ANALYZE runs at the end on both engines.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (BENCH_STORE_CODE, OUT_DIR, engine_kind, normalise_url, recreate, sqlite_path,  # noqa: E402
                    write_json)

PRESETS = {
    "full": {"drugs": 50_000, "lots": 500_000, "movements": 2_000_000},
    "small": {"drugs": 2_000, "lots": 20_000, "movements": 80_000},
}

EPOCH = datetime(1970, 1, 1)

# (code, name, kind, sellable, storage class, active)
LOCATIONS = [
    ("A01", "货架", "sellable", True, "room", True),
    ("A02", "处方柜", "sellable", True, "room", True),
    ("A03", "拆零柜", "sellable", True, "cool", True),
    ("A99", "旧货架（停用）", "sellable", True, "room", False),
    ("C01", "冷藏柜", "cold", True, "cold", True),
    ("W01", "仓库", "warehouse", False, "room", True),
    ("W02", "阴凉库", "warehouse", False, "cool", True),
    ("Y01", "待验区", "pending", False, "room", True),
    ("R01", "不合格区", "nonconforming", False, "room", True),
]

# Name parts with their pinyin initials, so the pinyin column looks like the real one without running pypinyin 50k×.
NAME_HEADS = [("阿莫", "am"), ("头孢", "tb"), ("布洛", "bl"), ("对乙酰", "dyx"), ("氯雷", "ll"), ("奥美", "am"),
              ("二甲", "ej"), ("硝苯", "xb"), ("阿托", "at"), ("复方", "ff"), ("盐酸", "ys"), ("甲硝", "jx"),
              ("维生素", "wss"), ("板蓝", "bl"), ("连花", "lh"), ("蒙脱", "mt"), ("左氧", "zy"), ("瑞舒", "rs"),
              ("缬沙", "xs"), ("氨溴", "ax"), ("罗红", "lh"), ("双氯", "sl"), ("蒲地", "pd"), ("银黄", "yh")]
NAME_MIDS = [("西林", "xl"), ("克肟", "kw"), ("芬", "f"), ("氨基酚", "ajf"), ("他定", "td"), ("拉唑", "lz"),
             ("双胍", "sg"), ("地平", "dp"), ("伐他汀", "ftt"), ("甘草", "gc"), ("唑", "z"), ("根", "g"),
             ("清瘟", "qw"), ("石散", "ss"), ("氟沙星", "fsx"), ("坦", "t"), ("索", "s"), ("霉素", "ms"),
             ("芬酸钠", "fsn"), ("蓝", "l"), ("C", "c"), ("B1", "b1")]
FORMS = [("胶囊", "jn", "胶囊剂", "粒"), ("片", "p", "片剂", "片"), ("缓释片", "hsp", "片剂", "片"),
         ("颗粒", "kl", "颗粒剂", "袋"), ("口服液", "kfy", "口服溶液剂", "支"), ("软膏", "rg", "软膏剂", "支"),
         ("滴眼液", "dyy", "滴眼剂", "支"), ("分散片", "fsp", "片剂", "片"), ("糖浆", "tj", "糖浆剂", "瓶")]
BRANDS = [("仁和", "rh"), ("修正", "xz"), ("白云山", "bys"), ("同仁堂", "trt"), ("以岭", "yl"), ("华润", "hr"),
          ("芬必得", "fbd"), ("泰诺", "tn"), ("达喜", "dx"), ("康恩贝", "keb")]
MAKERS = ["华北制药股份有限公司", "石药集团欧意药业有限公司", "广州白云山制药股份有限公司", "修正药业集团股份有限公司",
          "北京同仁堂股份有限公司", "石家庄以岭药业股份有限公司", "扬子江药业集团有限公司", "齐鲁制药有限公司",
          "华润三九医药股份有限公司", "中美天津史克制药有限公司"]


def weighted(rng: random.Random, table: list[tuple]):
    """table: [(value, weight), ...]"""
    total = sum(w for _, w in table)
    x = rng.random() * total
    for value, w in table:
        x -= w
        if x < 0:
            return value
    return table[-1][0]


class Data:
    def __init__(self):
        self.drugs: list[tuple] = []
        self.barcodes: list[tuple] = []
        self.lots: list[tuple] = []
        self.balances: list[tuple] = []
        self.movements: list[tuple] = []


def build(cfg: dict, rng: random.Random, *, store_id: int, loc_ids: dict[str, int], today: date,
          now: datetime) -> Data:
    from hardware.codes import make_in_store_ean13

    d = Data()
    n_drugs, n_lots, n_moves = cfg["drugs"], cfg["lots"], cfg["movements"]
    now_naive = now.astimezone(timezone.utc).replace(tzinfo=None)
    now_us = (now_naive - EPOCH) // timedelta(microseconds=1)

    # --- drugs and barcodes --------------------------------------------------------------------------------------
    drug_cold: list[bool] = [False] * (n_drugs + 1)
    drug_price: list[int] = [0] * (n_drugs + 1)
    drug_units: list[int] = [1] * (n_drugs + 1)
    barcode_no = 0
    created_base = now_naive - timedelta(days=900)
    for i in range(1, n_drugs + 1):
        head, mid, form = rng.choice(NAME_HEADS), rng.choice(NAME_MIDS), rng.choice(FORMS)
        generic = f"{head[0]}{mid[0]}{form[0]}"
        pinyin = f"{head[1]}{mid[1]}{form[1]}"
        trade = ""
        if rng.random() < 0.4:
            brand = rng.choice(BRANDS)
            trade = f"{brand[0]}{generic}"
            pinyin += f" {brand[1]}{head[1]}{mid[1]}{form[1]}"
        storage = weighted(rng, [("room", 80), ("cool", 15), ("cold", 5)])
        drug_cold[i] = storage == "cold"
        units = rng.choice([1, 6, 10, 12, 20, 24, 30, 36, 48, 100])
        price = int(rng.lognormvariate(7.8, 0.9))  # fen; median ≈ 24 yuan
        price = max(50, min(price, 2_000_000))
        drug_price[i], drug_units[i] = price, units
        approval = weighted(rng, [("approved", 92), ("pending", 4), ("suspended", 2), ("rejected", 2)])
        active = rng.random() >= 0.01
        rx = weighted(rng, [("rx", 45), ("otc_a", 20), ("otc_b", 25), ("dual", 5), ("none", 5)])
        special = weighted(rng, [("none", 97), ("ephedrine_combination", 3)])
        created = created_base + timedelta(seconds=rng.randrange(0, 600 * 86400))
        d.drugs.append((
            i, f"BD{i:07d}", generic, trade, pinyin, form[2], f"{rng.choice([5, 10, 25, 50, 100, 250, 500])}mg",
            "盒", form[3], units, rng.choice(MAKERS), f"国药准字H{rng.randrange(10**7, 10**8)}",
            None, None, "", rx, special, storage, None, None, False,
            "patent" if head[0] in ("板蓝", "连花", "蒲地", "银黄") else "western", approval, active, price,
            (price + units - 1) // units if units > 1 and rng.random() < 0.3 else None, None, price > 10_000, created,
        ))
        for _ in range(2 if rng.random() < 0.3 else 1):
            barcode_no += 1
            d.barcodes.append((barcode_no, i, make_in_store_ean13(barcode_no), "in_store"))

    # --- lots (a mildly skewed number of lots per drug) -----------------------------------------------------------
    perm = list(range(1, n_drugs + 1))
    rng.shuffle(perm)
    lot_counter: dict[int, int] = {}
    lot_meta: list[tuple] = []  # (lot_id, drug_id, status, created_us)
    for lot_id in range(1, n_lots + 1):
        drug_id = perm[min(n_drugs - 1, int(n_drugs * rng.random() ** 1.2))]
        k = lot_counter.get(drug_id, 0) + 1
        lot_counter[drug_id] = k
        tier = rng.random()
        if tier < 0.01:
            expiry = production = None  # goods without an expiry date
        else:
            if tier < 0.09:
                expiry = today - timedelta(days=rng.randrange(1, 720))  # expired
            elif tier < 0.21:
                expiry = today + timedelta(days=rng.randrange(0, 181))  # near expiry (incl. today)
            else:
                expiry = today + timedelta(days=rng.randrange(181, 1100))  # far
            production = expiry - timedelta(days=rng.randrange(540, 1096))
        status = weighted(rng, [("released", 86), ("locked", 6), ("pending_inspection", 5), ("nonconforming", 2),
                                ("recalled", 1)])
        if production is not None:
            created = datetime.combine(production, datetime.min.time()) + timedelta(
                days=rng.randrange(20, 200), seconds=rng.randrange(0, 86400))
        else:
            created = now_naive - timedelta(days=rng.randrange(1, 700), seconds=rng.randrange(0, 86400))
        created = min(created, now_naive - timedelta(hours=1))
        lot_no = f"{(production or created.date()).strftime('%y%m%d')}{k:03d}"
        d.lots.append((lot_id, store_id, drug_id, lot_no, production, expiry, status, created))
        lot_meta.append((lot_id, drug_id, status, (created - EPOCH) // timedelta(microseconds=1)))

    # --- where each lot's stock sits ------------------------------------------------------------------------------
    ambient = [(loc_ids["A01"], 35), (loc_ids["A02"], 15), (loc_ids["A03"], 10), (loc_ids["W01"], 30),
               (loc_ids["W02"], 9), (loc_ids["A99"], 1)]
    pairs: list[tuple[int, int, int, int]] = []  # (lot_id, location_id, drug_id, created_us)
    for lot_id, drug_id, status, created_us in lot_meta:
        if status == "pending_inspection":
            places = [loc_ids["Y01"]]
        elif status == "nonconforming":
            places = [loc_ids["R01"]]
        elif status == "recalled":
            places = [loc_ids["W01"]]
        elif drug_cold[drug_id]:
            places = [loc_ids["C01"]]
        else:
            first = weighted(rng, ambient)
            places = [first]
            if rng.random() < 0.5:
                second = weighted(rng, ambient)
                if second != first:
                    places.append(second)
        for place in sorted(places):
            pairs.append((lot_id, place, drug_id, created_us))
    if n_moves < len(pairs):
        pairs = pairs[:n_moves]

    # --- movements per (lot, location): running balance, never negative --------------------------------------------
    counts = [1] * len(pairs)
    for _ in range(n_moves - len(pairs)):
        counts[rng.randrange(len(pairs))] += 1
    pos_kinds = [("receipt", 70), ("transfer_in", 20), ("count_gain", 5), ("sale_return", 5)]
    neg_kinds = [("sale", 80), ("transfer_out", 12), ("count_loss", 4), ("other_out", 4)]
    moves = d.movements
    for bal_id, ((lot_id, loc_id, drug_id, created_us), n) in enumerate(zip(pairs, counts), start=1):
        times = sorted(rng.randrange(created_us, now_us) for _ in range(n))
        cost = max(1, drug_price[drug_id] * 7 // 10 // drug_units[drug_id])
        qty = rng.randrange(10, 500)
        bal = qty
        moves.append((times[0], lot_id, loc_id, "opening" if times[0] < now_us - 400 * 86400 * 10**6 else "receipt",
                      qty, bal, cost))
        sell_out = rng.random() < 0.2
        for j in range(1, n):
            last = j == n - 1
            if bal > 0 and (rng.random() < 0.7 or (last and sell_out)):
                qty = -bal if (last and sell_out) else -min(bal, rng.randrange(1, 21))
                kind = weighted(rng, neg_kinds)
                unit_cost = None
            else:
                qty = rng.randrange(10, 300)
                kind = weighted(rng, pos_kinds)
                unit_cost = cost
            bal += qty
            moves.append((times[j], lot_id, loc_id, kind, qty, bal, unit_cost))
        d.balances.append((bal_id, store_id, lot_id, loc_id, bal))
    moves.sort(key=lambda m: m[0])  # ledger ids follow time, like a real ledger
    return d


def ts_text(us: int, pg: bool) -> str:
    text = (EPOCH + timedelta(microseconds=us)).isoformat(sep=" ", timespec="microseconds")
    return text + "+00" if pg else text


def dt_text(value: datetime, pg: bool) -> str:
    text = value.isoformat(sep=" ", timespec="microseconds")
    return text + "+00" if pg else text


# --- loading ------------------------------------------------------------------------------------------------------

DRUG_COLS = ("id, code, generic_name, trade_name, pinyin, dosage_form, specification, package_unit, smallest_unit, "
             "units_per_package, manufacturer, approval_no, nmpa_code, hi_code, hi_class, rx_class, special_class, "
             "storage_class, storage_min_c, storage_max_c, key_curing, category, approval_status, active, "
             "retail_price_fen, unit_price_fen, price_cap_fen, valuable, created_at")
BARCODE_COLS = "id, drug_id, barcode, kind"
LOT_COLS = "id, store_id, drug_id, lot_no, production_date, expiry_date, status, created_at"
BALANCE_COLS = "id, store_id, lot_id, location_id, quantity"
MOVE_COLS = ("id, store_id, lot_id, location_id, kind, quantity, balance_after, reference, reason, actor_id, at, "
             "unit_cost_fen")


def row_streams(d: Data, store_id: int, pg: bool):
    """Per table: a generator of DBAPI-ready rows (SQLite gets text dates/timestamps in SQLAlchemy's format)."""
    def drugs():
        for r in d.drugs:
            r = list(r)
            r[28] = dt_text(r[28], pg)
            if not pg:
                r[20], r[23], r[27] = int(r[20]), int(r[23]), int(r[27])
            yield tuple(r)

    def lots():
        for (i, s, drug_id, lot_no, prod, exp, status, created) in d.lots:
            if not pg:
                prod = prod.isoformat() if prod else None
                exp = exp.isoformat() if exp else None
            yield (i, s, drug_id, lot_no, prod, exp, status, dt_text(created, pg))

    def movements():
        for i, (us, lot_id, loc_id, kind, qty, bal, cost) in enumerate(d.movements, start=1):
            yield (i, store_id, lot_id, loc_id, kind, qty, bal, f"{kind}:bench", "", None, ts_text(us, pg), cost)

    return [("drug", DRUG_COLS, drugs), ("drug_barcode", BARCODE_COLS, lambda: iter(d.barcodes)),
            ("lot", LOT_COLS, lots), ("stock_balance", BALANCE_COLS, lambda: iter(d.balances)),
            ("stock_movement", MOVE_COLS, movements)]


def load_sqlite(engine, d: Data, store_id: int, timings: dict) -> None:
    raw = engine.raw_connection()
    try:
        con = raw.driver_connection
        con.isolation_level = None
        con.execute("PRAGMA synchronous=OFF")  # for the load only; this connection is discarded afterwards
        con.execute("PRAGMA cache_size=-1048576")  # 1 GiB page cache while building the indexes
        con.execute("PRAGMA temp_store=MEMORY")
        for table, cols, rows in row_streams(d, store_id, pg=False):
            t0 = time.perf_counter()
            marks = ", ".join("?" * len(cols.split(",")))
            sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
            it = rows()
            while True:
                chunk = []
                for row in it:
                    chunk.append(row)
                    if len(chunk) >= 500_000:
                        break
                if not chunk:
                    break
                con.execute("BEGIN")
                con.executemany(sql, chunk)
                con.execute("COMMIT")
            timings[f"load_{table}_s"] = round(time.perf_counter() - t0, 2)
            print(f"  loaded {table} in {timings[f'load_{table}_s']} s", flush=True)
        con.execute("PRAGMA synchronous=NORMAL")
        t0 = time.perf_counter()
        con.execute("ANALYZE")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        timings["analyze_s"] = round(time.perf_counter() - t0, 2)
    finally:
        raw.invalidate()  # never hand the load connection (1 GiB cache) back to the pool
        engine.dispose()


def load_postgres(engine, d: Data, store_id: int, timings: dict) -> None:
    raw = engine.raw_connection()
    try:
        con = raw.driver_connection
        con.autocommit = False
        with con.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            for table, cols, rows in row_streams(d, store_id, pg=True):
                t0 = time.perf_counter()
                with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                    for row in rows():
                        copy.write_row(row)
                con.commit()
                cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                            f"(SELECT max(id) FROM \"{table}\"))")
                con.commit()
                timings[f"load_{table}_s"] = round(time.perf_counter() - t0, 2)
                print(f"  loaded {table} in {timings[f'load_{table}_s']} s", flush=True)
        con.autocommit = True
        t0 = time.perf_counter()
        with con.cursor() as cur:
            cur.execute("VACUUM (ANALYZE)")  # ANALYZE, plus the visibility map and hint bits a bulk load lacks
        timings["analyze_s"] = round(time.perf_counter() - t0, 2)
    finally:
        raw.invalidate()
        engine.dispose()


# --- database preparation -------------------------------------------------------------------------------------------

def seed_store(engine) -> tuple[int, dict[str, int]]:
    """The store and its locations go through the real services (they are few)."""
    from sqlmodel import func, select

    from core.db import new_session, transaction
    from core.services import Actor, create_store
    from inventory.models import Drug
    from inventory.services import create_location

    with new_session(engine) as session:
        if session.exec(select(func.count()).select_from(Drug)).one():
            raise SystemExit("the database already holds drugs: use a fresh database (or --recreate)")
        system = Actor.system("bench")
        store = create_store(session, system, code=BENCH_STORE_CODE, name="基准测试药房", timezone="Asia/Shanghai")
        actor = Actor.system("bench", store.id)
        loc_ids = {}
        for code, name, kind, sellable, storage, active in LOCATIONS:
            loc = create_location(session, actor, store_id=store.id, code=code, name=name, kind=kind,
                                  sellable=sellable, storage_class=storage)
            if not active:
                with transaction(session):
                    loc.active = False
                    session.add(loc)
            loc_ids[code] = loc.id
        return store.id, loc_ids


def verify(engine, store_id: int) -> dict:
    """Balances equal the sum of their movements; nothing negative; last balance_after equals the balance."""
    checks = {
        "balance_mismatches": """
            SELECT count(*) FROM stock_balance b
            LEFT JOIN (SELECT lot_id, location_id, sum(quantity) AS total FROM stock_movement
                       GROUP BY lot_id, location_id) m ON m.lot_id = b.lot_id AND m.location_id = b.location_id
            WHERE b.quantity <> coalesce(m.total, 0)""",
        "movement_pairs_without_balance": """
            SELECT count(*) FROM (SELECT DISTINCT lot_id, location_id FROM stock_movement) m
            LEFT JOIN stock_balance b ON b.lot_id = m.lot_id AND b.location_id = m.location_id
            WHERE b.id IS NULL""",
        "negative_balance_after": "SELECT count(*) FROM stock_movement WHERE balance_after < 0",
    }
    out = {}
    with engine.connect() as conn:
        for name, sql in checks.items():
            out[name] = conn.exec_driver_sql(sql).scalar()
        for table in ("drug", "drug_barcode", "lot", "stock_balance", "stock_movement", "location"):
            out[f"rows_{table}"] = conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar()
        out["balances_positive"] = conn.exec_driver_sql("SELECT count(*) FROM stock_balance WHERE quantity > 0").scalar()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=f"sqlite:///{OUT_DIR / 'bench.db'}",
                    help="sqlite:///path or postgresql://user@host:port/dbname")
    ap.add_argument("--small", action="store_true", help="quick preset: %(drugs)d drugs, %(lots)d lots, "
                    "%(movements)d movements" % PRESETS["small"])
    ap.add_argument("--drugs", type=int)
    ap.add_argument("--lots", type=int)
    ap.add_argument("--movements", type=int)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--recreate", action="store_true",
                    help="delete the SQLite file / drop and create the PostgreSQL database (*bench* names only) first")
    ap.add_argument("--no-verify", action="store_true", help="skip the ledger consistency check after loading")
    ap.add_argument("--json", help="write the result summary here as JSON")
    args = ap.parse_args(argv)

    cfg = dict(PRESETS["small" if args.small else "full"])
    for key in ("drugs", "lots", "movements"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    url = normalise_url(args.url)
    kind = engine_kind(url)

    from core import clock
    from core.db import make_engine
    from core.migrate import upgrade

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    if args.recreate:
        recreate(url)
    t0 = time.perf_counter()
    upgrade(url)
    timings["migrate_s"] = round(time.perf_counter() - t0, 2)
    engine = make_engine(url)
    store_id, loc_ids = seed_store(engine)

    t0 = time.perf_counter()
    today = clock.today("Asia/Shanghai")
    # Everything is dated relative to the start of the store's day, not the current instant, so the same seed gives
    # the same data on every engine run on the same day.
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=ZoneInfo("Asia/Shanghai"))
    data = build(cfg, random.Random(args.seed), store_id=store_id, loc_ids=loc_ids, today=today, now=day_start)
    timings["generate_python_s"] = round(time.perf_counter() - t0, 2)
    print(f"generated in Python in {timings['generate_python_s']} s: {len(data.drugs)} drugs, "
          f"{len(data.barcodes)} barcodes, {len(data.lots)} lots, {len(data.balances)} balances, "
          f"{len(data.movements)} movements", flush=True)

    t0 = time.perf_counter()
    (load_sqlite if kind == "sqlite" else load_postgres)(engine, data, store_id, timings)
    timings["load_total_s"] = round(time.perf_counter() - t0, 2)

    result = {"engine": kind, "url": url if kind == "sqlite" else url.split("@")[-1], "sizes": cfg,
              "seed": args.seed, "today": today.isoformat(), "timings": timings}
    if not args.no_verify:
        t0 = time.perf_counter()
        engine = make_engine(url)
        result["verify"] = verify(engine, store_id)
        engine.dispose()
        timings["verify_s"] = round(time.perf_counter() - t0, 2)
    if kind == "sqlite":
        result["db_size_mib"] = round(sqlite_path(url).stat().st_size / 2**20, 1)
    else:
        e = make_engine(url)
        with e.connect() as conn:
            result["db_size_mib"] = round(conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())").scalar() / 2**20, 1)
        e.dispose()
    timings["total_s"] = round(time.perf_counter() - t_all, 2)
    write_json(args.json, result)
    v = result.get("verify", {})
    bad = v.get("balance_mismatches", 0) or v.get("movement_pairs_without_balance", 0) or v.get(
        "negative_balance_after", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
