"""Upgrades never hold a long lock on a busy table (issue 16, item 6).

`flask db upgrade` is the one upgrade step, and it runs while the poller and the payment notifies write. Every
migration is applied here one revision at a time to a real PostgreSQL database, each statement it sends is
captured, and the statements that would lock a busy table (one written by every poll cycle or payment, or one that
grows with time) for as long as it is big are refused:

- an index built without CONCURRENTLY (writes wait for the whole build);
- a column's type changed, a table rewritten (SET TABLESPACE, SET LOGGED, CLUSTER, VACUUM FULL);
- SET NOT NULL, or a CHECK or FOREIGN KEY constraint added without NOT VALID (a full scan under an exclusive
  lock; add it NOT VALID, then VALIDATE CONSTRAINT, which lets writes go on);
- a UNIQUE or PRIMARY KEY constraint built in place (an index build under the lock: build the index
  CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX);
- a column added with a volatile default (now(), random(): every row rewritten), or an UPDATE of every row.

A table created by the same revision is empty and exempt. The check reads the SQL as sent, so it holds for
hand-written `op.execute` as much as for Alembic's operations.
"""
from __future__ import annotations

import re

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from portal import paths

#: tables that grow with time (a row per reading, entry, payment, message, act): minutes of lock on a real site.
#: Shops, meters and their states are a row each (10,030 at the largest site): an index on them builds in
#: milliseconds.
BUSY = {"ledger_entries", "interval_readings", "daily_usage", "payment_orders", "payment_notifications",
        "audit_log", "alarms", "deliveries", "outbox", "control_commands", "receipts", "bill_lines", "login_codes"}
