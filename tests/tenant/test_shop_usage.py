"""The shop page's use: today and this month in kWh and m³ with money, 30-day and 12-month SVG charts, all read
off the daily roll-ups; and the amount chips suggested from that use."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.metering.daily import business_today
from portal.metering.usage import account_days, by_month, usage_text
from portal.models import DailyUsage, MeterKind, PaymentOrder, Supply, utcnow
from portal.tenant.charts import first_month
from portal.tenant.progress import PRESETS_FEN, nice_amount, suggest_presets
from tests.tenant.test_recharge import PHONE_UA, fake_channels  # a fixture

EN = {"Accept-Language": "en"}


@pytest.fixture
def shop(make_account, make_meter, make_tenant, login):
    """A logged-in tenant's shop, open 90 days, with an electricity and a water meter."""
    acct = make_account(code="S400", name="Bakery", balance_fen=20_000)
    acct.created_at = utcnow() - timedelta(days=90)
    acct.power = make_meter(account=acct, code="E400", state={"online": True, "supply_actual": Supply.ON})
    acct.water = make_meter(account=acct, code="W400", kind=MeterKind.WATER, profile="payfirst-water-v1",
                            state={"online": True, "supply_actual": Supply.ON})
    login.tenant(make_tenant([acct]), acct)
    return acct


def roll_up(meter, days_ago: int, usage: int, charged_fen: int) -> None:
    db.session.add(DailyUsage(meter_id=meter.id, day=business_today() - timedelta(days=days_ago),
                              account_id=meter.account_id, usage=usage, charged_fen=charged_fen, readings=96))


@pytest.fixture
def used(shop):
    """A few days of use: today, yesterday, 20 and 40 days ago, 200 days ago; water today and 3 days ago."""
    for days_ago, kwh, fen in ((0, 1_234, 1_111), (1, 2_000, 1_600), (20, 500, 400), (40, 9_999, 8_000),
                               (200, 100, 80)):
        roll_up(shop.power, days_ago, kwh, fen)
    roll_up(shop.water, 0, 1_505, 750)
    roll_up(shop.water, 3, 250, 125)
    db.session.commit()
    return shop


def html_of(client, acct) -> str:
    return client.get(f"/t/a/{acct.id}", headers=EN).get_data(as_text=True)


def test_today_and_this_month_equal_the_roll_ups_in_kwh_and_m3(client, used):
    html = html_of(client, used)
    today = business_today()
    for kind, unit in ((MeterKind.ELECTRIC, "kWh"), (MeterKind.WATER, "m³")):
        days = account_days(db.session, used.id, today.replace(day=1), today, kind)
        month = by_month(days)[-1]
        assert f'data-testid="today-{kind.value}">{usage_text(days[-1].usage, kind)} {unit}<' in html
        assert f'data-testid="month-{kind.value}">{usage_text(month.usage, kind)} {unit}<' in html
        assert f"¥{month.charged_fen // 100}.{month.charged_fen % 100:02d}" in html
    assert 'data-testid="today-electric">12.34 kWh<' in html and 'data-testid="today-water">1.505 m³<' in html


def test_the_charts_are_accessible_svg_with_a_table_of_the_figures(client, used):
    html = html_of(client, used)
    charts = re.findall(r'<svg id="chart-(\w+)-(\w+)" viewBox="0 0 300 120" role="img" aria-labelledby="([^"]+)"', html)
    assert [(k, n) for k, n, _ in charts] == [("electric", "days"), ("electric", "months"),
                                              ("water", "days"), ("water", "months")]
    daily = re.search(r'<svg id="chart-electric-days".*?</svg>', html, re.S).group(0)
    assert daily.count("<rect") == 30 and "<title id=" in daily and "<desc id=" in daily
    monthly = re.search(r'<svg id="chart-electric-months".*?</svg>', html, re.S).group(0)
    assert monthly.count("<rect") == 12
    assert "Highest: 20.00 kWh" in daily  # the 99.99 kWh of 40 days ago is not in the 30 days
    assert '<details class="usage-table">' in html
    assert "<caption>Electricity use, last 30 days, in kWh</caption>" in html


def test_the_months_chart_holds_twelve_months_to_this_one(client, used):
    html = html_of(client, used)
    table = re.search(r'<svg id="chart-electric-months".*?</table>', html, re.S).group(0)
    months = re.findall(r'<th scope="row">(\d{4}-\d{2})</th>', table)
    today = business_today()
    assert months[0] == f"{today:%Y-%m}" and months[-1] == f"{first_month(today):%Y-%m}" and len(months) == 12


def test_the_page_never_reads_the_fifteen_minute_readings(client, used):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(f"/t/a/{used.id}").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert not [s for s in statements if "interval_readings" in s]
    assert len([s for s in statements if "daily_usage" in s]) == 2  # one per kind of meter


# --- amount chips from recent use ------------------------------------------------------------------------

@pytest.mark.parametrize("fen, nice", [(1, 1_000), (6_320, 7_000), (10_000, 10_000), (10_001, 15_000),
                                       (21_200, 25_000), (123_400, 130_000)])
def test_amounts_round_up_to_ones_a_person_would_pick(fen, nice):
    assert nice_amount(fen) == nice


def test_chips_suggest_a_week_and_a_month_of_recent_use():
    assert suggest_presets(1_000) == (5_000, 7_000, 10_000, 30_000)  # ¥10 a day: ¥70 a week, ¥300 a month
    assert suggest_presets(0) == PRESETS_FEN


def test_chips_add_what_restores_supply_when_it_is_off():
    assert suggest_presets(1_000, restore_fen=10_501) == (5_000, 7_000, 10_600, 30_000)


def test_chips_stay_within_the_payment_limits():
    assert max(suggest_presets(1_000_000)) == 5_000_000  # PAY_MAX_FEN's default: ¥50,000


def test_the_page_offers_chips_from_the_shops_recent_daily_charge(client, shop):
    for days_ago in range(1, 30):
        roll_up(shop.power, days_ago, 1_000, 1_000)  # ¥10.00 a day
    db.session.commit()
    html = html_of(client, shop)
    assert re.findall(r'name="amount" value="(\d+)"', html) == ["5000", "7000", "10000", "30000"]
    assert re.search(r'value="7000" checked', html)  # about a week, chosen by default


def test_a_suggested_chip_is_taken_even_after_the_suggestions_moved(client, shop, fake_channels):
    for days_ago in range(1, 30):
        roll_up(shop.power, days_ago, 1_000, 1_000)
    db.session.commit()
    # ¥106 restored supply a moment ago; the supply came back since and the page would no longer offer it
    taken = client.post(f"/t/a/{shop.id}/pay", data={"amount": "10600", "channel": "alipay_wap"},
                        headers={"User-Agent": PHONE_UA})
    assert taken.status_code == 303 and db.session.scalar(select(PaymentOrder.amount_fen)) == 10_600


@pytest.mark.parametrize("chip", ["1234", "0", "7000.5", "-7000"])
def test_a_chip_is_a_whole_yuan_amount(client, shop, fake_channels, chip):
    refused = client.post(f"/t/a/{shop.id}/pay", data={"amount": chip, "channel": "alipay_wap"},
                          headers={"User-Agent": PHONE_UA, **EN})
    assert refused.status_code == 422 and "Choose an amount." in refused.get_data(as_text=True)
