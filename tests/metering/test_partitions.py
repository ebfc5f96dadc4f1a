"""The readings' monthly partitions (PostgreSQL): made by migration 0015 without losing a row, kept ahead by the
cron, dropped past the retention only after their days are rolled up; the energy commands."""
from __future__ import annotations

from datetime import UTC, date, datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from portal.bulk import insert_rows
from portal.extensions import db
from portal.metering.daily import rebuild_daily
from portal.metering.partitions import drop_expired, ensure_ahead, month_start, partitions
from portal.models import DailyUsage, IntervalReading, utcnow
from tests.metering.test_daily import STEP, expected, rolled, sequence
from worker.jobs.housekeeping import readings_partitions_job


def count(table: str) -> int:
    return db.session.scalar(text(f"SELECT count(*) FROM {table}"))


def test_the_migration_keeps_every_reading_and_makes_the_months_ahead(make_meter):
    meter = make_meter()
    now = utcnow()
    rows = sequence(meter.id, [(1, 10)] * 8, start=datetime(2025, 3, 3, tzinfo=UTC)) + sequence(
        meter.id, [(1, 5)] * 3, start=month_start(now) + STEP, energy=60_000)
    db.session.commit()
    downgrade(revision="0014")
    insert_rows(db.session, IntervalReading.__table__, rows)
    # what a first run that died after validating its constraint leaves behind: a rerun starts afresh
    db.session.execute(text("ALTER TABLE interval_readings ADD CONSTRAINT ck_interval_readings_before_cutover "
                            "CHECK (interval_start < '2100-01-01') NOT VALID"))
    db.session.commit()
    db.session.remove()

    upgrade()

    assert count("interval_readings") == count("interval_readings_legacy") == len(rows)
    found = partitions(db.session)
    assert (found[0].name, found[0].start, found[0].end) == ("interval_readings_legacy", None, month_start(now, 1))
    assert [p.start for p in found[1:]] == [month_start(now, n) for n in range(1, 5)]
    # the parent's key still takes ON CONFLICT, and a reading of next month lands in its partition
    later = dict(rows[-1], interval_start=month_start(now, 1) + STEP)
    insert_rows(db.session, IntervalReading.__table__, [rows[0], later], conflict=["meter_id", "interval_start"])
    assert count("interval_readings") == len(rows) + 1
    assert count(f"interval_readings_p{month_start(now, 1):%Y%m}") == 1
    db.session.commit()

    downgrade(revision="0014")  # back to one table, every reading with it
    assert count("interval_readings") == len(rows) + 1
    db.session.commit()
    upgrade()  # a reading of next month: the legacy partition then holds next month too
    assert partitions(db.session)[0].end == month_start(now, 2)
    assert count("interval_readings_legacy") == len(rows) + 1


def test_the_cron_makes_the_missing_months_and_nothing_twice():
    now = utcnow()
    missing = f"interval_readings_p{month_start(now, 3):%Y%m}"
    db.session.execute(text(f"DROP TABLE {missing}"))
    db.session.commit()
    assert readings_partitions_job() == {"created": [missing], "dropped": {}}
    assert ensure_ahead(db.session, now) == []


