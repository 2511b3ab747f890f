"""Shared setup for the counter (POS) benchmarks: the data set, the cashier and registers, drug pools, and
bench/POS_RESULTS.md.

The drug / lot / stock data set is the one of bench/generate.py (run in its own process when the database does not
hold it yet). The cashier, registers and shifts go through the real services (core.services.create_user,
pos.services.create_register, pos.services.open_shift).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (BENCH_STORE_CODE, OUT_DIR, REPO_ROOT, engine_kind, engine_version, machine_facts,  # noqa: E402
                    sqlite_path, write_results_md)

CASHIER = "bench_cashier"
CASHIER_PASSWORD = "bench-password-1"
RESULTS_MD = REPO_ROOT / "bench" / "POS_RESULTS.md"
SIZES = ("full", "small")


def default_url() -> str:
    return f"sqlite:///{OUT_DIR / 'pos.db'}"


def json_path(bench: str, kind: str) -> Path:
    return OUT_DIR / f"pos_{bench}_{kind}.json"


# --- the data set ---------------------------------------------------------------------------------------------------

def _has_bench_store(url: str) -> bool:
    from sqlalchemy import create_engine, text

    if engine_kind(url) == "sqlite" and not sqlite_path(url).exists():
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM store WHERE code = :c"), {"c": BENCH_STORE_CODE}).scalar() > 0
    except Exception:  # no database, or not migrated
        return False
    finally:
        engine.dispose()


def ensure_base(url: str, size: str = "full", fresh: bool = False) -> dict:
    """Make sure the database holds bench/generate.py's data set (generated now, in its own process, if not).
    Returns the row counts of the master data."""
    from sqlalchemy import create_engine

    if fresh or not _has_bench_store(url):
        cmd = [sys.executable, str(REPO_ROOT / "bench" / "generate.py"), "--url", url, "--recreate",
               "--json", str(OUT_DIR / f"pos_generate_{engine_kind(url)}.json")]
        if size == "small":
            cmd.append("--small")
        print(f"generating the {size} data set: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar()
                  for t in ("drug", "drug_barcode", "lot", "stock_balance", "stock_movement")}
    engine.dispose()
    return counts


# --- cashier, registers, shifts -------------------------------------------------------------------------------------

class Counter:
    """The bench store, its cashier (as an Actor) and registers with an open shift."""

    def __init__(self, store, user, actor, registers: dict):
        self.store, self.user, self.actor, self.registers = store, user, actor, registers


def setup_counter(engine, register_codes: list[str]) -> Counter:
    from sqlmodel import select

    from core.db import new_session
    from core.models import Store, User
    from core.services import Actor, actor_for, create_user
    from pos import services as pos

    with new_session(engine) as s:
        store = s.exec(select(Store).where(Store.code == BENCH_STORE_CODE)).one()
        system = Actor.system("bench", store.id)
        user = s.exec(select(User).where(User.username == CASHIER)).first()
        if user is None:
            user = create_user(s, system, username=CASHIER, display_name="基准收银员", password=CASHIER_PASSWORD,
                               store_id=store.id, roles=["cashier"])
        actor = actor_for(s, user)
        registers = {}
        for code in register_codes:
            reg = s.exec(select(pos.Register).where(pos.Register.store_id == store.id,
                                                    pos.Register.code == code)).first()
            if reg is None:
                reg = pos.create_register(s, system, store_id=store.id, code=code, name=f"基准 {code}")
            if pos.open_shift_of(s, reg.id) is None:
                pos.open_shift(s, actor, reg, 50_000)
            if pos.current_cart(s, reg) is not None:
                pos.cancel_cart(s, actor, reg)
            registers[code] = reg
        for obj in (store, user, *registers.values()):  # the services' transactions expired them
            s.refresh(obj)
        s.commit()
    return Counter(store, user, actor, registers)


def sellable_drugs(engine, store_id: int, *, min_packs: int = 1, counter_only: bool = False) -> list[tuple]:
    """(drug_id, barcode, units_per_package, retail_price_fen) of approved, active drugs with at least one sellable
    balance (released lot, not expired, active sellable location) holding min_packs packs or more. counter_only
    leaves out prescription and ephedrine-combination drugs (those need a reviewed prescription or a registered
    buyer before payment)."""
    from core import clock

    today = clock.today("Asia/Shanghai")
    pg = engine.dialect.name == "postgresql"
    p = "%s" if pg else "?"
    extra = "AND d.rx_class <> 'rx' AND d.special_class = 'none'" if counter_only else ""
    sql = f"""
        SELECT d.id, min(b.barcode), d.units_per_package, d.retail_price_fen
        FROM drug d JOIN drug_barcode b ON b.drug_id = d.id
        WHERE d.approval_status = 'approved' AND d.active {extra}
          AND EXISTS (SELECT 1 FROM lot l JOIN stock_balance sb ON sb.lot_id = l.id
                      JOIN location loc ON loc.id = sb.location_id
                      WHERE l.drug_id = d.id AND l.store_id = {p} AND l.status = 'released'
                        AND (l.expiry_date IS NULL OR l.expiry_date >= {p})
                        AND loc.sellable AND loc.active AND sb.quantity >= {p} * d.units_per_package)
        GROUP BY d.id, d.units_per_package, d.retail_price_fen
        ORDER BY d.id"""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(sql, (store_id, today if pg else today.isoformat(), min_packs))
        rows = [tuple(r) for r in cur.fetchall()]
        cur.close()
        raw.commit()
    finally:
        raw.close()
    return rows


class StatementCounter:
    """Counts the SQL statements an engine sends while `active` (BEGIN included; COMMIT/ROLLBACK are DBAPI calls)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.count = 0
        self.active = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        if self.active:
            self.count += 1


