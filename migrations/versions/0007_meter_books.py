"""meter-mode books: each meter's accounted read and deductions; the books_mismatch alarm

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

KINDS = ('low_balance_1', 'low_balance_2', 'low_balance_3', 'arrears', 'over_power', 'meter_offline',
         'gateway_offline', 'tamper', 'payment_anomaly')


def _kinds(kinds):
    # the CHECK constraint a non-native sa.Enum declares (portal.models.base.str_enum)
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade():
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deduction_total_fen', sa.BigInteger(), nullable=False,
                                      server_default=sa.text('0')))
        batch_op.add_column(sa.Column('books_remaining_fen', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('books_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('books_net_fen', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('books_read_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_alarms_alarm_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_alarms_alarm_kind'), _kinds(KINDS + ('books_mismatch',)))


def downgrade():
    op.execute("UPDATE alarms SET kind = 'tamper' WHERE kind = 'books_mismatch'")
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_alarms_alarm_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_alarms_alarm_kind'), _kinds(KINDS))
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_column('books_read_at')
        batch_op.drop_column('books_net_fen')
        batch_op.drop_column('books_count')
        batch_op.drop_column('books_remaining_fen')
        batch_op.drop_column('deduction_total_fen')
