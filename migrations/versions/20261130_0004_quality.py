"""quality: notifications, lot quality events, stop-sale notices, recalls, expiry tiers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

from migrations.protect import protect, unprotect

PROTECTED = ("suspect_report", "nonconforming_record", "recall_recovery", "expiry_tier_mark")

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('permission', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('entity_type', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_notification_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notification_dedupe_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_store_id'), ['store_id'], unique=False)

    op.create_table('destruction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('witness_id', sa.Integer(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_destruction_quantity')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_destruction_decided_by_id_user')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_destruction_location_id_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_destruction_lot_id_lot')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_destruction_requested_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_destruction_store_id_store')),
    sa.ForeignKeyConstraint(['witness_id'], ['user.id'], name=op.f('fk_destruction_witness_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destruction'))
    )
    with op.batch_alter_table('destruction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destruction_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_destruction_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_destruction_store_id'), ['store_id'], unique=False)

    op.create_table('expiry_tier_mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('tier_days', sa.Integer(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('marked_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expiry_tier_mark')),
    sa.UniqueConstraint('lot_id', 'tier_days', name=op.f('uq_expiry_tier_mark_lot_id_tier_days'))
    )
    with op.batch_alter_table('expiry_tier_mark', schema=None) as batch_op:
        batch_op.create_index('ix_expiry_tier_mark_store_on', ['store_id', 'marked_on'], unique=False)

    op.create_table('nonconforming_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('reason_category', sa.String(length=32), nullable=False),
    sa.Column('counterfeit', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=False),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_nonconforming_record_decided_by_id_user')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_nonconforming_record_lot_id_lot')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_nonconforming_record_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nonconforming_record'))
    )
    with op.batch_alter_table('nonconforming_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nonconforming_record_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_nonconforming_record_store_id'), ['store_id'], unique=False)

    op.create_table('recall',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('lot_nos', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('measure', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('close_note', sa.Text(), nullable=False),
    sa.CheckConstraint('level IN (1, 2, 3)', name=op.f('ck_recall_level')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user.id'], name=op.f('fk_recall_closed_by_id_user')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_recall_drug_id_drug')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user.id'], name=op.f('fk_recall_issued_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_recall_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall')),
    sa.UniqueConstraint('number', name=op.f('uq_recall_number'))
    )
    with op.batch_alter_table('recall', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_drug_id'), ['drug_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recall_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_recall_store_id'), ['store_id'], unique=False)

    op.create_table('sale_stop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('lot_no', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('lift_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_sale_stop_drug_id_drug')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user.id'], name=op.f('fk_sale_stop_issued_by_id_user')),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['user.id'], name=op.f('fk_sale_stop_lifted_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_sale_stop_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale_stop'))
    )
    with op.batch_alter_table('sale_stop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_stop_drug_id'), ['drug_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_stop_store_id'), ['store_id'], unique=False)

    op.create_table('suspect_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('found_where', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('seen_event_id', sa.Integer(), nullable=True),
    sa.Column('reported_by_id', sa.Integer(), nullable=False),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_suspect_report_lot_id_lot')),
    sa.ForeignKeyConstraint(['reported_by_id'], ['user.id'], name=op.f('fk_suspect_report_reported_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_suspect_report_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suspect_report'))
    )
    with op.batch_alter_table('suspect_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suspect_report_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suspect_report_store_id'), ['store_id'], unique=False)

    op.create_table('recall_lot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recall_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('previous_status', sa.String(length=24), nullable=False),
    sa.Column('on_hand_at_recall', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_recall_lot_lot_id_lot')),
    sa.ForeignKeyConstraint(['recall_id'], ['recall.id'], name=op.f('fk_recall_lot_recall_id_recall')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_recall_lot_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_lot')),
    sa.UniqueConstraint('recall_id', 'lot_id', name=op.f('uq_recall_lot_recall_id_lot_id'))
    )
    with op.batch_alter_table('recall_lot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_lot_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recall_lot_recall_id'), ['recall_id'], unique=False)

    op.create_table('recall_recovery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recall_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('sale_number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_recall_recovery_quantity')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_recall_recovery_lot_id_lot')),
    sa.ForeignKeyConstraint(['recall_id'], ['recall.id'], name=op.f('fk_recall_recovery_recall_id_recall')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_recall_recovery_recorded_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_recall_recovery_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_recovery'))
    )
    with op.batch_alter_table('recall_recovery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_recovery_recall_id'), ['recall_id'], unique=False)

    op.create_table('sale_stop_lot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stop_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_sale_stop_lot_lot_id_lot')),
    sa.ForeignKeyConstraint(['stop_id'], ['sale_stop.id'], name=op.f('fk_sale_stop_lot_stop_id_sale_stop')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_sale_stop_lot_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale_stop_lot')),
    sa.UniqueConstraint('stop_id', 'lot_id', name=op.f('uq_sale_stop_lot_stop_id_lot_id'))
    )
    with op.batch_alter_table('sale_stop_lot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_stop_lot_lot_id'), ['lot_id'], unique=False)
    for table in PROTECTED:
        protect(table)


def downgrade() -> None:
    for table in PROTECTED:
        unprotect(table)
    op.drop_table('sale_stop_lot')
    op.drop_table('recall_recovery')
    op.drop_table('recall_lot')
    op.drop_table('suspect_report')
    op.drop_table('sale_stop')
    op.drop_table('recall')
    op.drop_table('nonconforming_record')
    op.drop_table('expiry_tier_mark')
    op.drop_table('destruction')
    op.drop_table('notification')