#: what migrations written before this check do. They stay as they were released: changing a migration changes
#: nothing for a database already past it. Nothing may join this list: a new migration follows the rules.
BEFORE_THE_CHECK = [
    "0002: unique or primary key built in place: control_commands",
    "0005: index built without CONCURRENTLY: interval_readings",
    "0005: index built without CONCURRENTLY: ledger_entries",
    "0005: index built without CONCURRENTLY: ledger_entries",
    "0007: constraint added without NOT VALID: alarms",
    "0011: index built without CONCURRENTLY: alarms",
    "0012: index built without CONCURRENTLY: audit_log",
    "0012: index built without CONCURRENTLY: audit_log",
    "0012: index built without CONCURRENTLY: audit_log",
    "0012: index built without CONCURRENTLY: audit_log",
]
_NAME = r'(?:ONLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"?(\w+)"?'
_RULES = (
    ("index built without CONCURRENTLY", re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)"
                                                     r"(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON\s+" + _NAME, re.I | re.S)),
    ("column type changed (table rewritten)", re.compile(r"^ALTER\s+TABLE\s+" + _NAME + r".*\bALTER\s+COLUMN\s+\S+\s+"
                                                         r"(?:SET\s+DATA\s+)?TYPE\b", re.I | re.S)),
    ("SET NOT NULL (full scan under an exclusive lock)", re.compile(r"^ALTER\s+TABLE\s+" + _NAME
                                                                    + r".*\bSET\s+NOT\s+NULL", re.I | re.S)),
    ("constraint added without NOT VALID", re.compile(r"^ALTER\s+TABLE\s+" + _NAME + r".*\bADD\s+(?:CONSTRAINT\s+\S+"
                                                      r"\s+)?(?:CHECK|FOREIGN\s+KEY)\b(?!.*\bNOT\s+VALID\b)",
                                                      re.I | re.S)),
    ("unique or primary key built in place", re.compile(r"^ALTER\s+TABLE\s+" + _NAME + r".*\bADD\s+(?:CONSTRAINT\s+"
                                                        r"\S+\s+)?(?:UNIQUE|PRIMARY\s+KEY)\b(?!.*\bUSING\s+INDEX\b)",
                                                        re.I | re.S)),
    ("column added with a volatile default (every row rewritten)", re.compile(
        r"^ALTER\s+TABLE\s+" + _NAME + r".*\bADD\s+(?:COLUMN\s+)?.*\bDEFAULT\s+\(?\s*(?:now|random|gen_random_uuid|"
        r"clock_timestamp|uuid_generate_v4|nextval)\s*\(", re.I | re.S)),
    ("table rewritten", re.compile(r"^(?:ALTER\s+TABLE\s+" + _NAME + r".*\bSET\s+(?:TABLESPACE|LOGGED|UNLOGGED)\b"
                                   r"|CLUSTER\s+" + _NAME + r"|VACUUM\s+(?:\(\s*)?FULL\b.*?" + _NAME + ")",
                                   re.I | re.S)),
    ("every row updated", re.compile(r"^UPDATE\s+" + _NAME + r"\s+SET\s+(?!.*\bWHERE\b)", re.I | re.S)),
)
_CREATED = re.compile(r"^CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.I)


def locking(statement: str, created: set[str]) -> list[str]:
    """What in one statement would lock a busy table that existed before its revision, as `rule: table`."""
    sql = statement.strip()
    out = []
    for rule, pattern in _RULES:
        m = pattern.search(sql)
        table = m and next((g for g in m.groups() if g), None)
        if table and table in BUSY and table not in created:
            out.append(f"{rule}: {table}")
    return out


def test_the_rules_catch_what_locks_and_pass_what_does_not():
    assert locking("CREATE INDEX ix_x ON ledger_entries (account_id)", set()) == [
        "index built without CONCURRENTLY: ledger_entries"]
    assert locking("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_x ON ledger_entries (account_id)", set()) == []
    assert locking("CREATE INDEX ix_x ON ledger_entries (account_id)", {"ledger_entries"}) == []  # new, empty
    assert locking("ALTER TABLE payment_orders ALTER COLUMN channel TYPE VARCHAR(64)", set()) == [
        "column type changed (table rewritten): payment_orders"]
    assert locking("ALTER TABLE deliveries ALTER COLUMN phone SET NOT NULL", set()) == [
        "SET NOT NULL (full scan under an exclusive lock): deliveries"]
    assert locking("ALTER TABLE alarms ADD CONSTRAINT fk_a FOREIGN KEY(site_id) REFERENCES sites (id)", set()) == [
        "constraint added without NOT VALID: alarms"]
    assert locking("ALTER TABLE alarms ADD CONSTRAINT fk_a FOREIGN KEY(site_id) REFERENCES sites (id) NOT VALID",
                   set()) == []
    assert locking("ALTER TABLE outbox ADD CONSTRAINT uq_o UNIQUE (dedupe_key)", set()) == [
        "unique or primary key built in place: outbox"]
    assert locking("ALTER TABLE outbox ADD CONSTRAINT uq_o UNIQUE USING INDEX uq_o", set()) == []
    assert locking("ALTER TABLE deliveries ADD COLUMN seen_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL",
                   set()) == ["column added with a volatile default (every row rewritten): deliveries"]
    assert locking("ALTER TABLE deliveries ADD COLUMN urgent BOOLEAN DEFAULT false NOT NULL", set()) == []
    assert locking("UPDATE ledger_entries SET method = 'cash'", set()) == ["every row updated: ledger_entries"]
    assert locking("UPDATE ledger_entries SET method = 'cash' WHERE kind = 'cash'", set()) == []
    assert locking("ALTER TABLE accounts ALTER COLUMN name TYPE TEXT", set()) == []  # a row a shop: not busy


def test_no_migration_locks_a_busy_table(empty_database):
    """Each revision applied alone, its statements as sent to PostgreSQL."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    url = empty_database.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {}})
    revisions = [r.revision for r in reversed(list(ScriptDirectory(str(paths.MIGRATIONS)).walk_revisions()))]
    sent: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    found, applied = [], []
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        with app.app_context():
            for revision in revisions:
                sent.clear()
                upgrade(revision=revision)
                created = {m.group(1) for s in sent if (m := _CREATED.match(s.strip()))}
                found += [f"{revision}: {what}" for s in sent for what in locking(s, created)]
                applied.append(revision)
            db.engine.dispose()
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    assert applied == revisions and len(revisions) >= 17
    assert found == BEFORE_THE_CHECK
    engine = create_engine(url)
    try:
        with engine.connect() as conn:  # and the last one is where the database stands
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == revisions[-1]
    finally:
        engine.dispose()
