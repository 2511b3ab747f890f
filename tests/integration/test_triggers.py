"""Append-only tables refuse UPDATE, DELETE (PostgreSQL also TRUNCATE) and SQLite REPLACE, at migration head —
i.e. also after migration 0002 rebuilt audit_event and stock_movement in SQLite batch mode."""
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from core.services import record_audit
from core.db import transaction
from tests.conftest import PG_URL

APPEND_ONLY = ["stock_movement", "audit_event", "lot_status_event"]


@pytest.fixture
def rows(world):
    lot = world.lot("LHQW", qty=5)  # writes a movement, a lot status event and audit events
    db = world.session
    with transaction(db):
        record_audit(db, world.actor(), "test.event", "test", 1)
    return lot


def _refused(engine, sql):
    with pytest.raises(DatabaseError) as exc:
        with engine.begin() as conn:
            conn.execute(text(sql))
    assert "append-only" in str(exc.value)


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_update_and_delete_are_refused(app, rows, table):
    engine = app.extensions["yaofang.engine"]
    _refused(engine, f"UPDATE {table} SET id = id")
    _refused(engine, f"DELETE FROM {table}")
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() > 0


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_sqlite_replace_or_pg_truncate_is_refused(app, rows, table):
    engine = app.extensions["yaofang.engine"]
    if PG_URL:
        _refused(engine, f"TRUNCATE {table} CASCADE")
    else:
        with engine.connect() as conn:
            cols = [r[1] for r in conn.execute(text(f"PRAGMA table_info({table})"))]
        col_list = ", ".join(cols)
        _refused(engine, f"INSERT OR REPLACE INTO {table} ({col_list}) SELECT {col_list} FROM {table} LIMIT 1")
        _refused(engine, f"REPLACE INTO {table} ({col_list}) SELECT {col_list} FROM {table} LIMIT 1")


def test_ledger_row_values_survive_refusals(app, rows, world):
    engine = app.extensions["yaofang.engine"]
    with engine.connect() as conn:
        before = conn.execute(text("SELECT id, quantity, balance_after FROM stock_movement ORDER BY id")).all()
    for sql in ("UPDATE stock_movement SET quantity = 999", "DELETE FROM stock_movement WHERE quantity > 0"):
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(sql))
    with engine.connect() as conn:
        after = conn.execute(text("SELECT id, quantity, balance_after FROM stock_movement ORDER BY id")).all()
    assert after == before


def _batch_add_column(engine, use_helper: bool):
    """Run a later-style batch migration on stock_movement, as a future revision would."""
    from migrations import protect

    with engine.begin() as conn:
        ctx = MigrationContext.configure(conn, opts={"render_as_batch": True})
        op = Operations(ctx)
        previous = protect.op
        protect.op = op  # the helper works on alembic's proxy; point it at this ad-hoc context
        try:
            if use_helper:
                with protect.batch_alter_protected("stock_movement") as batch:
                    batch.add_column(__import__("sqlalchemy").Column("extra_note", __import__("sqlalchemy").Text))
            else:
                kwargs = {"recreate": "always"} if engine.dialect.name == "sqlite" else {}
                with op.batch_alter_table("stock_movement", **kwargs) as batch:
                    batch.add_column(__import__("sqlalchemy").Column("extra_note", __import__("sqlalchemy").Text))
        finally:
            protect.op = previous


def test_a_later_batch_migration_keeps_triggers_and_checks(app, rows):
    engine = app.extensions["yaofang.engine"]
    _batch_add_column(engine, use_helper=True)
    _refused(engine, "UPDATE stock_movement SET id = id")
    _refused(engine, "DELETE FROM stock_movement")
    # The CHECK constraints came through the rebuild too.
    with pytest.raises(DatabaseError):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO stock_movement (store_id, lot_id, location_id, kind, quantity, "
                              "balance_after, reference, reason, at) SELECT store_id, lot_id, location_id, kind, 0, "
                              "0, '', '', at FROM stock_movement LIMIT 1"))
    with pytest.raises(DatabaseError):
        with engine.begin() as conn:
            conn.execute(text("UPDATE stock_balance SET quantity = -1"))


@pytest.mark.sqlite_only  # PostgreSQL alters tables in place; only SQLite rebuilds them
def test_plain_sqlite_batch_migration_would_drop_triggers(app, rows):
    """Why batch_alter_protected exists: without it a rebuilt table silently loses its triggers."""
    engine = app.extensions["yaofang.engine"]
    _batch_add_column(engine, use_helper=False)
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='stock_movement'"))]
    assert names == []
