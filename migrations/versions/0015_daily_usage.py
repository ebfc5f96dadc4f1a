"""daily roll-ups (daily_usage), and 15-minute readings partitioned by month on PostgreSQL

Revision ID: 0015
Revises: 0014

On PostgreSQL interval_readings becomes a table partitioned by range of interval_start, one partition per
UTC month, without rewriting or long-locking the readings already there: the old table is renamed and
attached as the partition of everything before the cut-over (the first of next month, or later when a
reading is dated later). Its CHECK constraint
is added NOT VALID and validated in a transaction of its own first, under a lock that lets the poller go
on writing, so the ATTACH (under an exclusive lock) needs no scan. Then this month's successors are
created; the cron keeps creating them ahead (portal.metering.partitions). SQLite (the demo) keeps one table.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

#: months created ahead of the cut-over month by the migration (the cron keeps this many ahead)
AHEAD = 3
COLUMNS = ("meter_id INTEGER NOT NULL, interval_start TIMESTAMP WITH TIME ZONE NOT NULL, "
           "energy_total BIGINT NOT NULL, energy_tou JSON, delta BIGINT, billed BOOLEAN NOT NULL")


def _month(year: int, month: int, plus: int) -> datetime:
    n = year * 12 + month - 1 + plus
    return datetime(n // 12, n % 12 + 1, 1, tzinfo=UTC)


def upgrade():
    op.create_table(
        'daily_usage',
        sa.Column('meter_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('opening_reading', sa.BigInteger(), nullable=True),
        sa.Column('closing_reading', sa.BigInteger(), nullable=True),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('usage', sa.BigInteger(), nullable=False),
        sa.Column('charged_fen', sa.BigInteger(), nullable=False),
        sa.Column('readings', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('readings >= 0', name=op.f('ck_daily_usage_readings_pos')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_daily_usage_account_id_accounts')),
        sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_daily_usage_meter_id_meters')),
        sa.PrimaryKeyConstraint('meter_id', 'day', name=op.f('pk_daily_usage')),
    )
    with op.batch_alter_table('daily_usage', schema=None) as batch_op:
        batch_op.create_index('ix_daily_usage_account_day', ['account_id', 'day'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # room on each page: the cycle updates today's rows every quarter hour, in place (HOT) where it fits
        op.execute("ALTER TABLE daily_usage SET (fillfactor = 70)")
        _partition()


def _partition():
    # the cut-over: the first of next month, or of the month after the newest reading if one is dated later
    # (found with one index probe per meter, not a scan of the readings)
    newest = op.get_bind().execute(sa.text(
        "SELECT max(r.interval_start) FROM meters AS m CROSS JOIN LATERAL (SELECT interval_start "
        "FROM interval_readings WHERE meter_id = m.id ORDER BY interval_start DESC LIMIT 1) AS r")).scalar()
    now = max(datetime.now(UTC), newest or datetime.now(UTC))
    cutover = _month(now.year, now.month, 1)
    bound = cutover.isoformat()
    # 1. outside the migration's transaction: the constraint that lets ATTACH skip its scan, validated under
    #    SHARE UPDATE EXCLUSIVE (reads and writes go on while it scans the readings)
    with op.get_context().autocommit_block():
        # committed on its own: a run that failed after this left it behind, so a rerun starts afresh
        op.execute("ALTER TABLE interval_readings DROP CONSTRAINT IF EXISTS ck_interval_readings_before_cutover")
        op.execute(f"ALTER TABLE interval_readings ADD CONSTRAINT ck_interval_readings_before_cutover "
                   f"CHECK (interval_start < '{bound}') NOT VALID")
        op.execute("ALTER TABLE interval_readings VALIDATE CONSTRAINT ck_interval_readings_before_cutover")
    # 2. catalog changes only, under short exclusive locks
    op.execute("ALTER TABLE interval_readings RENAME TO interval_readings_legacy")
    op.execute("ALTER TABLE interval_readings_legacy RENAME CONSTRAINT pk_interval_readings "
               "TO pk_interval_readings_legacy")
    op.execute("ALTER TABLE interval_readings_legacy RENAME CONSTRAINT fk_interval_readings_meter_id_meters "
               "TO fk_interval_readings_legacy_meter_id_meters")
    op.execute("ALTER INDEX ix_interval_readings_no_delta RENAME TO ix_interval_readings_legacy_no_delta")
    op.execute(f"CREATE TABLE interval_readings ({COLUMNS}, "
               "CONSTRAINT pk_interval_readings PRIMARY KEY (meter_id, interval_start), "
               "CONSTRAINT fk_interval_readings_meter_id_meters FOREIGN KEY (meter_id) REFERENCES meters (id)) "
               "PARTITION BY RANGE (interval_start)")
    op.execute("CREATE INDEX ix_interval_readings_no_delta ON interval_readings (interval_start, meter_id) "
               "WHERE delta IS NULL")
    # the legacy table's own key, foreign key and index match the parent's: they are attached, not rebuilt
    op.execute(f"ALTER TABLE interval_readings ATTACH PARTITION interval_readings_legacy "
               f"FOR VALUES FROM (MINVALUE) TO ('{bound}')")
    op.execute("ALTER TABLE interval_readings_legacy DROP CONSTRAINT ck_interval_readings_before_cutover")
    for plus in range(AHEAD + 1):
        start, end = _month(cutover.year, cutover.month, plus), _month(cutover.year, cutover.month, plus + 1)
        op.execute(f"CREATE TABLE interval_readings_p{start:%Y%m} PARTITION OF interval_readings "
                   f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # back to one plain table: a copy (a downgrade may rewrite; an upgrade must not)
        op.execute(f"CREATE TABLE interval_readings_flat ({COLUMNS})")
        op.execute("INSERT INTO interval_readings_flat SELECT meter_id, interval_start, energy_total, energy_tou, "
                   "delta, billed FROM interval_readings")
        op.execute("DROP TABLE interval_readings")  # and its partitions
        op.execute("ALTER TABLE interval_readings_flat RENAME TO interval_readings")
        op.execute("ALTER TABLE interval_readings ADD CONSTRAINT pk_interval_readings "
                   "PRIMARY KEY (meter_id, interval_start)")
        op.execute("ALTER TABLE interval_readings ADD CONSTRAINT fk_interval_readings_meter_id_meters "
                   "FOREIGN KEY (meter_id) REFERENCES meters (id)")
        op.execute("CREATE INDEX ix_interval_readings_no_delta ON interval_readings (interval_start, meter_id) "
                   "WHERE delta IS NULL")
    with op.batch_alter_table('daily_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_usage_account_day')
    op.drop_table('daily_usage')
