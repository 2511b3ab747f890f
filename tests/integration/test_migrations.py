"""The schema comes from migrations, and the models agree with them (autogenerate finds nothing to do)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from core.migrate import current_head
from core.models_registry import import_all_models


def test_models_match_migrations_at_head(app):
    import_all_models()
    engine = app.extensions["yaofang.engine"]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == current_head()
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_balance_and_movement_checks_exist(app):
    insp = inspect(app.extensions["yaofang.engine"])
    balance_checks = {c["name"] for c in insp.get_check_constraints("stock_balance")}
    movement_checks = {c["name"] for c in insp.get_check_constraints("stock_movement")}
    assert "ck_stock_balance_nonnegative" in balance_checks
    assert {"ck_stock_movement_nonzero", "ck_stock_movement_balance_after"} <= movement_checks


def test_downgrade_to_base_and_up_again(tmp_path):
    """Migrations are reversible on a fresh SQLite database (PostgreSQL runs the same files in the main suite)."""
    from alembic import command

    from core.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    assert set(inspect(create_engine(url)).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert "stock_movement" in inspect(create_engine(url)).get_table_names()
