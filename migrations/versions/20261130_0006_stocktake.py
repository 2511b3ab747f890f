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
    op.create_table('stocktake',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.Column('started_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('submitted_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('verified_by', sa.Integer(), nullable=True),
    sa.Column('verified_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('approved_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['approved_by'], ['user.id'], name=op.f('fk_stocktake_approved_by_user')),
    sa.ForeignKeyConstraint(['cancelled_by'], ['user.id'], name=op.f('fk_stocktake_cancelled_by_user')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_stocktake_location_id_location')),
    sa.ForeignKeyConstraint(['started_by'], ['user.id'], name=op.f('fk_stocktake_started_by_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_stocktake_store_id_store')),
    sa.ForeignKeyConstraint(['submitted_by'], ['user.id'], name=op.f('fk_stocktake_submitted_by_user')),
    sa.ForeignKeyConstraint(['verified_by'], ['user.id'], name=op.f('fk_stocktake_verified_by_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stocktake'))
    )
    with op.batch_alter_table('stocktake', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stocktake_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_stocktake_store_id'), ['store_id'], unique=False)
    op.create_table('stocktake_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stocktake_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('expected_qty', sa.Integer(), nullable=False),
    sa.Column('retail_price_fen', sa.Integer(), nullable=False),
    sa.Column('units_per_package', sa.Integer(), nullable=False),
    sa.Column('added', sa.Boolean(), nullable=False),
    sa.CheckConstraint('expected_qty >= 0', name=op.f('ck_stocktake_line_expected_qty')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_stocktake_line_drug_id_drug')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_stocktake_line_location_id_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_stocktake_line_lot_id_lot')),
    sa.ForeignKeyConstraint(['stocktake_id'], ['stocktake.id'], name=op.f('fk_stocktake_line_stocktake_id_stocktake')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_stocktake_line_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stocktake_line')),
    sa.UniqueConstraint('stocktake_id', 'lot_id', 'location_id', name=op.f('uq_stocktake_line_stocktake_id_lot_id_location_id'))
    )
    with op.batch_alter_table('stocktake_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stocktake_line_stocktake_id'), ['stocktake_id'], unique=False)
    op.create_table('stocktake_count',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('stocktake_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('scan_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('counted_by', sa.Integer(), nullable=True),
    sa.Column('counted_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity >= 0 AND quantity <= 1000000', name=op.f('ck_stocktake_count_quantity')),
    sa.ForeignKeyConstraint(['counted_by'], ['user.id'], name=op.f('fk_stocktake_count_counted_by_user')),
    sa.ForeignKeyConstraint(['line_id'], ['stocktake_line.id'], name=op.f('fk_stocktake_count_line_id_stocktake_line')),
    sa.ForeignKeyConstraint(['stocktake_id'], ['stocktake.id'], name=op.f('fk_stocktake_count_stocktake_id_stocktake')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_stocktake_count_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stocktake_count'))
    )
    with op.batch_alter_table('stocktake_count', schema=None) as batch_op:
        batch_op.create_index('ix_stocktake_count_stocktake_line', ['stocktake_id', 'line_id'], unique=False)

    # Counts are GSP records: a recount is a new row, never an edit.
    protect('stocktake_count')


def downgrade() -> None:
    unprotect('stocktake_count')
    with op.batch_alter_table('stocktake_count', schema=None) as batch_op:
        batch_op.drop_index('ix_stocktake_count_stocktake_line')
    op.drop_table('stocktake_count')
    with op.batch_alter_table('stocktake_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stocktake_line_stocktake_id'))
    op.drop_table('stocktake_line')
    with op.batch_alter_table('stocktake', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stocktake_store_id'))
        batch_op.drop_index(batch_op.f('ix_stocktake_status'))
    op.drop_table('stocktake')
