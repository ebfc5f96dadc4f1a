"""The roll-ups' query API (portal.metering.usage): per meter, shop and site, per day and month, a period's
opening and closing readings, amounts as decimal strings."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal.bulk import insert_rows
from portal.extensions import db
from portal.metering.daily import roll_up_readings
from portal.metering.usage import (
    PeriodReadings,
    Used,
    account_days,
    by_month,
    meter_days,
    meters_by_day,
    month_days,
    period_readings,
    site_days,
    unit,
    usage_text,
)
from portal.models import DailyUsage, IntervalReading, MeterKind
from tests.metering.test_daily import sequence


@pytest.fixture
def site_days_rows(make_site, make_account, make_meter):
    """A shop meter, a common meter and a water meter of one site, a few days each."""
    site = make_site()
    shop = make_account(site=site)
    e, c = make_meter(account=shop), make_meter(gateway=None, account=None)
    c.site_id = site.id
    w = make_meter(account=shop, kind=MeterKind.WATER, profile="payfirst-water-v1")
    for meter, day, used, fen in ((e, date(2026, 1, 30), 100, 90), (e, date(2026, 2, 2), 40, 36),
                                  (c, date(2026, 2, 2), 7, 0), (w, date(2026, 2, 2), 1_500, 60)):
        db.session.add(DailyUsage(meter_id=meter.id, day=day, account_id=meter.account_id, usage=used,
                                  charged_fen=fen, readings=96))
    db.session.commit()
    return site, shop, e, c, w


def test_every_day_of_the_period_once_zeros_where_nothing_was_used(site_days_rows):
    _, shop, e, _, _ = site_days_rows
    assert meter_days(db.session, e.id, date(2026, 1, 30), date(2026, 2, 2)) == [
        Used(date(2026, 1, 30), 100, 90), Used(date(2026, 1, 31)), Used(date(2026, 2, 1)),
        Used(date(2026, 2, 2), 40, 36)]
    assert account_days(db.session, shop.id, date(2026, 2, 2), date(2026, 2, 2)) == [Used(date(2026, 2, 2), 40, 36)]
    assert account_days(db.session, shop.id, date(2026, 2, 2), date(2026, 2, 2), MeterKind.WATER) == [
        Used(date(2026, 2, 2), 1_500, 60)]


def test_a_site_sums_shops_and_common_meters_apart_or_together(site_days_rows):
    site, _, _, _, _ = site_days_rows
    day = date(2026, 2, 2)
    assert site_days(db.session, site.id, day, day) == [Used(day, 47, 36)]
    assert site_days(db.session, site.id, day, day, common=True) == [Used(day, 7, 0)]
    assert site_days(db.session, site.id, day, day, common=False) == [Used(day, 40, 36)]


def test_months_fold_the_days(site_days_rows):
    _, _, e, _, _ = site_days_rows
    first, _ = month_days("2026-01")
    _, last = month_days("2026-02")
    assert (first, last) == (date(2026, 1, 1), date(2026, 2, 28))
    assert by_month(meter_days(db.session, e.id, first, last)) == [Used("2026-01", 100, 90), Used("2026-02", 40, 36)]


def test_several_meters_each_on_its_own(site_days_rows):
    _, _, e, c, _ = site_days_rows
    found = meters_by_day(db.session, [e.id, c.id], date(2026, 2, 1), date(2026, 2, 2))
    assert found == {e.id: [Used(date(2026, 2, 1)), Used(date(2026, 2, 2), 40, 36)],
                     c.id: [Used(date(2026, 2, 1)), Used(date(2026, 2, 2), 7, 0)]}


def test_a_periods_opening_and_closing_readings(make_meter):
    meter, idle = make_meter(), make_meter()
    rows = sequence(meter.id, [(4, 100)] * 30, start=datetime(2025, 3, 3, 14, 0, tzinfo=UTC))  # three days
    insert_rows(db.session, IntervalReading.__table__, rows)
    roll_up_readings(db.session, rows, {meter.id: None})
    found = period_readings(db.session, [meter.id, idle.id], date(2025, 3, 1), date(2025, 3, 31))
    assert found == {meter.id: PeriodReadings(meter.id, 50_000, 53_000), idle.id: PeriodReadings(idle.id, None, None)}
    second = period_readings(db.session, [meter.id], date(2025, 3, 4), date(2025, 3, 4))[meter.id]
    assert 50_000 < second.opening < second.closing < 53_000


@pytest.mark.no_db
def test_amounts_are_exact_decimal_strings():
    assert (usage_text(123_456, MeterKind.ELECTRIC), usage_text(5, MeterKind.ELECTRIC)) == ("1234.56", "0.05")
    assert (usage_text(1_005, MeterKind.WATER), usage_text(-20, MeterKind.ELECTRIC)) == ("1.005", "-0.20")
    assert (unit(MeterKind.ELECTRIC), unit("water")) == ("kWh", "m³")