def test_past_the_retention_months_are_dropped_once_their_days_are_rolled_up(make_meter):
    cut = partitions(db.session)[0].end  # the legacy partition's, restored at the end
    # February and March 2025 in partitions of their own, April on in the legacy one
    db.session.execute(text("ALTER TABLE interval_readings DETACH PARTITION interval_readings_legacy"))
    for start in (datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)):
        db.session.execute(text(f"CREATE TABLE interval_readings_p{start:%Y%m} PARTITION OF interval_readings "
                                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{month_start(start, 1).isoformat()}')"))
    db.session.execute(text(f"ALTER TABLE interval_readings ATTACH PARTITION interval_readings_legacy "
                            f"FOR VALUES FROM ('2025-04-01 00:00+00') TO ('{cut.isoformat()}')"))
    meter = make_meter()
    rows = sequence(meter.id, [(8, 100)] * 500, start=datetime(2025, 2, 20, tzinfo=UTC))  # to 3 April
    insert_rows(db.session, IntervalReading.__table__, rows)  # never rolled up: the cron must do it first
    db.session.commit()
    try:
        dropped = drop_expired(db.session, datetime(2025, 5, 15, tzinfo=UTC), keep_months=1)
        db.session.commit()

        assert [d.name for d in dropped] == ["interval_readings_p202502", "interval_readings_p202503"]
        assert partitions(db.session)[0].name == "interval_readings_legacy"
        assert count("interval_readings") == sum(r["interval_start"] >= datetime(2025, 4, 1, tzinfo=UTC)
                                                 for r in rows)
        want = {k: v for k, v in expected(rows).items() if k[1] <= date(2025, 4, 1)}
        assert {k: v for k, v in rolled().items() if k[1] <= date(2025, 4, 1)} == want
        # 1 April (business time) began in March: it is kept as rolled up, not rebuilt from what is left of it
        before = rolled()
        result = rebuild_daily(db.session, date(2025, 3, 1), date(2025, 4, 5),
                               retained_from=datetime(2025, 4, 1, tzinfo=UTC))
        assert result.first == date(2025, 4, 2)
        assert rolled() == before | {k: v for k, v in expected(rows).items() if k[1] >= date(2025, 4, 2)}
        assert drop_expired(db.session, datetime(2025, 5, 15, tzinfo=UTC), keep_months=0) == []
    finally:
        db.session.rollback()
        db.session.execute(text("ALTER TABLE interval_readings DETACH PARTITION interval_readings_legacy"))
        db.session.execute(text(f"ALTER TABLE interval_readings ATTACH PARTITION interval_readings_legacy "
                                f"FOR VALUES FROM (MINVALUE) TO ('{cut.isoformat()}')"))
        for name in ("interval_readings_p202502", "interval_readings_p202503"):
            db.session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        db.session.commit()


def test_rebuild_daily_command(runner, make_meter, make_site, make_gateway):
    meter = make_meter()
    insert_rows(db.session, IntervalReading.__table__, sequence(meter.id, [(4, 100)] * 30))
    db.session.commit()
    site = db.session.get(type(meter), meter.id).site_id
    code = db.session.scalar(text("SELECT code FROM sites WHERE id = :i"), {"i": site})

    result = runner.invoke(args=["energy", "rebuild-daily", "--to", "2025-03-10", "--site", code])
    assert result.exit_code == 0, result.output
    assert "2025-03-03 to 2025-03-10: 3 meter-days rolled up" in result.output
    assert db.session.scalar(select(func.sum(DailyUsage.usage))) == 3_000

    assert runner.invoke(args=["energy", "rebuild-daily", "--site", "NOPE"]).exit_code == 1
    bad = runner.invoke(args=["energy", "rebuild-daily", "--from", "2025-13-01"])
    assert bad.exit_code == 2 and "--from" in bad.output
    late = runner.invoke(args=["energy", "rebuild-daily", "--from", "2025-03-05", "--to", "2025-03-01"])
    assert late.exit_code == 1 and "on or before" in late.output
    assert "partitions up to date" in runner.invoke(args=["energy", "partitions"]).output


def test_a_cycle_finds_each_meters_newest_reading_recent_or_months_old(make_meter):
    from portal.metering.rows import last_intervals

    quiet, busy = make_meter(), make_meter()
    rows = sequence(quiet.id, [(1, 10)] * 3, start=datetime(2025, 3, 3, tzinfo=UTC)) + sequence(
        busy.id, [(1, 10)] * 3, start=datetime(2025, 3, 3, tzinfo=UTC)) + sequence(
        busy.id, [(1, 10)] * 3, start=datetime(2025, 6, 20, tzinfo=UTC), energy=70_000)
    insert_rows(db.session, IntervalReading.__table__, rows)
    found = last_intervals(db.session, [quiet.id, busy.id], now=datetime(2025, 6, 21, tzinfo=UTC))
    assert {m: (r.interval_start, r.energy_total) for m, r in found.items()} == {
        quiet.id: (datetime(2025, 3, 3, 0, 45, tzinfo=UTC), 50_030),
        busy.id: (datetime(2025, 6, 20, 0, 45, tzinfo=UTC), 70_030)}
