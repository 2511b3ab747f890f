"""stocktakes (full and valuables), frozen expected quantities, blind counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

from migrations.protect import protect, unprotect

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
