"""approvals: proposals (maker-checker), the approver and the counter method on ledger entries, the counter limit

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('recharge', 'closure', 'transfer', 'adjustment', 'meter_swap', name='proposal_kind',
                              native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status', sa.Enum('proposed', 'approved', 'rejected', 'withdrawn', name='proposal_status',
                                native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('proposed_by', sa.String(length=80), nullable=False),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('decided_by IS NULL OR decided_by <> proposed_by', name=op.f('ck_proposals_two_people')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_proposals_account_id_accounts')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_proposals_meter_id_meters')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_proposals_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposals')),
    sa.UniqueConstraint('key', name=op.f('uq_proposals_key'))
    )
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposals_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_proposals_site_status', ['site_id', 'status'], unique=False)

    # Nullable columns without a default: PostgreSQL adds them without rewriting the (large) ledger.
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('method', sa.String(length=16), nullable=True))

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counter_limit_fen', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_sites_counter_limit_pos'), 'counter_limit_fen IS NULL OR counter_limit_fen > 0')


def downgrade():
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sites_counter_limit_pos'), type_='check')
        batch_op.drop_column('counter_limit_fen')

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_column('method')
        batch_op.drop_column('approved_by')

    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_proposals_site_status')
        batch_op.drop_index(batch_op.f('ix_proposals_account_id'))

    op.drop_table('proposals')
