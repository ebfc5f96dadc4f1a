"""Daily roll-ups equal the sums of the raw readings, kept by upkeep batch by batch or rebuilt at once."""
from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.bulk import insert_rows
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.metering.daily import DayTotals, reading_day, rebuild_daily, roll_up_charges, roll_up_readings
from portal.models import DailyUsage, EntryKind, IntervalReading, LedgerEntry

STEP = timedelta(minutes=15)
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: 22:00 in Shanghai: every sequence crosses a business midnight within its first hours
EVENING = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
ROLLED = ("meter_id", "day", "account_id", "opening_reading", "closing_reading", "first_at", "last_at", "usage",
          "charged_fen", "readings")

#: one step of a meter's life: intervals skipped (offline hours), then used energy, or a reset (a counter that
#: went back, a swapped meter: the reading is a new baseline without a delta)
steps = st.lists(st.tuples(st.integers(1, 40), st.one_of(st.integers(0, 900), st.just("reset"))), max_size=60)


def sequence(meter_id: int, life: list, start: datetime = EVENING, energy: int = 50_000) -> list[dict]:
    """The raw readings of a meter: the first is a baseline, each later one has its delta unless a reset."""
    at, rows = start, [dict(meter_id=meter_id, interval_start=start, energy_total=energy, delta=None, billed=False)]
    for gap, used in life:
        at += gap * STEP
        if used == "reset":
            energy = random.Random(gap).randint(0, 300)
            rows.append(dict(meter_id=meter_id, interval_start=at, energy_total=energy, delta=None, billed=False))
        else:
            energy += used
            rows.append(dict(meter_id=meter_id, interval_start=at, energy_total=energy, delta=used, billed=False))
    return rows


def expected(rows: list[dict]) -> dict:
    """(meter, day) -> the roll-up, summed straight from the raw readings."""
    out: dict = {}
    for r in sorted(rows, key=lambda r: (r["meter_id"], r["interval_start"])):
        key = (r["meter_id"], reading_day(r["interval_start"]))
        day = out.setdefault(key, dict(opening_reading=r["energy_total"] - (r["delta"] or 0), usage=0, readings=0))
        day.update(closing_reading=r["energy_total"], usage=day["usage"] + (r["delta"] or 0),
                   readings=day["readings"] + 1)
    return out


def rolled() -> dict:
    """(meter, day) -> the roll-up's reading part, of the days that had readings."""
    return {(d.meter_id, d.day): dict(opening_reading=d.opening_reading, closing_reading=d.closing_reading,
                                      usage=d.usage, readings=d.readings)
            for d in db.session.execute(select(DailyUsage).where(DailyUsage.readings > 0)).scalars()}


def snapshot() -> list[tuple]:
    t = DailyUsage.__table__
    return [tuple(r) for r in db.session.execute(select(*(t.c[c] for c in ROLLED)).order_by(t.c.meter_id, t.c.day))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lives=st.lists(steps, min_size=1, max_size=3), batch=st.integers(1, 25), late=st.booleans(),
       seed=st.integers(0, 1000), gathered=st.integers(1, 3))
def test_upkeep_and_rebuild_equal_the_raw_readings(make_meter, lives, batch, late, seed, gathered):
    """Counter resets, swaps, offline gaps, batches in any order (readings arriving late for an earlier day)
    and business midnights: the roll-ups are the sums of the readings, by upkeep (batches written one by one,
    or several gathered before they are written, as a cycle gathers readings and money) and by rebuild alike."""
    meters = [make_meter() for _ in lives]
    rows = [r for meter, life in zip(meters, lives) for r in sequence(meter.id, life)]
    batches = [rows[i:i + batch] for i in range(0, len(rows), batch)]
    if late:
        random.Random(seed).shuffle(batches)
    accounts = {m.id: m.account_id for m in meters}
    days = DayTotals()
    for n, part in enumerate(batches, start=1):
        insert_rows(db.session, IntervalReading.__table__, part)
        if gathered == 1:
            roll_up_readings(db.session, part, accounts)
            continue
        days.add_readings(part, accounts)
        if n % gathered == 0 or n == len(batches):
            days.flush(db.session)
    assert rolled() == expected(rows)
    assert {k[0] for k in rolled()} == {m.id for m in meters}
    kept = snapshot()

    days = [d for _, d in rolled()]
    rebuild_daily(db.session, min(days), max(days))
    assert snapshot() == kept
    db.session.rollback()
    db.session.execute(DailyUsage.__table__.delete())
    db.session.execute(IntervalReading.__table__.delete())
    db.session.commit()


