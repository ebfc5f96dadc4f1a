"""accounts: room on each page for every row's next version (fillfactor 50), so billing's balance updates stay on their page

Revision ID: 0025
Revises: 0024

A poll cycle that crosses a quarter hour bills every shop it read (portal.ledger.bulk: one UPDATE of the balances
per batch), ten thousand account rows every fifteen minutes on a 10,030-meter farm; payments and fee runs move
balances too. On full pages almost none of those updates could stay on its page (128 of 40,120 in a bench run),
so each new version went into every index of the table (its key, its site, its (site, code) and sticker keys).

At fillfactor 50 a page has room for a new version of each of its rows, and the updates are HOT (no index
touched); the next visit prunes the old versions. The table is twice its packed size (about 2.4 MB for 10,030
shops).

Only the storage parameter changes here (a brief lock, no rewrite): pages written from now on keep the room, and
an existing table gets it as its rows move (or at once from a `VACUUM FULL accounts` in a quiet hour).
"""
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

FILLFACTOR = 50


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE accounts SET (fillfactor = {FILLFACTOR})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE accounts RESET (fillfactor)")
