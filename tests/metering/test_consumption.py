"""Consumption read off the registers equals the sum of the validated interval deltas."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.extensions import db
from portal.metering.consumption import Used, period_consumption
from portal.models import IntervalReading, Meter, MeterKind
from tests.monthly.conftest import add_readings, month_start

MARCH = month_start(2025, 3)
STEP = timedelta(minutes=15)


def summed(meter_id: int, start, end) -> int:
    return int(db.session.execute(select(func.coalesce(func.sum(IntervalReading.delta), 0)).where(
        IntervalReading.meter_id == meter_id, IntervalReading.interval_start > start,
        IntervalReading.interval_start <= end)).scalar_one())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deltas=st.lists(st.one_of(st.none(), st.integers(0, 500)), min_size=0, max_size=30),
       begin=st.integers(-5, 35), length=st.integers(0, 40))
def test_registers_give_the_sum_of_the_deltas_in_any_window(make_gateway, deltas, begin, length):
    meter = Meter(site_id=make_gateway().site_id, code="M", name="m", kind=MeterKind.ELECTRIC,
                  profile="chint-dtsu666", gateway_id=make_gateway().id, unit_id=1)
    db.session.add(meter)
    db.session.commit()
    if deltas:
        add_readings(meter, deltas, MARCH, STEP)
    start, end = MARCH + begin * STEP, MARCH + (begin + length) * STEP
    used = period_consumption(db.session, [meter.id], start, end)[meter.id]
    assert used.amount == summed(meter.id, start, end)


def test_gaps_count_the_readings_without_a_delta(make_meter):
    meter = make_meter()
    add_readings(meter, [10, None, 20, None, 5], MARCH)
    assert period_consumption(db.session, [meter.id], MARCH, MARCH + 10 * STEP) == {meter.id: Used(35, 2)}


def test_a_meter_never_read_used_nothing(make_meter):
    meter = make_meter()
    assert period_consumption(db.session, [meter.id], MARCH, MARCH + STEP) == {meter.id: Used(0)}
