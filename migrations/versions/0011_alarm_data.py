"""alarms: what each is about as data (shown in the reader's language), and who acknowledged it when, with a note

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable without defaults: PostgreSQL adds them without rewriting a year of alarms; older alarms keep
    # their stored sentence and show it as it is.
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ack_note', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_alarms_site_open', ['site_id', 'cleared_at', 'raised_at'], unique=False)


def downgrade():
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_index('ix_alarms_site_open')
        batch_op.drop_column('ack_note')
        batch_op.drop_column('acknowledged_at')
        batch_op.drop_column('data')
