"""meter_states: room on each page for every row's next version (fillfactor 50), so a cycle's upsert stays on its page

Revision ID: 0024
Revises: 0023

Every poll cycle rewrites the state row of every meter it read (portal.metering.cycle, one upsert per batch): ten
thousand rows a minute on a 10,030-meter farm, each row once per cycle. On full pages (the default fillfactor,
100) almost none of those updates could stay on its page (161 of 50,150 in a bench run), so each new version went
into the primary key's index as well, and the table grew by a copy of itself a cycle until vacuum caught up.

A page at fillfactor 50 has room for a new version of each of its rows: the cycle's updates are HOT (no index
touched), and the next cycle's visit prunes the old versions on the page. The table is twice its packed size
(about 1.8 MB for 10,030 meters).

Only the storage parameter changes here (a brief lock, no rewrite): pages written from now on keep the room, and
an existing table gets it as its rows move (or at once from a `VACUUM FULL meter_states` in a quiet hour).
"""
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

FILLFACTOR = 50


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE meter_states SET (fillfactor = {FILLFACTOR})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE meter_states RESET (fillfactor)")
