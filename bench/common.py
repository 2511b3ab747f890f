"""Helpers shared by the Yaofang benchmark scripts (URLs, percentiles, machine facts, JSON results)."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "bench" / "out"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("YAOFANG_SECRET_KEY", "bench-secret-key-not-for-production")

BENCH_STORE_CODE = "B001"


def normalise_url(url: str) -> str:
    """sqlite:///path stays as is; postgres:// and postgresql:// use the psycopg 3 driver, like the app."""
    from core.config import normalise_database_url

    return normalise_database_url(url)


def engine_kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    return Path(make_url(url).database)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def summarize_ms(samples_s: list[float]) -> dict:
    """Latency summary in milliseconds from samples in seconds."""
    ms = sorted(s * 1000.0 for s in samples_s)
    return {
        "n": len(ms),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else None,
        "p50_ms": round(percentile(ms, 50), 4),
        "p95_ms": round(percentile(ms, 95), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "max_ms": round(ms[-1], 4) if ms else None,
    }


def machine_facts() -> dict:
    mem_kb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
                    break
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "mem_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None, "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform()}


def engine_version(engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + conn.exec_driver_sql("select sqlite_version()").scalar()
        return conn.exec_driver_sql("select version()").scalar().split(" on ")[0]


def write_json(path: str | Path | None, data: dict) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n", encoding="utf-8")
    print(text)


def recreate(url: str) -> None:
    """Start from nothing: delete the SQLite file, or drop and create the PostgreSQL database (only one named
    *bench*, so a benchmark can never drop real data)."""
    if engine_kind(url) == "sqlite":
        path = sqlite_path(url)
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if "bench" not in (u.database or ""):
        raise SystemExit(f"refusing to drop database {u.database!r}: only databases named *bench* are re-created")
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


FINDINGS_MARKER = "<!-- findings: hand-written, kept when the tables above are re-rendered -->"


def write_results_md(path: Path, rendered: str) -> None:
    """Write a results file rendered from the JSON figures, keeping the hand-written findings below the marker."""
    if not rendered:
        return
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if FINDINGS_MARKER in old:
            rendered = rendered.rstrip("\n") + "\n\n" + FINDINGS_MARKER + old.split(FINDINGS_MARKER, 1)[1].rstrip() + "\n"
    path.write_text(rendered, encoding="utf-8")
    print(f"wrote {path.relative_to(REPO_ROOT)}", flush=True)
