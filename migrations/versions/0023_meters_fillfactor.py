"""meters: room on each page for a row's next version (fillfactor 70), so the cycle's updates stay on their page

Revision ID: 0023
Revises: 0022

A meter-mode cycle writes every meter's books (portal.metering.books), and a billing cycle every meter's
sub-fen remainder: ten thousand meter rows a minute. On full pages (the default fillfactor, 100) almost none of
those updates could stay on its page (74 of 50,150 in a bench run), so each new row version went into every index
of the table, and the deferrable (gateway, unit id) key rechecked each one at the end of the statement: the books
update was the slowest statement of a meter-mode cycle, 0.27 s. With room on every page most updates are HOT (no
index touched): 0.09 s (`make bench`, 2026-12-07).

Only the storage parameter changes here (a brief lock, no rewrite): pages written from now on keep the room, and
an existing table gets it as its rows are updated (or at once from a `VACUUM FULL meters` in a quiet hour).
"""
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

FILLFACTOR = 70


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE meters SET (fillfactor = {FILLFACTOR})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE meters RESET (fillfactor)")
