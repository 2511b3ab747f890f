"""Backups and restore through the `yaofang` CLI: a restore gives back exactly the data of the backup (row counts and
checksums of the ledger and the sales journal), on SQLite and on PostgreSQL; retention keeps the newest N; a restore
needs --yes or a confirmation, and refuses files that are no backup of this engine."""
import hashlib
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from core.backup import NAME_RE, backup_database, list_backups, pg_env, prune
from core.db import new_session
from core.scheduler import run_slot
from inventory.services import verify_ledger
from tests.conftest import PG_URL
from tests.integration.pos_helpers import Counter

CHECKED_TABLES = ("stock_movement", "stock_balance", "sale", "sale_line", "sale_payment", "lot")


def snapshot(app) -> dict:
    """Row counts of every table and a checksum of the ledger and journal rows."""
    engine = app.extensions["yaofang.engine"]
    tables = sorted(inspect(engine).get_table_names())
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in tables}
        sums = {t: hashlib.sha256(repr(conn.execute(text(f'SELECT * FROM "{t}" ORDER BY id')).all()).encode())
                .hexdigest() for t in CHECKED_TABLES}
    engine.dispose()
    return {"counts": counts, "sums": sums}


def some_business(world, counter=None):
    world.lot(qty=360)
    counter = counter or Counter(world)
    counter.add(packs=2)
    counter.pay()
    return counter


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_backup_then_restore_gives_back_the_same_data(app, world, tmp_path):
    counter = some_business(world)
    before = snapshot(app)
    assert before["counts"]["sale"] == 1 and before["counts"]["stock_movement"] >= 2

    result = cli(app, "backup", "--dir", str(tmp_path / "bk"))
    assert result.exit_code == 0, result.output
    files = list_backups(tmp_path / "bk")
    assert len(files) == 1 and files[0].name in result.output
    assert re.search(r"\(\d+(\.\d)? (B|KiB|MiB)\)", result.output)  # names the file and its size

    some_business(world, counter)  # more sales and stock after the backup
    assert snapshot(app)["counts"]["sale"] == 2
    world.session.close()  # nothing of the test holds a connection while the database is replaced

    result = cli(app, "restore", str(files[0]), "--yes")
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "current database saved first" in result.output

    after = snapshot(app)
    assert after["sums"] == before["sums"]
    assert after["counts"]["audit_event"] == before["counts"]["audit_event"] + 1  # the restore is audited
    assert {**after["counts"], "audit_event": 0} == {**before["counts"], "audit_event": 0}
    with new_session(app.extensions["yaofang.engine"]) as s:
        assert verify_ledger(s) == []
        last = s.exec(text("SELECT action, summary FROM audit_event ORDER BY id DESC")).first()
        assert last[0] == "database.restore" and files[0].name in last[1]
    # The append-only triggers came back with the schema.
    with pytest.raises(DBAPIError):
        with app.extensions["yaofang.engine"].begin() as conn:
            conn.execute(text("UPDATE stock_movement SET quantity = 999"))
    with pytest.raises(DBAPIError):
        with app.extensions["yaofang.engine"].begin() as conn:
            conn.execute(text("DELETE FROM sale"))
    # The database as it was just before the restore was saved first, beside the daily backups.
    assert len(list_backups(Path(app.config["INSTANCE_DIR"]) / "backups")) == 1


def test_restore_refuses_without_yes_and_checks_the_file(app, world, tmp_path):
    some_business(world)
    world.session.close()
    assert cli(app, "backup", "--dir", str(tmp_path)).exit_code == 0
    backup = list_backups(tmp_path)[0]
    before = snapshot(app)

    result = cli(app, "restore", str(backup), input="n\n")
    assert result.exit_code != 0 and "Aborted" in result.output
    result = cli(app, "restore", str(backup))  # no terminal, no answer: refused as well
    assert result.exit_code != 0

    result = cli(app, "restore", str(tmp_path / "missing.db"), "--yes")
    assert result.exit_code == 2 and "no backup file" in result.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a backup at all" * 10)
    result = cli(app, "restore", str(junk), "--yes")
    assert result.exit_code == 2 and "is not a" in result.output
    other_engine = tmp_path / ("x.db" if PG_URL else "x.dump")
    if PG_URL:
        sqlite3.connect(other_engine).execute("CREATE TABLE t (x)").connection.commit()
    else:
        other_engine.write_bytes(b"PGDMP" + b"\0" * 100)
    result = cli(app, "restore", str(other_engine), "--yes")
    assert result.exit_code == 2 and ("PostgreSQL" if PG_URL else "SQLite") in result.output
    assert snapshot(app) == before  # nothing was touched


