"""ledger: the opening balances found by their own index, whatever the size of the ledger

Revision ID: 0022
Revises: 0021

A site's import reads the opening balance already posted for each of its shops (portal.sites.checks,
`posted_openings`). Joined with every ledger entry, a second import of 50,000 shops took minutes once the
ledger held a couple of million entries (`make bench`, 2026-12-06). A partial index holds the opening entries
alone, one per shop. On PostgreSQL it is built CONCURRENTLY: payments and the poller go on writing while it
builds.
"""
import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

OPENING = sa.text("kind = 'opening'")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index("ix_ledger_entries_opening", "ledger_entries", ["account_id"], postgresql_where=OPENING,
                            postgresql_concurrently=True, if_not_exists=True)
    else:
        op.create_index("ix_ledger_entries_opening", "ledger_entries", ["account_id"], sqlite_where=OPENING)


def downgrade():
    op.drop_index("ix_ledger_entries_opening", table_name="ledger_entries")