def sqlite_ts(value: datetime) -> str:
    """A UTC timestamp the way SQLAlchemy stores it in SQLite (naive, microseconds)."""
    from datetime import timezone

    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# --- sales written by hand (the raw baseline and the bulk load of pos_verify.py) ---------------------------------------

SALE_COLS = ("store_id", "register_id", "shift_id", "seq", "sale_number", "kind", "original_sale_id", "business_date",
             "cashier_id", "pharmacist_id", "prescription_id", "client_uuid", "total_fen", "paid_fen", "change_fen",
             "buyer_name", "buyer_id_number", "reason", "created_at", "prev_hash", "hash")
LINE_COLS = ("sale_id", "line_no", "drug_id", "lot_id", "location_id", "quantity", "pack_quantity", "split_pack",
             "unit_price_fen", "list_price_fen", "amount_fen", "price_override_reason", "rx", "valuable", "trace_code",
             "trace_generation", "returned_trace_code", "original_line_id", "hi_code", "fund_pay_fen",
             "personal_pay_fen")
PAY_COLS = ("sale_id", "tender", "amount_fen", "reference")


def sale_hash(prev_hash: str, sale: dict, lines: list[dict], payments: list[dict]) -> str:
    """The chain hash exactly as pos.services writes it: sha256(prev_hash + canonical_rows(sale, lines, payments)),
    from plain values in the *_HASH_FIELDS order (lines by line_no, payments in insertion order)."""
    import hashlib

    from pos.services import LINE_HASH_FIELDS, PAYMENT_HASH_FIELDS, SALE_HASH_FIELDS, canonical_rows

    doc = canonical_rows(tuple(sale[f] for f in SALE_HASH_FIELDS),
                         [tuple(l[f] for f in LINE_HASH_FIELDS) for l in sorted(lines, key=lambda x: x["line_no"])],
                         [tuple(p[f] for f in PAYMENT_HASH_FIELDS) for p in payments])
    return hashlib.sha256(prev_hash.encode() + doc).hexdigest()


def insert_sql(table: str, cols: tuple[str, ...], pg: bool, returning: str | None = None) -> str:
    p = "%s" if pg else "?"
    sql = f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({", ".join([p] * len(cols))})'
    return sql + (f" RETURNING {returning}" if returning else "")


