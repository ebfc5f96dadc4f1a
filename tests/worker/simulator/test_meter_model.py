"""SimMeter physics and money, without the network."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.simulator import SHANGHAI, ManualClock, SimMeter, SimMeterSpec

HOUR = 3600
NOON = datetime(2025, 3, 3, 12, 0, tzinfo=SHANGHAI)  # a Monday


def make(clock=None, **kw) -> SimMeter:
    kw.setdefault("profile", "payfirst-prepaid-v1")
    if kw["profile"] == "payfirst-water-v1":
        kw.setdefault("kind", "water")
    return SimMeter(SimMeterSpec(kw.pop("unit_id", 1), **kw), clock or ManualClock(NOON))


def test_same_seed_same_consumption_other_seed_differs():
    clock = ManualClock(NOON)
    a, b, c = make(clock), make(clock), make(clock, seed=9)
    clock.advance(5 * HOUR)
    assert a.snapshot()["energy_total"] == b.snapshot()["energy_total"] > 0
    assert c.snapshot()["energy_total"] != a.snapshot()["energy_total"]


def test_shop_uses_far_more_energy_in_the_evening_than_at_night():
    clock = ManualClock(NOON.replace(hour=18))
    meter = make(clock, base_load_w=3000)
    clock.advance(2 * HOUR)  # 18:00-20:00, busiest
    evening = meter.snapshot()["energy_total"]
    clock.advance(6 * HOUR)  # to 02:00
    clock.advance(2 * HOUR)  # 02:00-04:00, closed
    before = meter.snapshot()["energy_total"]
    clock.advance(2 * HOUR)
    night = meter.snapshot()["energy_total"] - before
    assert evening > 10 * night > 0


def test_tou_buckets_follow_the_fixed_periods_over_a_day():
    clock = ManualClock(NOON.replace(hour=0))
    meter = make(clock)
    meter.set_load(3600)  # 3.6 kWh per hour = 360 units
    clock.advance(24 * HOUR)
    snap = meter.snapshot()
    # sharp 2 h, peak 6 h, flat 8 h, valley 8 h (see worker/simulator/load.py)
    assert snap["energy_tou"] == (720, 2160, 2880, 2880)
    assert snap["energy_total"] == 8640


def test_open_relay_stops_power_and_energy():
    clock = ManualClock(NOON)
    meter = make(clock)
    meter.set_supply(False)
    clock.advance(HOUR)
    snap = meter.snapshot()
    assert (snap["energy_total"], snap["power_w"], snap["current"]) == (0, 0, 0)
    assert (snap["supply"], snap["trip_reason"]) == ("off", "remote")


def test_meter_mode_trips_itself_exactly_at_zero():
    clock = ManualClock(NOON)
    meter = make(clock, control_mode="meter", remaining_fen=100, price_e4=10_000)
    meter.set_load(1000)  # 1 kWh, so 1 yuan, per hour
    clock.advance(HOUR - 1)
    assert meter.snapshot()["supply"] == "on"
    clock.advance(2 * HOUR)
    snap = meter.snapshot()
    assert (snap["supply"], snap["trip_reason"], snap["remaining_fen"]) == ("off", "arrears", 0)
    assert snap["energy_total"] == 100


def test_keep_power_overdraws_instead_of_tripping():
    clock = ManualClock(NOON)
    meter = make(clock, control_mode="meter", remaining_fen=50, price_e4=10_000)
    meter.set_keep_power(True)
    meter.set_load(1000)
    clock.advance(HOUR)
    snap = meter.snapshot()
    assert snap["supply"] == "on" and snap["remaining_fen"] == -50


def test_platform_mode_never_trips_for_money():
    clock = ManualClock(NOON)
    meter = make(clock, remaining_fen=0)
    clock.advance(HOUR)
    snap = meter.snapshot()
    assert snap["supply"] == "on" and snap["remaining_fen"] == 0


def test_purchase_lifting_balance_above_zero_closes_the_relay():
    meter = make(control_mode="meter", remaining_fen=0)
    assert meter.snapshot()["trip_reason"] == "arrears"
    meter.purchase(500, 1)
    snap = meter.snapshot()
    assert (snap["supply"], snap["remaining_fen"], snap["purchase_count"]) == ("on", 500, 1)


def test_purchase_with_wrong_count_changes_nothing():
    meter = make(remaining_fen=10)
    with pytest.raises(ValueError):
        meter.purchase(500, 2)
    snap = meter.snapshot()
    assert (snap["remaining_fen"], snap["purchase_count"], snap["purchase_total_fen"]) == (10, 0, 0)


def test_over_power_trips_after_three_seconds_not_before():
    clock = ManualClock(NOON)
    meter = make(clock)
    meter.set_power_limit_w(1000)
    meter.set_load(1500)
    clock.advance(2.9)
    assert meter.snapshot()["supply"] == "on"
    clock.advance(0.2)
    snap = meter.snapshot()
    assert (snap["supply"], snap["trip_reason"]) == ("off", "over_power")


def test_energy_reset_goes_down_and_keeps_tou_consistent():
    clock = ManualClock(NOON)
    meter = make(clock)
    meter.set_load(3600)
    clock.advance(10 * HOUR)
    meter.reset_energy(123)
    snap = meter.snapshot()
    assert snap["energy_total"] == sum(snap["energy_tou"]) == 123


def test_water_meter_counts_litres_and_charges_per_cubic_metre():
    clock = ManualClock(NOON)
    meter = make(clock, profile="payfirst-water-v1", control_mode="meter",
                 remaining_fen=10_000, price_e4=50_000)  # 5.0000 yuan per m³
    meter.set_load(1000)  # L/h
    clock.advance(HOUR)
    snap = meter.snapshot()
    assert (snap["energy_total"], snap["flow_lph"], snap["remaining_fen"]) == (1000, 1000, 9500)


@settings(max_examples=40, deadline=None)
@given(price=st.integers(1, 99_999), loads=st.lists(st.integers(0, 20_000), min_size=1,
                                                   max_size=6),
       seconds=st.lists(st.integers(1, 7200), min_size=6, max_size=6))
def test_meter_mode_charge_carries_sub_fen_remainder_without_drift(price, loads, seconds):
    clock = ManualClock(NOON)
    meter = make(clock, control_mode="meter", remaining_fen=10**9, price_e4=price)
    for load, dt in zip(loads, seconds, strict=False):
        meter.set_load(load)
        clock.advance(dt)
    snap = meter.snapshot()
    charged = 10**9 - snap["remaining_fen"]
    assert charged == snap["energy_total"] * price // 10_000


def test_specs_refuse_meter_mode_without_prepaid_block_and_wrong_kind():
    with pytest.raises(ValueError):
        SimMeterSpec(1, "acrel-ddsy1352", control_mode="meter")
    with pytest.raises(ValueError):
        SimMeterSpec(1, "payfirst-water-v1")
