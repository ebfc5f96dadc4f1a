"""meter_states and accounts: room on each page for every row's next version (fillfactor 50), for the cycle's updates

Revision ID: 0024
Revises: 0023

Every poll cycle rewrites the state row of every meter it read (portal.metering.cycle, one upsert per batch), and a
cycle that crosses a quarter hour moves the balance of every shop it bills (portal.ledger.bulk, one UPDATE per
batch): ten thousand rows of each table on a 10,030-meter farm. On full pages (the default fillfactor, 100) almost
none of those updates could stay on its page (in a bench run 161 of 50,150 states, 128 of 40,120 balances), so each
new version went into every index of its table as well (the accounts have four), and the states' table grew by a
copy of itself a cycle until vacuum caught up.

A page at fillfactor 50 has room for a new version of each of its rows: the updates are HOT (no index touched; in the
same bench 70,210 of 70,210 states, 39,830 of 40,120 balances), and the next visit prunes the old versions on the
page. Each table is twice its packed size (about 1.5 and 2.4 MB for 10,030 meters and shops).

Only the storage parameters change here (a brief lock each, no rewrite): pages written from now on keep the room,
and an existing table gets it as its rows move (or at once from a `VACUUM FULL` of each in a quiet hour).
"""
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

FILLFACTOR = {"meter_states": 50, "accounts": 50}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, fillfactor in FILLFACTOR.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTOR:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