# --- reporting ------------------------------------------------------------------------------------------------------

def run_facts(engine) -> dict:
    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except Exception:
        head = ""
    try:
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "core", "inventory", "pos",
                                "hardware"], capture_output=True, text=True, timeout=10).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except Exception:
        dirty = []
    return {"at": datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine_facts(),
            "uncommitted_code": dirty,
            "engine_version": engine_version(engine), "load_avg_before": [round(x, 2) for x in os.getloadavg()],
            "git_head": head}


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |")
    return "\n".join(out)


def _load(bench: str) -> dict[str, dict]:
    out = {}
    for kind in ("sqlite", "postgresql"):
        p = json_path(bench, kind)
        if p.exists():
            out[kind] = json.loads(p.read_text(encoding="utf-8"))
    return out


def scan_rows(results: dict[str, dict]) -> list[list]:
    rows = []
    for kind, r in results.items():
        for name, label in (("service", "`scan_into_cart` (session open → close)"),
                            ("service_call", "`scan_into_cart` call only"), ("raw", "raw SQL baseline"),
                            ("http", "HTTP POST /pos/<code>/scan (test client)")):
            s = r.get(name)
            if not s:
                continue
            ratio = s["p95_ms"] / r["raw"]["p95_ms"] if name != "raw" and r.get("raw") else None
            rows.append([kind, label, s["n"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"],
                         f"{ratio:.1f}×" if ratio else "–"])
    return rows


def commit_rows(results: dict[str, dict]) -> list[list]:
    rows = []
    for kind, r in results.items():
        for name, label in (("service", "`commit_sale` (session open → close)"), ("raw", "raw SQL baseline")):
            s = r.get(name)
            if s:
                rows.append([kind, label, s["n"], s["sales_per_s"], s["p50_ms"], s["p95_ms"], s["p99_ms"],
                             s["max_ms"]])
    return rows


def verify_rows(results: dict[str, dict]) -> list[list]:
    rows = []
    for kind, r in results.items():
        for name, label in (("clean", "`verify_journal`, intact chains"),
                            ("corrupt", "`verify_journal`, one sale_line altered")):
            s = r.get(name)
            if s:
                rows.append([kind, label, s["sales_checked"], s["seconds"], s["sales_per_s"], s["outcome"]])
        for name, s in sorted(r.get("parallel", {}).items()):
            jobs = name.split("_")[1]
            rows.append([kind, f"`verify_journal_parallel` (`ledger verify --jobs {jobs}`), intact chains",
                         s["sales_checked"], s["seconds"], s["sales_per_s"],
                         "same reports as verify_journal" if s["same_reports_as_verify_journal"] else
                         "**different reports**"])
    return rows


def render_results() -> str:
    """bench/POS_RESULTS.md from the JSON of the last run of each POS benchmark on each engine."""
    scan, commit, verify = _load("scan"), _load("commit"), _load("verify")
    everything = [r for d in (scan, commit, verify) for r in d.values()]
    if not everything:
        return ""
    first = min(everything, key=lambda r: r["facts"]["at"])
    m = first["facts"]["machine"]
    lines = ["# Yaofang counter (POS) benchmark results", ""]
    ats = sorted(r["facts"]["at"] for r in everything)
    lines.append(f"- Run: {ats[0]} – {ats[-1]} (`bench/pos_run_all.py`, or the scripts one by one)")
    heads = sorted({r["facts"]["git_head"] for r in everything})
    dirty = sorted({f for r in everything for f in r["facts"].get("uncommitted_code", [])})
    lines.append(f"- Code: {'; '.join(heads)}" + (f" (uncommitted changes in: {', '.join(dirty)})" if dirty else
                                                   " (no uncommitted changes in core/, inventory/, pos/, hardware/)"))
    lines.append(f"- Machine: {m['nproc']} CPUs (`nproc`), {m['mem_gib']} GiB memory, {m['cpu']}; "
                 f"Python {m['python']}; client and server on the same machine")
    versions = {}
    for r in everything:
        versions[r["engine"]] = r["facts"]["engine_version"]
    lines.append("- Engines: " + "; ".join(f"{k}: {v}" for k, v in versions.items()))
    for kind, r in (scan or commit).items():
        b = r.get("base", {})
        if b:
            lines.append(f"- Data set ({kind}): {b['drug']:,} drugs ({b['drug_barcode']:,} barcodes), {b['lot']:,} lots, "
                         f"{b['stock_balance']:,} stock balances, {b['stock_movement']:,} stock movements "
                         f"(bench/generate.py)")
    loads = []
    for bench, d in (("scan", scan), ("commit", commit), ("verify", verify)):
        for kind, r in d.items():
            la = r["facts"]["load_avg_before"]
            loads.append(f"{bench}/{kind} {la[0]} / {la[1]} / {la[2]}")
    lines.append("- Load average (1/5/15 min) before each step — the machine is shared, so figures carry noise: "
                 + "; ".join(loads))
    lines += ["", "## Summary", ""]
    summary = []
    for kind in ("sqlite", "postgresql"):
        row = [kind]
        s = scan.get(kind)
        row += [f"{s['service']['p50_ms']:.2f} / {s['service']['p95_ms']:.2f}", s["goal_met"]] if s else ["–", "–"]
        c = commit.get(kind)
        if c:
            row += [f"{c['service']['p50_ms']:.2f} / {c['service']['p95_ms']:.2f}",
                    f"{c['service']['sales_per_s']:,.0f} / {c['raw']['sales_per_s']:,.0f}",
                    f"{c['ratio_throughput']:.2f}", c["goal_p95_met"], c["goal_ratio_met"]]
        else:
            row += ["–"] * 5
        v = verify.get(kind)
        row += [f"{v['clean']['sales_per_s']:,.0f}", v["goal_met"], v["corrupt"]["found"]] if v else ["–"] * 3
        summary.append(row)
    lines.append(md_table(["Engine", "Scan p50 / p95 ms", "p95 ≤ 10 ms", "Commit p50 / p95 ms",
                           "Sales/s service / raw", "Ratio", "p95 ≤ 30 ms", "Ratio ≥ 0.5", "Verify sales/s",
                           "≥ 100k/s", "Tamper found"], summary))
    if scan:
        lines += ["", "## Scan → cart line (`bench/pos_scan.py`)", ""]
        any_r = next(iter(scan.values()))
        lines.append(any_r["description"])
        lines += ["", md_table(["Engine", "Path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "p95 / raw p95"],
                               scan_rows(scan)), ""]
        for kind, r in scan.items():
            lines.append(f"- {kind}: {r['notes']}")
    if commit:
        lines += ["", "## Sale commit (`bench/pos_commit.py`)", ""]
        any_r = next(iter(commit.values()))
        lines.append(any_r["description"])
        lines += ["", md_table(["Engine", "Path", "n", "sales/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                               commit_rows(commit)), ""]
        for kind, r in commit.items():
            lines.append(f"- {kind}: {r['notes']}")
    if verify:
        lines += ["", "## `ledger verify` over 1,000,000 sales (`bench/pos_verify.py`)", ""]
        any_r = next(iter(verify.values()))
        lines.append(any_r["description"])
        lines += ["", md_table(["Engine", "Chains", "sales checked", "seconds", "sales/s", "outcome"],
                               verify_rows(verify)), ""]
        for kind, r in verify.items():
            lines.append(f"- {kind}: {r['notes']}")
    lines += ["", "Raw JSON: `bench/out/pos_{scan,commit,verify}_<engine>.json`. How to run: `bench/README.md` "
              "(POS section).", ""]
    return "\n".join(lines)


def write_results() -> None:
    write_results_md(RESULTS_MD, render_results())


def save(bench: str, result: dict) -> None:
    p = json_path(bench, result["engine"])
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
