"""audit events keep the client address; movements keep the unit cost

A batch migration on two append-only tables: SQLite rebuilds them, and batch_alter_protected puts the triggers back
(tests/integration/test_triggers.py checks they still refuse UPDATE, DELETE and REPLACE at head).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:00:00
"""
import sqlalchemy as sa
from alembic import op

from migrations.protect import batch_alter_protected

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with batch_alter_protected("audit_event") as batch_op:
        batch_op.add_column(sa.Column("ip_address", sa.String(length=45), nullable=True))
    with batch_alter_protected("stock_movement") as batch_op:
        batch_op.add_column(sa.Column("unit_cost_fen", sa.Integer(), nullable=True))


def downgrade() -> None:
    with batch_alter_protected("stock_movement") as batch_op:
        batch_op.drop_column("unit_cost_fen")
    with batch_alter_protected("audit_event") as batch_op:
        batch_op.drop_column("ip_address")
