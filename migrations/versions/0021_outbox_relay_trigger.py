"""outbox: a transaction that writes outbox rows notifies the channel payfirst_outbox, which wakes the relay

Revision ID: 0021
Revises: 0020

The outbox relay (`flask --app wsgi relay`, portal.queue.relay) LISTENs on payfirst_outbox and hands the
committed rows to RQ. A statement-level trigger notifies the channel once per statement that inserts rows (an
INSERT ... SELECT that finds nothing does not); PostgreSQL delivers the notification when the transaction commits
(never for one rolled back) and folds identical notifications of one transaction into one. Creating a trigger takes a brief lock on the outbox and
reads no row. SQLite (the demo) has no LISTEN and no relay: nothing is created there.
"""
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION payfirst_outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM written) THEN
                PERFORM pg_notify('payfirst_outbox', '');
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("CREATE TRIGGER outbox_wakes_the_relay AFTER INSERT ON outbox "
               "REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION payfirst_outbox_wake()")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER outbox_wakes_the_relay ON outbox")
    op.execute("DROP FUNCTION payfirst_outbox_wake()")
