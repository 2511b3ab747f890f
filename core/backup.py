"""Database backups and restore.

SQLite: an online copy through sqlite3's backup API (consistent while the server writes, WAL-safe) into
`<BACKUP_DIR>/yaofang-YYYYmmdd-HHMMSS.db`; restore copies back through the same API, so a live WAL database is never
overwritten file by file. PostgreSQL: `pg_dump -Fc` into `….dump`, restored with `pg_restore --clean --if-exists` in
one transaction. The connection goes to the PostgreSQL tools through PG* environment variables, never on the command
line, and the password is never printed.

A backup is written under a temporary name and renamed when complete, so a crash never leaves half a file that the
retention (BACKUP_KEEP newest files) would count as a backup.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from core import clock
from core.errors import Conflict, InvalidInput, NotFound, YaofangError

PREFIX = "yaofang-"
SUFFIXES = {"sqlite": ".db", "postgresql": ".dump"}
NAME_RE = re.compile(r"^yaofang-(\d{8})-(\d{6})(?:-(\d+))?(\.db|\.dump)$")
DEFAULT_KEEP = 14
PG_DUMP_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Query parameters of a PostgreSQL URL that libpq also takes from the environment.
_PG_QUERY_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                 "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
                 "application_name": "PGAPPNAME", "options": "PGOPTIONS",
                 "target_session_attrs": "PGTARGETSESSIONATTRS"}


class BackupFailed(YaofangError):
    status = 500
    code = "backup_failed"


@dataclass
class BackupResult:
    path: Path
    size: int
    removed: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        text = f"backup {self.path.name} ({human_size(self.size)}) in {self.path.parent}"
        if self.removed:
            text += f"; removed {len(self.removed)} older: {', '.join(p.name for p in self.removed)}"
        return text


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def engine_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in SUFFIXES:
        raise InvalidInput(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def backup_dir(config) -> Path:
    """BACKUP_DIR from the app config, or <instance>/backups."""
    configured = config.get("BACKUP_DIR")
    return Path(configured) if configured else Path(config["INSTANCE_DIR"]) / "backups"


def backup_keep(config) -> int:
    return int(config.get("BACKUP_KEEP") or DEFAULT_KEEP)


def list_backups(directory: Path, engine: str | None = None) -> list[Path]:
    """Backups in a directory (this engine's kind only, if given), oldest first, by the time in their name."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = NAME_RE.match(path.name)
        if not m or not path.is_file() or (engine and m.group(4) != SUFFIXES[engine]):
            continue
        found.append(((m.group(1), m.group(2), int(m.group(3) or 0)), path))
    return [p for _key, p in sorted(found)]


def prune(directory: Path, keep: int, engine: str | None = None) -> list[Path]:
    """Delete all but the `keep` newest backups (of this engine's kind); returns what was removed."""
    if keep < 1:
        raise InvalidInput("keep at least one backup")
    backups = list_backups(directory, engine)
    removed = backups[:-keep] if len(backups) > keep else []
    for path in removed:
        path.unlink()
    return removed


def _target_path(directory: Path, engine: str, timezone: str) -> Path:
    stamp = clock.now().astimezone(ZoneInfo(timezone)).strftime("%Y%m%d-%H%M%S")
    suffix = SUFFIXES[engine]
    path = directory / f"{PREFIX}{stamp}{suffix}"
    n = 0
    while path.exists():  # two backups in one second: never overwrite, number the later one
        n += 1
        path = directory / f"{PREFIX}{stamp}-{n}{suffix}"
    return path


def backup_database(url: str, directory: Path, *, keep: int | None = DEFAULT_KEEP, timezone: str = "Asia/Shanghai",
                    pg_bin_dir: str | None = None) -> BackupResult:
    """Back up the database at `url` into `directory`, then keep only the `keep` newest backups (None: keep all)."""
    engine = engine_of(url)
    if keep is not None and keep < 1:
        raise InvalidInput("keep at least one backup")
    directory.mkdir(parents=True, exist_ok=True)
    target = _target_path(directory, engine, timezone)
    partial = target.with_name(target.name + ".partial")
    try:
        if engine == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        else:
            _pg_dump(url, partial, pg_bin_dir)
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    result = BackupResult(path=target, size=target.stat().st_size)
    if keep is not None:
        result.removed = prune(directory, keep, engine)
    return result


def restore_database(url: str, backup: Path, *, pg_bin_dir: str | None = None) -> str:
    """Replace the database at `url` with the backup's content. Returns the schema revision of the backup.

    The caller confirms first and disposes its connection pool before and after."""
    engine = engine_of(url)
    revision = check_backup(url, backup, pg_bin_dir=pg_bin_dir)
    if engine == "sqlite":
        _sqlite_restore(backup, _sqlite_path(url))
    else:
        _pg_restore(url, backup, pg_bin_dir)
    return revision


def check_backup(url: str, backup: Path, *, pg_bin_dir: str | None = None) -> str:
    """That the file exists and is a complete backup of this engine with a schema revision this code knows.
    Returns that revision."""
    engine = engine_of(url)
    backup = Path(backup)
    if not backup.is_file():
        raise NotFound(f"no backup file {backup}")
    with backup.open("rb") as fh:
        head = fh.read(16)
    if engine == "sqlite":
        if head != SQLITE_MAGIC:
            raise InvalidInput(f"{backup.name} is not a SQLite database; this server runs on SQLite")
        revision = _sqlite_check(backup)
    else:
        if not head.startswith(PG_DUMP_MAGIC):
            raise InvalidInput(f"{backup.name} is not a PostgreSQL custom-format dump (pg_dump -Fc); "
                               "this server runs on PostgreSQL")
        revision = _pg_check(backup, pg_bin_dir)
    _check_revision(revision, backup)
    return revision


def _check_revision(revision: str | None, backup: Path) -> None:
    from alembic.script import ScriptDirectory

    from core.migrate import alembic_config

    if not revision:
        raise InvalidInput(f"{backup.name} holds no Yaofang schema (no alembic_version row)")
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {s.revision for s in scripts.walk_revisions()}
    if revision not in known:
        raise Conflict(f"{backup.name} has schema revision {revision}, which this version of Yaofang does not know "
                       "(a backup from a newer version?)")


# --- SQLite ---------------------------------------------------------------------------------------------------------

def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():  # sqlite3.connect would create an empty database and back that up
        raise NotFound(f"no database file {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # one step: a consistent snapshot, writers in WAL mode are not blocked
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file (no -wal beside it)
        ok = dst.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise BackupFailed(f"the backup copy failed its integrity check: {ok}")
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite backup failed: {exc}")
    finally:
        dst.close()
        src.close()


def _sqlite_check(backup: Path) -> str | None:
    try:
        conn = sqlite3.connect(backup.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"{backup.name} cannot be opened as a SQLite database: {exc}")
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise InvalidInput(f"{backup.name} is damaged: {ok}")
        has_version = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                                   ).fetchone()
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone() if has_version else None
        return row[0] if row else None
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{backup.name} is not a readable SQLite database: {exc}")
    finally:
        conn.close()


def _sqlite_restore(backup: Path, database: Path) -> None:
    """Copy the backup into the live database through the backup API: it takes the database's write lock, writes
    through its journal (WAL stays WAL) and other connections see the restored content on their next read."""
    src = sqlite3.connect(backup.resolve().as_uri() + "?mode=ro", uri=True)
    dst = sqlite3.connect(database, timeout=30)
    try:
        dst.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)
        ok = dst.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise BackupFailed(f"the restored database failed its integrity check: {ok}")
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite restore failed: {exc}")
    finally:
        dst.close()
        src.close()


