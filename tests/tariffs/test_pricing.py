"""Tariff arithmetic: exact integers, linear within periods and tiers, no drift across many intervals."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.tariffs.pricing import (
    TariffError,
    Version,
    cost_e5,
    month_start,
    period_at,
    split_by_period,
    to_fen,
    validate,
)

SH = ZoneInfo("Asia/Shanghai")
TOU = Version(
    kind="tou", unit_price_e4=0,
    periods=(("00:00", "08:00", "valley"), ("08:00", "10:00", "flat"), ("10:00", "12:00", "peak"),
             ("12:00", "14:00", "flat"), ("14:00", "17:00", "peak"), ("17:00", "19:00", "sharp"),
             ("19:00", "22:00", "peak"), ("22:00", "00:00", "valley")),
    period_prices_e4={"sharp": 15_321, "peak": 12_345, "flat": 8_765, "valley": 3_333},
)
TIERED = Version(kind="tiered", unit_price_e4=0, tiers=((200_00, 5_600), (400_00, 6_100), (None, 8_600)))
FLAT = Version(kind="flat", unit_price_e4=9_500)
amounts = st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=60)
pytestmark = pytest.mark.no_db


def test_flat_price_of_one_kwh():
    # 1 kWh (100 x 0.01 kWh) at 0.9500 yuan = 95 fen exactly
    assert to_fen(cost_e5(FLAT, "electric", 100), 0) == (95, 0)


def test_water_is_priced_per_cubic_metre():
    # 1,500 litres at 3.2500 yuan per m³ = 4.875 yuan = 487 fen and half a fen carried
    water = Version(kind="flat", unit_price_e4=32_500)
    assert to_fen(cost_e5(water, "water", 1_500), 0) == (487, 50_000)


@given(amounts)
def test_flat_month_in_many_intervals_costs_the_month_priced_at_once(parts):
    posted, remainder = 0, 0
    for part in parts:
        fen, remainder = to_fen(cost_e5(FLAT, "electric", part), remainder)
        posted += fen
    assert posted == to_fen(cost_e5(FLAT, "electric", sum(parts)), 0)[0]


@given(st.integers(0, 100_000), amounts)
def test_tiered_running_total_is_additive(start, parts):
    before, whole_cost, pieces = start, cost_e5(TIERED, "electric", sum(parts), month_before=start), 0
    for part in parts:
        pieces += cost_e5(TIERED, "electric", part, month_before=before)
        before += part
    assert pieces == whole_cost


def test_tiered_steps_apply_to_the_month_total_not_to_each_reading():
    # 150 kWh already used this month; 100 kWh more: 50 at tier 1, 50 at tier 2
    assert cost_e5(TIERED, "electric", 100_00, month_before=150_00) == (50_00 * 5_600 + 50_00 * 6_100) * 10


def test_tou_period_lookup_in_business_time():
    utc_9am_local = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert period_at(TOU, utc_9am_local.astimezone(SH)) == "flat"
    assert period_at(TOU, datetime(2026, 3, 2, 23, 30, tzinfo=SH)) == "valley"


def test_interval_crossing_periods_is_shared_by_time():
    start = datetime(2026, 3, 2, 16, 45, tzinfo=SH)  # 15 min of peak, 30 min of sharp
    shares = split_by_period(TOU, start, start + timedelta(minutes=45), 300, SH)
    assert shares == {"peak": 100, "sharp": 200}


@given(st.integers(0, 10_000), st.integers(1, 48 * 60))
@settings(max_examples=60)
def test_split_by_period_never_loses_energy(amount, minutes):
    start = datetime(2026, 5, 1, 3, 7, tzinfo=SH)
    assert sum(split_by_period(TOU, start, start + timedelta(minutes=minutes), amount, SH).values()) == amount


def test_tou_cost_uses_the_quantity_per_period():
    cost = cost_e5(TOU, "electric", 300, by_period={"peak": 100, "sharp": 200})
    assert cost == (100 * 12_345 + 200 * 15_321) * 10


def test_tou_must_cover_the_day_exactly_once():
    with pytest.raises(TariffError):
        validate(Version(kind="tou", unit_price_e4=0, periods=(("00:00", "12:00", "flat"),),
                         period_prices_e4={"flat": 1}))
    validate(TOU)


def test_tiers_must_ascend_and_end_open():
    with pytest.raises(TariffError):
        validate(Version(kind="tiered", unit_price_e4=0, tiers=((300, 1), (200, 2), (None, 3))))
    with pytest.raises(TariffError):
        validate(Version(kind="tiered", unit_price_e4=0, tiers=((300, 1),)))
    validate(TIERED)


def test_month_starts_at_local_midnight():
    at = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # already 1 April in Shanghai
    assert month_start(at, SH) == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
