"""curing plans and records, storage conditions, temperature and humidity readings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

from migrations.protect import protect, unprotect

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


PROTECTED = ("curing_plan", "curing_plan_item", "curing_record", "environment_reading", "environment_measure")


def upgrade() -> None:
    op.create_table('curing_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('created_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_curing_plan_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_curing_plan')),
    sa.UniqueConstraint('store_id', 'kind', 'period_start', name=op.f('uq_curing_plan_store_id_kind_period_start'))
    )
    with op.batch_alter_table('curing_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_curing_plan_due_date'), ['due_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_curing_plan_store_id'), ['store_id'], unique=False)

    op.create_table('curing_plan_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('key_reasons', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_curing_plan_item_location_id_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_curing_plan_item_lot_id_lot')),
    sa.ForeignKeyConstraint(['plan_id'], ['curing_plan.id'], name=op.f('fk_curing_plan_item_plan_id_curing_plan')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_curing_plan_item_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_curing_plan_item')),
    sa.UniqueConstraint('plan_id', 'lot_id', 'location_id', name=op.f('uq_curing_plan_item_plan_id_lot_id_location_id'))
    )
    with op.batch_alter_table('curing_plan_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_curing_plan_item_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_curing_plan_item_store_id'), ['store_id'], unique=False)

    op.create_table('curing_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('plan_item_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('appearance_ok', sa.Boolean(), nullable=False),
    sa.Column('packaging_ok', sa.Boolean(), nullable=False),
    sa.Column('storage_ok', sa.Boolean(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('follow_up', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("result IN ('ok', 'problem')", name=op.f('ck_curing_record_result')),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_curing_record_actor_id_user')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_curing_record_location_id_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_curing_record_lot_id_lot')),
    sa.ForeignKeyConstraint(['plan_item_id'], ['curing_plan_item.id'], name=op.f('fk_curing_record_plan_item_id_curing_plan_item')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_curing_record_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_curing_record'))
    )
    with op.batch_alter_table('curing_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_curing_record_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_curing_record_plan_item_id'), ['plan_item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_curing_record_store_id'), ['store_id'], unique=False)

    op.create_table('environment_reading',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('temperature_dc', sa.Integer(), nullable=False),
    sa.Column('humidity_dpct', sa.Integer(), nullable=False),
    sa.Column('storage_class', sa.String(length=16), nullable=False),
    sa.Column('out_of_range', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('sensor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('humidity_dpct BETWEEN 0 AND 1000', name=op.f('ck_environment_reading_humidity')),
    sa.CheckConstraint('temperature_dc BETWEEN -400 AND 600', name=op.f('ck_environment_reading_temperature')),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_environment_reading_actor_id_user')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_environment_reading_location_id_location')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_environment_reading_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_environment_reading'))
    )
    with op.batch_alter_table('environment_reading', schema=None) as batch_op:
        batch_op.create_index('ix_environment_reading_location_at', ['location_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_environment_reading_store_id'), ['store_id'], unique=False)

    op.create_table('environment_measure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('reading_id', sa.Integer(), nullable=False),
    sa.Column('measure', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_environment_measure_actor_id_user')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_environment_measure_location_id_location')),
    sa.ForeignKeyConstraint(['reading_id'], ['environment_reading.id'], name=op.f('fk_environment_measure_reading_id_environment_reading')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_environment_measure_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_environment_measure'))
    )
    with op.batch_alter_table('environment_measure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_environment_measure_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_environment_measure_reading_id'), ['reading_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_environment_measure_store_id'), ['store_id'], unique=False)

    # Append-only GSP records (DESIGN.md invariant 4): triggers refuse UPDATE, DELETE (and SQLite REPLACE).
    for table in PROTECTED:
        protect(table)


def downgrade() -> None:
    for table in reversed(PROTECTED):
        unprotect(table)
    op.drop_table('environment_measure')
    op.drop_table('environment_reading')
    op.drop_table('curing_record')
    op.drop_table('curing_plan_item')
    op.drop_table('curing_plan')
