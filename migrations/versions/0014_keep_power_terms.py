"""keep-power (保电) with a reason and an end, and asked for through the approval queue

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

KINDS = ('recharge', 'closure', 'transfer', 'adjustment', 'meter_swap')


def _kinds(kinds):
    # the CHECK constraint a non-native sa.Enum declares (portal.models.base.str_enum)
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade():
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_proposals_proposal_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_proposals_proposal_kind'), _kinds(KINDS + ('keep_power',)))
    # Nullable without defaults: PostgreSQL adds them without rewriting the meters.
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('keep_power_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('keep_power_reason', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_column('keep_power_reason')
        batch_op.drop_column('keep_power_until')
    op.execute("UPDATE proposals SET status = 'withdrawn' WHERE kind = 'keep_power' AND status = 'proposed'")
    op.execute("DELETE FROM proposals WHERE kind = 'keep_power'")
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_proposals_proposal_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_proposals_proposal_kind'), _kinds(KINDS))
