"""notifications are closed when the step they announce is done (kept, with the time)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 07:40:00
"""
import sqlalchemy as sa
from alembic import op

import core.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.add_column(sa.Column("done_at", core.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("done_at")
