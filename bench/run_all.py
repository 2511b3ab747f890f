"""Run the whole Yaofang benchmark: generate + lookup + movements on SQLite and PostgreSQL, then write RESULTS.md.

    .venv/bin/python bench/run_all.py                 # full size (50k drugs, 500k lots, 2M movements), both engines
    .venv/bin/python bench/run_all.py --small         # quick check; writes bench/out/RESULTS-small.md
    .venv/bin/python bench/run_all.py --engines sqlite --keep-db

Each step runs in its own process; raw JSON results and logs go to bench/out/ (git-ignored). The PostgreSQL database
(`yaofang_bench` by default) is dropped and created for the run and dropped again afterwards unless --keep-db.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT_DIR, REPO_ROOT, machine_facts, normalise_url  # noqa: E402

BENCH = REPO_ROOT / "bench"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yaofang_bench"


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run_step(name: str, args: list[str], log: Path, json_path: Path) -> dict:
    cmd = [sys.executable, str(BENCH / args[0]), *args[1:], "--json", str(json_path)]
    print(f"==> {name}: {' '.join(cmd[1:])}", flush=True)
    la_before = loadavg()
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    elapsed = time.perf_counter() - t0
    print(f"    {name}: exit {proc.returncode} in {elapsed:.1f} s (log {log.relative_to(REPO_ROOT)})", flush=True)
    if proc.returncode not in (0,) and not json_path.exists():
        raise SystemExit(f"{name} failed, see {log}")
    data = json.loads(json_path.read_text())
    data["_step"] = {"exit": proc.returncode, "elapsed_s": round(elapsed, 1), "loadavg_before": la_before,
                     "loadavg_after": loadavg()}
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return data


def code_revision() -> str:
    """The commit measured, and whether the service code differed from it (others may edit the checkout)."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    head = git("log", "-1", "--format=%h %s")
    dirty = git("status", "--porcelain", "--", "core", "inventory")
    return (head or "unknown") + (" (with uncommitted changes in core/ or inventory/)" if dirty else "")


