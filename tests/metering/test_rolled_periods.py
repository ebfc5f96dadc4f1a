"""A period read off the daily roll-ups equals the raw readings' sum; a stale roll-up is found and caught up."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.bulk import insert_rows
from portal.extensions import db
from portal.metering.consumption import behind, catch_up, period_consumption, used_between, whole_days
from portal.metering.daily import roll_up_readings
from portal.metering.usage import meters_used
from portal.models import DailyUsage, IntervalReading
from tests.metering.test_daily import STEP, sequence, steps

SHANGHAI = ZoneInfo("Asia/Shanghai")
MARCH, APRIL = (datetime(2025, m, 1, tzinfo=SHANGHAI).astimezone(UTC) for m in (3, 4))
#: 22:00 in Shanghai two days before March: sequences cross the month's first midnight, and some its last
LATE_FEBRUARY = datetime(2025, 2, 26, 14, 0, tzinfo=UTC)


def raw_sum(meter_id: int, start: datetime, end: datetime) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(IntervalReading.delta), 0)).where(
        IntervalReading.meter_id == meter_id, IntervalReading.interval_start > start,
        IntervalReading.interval_start <= end)))


def written(meters, lives, offset: int, rolled: bool = True) -> list[dict]:
    """Each meter's life as raw readings from late February (+ `offset` quarter hours), rolled up as the cycle
    does unless `rolled` is False (readings from before the roll-ups existed)."""
    rows = [r for meter, life in zip(meters, lives)
            for r in sequence(meter.id, life, start=LATE_FEBRUARY + offset * STEP)]
    insert_rows(db.session, IntervalReading.__table__, rows)
    if rolled:
        roll_up_readings(db.session, rows, {m.id: m.account_id for m in meters})
    return rows


def forget() -> None:
    db.session.rollback()
    db.session.execute(DailyUsage.__table__.delete())
    db.session.execute(IntervalReading.__table__.delete())
    db.session.commit()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lives=st.lists(steps, min_size=1, max_size=3), offset=st.integers(0, 400),
       cut=st.integers(-3000, 3000), length=st.integers(0, 4000))
def test_a_month_off_the_roll_ups_equals_the_raw_sum_and_any_window_too(make_meter, lives, offset, cut, length):
    """Resets, offline gaps and business midnights: the month's roll-ups sum to the raw deltas of the readings
    closing in it; a window cut at any minute (a price change at 14:07, a month so far) does too."""
    meters = [make_meter() for _ in lives]
    written(meters, lives, offset)
    ids = [m.id for m in meters]
    month = meters_used(db.session, ids, date(2025, 3, 1), date(2025, 3, 31))
    assert month == {m: raw_sum(m, MARCH, APRIL) for m in ids}
    assert used_between(db.session, ids, MARCH, APRIL) == month
    start = MARCH + timedelta(minutes=cut)
    end = start + timedelta(minutes=length)
    assert used_between(db.session, ids, start, end) == {m: raw_sum(m, start, end) for m in ids}
    forget()


def test_whole_days_are_those_wholly_inside_the_period():
    assert whole_days(MARCH, APRIL) == (date(2025, 3, 1), date(2025, 3, 31))
    assert whole_days(MARCH + timedelta(hours=14), APRIL) == (date(2025, 3, 2), date(2025, 3, 31))
    assert whole_days(MARCH, APRIL - timedelta(minutes=1)) == (date(2025, 3, 1), date(2025, 3, 30))
    assert whole_days(MARCH + timedelta(hours=1), MARCH + timedelta(hours=20)) is None


def test_readings_without_their_roll_ups_are_found_and_caught_up(make_meter):
    fresh, stale = make_meter(), make_meter()
    written([fresh], [[(4, 100), (50, "reset"), (90, 300)]], 180)
    written([stale], [[(4, 100), (50, 200), (90, 300)]], 180, rolled=False)
    march = (date(2025, 3, 1), date(2025, 3, 31))
    assert behind(db.session, [fresh.id, stale.id], *march) == {stale.id}
    assert catch_up(db.session, [fresh.id, stale.id], *march)
    assert behind(db.session, [fresh.id, stale.id], *march) == set()
    assert not catch_up(db.session, [fresh.id, stale.id], *march)
    assert meters_used(db.session, [stale.id], *march) == {stale.id: raw_sum(stale.id, MARCH, APRIL)} == {
        stale.id: 500}
    assert {m: u.amount for m, u in period_consumption(db.session, [fresh.id, stale.id], MARCH, APRIL).items()} \
        == meters_used(db.session, [fresh.id, stale.id], *march)


def test_roll_ups_that_begin_inside_the_period_are_caught_up_too(make_meter):
    """An upgrade in mid-month: the cycle kept the days from then on, the first days have readings only."""
    meter = make_meter()
    written([meter], [[(4, 100), (100, 200), (100, 300)]], 180)
    march = (date(2025, 3, 1), date(2025, 3, 31))
    db.session.execute(DailyUsage.__table__.delete().where(DailyUsage.day <= date(2025, 3, 1)))
    assert meters_used(db.session, [meter.id], *march) != {meter.id: raw_sum(meter.id, MARCH, APRIL)}
    assert behind(db.session, [meter.id], *march) == {meter.id}
    assert catch_up(db.session, [meter.id], *march)
    assert meters_used(db.session, [meter.id], *march) == {meter.id: raw_sum(meter.id, MARCH, APRIL)}
