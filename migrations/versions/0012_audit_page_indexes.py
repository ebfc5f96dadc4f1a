"""audit page: newest entries first, by site, by who and by what, over a year of the log

Revision ID: 0012
Revises: 0011
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_audit_log_at': ['at'],
    'ix_audit_log_site_at': ['site_id', 'at'],
    'ix_audit_log_actor_at': ['actor', 'at'],
    'ix_audit_log_action_at': ['action', 'at'],
}


def upgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
