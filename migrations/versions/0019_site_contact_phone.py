"""sites: the property office's phone, which a shop switched off by staff is told to call

Revision ID: 0019
Revises: 0018

A nullable column: no table rewrite, no default to fill in.
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('sites', sa.Column('contact_phone', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('contact_phone')
