"""The bound on a meter swap's final reading: the last reading plus the rated power for the hours since."""
from __future__ import annotations

from datetime import timedelta

from portal.approvals.readings import RATED_BY_PROFILE, final_reading_bound, rated, register_text
from portal.extensions import db
from portal.models import MeterKind, utcnow
from tests.approvals.conftest import read_at


def test_the_rated_power_is_the_power_limit_or_the_models_largest(shop, make_meter):
    meter = shop.meters[0]
    assert rated(meter) == RATED_BY_PROFILE["payfirst-prepaid-v1"] == 72_000
    meter.power_limit_w = 8_000
    assert rated(meter) == 8_000
    water = make_meter(account=shop, code="W1", kind=MeterKind.WATER, profile="payfirst-water-v1")
    assert rated(water) == 16_000  # litres an hour


def test_the_bound_grows_with_the_hours_since_the_last_reading(shop):
    meter = shop.meters[0]
    meter.power_limit_w = 10_000  # 10 kW: 10 kWh (1,000 units) an hour
    read_at(meter, 50_000, minutes_ago=5)
    now = utcnow()
    assert final_reading_bound(db.session, meter, now).highest == 51_000  # at least an hour's worth
    assert final_reading_bound(db.session, meter, now + timedelta(hours=3)).highest == 53_084  # 3 h 5 min, up


def test_a_meter_never_read_has_no_bound(shop):
    bound = final_reading_bound(db.session, shop.meters[0], utcnow())
    assert (bound.last_total, bound.highest) == (None, None)


def test_a_register_is_shown_as_the_meter_shows_it():
    assert (register_text(101_250, MeterKind.ELECTRIC), register_text(1_234, MeterKind.WATER)) == ("1012.50", "1.234")
