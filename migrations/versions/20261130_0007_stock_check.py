"""reorder levels and stock-check findings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

from migrations.protect import protect, unprotect

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stock_level',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('reorder_point', sa.Integer(), nullable=True),
    sa.Column('max_level', sa.Integer(), nullable=True),
    sa.Column('reorder_qty', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('reorder_point IS NULL OR reorder_point >= 0', name=op.f('ck_stock_level_reorder_point')),
    sa.CheckConstraint('max_level IS NULL OR max_level >= 1', name=op.f('ck_stock_level_max_level')),
    sa.CheckConstraint('max_level IS NULL OR reorder_point IS NULL OR max_level >= reorder_point',
                       name=op.f('ck_stock_level_max_above_reorder')),
    sa.CheckConstraint('reorder_qty IS NULL OR reorder_qty >= 1', name=op.f('ck_stock_level_reorder_qty')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_stock_level_drug_id_drug')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_stock_level_store_id_store')),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_stock_level_updated_by_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_level')),
    sa.UniqueConstraint('store_id', 'drug_id', name=op.f('uq_stock_level_store_id_drug_id'))
    )
    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_level_drug_id'), ['drug_id'], unique=False)

    op.create_table('stock_check_finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('check_date', sa.Date(), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('suggested_qty', sa.Integer(), nullable=True),
    sa.Column('last_out_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('job_slot', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_stock_check_finding_drug_id_drug')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_stock_check_finding_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_check_finding')),
    sa.UniqueConstraint('store_id', 'drug_id', 'kind', 'check_date',
                        name=op.f('uq_stock_check_finding_store_id_drug_id_kind_check_date'))
    )
    with op.batch_alter_table('stock_check_finding', schema=None) as batch_op:
        batch_op.create_index('ix_stock_check_finding_store_date', ['store_id', 'check_date'], unique=False)


def downgrade() -> None:
    op.drop_table('stock_check_finding')
    op.drop_table('stock_level')