def test_a_reading_at_business_midnight_closes_the_day_before(make_meter):
    meter = make_meter()
    midnight = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)  # 00:00 on 4 March in Shanghai
    rows = sequence(meter.id, [(1, 10), (1, 20), (1, 30)], start=midnight - 2 * STEP)
    insert_rows(db.session, IntervalReading.__table__, rows)
    roll_up_readings(db.session, rows, {meter.id: meter.account_id})
    assert rolled() == {
        (meter.id, date(2025, 3, 3)): dict(opening_reading=50_000, closing_reading=50_030, usage=30, readings=3),
        (meter.id, date(2025, 3, 4)): dict(opening_reading=50_030, closing_reading=50_060, usage=30, readings=1),
    }


def test_charges_count_on_the_day_they_were_posted_and_the_rebuild_agrees(make_meter, make_account):
    shop = make_account(balance_fen=10_000)
    meter = make_meter(account=shop)
    keys = []
    for n, amount in enumerate((120, 80, 5)):
        keys.append(f"energy:{meter.id}:{n}")
        post_entry(db.session, shop, -amount, EntryKind.ENERGY, keys[-1], meter_id=meter.id)
    post_entry(db.session, shop, 500, EntryKind.CASH, "cash:1")
    roll_up_charges(db.session, [(e.meter_id, e.account_id, -e.amount_fen, e.created_at) for e in db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.idempotency_key.in_(keys)))])
    db.session.commit()
    [day] = db.session.execute(select(DailyUsage)).scalars().all()
    posted = db.session.scalar(select(func.max(LedgerEntry.created_at)))
    assert (day.meter_id, day.day, day.account_id, day.charged_fen) == (meter.id, posted.astimezone(SHANGHAI).date(),
                                                                        shop.id, 205)
    assert (day.usage, day.readings, day.opening_reading) == (0, 0, None)
    kept = snapshot()
    rebuild_daily(db.session, day.day - timedelta(days=1), day.day + timedelta(days=1))
    assert snapshot() == kept


def test_the_rebuild_is_idempotent_and_keeps_to_its_site_and_days(make_meter, make_site, make_gateway):
    here, there = make_meter(), make_meter(gateway=make_gateway(site=make_site()))
    for meter in (here, there):
        rows = sequence(meter.id, [(4, 100)] * 30)  # 30 hours of readings: three business days
        insert_rows(db.session, IntervalReading.__table__, rows)
    db.session.commit()
    first = rebuild_daily(db.session, date(2025, 3, 3), date(2025, 3, 3), site_id=here.site_id)
    assert first.rows == 1
    assert {(d.meter_id, d.day) for d in db.session.execute(select(DailyUsage)).scalars()} == {
        (here.id, date(2025, 3, 3))}
    rebuild_daily(db.session, date(2025, 3, 1), date(2025, 3, 9))
    once = snapshot()
    again = rebuild_daily(db.session, date(2025, 3, 1), date(2025, 3, 9))
    assert snapshot() == once and again.rows == len(once) == 6
    # a day with nothing left to count is removed
    db.session.execute(IntervalReading.__table__.delete().where(IntervalReading.meter_id == there.id))
    rebuild_daily(db.session, date(2025, 3, 1), date(2025, 3, 9))
    assert {m for m, *_ in snapshot()} == {here.id}


def test_the_rebuild_skips_days_whose_readings_are_partly_dropped(make_meter):
    meter = make_meter()
    rows = sequence(meter.id, [(4, 100)] * 30)
    insert_rows(db.session, IntervalReading.__table__, rows)
    result = rebuild_daily(db.session, date(2025, 3, 3), date(2025, 3, 5),
                           retained_from=datetime(2025, 3, 4, 2, 0, tzinfo=UTC))
    assert (result.first, result.skipped) == (date(2025, 3, 5), 2)
    assert {d for _, d, *_ in snapshot()} == {date(2025, 3, 5)}


def test_money_posted_either_side_of_business_midnight_counts_on_two_days(make_meter):
    meter = make_meter()
    midnight = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)  # 00:00 on 4 March in Shanghai
    days = DayTotals()
    days.add_charges([(meter.id, None, 7, midnight - timedelta(microseconds=1)), (meter.id, None, 5, midnight),
                      (meter.id, None, 1, midnight + timedelta(hours=23)), (meter.id, None, 2, midnight - STEP)])
    assert {day: row["charged_fen"] for (_, day), row in days.rows.items()} == {
        date(2025, 3, 3): 9, date(2025, 3, 4): 6}
