"""Append-only protection for GSP and sales records, created by migrations on both engines.

SQLite traps handled here: `INSERT OR REPLACE` deletes the old row without firing delete triggers unless
recursive_triggers is on, so a BEFORE INSERT guard refuses any insert that would collide with an existing key; and
batch migrations recreate the table, which silently drops its triggers — use `batch_alter_protected`, which puts
them back.
"""
from __future__ import annotations

import contextlib

from alembic import op

# table -> the unique keys a REPLACE could collide on
APPEND_ONLY_TABLES: dict[str, tuple[tuple[str, ...], ...]] = {
    "audit_event": (("id",),),
    "stock_movement": (("id",),),
    "lot_status_event": (("id",),),
    # The sales journal (pos): corrections are new return sales, never edits.
    "sale": (("id",), ("sale_number",), ("register_id", "seq"), ("store_id", "client_uuid")),
    "sale_line": (("id",), ("sale_id", "line_no"), ("trace_code", "trace_generation")),
    "sale_payment": (("id",),),
    "special_drug_record": (("id",),),
    "split_pack_record": (("id",),),
    "day_close": (("id",), ("register_id", "business_date")),
    # Quality records (gsp): corrected by new records, never edited.
    "suspect_report": (("id",),),
    "nonconforming_record": (("id",),),
    "recall_recovery": (("id",),),
    "expiry_tier_mark": (("id",), ("lot_id", "tier_days")),
    "stocktake_count": (("id",),),  # counts are GSP records: a recount is a new row
    # Curing (养护) and storage conditions: plans are never edited after generation; records, readings and
    # measures are GSP records.
    "curing_plan": (("id",), ("store_id", "kind", "period_start")),
    "curing_plan_item": (("id",), ("plan_id", "lot_id", "location_id")),
    "curing_record": (("id",),),
    "environment_reading": (("id",),),
    "environment_measure": (("id",),),
    # Procurement: what arrived, the quality manager's decisions on it, the acceptance records, supplier licences
    # (a renewal is a new row).
    "receipt": (("id",), ("number",), ("store_id", "client_uuid"), ("supplier_id", "delivery_note_no")),
    "receipt_line": (("id",),),
    "receipt_decision": (("id",), ("receipt_line_id",)),
    "inspection": (("id",), ("receipt_line_id",)),
    "supplier_licence": (("id",),),
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION yaofang_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END
$$;
"""


def _dialect() -> str:
    return op.get_bind().dialect.name


def protect(table: str) -> None:
    keys = APPEND_ONLY_TABLES[table]
    if _dialect() == "sqlite":
        unprotect(table)
        msg = f"{table} is append-only"
        op.execute(f"CREATE TRIGGER trg_{table}_no_update BEFORE UPDATE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{msg}: UPDATE refused'); END")
        op.execute(f"CREATE TRIGGER trg_{table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{msg}: DELETE refused'); END")
        for i, cols in enumerate(keys):
            cond = " AND ".join(f"{c} = NEW.{c}" for c in cols)
            op.execute(f"CREATE TRIGGER trg_{table}_no_replace_{i} BEFORE INSERT ON {table} "
                       f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {cond}) "
                       f"BEGIN SELECT RAISE(ABORT, '{msg}: REPLACE refused'); END")
    else:
        op.execute(PG_FUNCTION)
        op.execute(f'DROP TRIGGER IF EXISTS trg_{table}_append_only ON "{table}"')
        op.execute(f'DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON "{table}"')
        op.execute(f'CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
                   f"FOR EACH ROW EXECUTE FUNCTION yaofang_append_only()")
        op.execute(f'CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON "{table}" '
                   f"FOR EACH STATEMENT EXECUTE FUNCTION yaofang_append_only()")


def unprotect(table: str) -> None:
    """Only for downgrades that drop the table itself."""
    if _dialect() == "sqlite":
        for name in ("no_update", "no_delete", *(f"no_replace_{i}" for i in range(len(APPEND_ONLY_TABLES[table])))):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_{name}")
    else:
        op.execute(f'DROP TRIGGER IF EXISTS trg_{table}_append_only ON "{table}"')
        op.execute(f'DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON "{table}"')


@contextlib.contextmanager
def batch_alter_protected(table: str, **kwargs):
    """`op.batch_alter_table` for an append-only table: its triggers are re-created after SQLite rebuilds it."""
    if _dialect() == "sqlite":
        kwargs.setdefault("recreate", "always")
    with op.batch_alter_table(table, **kwargs) as batch_op:
        yield batch_op
    if _dialect() == "sqlite":
        protect(table)
