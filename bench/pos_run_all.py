"""Run the counter (POS) benchmarks on SQLite and PostgreSQL, each step in its own process, and write
bench/POS_RESULTS.md.

    .venv/bin/python bench/pos_run_all.py                      # both engines, full data set (≈ 15–20 min)
    .venv/bin/python bench/pos_run_all.py --size small         # quick check
    .venv/bin/python bench/pos_run_all.py --engines sqlite --keep-db
    .venv/bin/python bench/pos_run_all.py --profile            # also profile commit_sale and scan_into_cart

Databases: bench/out/pos.db (SQLite, git-ignored) and postgresql://postgres@127.0.0.1:5432/yaofang_bench_pos, both
re-generated with bench/generate.py at the start of the run (--reuse keeps an existing data set); the PostgreSQL
database is dropped at the end unless --keep-db.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT_DIR, REPO_ROOT  # noqa: E402
from pos_common import write_results  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yaofang_bench_pos"


def step(args: list[str], log: Path) -> int:
    cmd = [sys.executable, *args]
    print(f"$ {' '.join(str(a) for a in cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO_ROOT).returncode
    print(f"  rc={rc} in {time.perf_counter() - t0:.0f} s, log {log.relative_to(REPO_ROOT)}", flush=True)
    return rc


def drop_pg(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from common import normalise_url

    u = make_url(normalise_url(url))
    if "bench" not in (u.database or ""):
        return
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()
    print(f"dropped {u.database}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--sqlite-url", default=f"sqlite:///{OUT_DIR / 'pos.db'}")
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    ap.add_argument("--size", choices=["full", "small"], default="full")
    ap.add_argument("--reuse", action="store_true", help="keep an existing data set instead of re-generating it")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the PostgreSQL database at the end")
    ap.add_argument("--profile", action="store_true", help="also profile the service paths (pyinstrument, cProfile)")
    ap.add_argument("--scan-n", type=int, default=2000)
    ap.add_argument("--commit-n", type=int, default=600)
    ap.add_argument("--sales", type=int, default=1_000_000)
    args = ap.parse_args(argv)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rc = 0
    t_all = time.perf_counter()
    for kind in [e.strip() for e in args.engines.split(",") if e.strip()]:
        url = args.sqlite_url if kind == "sqlite" else args.pg_url
        size = ["--size", args.size]
        first = size + ([] if args.reuse else ["--fresh"])
        rc |= step(["bench/pos_scan.py", "--url", url, *first, "--n", str(args.scan_n)],
                   OUT_DIR / f"pos_scan_{kind}.log")
        rc |= step(["bench/pos_commit.py", "--url", url, *size, "--n", str(args.commit_n)],
                   OUT_DIR / f"pos_commit_{kind}.log")
        rc |= step(["bench/pos_verify.py", "--url", url, *size, "--sales", str(args.sales), "--jobs", str(os.cpu_count() or 2)],
                   OUT_DIR / f"pos_verify_{kind}.log")
        if args.profile:
            step(["bench/pos_commit.py", "--url", url, *size, "--only", "service", "--n", "100", "--profile", "300"],
                 OUT_DIR / f"pos_commit_profile_{kind}.log")
            step(["bench/pos_scan.py", "--url", url, *size, "--only", "service", "--n", "100", "--profile", "500"],
                 OUT_DIR / f"pos_scan_profile_{kind}.log")
        if kind == "postgresql" and not args.keep_db:
            drop_pg(url)
    write_results()
    print(f"done in {time.perf_counter() - t_all:.0f} s (rc={rc})")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