# --- PostgreSQL -----------------------------------------------------------------------------------------------------

def pg_tool(name: str, bin_dir: str | None = None) -> str:
    path = shutil.which(name, path=bin_dir) if bin_dir else shutil.which(name)
    if not path:
        where = f"in {bin_dir}" if bin_dir else "on PATH"
        raise BackupFailed(f"{name} not found {where}: install the PostgreSQL client tools of the server's major "
                           "version (Debian: postgresql-client) or set PG_BIN_DIR")
    return path


def pg_env(url: str) -> dict:
    """The process environment plus PG* variables for this database URL (the password travels only here)."""
    u = make_url(url)
    env = dict(os.environ)
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("username", "PGUSER"), ("password", "PGPASSWORD"),
                     ("database", "PGDATABASE")):
        value = getattr(u, key)
        if value is not None:
            env[var] = str(value)
    for key, value in u.query.items():
        if key in _PG_QUERY_ENV:
            env[_PG_QUERY_ENV[key]] = value if isinstance(value, str) else value[0]
    return env


def _run(cmd: list[str], env: dict, what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout or "").strip()
        password = env.get("PGPASSWORD")
        if password:
            message = message.replace(password, "***")
        raise BackupFailed(f"{what} failed (exit {proc.returncode}): {message[-2000:]}")
    return proc


def _pg_dump(url: str, target: Path, bin_dir: str | None) -> None:
    _run([pg_tool("pg_dump", bin_dir), "--format=custom", "--no-password", "--file", str(target)],
         pg_env(url), "pg_dump")


def _pg_check(backup: Path, bin_dir: str | None) -> str | None:
    """List the archive (pg_restore reads it whole) and read the schema revision from its alembic_version data."""
    listing = _run([pg_tool("pg_restore", bin_dir), "--list", str(backup)], dict(os.environ),
                   "reading the dump").stdout
    if not re.search(r"TABLE DATA \S+ alembic_version ", listing):
        raise InvalidInput(f"{backup.name} holds no Yaofang schema (no alembic_version table)")
    data = _run([pg_tool("pg_restore", bin_dir), "--data-only", "--table=alembic_version", "--file=-", str(backup)],
                dict(os.environ), "reading the dump").stdout
    m = re.search(r"COPY \S*alembic_version \(version_num\) FROM stdin;\n([^\n\\]+)\n", data)
    return m.group(1).strip() if m else None


def _pg_restore(url: str, backup: Path, bin_dir: str | None) -> None:
    # One transaction: if anything fails, the database is left as it was. A server still connected would make the
    # DROPs wait forever: give up after a minute with a clear error instead.
    env = pg_env(url)
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout=60000".strip()
    _run([pg_tool("pg_restore", bin_dir), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "--no-password", "--dbname", make_url(url).database, str(backup)],
         env, "pg_restore (stop the server and scheduler first)")