def drop_pg(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(normalise_url(url))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()


def fmt(x, nd=2):
    return "–" if x is None else f"{x:,.{nd}f}"


def render(results: dict, args, started: dt.datetime, finished: dt.datetime) -> str:
    m = machine_facts()
    any_gen = next(iter(results.values()))["generate"]
    sizes = any_gen["sizes"]
    lines = [
        "# Yaofang benchmark results",
        "",
        f"- Run: {started:%Y-%m-%d %H:%M} – {finished:%H:%M} (local time of the machine), "
        f"`bench/run_all.py{' --small' if args.small else ''}`",
        f"- Code: {args.revision}",
        f"- Machine: {m['nproc']} CPUs (`nproc`), {m['mem_gib']} GiB memory, {m['cpu']}; Python {m['python']}",
        "- Engines: " + "; ".join(f"{r['lookup'].get('engine_version', e)}" for e, r in results.items()),
        f"- Sizes: {sizes['drugs']:,} drugs ({any_gen['verify']['rows_drug_barcode']:,} barcodes), "
        f"{sizes['lots']:,} lots, {sizes['movements']:,} stock movements, "
        + ", ".join(f"{e}: {r['generate']['verify']['rows_stock_balance']:,} stock balances "
                    f"({r['generate']['verify']['balances_positive']:,} > 0)" for e, r in results.items()),
        "- Load averages (1/5/15 min) before each benchmark are listed below: the machine is shared, so "
        "latencies include some noise from other work.",
        "",
        "## Summary",
        "",
        "| Engine | Scan p50 / p95 / p99 (ms), service | Raw SQL p50 / p95 / p99 (ms) | p95 ratio | "
        "p95 ≤ 5 ms | Movements/s service | Movements/s raw | Ratio | ≥ 0.5 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e, r in results.items():
        lk, mv = r["lookup"], r["movements"]
        s, w = lk["service"], lk["raw"]
        lines.append(
            f"| {e} | {fmt(s['p50_ms'])} / {fmt(s['p95_ms'])} / {fmt(s['p99_ms'])} | "
            f"{fmt(w['p50_ms'], 3)} / {fmt(w['p95_ms'], 3)} / {fmt(w['p99_ms'], 3)} | "
            f"{fmt(lk['ratio_service_over_raw']['p95_ms'], 1)}× | {'yes' if lk['goal_met'] else '**no**'} | "
            f"{fmt(mv['service']['movements_per_s'], 0)} | {fmt(mv['raw']['movements_per_s'], 0)} | "
            f"{fmt(mv['ratio_service_over_raw_throughput'], 2)} | {'yes' if mv['goal_met'] else '**no**'} |")
    lines += ["", "## Barcode scan → sellable FEFO lot + price", "",
              "`inventory.services.sellable_lot_for_barcode(session, store, barcode)` with a new session per scan "
              "(closed after it, as a request does), against one hand-written SQL query on the raw DBAPI connection of "
              "the same engine (correlated FEFO subquery). Random barcodes from all drugs (so some drugs are not "
              "approved or have no sellable lot), interleaved blocks, after a warm-up; every service answer is "
              "checked against the baseline's.", "",
              "| Engine | Path | n | mean | p50 | p95 | p99 | max (ms) |", "|---|---|---|---|---|---|---|---|"]
    for e, r in results.items():
        lk = r["lookup"]
        for path in ("service", "raw"):
            s = lk[path]
            lines.append(f"| {e} | {path} | {s['n']:,} | {fmt(s['mean_ms'], 3)} | {fmt(s['p50_ms'], 3)} | "
                         f"{fmt(s['p95_ms'], 3)} | {fmt(s['p99_ms'], 3)} | {fmt(s['max_ms'], 1)} |")
    lines.append("")
    for e, r in results.items():
        lk = r["lookup"]
        o = lk["outcomes"]
        rr = lk["ratio_service_over_raw"]
        lines.append(f"- {e}: service/raw ratio p50 {rr['p50_ms']}×, p95 {rr['p95_ms']}×, p99 {rr['p99_ms']}×; "
                     f"outcomes {o['lot_found']:,} lot found, {o['no_sellable_lot']:,} no sellable lot, "
                     f"{o['drug_not_sellable']:,} drug not approved/inactive; answer mismatches vs raw: "
                     f"{lk['answer_mismatches']}; load average before: {lk['_step']['loadavg_before']}")
    lines += ["", "## Stock movement writes (one movement per transaction)", "",
              "`with transaction(session): post_movement(...)` in a new session per movement (lot and location "
              "loaded beforehand), against the same statements by hand on the raw DBAPI connection (BEGIN [IMMEDIATE]; "
              "balance upsert or conditional UPDATE … RETURNING; movement INSERT; COMMIT). Alternating +q/−q on "
              "random existing balances; the touched balances are re-checked against their movements afterwards.",
              "", "| Engine | Path | n | movements/s | mean | p50 | p95 | p99 | max (ms) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for e, r in results.items():
        mv = r["movements"]
        for path in ("service", "raw"):
            s = mv[path]
            lines.append(f"| {e} | {path} | {s['n']:,} | {fmt(s['movements_per_s'], 0)} | {fmt(s['mean_ms'], 3)} | "
                         f"{fmt(s['p50_ms'], 3)} | {fmt(s['p95_ms'], 3)} | {fmt(s['p99_ms'], 3)} | "
                         f"{fmt(s['max_ms'], 1)} |")
    lines.append("")
    for e, r in results.items():
        mv = r["movements"]
        lines.append(f"- {e}: throughput ratio service/raw {mv['ratio_service_over_raw_throughput']} (ratio of median "
                     f"latencies raw/service {mv.get('ratio_raw_p50_over_service_p50', '–')}); ledger errors "
                     f"on touched balances: {mv['ledger_errors']}; load average before: "
                     f"{mv['_step']['loadavg_before']}")
    lines += ["", "## Data generation", "",
              "| Engine | migrate | Python generation | drug | barcode | lot | balance | movement | ANALYZE | "
              "load total | verify | whole step | DB size |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e, r in results.items():
        g = r["generate"]
        t = g["timings"]
        lines.append(f"| {e} | {t['migrate_s']} s | {t['generate_python_s']} s | {t['load_drug_s']} s | "
                     f"{t['load_drug_barcode_s']} s | {t['load_lot_s']} s | {t['load_stock_balance_s']} s | "
                     f"{t['load_stock_movement_s']} s | {t['analyze_s']} s | {t['load_total_s']} s | "
                     f"{t.get('verify_s', '–')} s | {g['_step']['elapsed_s']} s | {g['db_size_mib']:,} MiB |")
    lines.append("")
    for e, r in results.items():
        v = r["generate"]["verify"]
        lines.append(f"- {e}: balance ≠ sum(movements): {v['balance_mismatches']}, movements without a balance row: "
                     f"{v['movement_pairs_without_balance']}, negative balance_after: {v['negative_balance_after']}")
    lines += ["", "Raw JSON for every step: `bench/out/<engine>_{generate,lookup,movements}.json`. "
              "How to run: `bench/README.md`. Causes of the gaps and suggested fixes (profiles, prototypes): "
              "`bench/FINDINGS.md`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="small data set (quick check)")
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--sqlite-path", default=str(OUT_DIR / "bench.db"))
    ap.add_argument("--pg-url", default=DEFAULT_PG, help="a database whose name contains 'bench' (it is dropped)")
    ap.add_argument("--lookups", type=int, default=5000)
    ap.add_argument("--movements", type=int, default=6000)
    ap.add_argument("--skip-generate", action="store_true", help="reuse databases kept by an earlier --keep-db run")
    ap.add_argument("--keep-db", action="store_true", help="keep the generated databases afterwards")
    ap.add_argument("--results", help="markdown output (default bench/RESULTS.md, or bench/out/RESULTS-small.md)")
    ap.add_argument("--render-only", action="store_true", help="rewrite the markdown from the last run's JSON files")
    args = ap.parse_args(argv)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results) if args.results else (
        OUT_DIR / "RESULTS-small.md" if args.small else BENCH / "RESULTS.md")
    tag = "small_" if args.small else ""
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    run_file = OUT_DIR / f"{tag}run.json"
    if args.render_only:
        run = json.loads(run_file.read_text())
        args.revision = run["revision"]
        results = {e: {step: json.loads((OUT_DIR / f"{tag}{e}_{step}.json").read_text())
                       for step in ("generate", "lookup", "movements")} for e in run["engines"]}
        for e, r in run["steps"].items():
            for step, meta in r.items():
                results[e][step]["_step"] = meta
        results_path.write_text(render(results, args, dt.datetime.fromisoformat(run["started"]),
                                       dt.datetime.fromisoformat(run["finished"])), encoding="utf-8")
        print(f"wrote {results_path}")
        return 0
    started = dt.datetime.now()
    args.revision = code_revision()
    results: dict[str, dict] = {}
    for engine in engines:
        url = f"sqlite:///{Path(args.sqlite_path).resolve()}" if engine == "sqlite" else args.pg_url
        r: dict = {}
        if args.skip_generate:
            r["generate"] = json.loads((OUT_DIR / f"{tag}{engine}_generate.json").read_text())
            r["generate"].setdefault("_step", {"elapsed_s": "–"})
        else:
            gen = ["generate.py", "--url", url, "--recreate"] + (["--small"] if args.small else [])
            r["generate"] = run_step(f"{engine} generate", gen, OUT_DIR / f"{tag}{engine}_generate.log",
                                     OUT_DIR / f"{tag}{engine}_generate.json")
            if r["generate"]["_step"]["exit"]:
                raise SystemExit(f"{engine}: the generated ledger is inconsistent, see the log")
        r["lookup"] = run_step(f"{engine} lookup", ["bench_lookup.py", "--url", url, "--n", str(args.lookups)],
                               OUT_DIR / f"{tag}{engine}_lookup.log", OUT_DIR / f"{tag}{engine}_lookup.json")
        r["movements"] = run_step(f"{engine} movements",
                                  ["bench_movements.py", "--url", url, "--n", str(args.movements)],
                                  OUT_DIR / f"{tag}{engine}_movements.log", OUT_DIR / f"{tag}{engine}_movements.json")
        results[engine] = r
        if not args.keep_db:
            if engine == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(args.sqlite_path + suffix).unlink(missing_ok=True)
            else:
                drop_pg(url)
    finished = dt.datetime.now()
    if code_revision() != args.revision:
        args.revision += f" → {code_revision()} during the run"
    run_file.write_text(json.dumps({"started": started.isoformat(), "finished": finished.isoformat(),
                                    "revision": args.revision, "engines": list(results),
                                    "steps": {e: {step: r[step].get("_step", {}) for step in r}
                                              for e, r in results.items()}}, indent=2), encoding="utf-8")
    results_path.write_text(render(results, args, started, finished), encoding="utf-8")
    print(f"wrote {results_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