def test_retention_keeps_the_newest(app, world, clock, tmp_path):
    (tmp_path / "notes.txt").write_text("not a backup")
    made = []
    for _ in range(5):
        result = cli(app, "backup", "--dir", str(tmp_path), "--keep", "3")
        assert result.exit_code == 0, result.output
        made.append(list_backups(tmp_path)[-1])
        clock.advance(seconds=61)
    kept = list_backups(tmp_path)
    assert kept == made[-3:]
    assert (tmp_path / "notes.txt").exists()
    assert not list(tmp_path.glob("*.partial"))
    # Two backups in the same second never overwrite each other, and the later one counts as newer.
    url = app.config["DATABASE_URL"]
    first = backup_database(url, tmp_path, keep=None, timezone="Asia/Shanghai")
    second = backup_database(url, tmp_path, keep=None, timezone="Asia/Shanghai")
    assert first.path != second.path and NAME_RE.match(second.path.name)
    assert list_backups(tmp_path)[-2:] == [first.path, second.path]
    assert prune(tmp_path, 2) == made[-3:]
    assert list_backups(tmp_path) == [first.path, second.path]
    assert cli(app, "backup", "--dir", str(tmp_path), "--keep", "0").exit_code == 2  # keep at least one


def test_database_backup_job_names_the_file_and_size(app, world):
    run = run_slot(app, "database_backup")
    assert run.status == "ok", run.message
    backups = list_backups(Path(app.config["INSTANCE_DIR"]) / "backups")
    assert len(backups) == 1 and backups[0].name in run.message
    assert re.search(r"\(\d+(\.\d)? (B|KiB|MiB)\)", run.message)
    app.config["BACKUP_KEEP"] = 1
    assert run_slot(app, "database_backup", slot="again").status == "ok"
    assert len(list_backups(Path(app.config["INSTANCE_DIR"]) / "backups")) == 1


@pytest.mark.sqlite_only
def test_sqlite_backup_is_consistent_while_a_writer_holds_the_database(app, world, tmp_path):
    """The server keeps writing (an open write transaction in WAL mode): the backup neither waits for it nor sees
    its uncommitted rows."""
    world.lot(qty=10)
    world.session.close()
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO job_run (job, slot, started_at, status, message, triggered_by) "
                       "VALUES ('uncommitted', 'x', '2026-06-15 02:00:00', 'running', '', 'test')")
        result = backup_database(app.config["DATABASE_URL"], tmp_path, keep=3)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    copy = sqlite3.connect(result.path)
    try:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        assert copy.execute("SELECT COUNT(*) FROM job_run WHERE job = 'uncommitted'").fetchone()[0] == 0
        assert copy.execute("SELECT COUNT(*) FROM stock_movement").fetchone()[0] == 1
    finally:
        copy.close()
    assert not Path(str(result.path) + "-wal").exists()


@pytest.mark.postgres_only
def test_postgres_backup_is_a_custom_dump_made_by_a_matching_pg_dump(app, world, tmp_path):
    from sqlalchemy.engine import make_url

    result = cli(app, "backup", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    dump = list_backups(tmp_path)[0]
    assert dump.suffix == ".dump" and dump.read_bytes()[:5] == b"PGDMP"
    version = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout
    with app.extensions["yaofang.engine"].connect() as conn:
        server_major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    assert int(re.search(r"\) (\d+)\.", version).group(1)) == server_major
    url = make_url(app.config["DATABASE_URL"]).set(password="s3cret-Pa55")
    env = pg_env(url.render_as_string(hide_password=False))
    assert env["PGPASSWORD"] == "s3cret-Pa55" and env["PGDATABASE"] == url.database


def test_backup_keeps_the_password_out_of_output(app, tmp_path):
    """A failing pg_dump's message never carries the password (the CLI prints errors as they come)."""
    from core.backup import BackupFailed, _run

    env = {"PGPASSWORD": "s3cret-Pa55", "PATH": "/usr/bin:/bin"}
    with pytest.raises(BackupFailed) as exc:
        _run(["sh", "-c", "echo 'connection to postgresql://u:s3cret-Pa55@h/db failed' >&2; exit 1"], env, "pg_dump")
    assert "s3cret-Pa55" not in str(exc.value.message) and "***" in str(exc.value.message)


def test_missing_postgres_tools_give_a_clear_error(tmp_path):
    from core.backup import BackupFailed, pg_tool

    with pytest.raises(BackupFailed) as exc:
        pg_tool("pg_dump", str(tmp_path))
    assert "pg_dump not found" in str(exc.value.message) and "PG_BIN_DIR" in str(exc.value.message)
