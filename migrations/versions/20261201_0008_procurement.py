"""procurement: suppliers, drug requests, orders, receiving, inspection, returns

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 04:11:49.325431
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

from migrations.protect import protect, unprotect


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drug_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('documents', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_drug_request_decided_by_id_user')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_drug_request_drug_id_drug')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user.id'], name=op.f('fk_drug_request_submitted_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug_request'))
    )
    with op.batch_alter_table('drug_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drug_request_drug_id'), ['drug_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_drug_request_status'), ['status'], unique=False)

    op.create_table('supplier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('credit_code', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('contact', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('business_scope', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('spler_pmtno', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_supplier_decided_by_id_user')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user.id'], name=op.f('fk_supplier_submitted_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier')),
    sa.UniqueConstraint('code', name=op.f('uq_supplier_code')),
    sa.UniqueConstraint('credit_code', name=op.f('uq_supplier_credit_code'))
    )
    with op.batch_alter_table('supplier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_status'), ['status'], unique=False)

    op.create_table('purchase_return',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('quality_by_id', sa.Integer(), nullable=True),
    sa.Column('quality_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finance_by_id', sa.Integer(), nullable=True),
    sa.Column('finance_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('rejected_by_id', sa.Integer(), nullable=True),
    sa.Column('rejected_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('reject_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['finance_by_id'], ['user.id'], name=op.f('fk_purchase_return_finance_by_id_user')),
    sa.ForeignKeyConstraint(['quality_by_id'], ['user.id'], name=op.f('fk_purchase_return_quality_by_id_user')),
    sa.ForeignKeyConstraint(['rejected_by_id'], ['user.id'], name=op.f('fk_purchase_return_rejected_by_id_user')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_purchase_return_requested_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_purchase_return_store_id_store')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_purchase_return_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_return')),
    sa.UniqueConstraint('number', name=op.f('uq_purchase_return_number'))
    )
    with op.batch_alter_table('purchase_return', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_return_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_purchase_return_store_id'), ['store_id'], unique=False)

    op.create_table('supplier_licence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from', name=op.f('ck_supplier_licence_validity')),
    sa.ForeignKeyConstraint(['added_by_id'], ['user.id'], name=op.f('fk_supplier_licence_added_by_id_user')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_supplier_licence_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_licence'))
    )
    with op.batch_alter_table('supplier_licence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_licence_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('supplier_rep',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id_number', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('authorisation_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['user.id'], name=op.f('fk_supplier_rep_added_by_id_user')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_supplier_rep_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_rep'))
    )
    with op.batch_alter_table('supplier_rep', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_rep_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('purchase_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('rep_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', core.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('close_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user.id'], name=op.f('fk_purchase_order_closed_by_id_user')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['user.id'], name=op.f('fk_purchase_order_confirmed_by_id_user')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_purchase_order_created_by_id_user')),
    sa.ForeignKeyConstraint(['rep_id'], ['supplier_rep.id'], name=op.f('fk_purchase_order_rep_id_supplier_rep')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_purchase_order_store_id_store')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_purchase_order_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order')),
    sa.UniqueConstraint('number', name=op.f('uq_purchase_order_number'))
    )
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_order_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_purchase_order_store_id'), ['store_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_purchase_order_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('purchase_return_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('from_location_id', sa.Integer(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_purchase_return_line_quantity')),
    sa.ForeignKeyConstraint(['from_location_id'], ['location.id'], name=op.f('fk_purchase_return_line_from_location_id_location')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_purchase_return_line_location_id_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_purchase_return_line_lot_id_lot')),
    sa.ForeignKeyConstraint(['return_id'], ['purchase_return.id'], name=op.f('fk_purchase_return_line_return_id_purchase_return')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_purchase_return_line_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_return_line'))
    )
    with op.batch_alter_table('purchase_return_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_return_line_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_purchase_return_line_return_id'), ['return_id'], unique=False)

    op.create_table('purchase_order_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cost_fen', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_purchase_order_line_quantity')),
    sa.CheckConstraint('unit_cost_fen >= 0', name=op.f('ck_purchase_order_line_unit_cost')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_purchase_order_line_drug_id_drug')),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_order.id'], name=op.f('fk_purchase_order_line_order_id_purchase_order')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_purchase_order_line_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_line')),
    sa.UniqueConstraint('order_id', 'drug_id', name=op.f('uq_purchase_order_line_order_id_drug_id'))
    )
    with op.batch_alter_table('purchase_order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_order_line_order_id'), ['order_id'], unique=False)

    op.create_table('receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('delivery_note_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_uuid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.Column('received_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_order.id'], name=op.f('fk_receipt_order_id_purchase_order')),
    sa.ForeignKeyConstraint(['received_by_id'], ['user.id'], name=op.f('fk_receipt_received_by_id_user')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_receipt_store_id_store')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_receipt_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt')),
    sa.UniqueConstraint('number', name=op.f('uq_receipt_number')),
    sa.UniqueConstraint('store_id', 'client_uuid', name=op.f('uq_receipt_store_id_client_uuid')),
    sa.UniqueConstraint('supplier_id', 'delivery_note_no', name=op.f('uq_receipt_supplier_id_delivery_note_no'))
    )
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_store_id'), ['store_id'], unique=False)

    op.create_table('receipt_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('lot_no', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('production_date', sa.Date(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=True),
    sa.Column('quantity_received', sa.Integer(), nullable=False),
    sa.Column('quantity_refused', sa.Integer(), nullable=False),
    sa.Column('refuse_reason', sa.Text(), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('part_cases', sa.Integer(), nullable=False),
    sa.Column('arrival_temp_dc', sa.Integer(), nullable=True),
    sa.Column('waiting_location_id', sa.Integer(), nullable=False),
    sa.Column('needs_decision', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
    sa.Column('trace_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.CheckConstraint('quantity_received + quantity_refused > 0', name=op.f('ck_receipt_line_something')),
    sa.CheckConstraint('lot_id IS NOT NULL OR quantity_received = 0', name=op.f('ck_receipt_line_lot_when_received')),
    sa.CheckConstraint('expiry_date > production_date', name=op.f('ck_receipt_line_dates')),
    sa.CheckConstraint('quantity_received >= 0', name=op.f('ck_receipt_line_received')),
    sa.CheckConstraint('quantity_refused >= 0', name=op.f('ck_receipt_line_refused')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_receipt_line_drug_id_drug')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_receipt_line_lot_id_lot')),
    sa.ForeignKeyConstraint(['order_line_id'], ['purchase_order_line.id'], name=op.f('fk_receipt_line_order_line_id_purchase_order_line')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipt.id'], name=op.f('fk_receipt_line_receipt_id_receipt')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_receipt_line_store_id_store')),
    sa.ForeignKeyConstraint(['waiting_location_id'], ['location.id'], name=op.f('fk_receipt_line_waiting_location_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_line'))
    )
    with op.batch_alter_table('receipt_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_line_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_line_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_line_receipt_id'), ['receipt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_line_store_id'), ['store_id'], unique=False)

    op.create_table('inspection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('receipt_line_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('required_sample', sa.Integer(), nullable=False),
    sa.Column('sampled', sa.Integer(), nullable=False),
    sa.Column('appearance_ok', sa.Boolean(), nullable=False),
    sa.Column('packaging_ok', sa.Boolean(), nullable=False),
    sa.Column('label_ok', sa.Boolean(), nullable=False),
    sa.Column('report_ok', sa.Boolean(), nullable=False),
    sa.Column('accepted_qty', sa.Integer(), nullable=False),
    sa.Column('rejected_qty', sa.Integer(), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=False),
    sa.Column('conclusion', sa.String(length=16), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=True),
    sa.Column('at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("conclusion IN ('accepted', 'partly_accepted', 'rejected')", name=op.f('ck_inspection_conclusion')),
    sa.CheckConstraint('accepted_qty >= 0 AND rejected_qty >= 0', name=op.f('ck_inspection_quantities')),
    sa.ForeignKeyConstraint(['inspector_id'], ['user.id'], name=op.f('fk_inspection_inspector_id_user')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_inspection_location_id_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['lot.id'], name=op.f('fk_inspection_lot_id_lot')),
    sa.ForeignKeyConstraint(['receipt_line_id'], ['receipt_line.id'], name=op.f('fk_inspection_receipt_line_id_receipt_line')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_inspection_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection')),
    sa.UniqueConstraint('receipt_line_id', name=op.f('uq_inspection_receipt_line_id'))
    )
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_store_id'), ['store_id'], unique=False)

    op.create_table('receipt_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('receipt_line_id', sa.Integer(), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_receipt_decision_decided_by_id_user')),
    sa.ForeignKeyConstraint(['receipt_line_id'], ['receipt_line.id'], name=op.f('fk_receipt_decision_receipt_line_id_receipt_line')),
    sa.ForeignKeyConstraint(['store_id'], ['store.id'], name=op.f('fk_receipt_decision_store_id_store')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_decision')),
    sa.UniqueConstraint('receipt_line_id', name=op.f('uq_receipt_decision_receipt_line_id'))
    )
    with op.batch_alter_table('drug', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope_item', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=''))

    for table in PROTECTED:
        protect(table)


# Receiving and acceptance records and supplier licences are GSP records: a correction is a new row.
PROTECTED = ("receipt", "receipt_line", "receipt_decision", "inspection", "supplier_licence")


def downgrade() -> None:
    for table in PROTECTED:
        unprotect(table)
    with op.batch_alter_table('drug', schema=None) as batch_op:
        batch_op.drop_column('scope_item')

    op.drop_table('receipt_decision')
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_store_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_lot_id'))

    op.drop_table('inspection')
    with op.batch_alter_table('receipt_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_line_store_id'))
        batch_op.drop_index(batch_op.f('ix_receipt_line_receipt_id'))
        batch_op.drop_index(batch_op.f('ix_receipt_line_order_line_id'))
        batch_op.drop_index(batch_op.f('ix_receipt_line_lot_id'))

    op.drop_table('receipt_line')
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_store_id'))
        batch_op.drop_index(batch_op.f('ix_receipt_order_id'))

    op.drop_table('receipt')
    with op.batch_alter_table('purchase_order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_order_line_order_id'))

    op.drop_table('purchase_order_line')
    with op.batch_alter_table('purchase_return_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_return_line_return_id'))
        batch_op.drop_index(batch_op.f('ix_purchase_return_line_lot_id'))

    op.drop_table('purchase_return_line')
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_order_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_purchase_order_store_id'))
        batch_op.drop_index(batch_op.f('ix_purchase_order_status'))

    op.drop_table('purchase_order')
    with op.batch_alter_table('supplier_rep', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_rep_supplier_id'))

    op.drop_table('supplier_rep')
    with op.batch_alter_table('supplier_licence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_licence_supplier_id'))

    op.drop_table('supplier_licence')
    with op.batch_alter_table('purchase_return', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_return_store_id'))
        batch_op.drop_index(batch_op.f('ix_purchase_return_status'))

    op.drop_table('purchase_return')
    with op.batch_alter_table('supplier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_status'))

    op.drop_table('supplier')
    with op.batch_alter_table('drug_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drug_request_status'))
        batch_op.drop_index(batch_op.f('ix_drug_request_drug_id'))

    op.drop_table('drug_request')
