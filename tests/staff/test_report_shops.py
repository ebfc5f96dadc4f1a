"""Energy per shop and per common meter (/staff/reports/shops, /shops/<code>, /months, /common) and their .xlsx:
the figures are the daily roll-ups' sums and the ledger's purchases of the business month, scoped to the site."""
from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import Account, DailyUsage, EntryKind, LedgerEntry, Meter, MeterKind, Role

MONTH = "2026-11"


def _day(meter, day: date, usage: int, charged: int = 0) -> None:
    db.session.add(DailyUsage(meter_id=meter.id, day=day, account_id=meter.account_id, usage=usage,
                              charged_fen=charged, readings=96 if usage else 0))


def _entry(account, fen: int, kind: EntryKind, at: datetime, key: str) -> None:
    post_entry(db.session, account, fen, kind, key).entry.created_at = at


@pytest.fixture
def mall(make_site, make_account, make_gateway, make_meter):
    """Shop A1 (electricity every day of November, water on the 3rd, purchases around the month's edges), shop A2
    (one day), a common meter C1 and a common water meter CW; the days either side of November; another site's
    shop Z1 the same month."""
    site = make_site("mall")
    gateway = make_gateway(site=site)
    a1 = make_account(site=site, code="A1", name="=Noodles")  # a name a spreadsheet would run, were it not text
    a2 = make_account(site=site, code="A2", name="Tea")
    e1, w1 = make_meter(account=a1, gateway=gateway, code="E1"), make_meter(
        account=a1, gateway=gateway, code="W1", kind=MeterKind.WATER, profile="payfirst-water-v1")
    e2 = make_meter(account=a2, gateway=gateway, code="E2")
    c1 = make_meter(gateway=gateway, code="C1")
    cw = make_meter(gateway=gateway, code="CW", kind=MeterKind.WATER, profile="payfirst-water-v1")
    for n in range(1, 31):
        _day(e1, date(2026, 11, n), 100 * n, 60 * n)
        _day(c1, date(2026, 11, n), 500)
    _day(w1, date(2026, 11, 3), 1_500, 750)
    _day(cw, date(2026, 11, 4), 2_345)
    _day(e2, date(2026, 11, 5), 12_345, 7_000)
    for edge in (date(2026, 10, 31), date(2026, 12, 1)):
        _day(e1, edge, 99_999, 60_000)
        _day(c1, edge, 7_000)
    other = make_site("other")
    z1 = make_account(site=other, code="Z1")
    _day(make_meter(account=z1, code="Z1E"), date(2026, 11, 2), 55_555, 33_333)
    db.session.commit()
    # Shanghai is UTC+8: 31 Oct 16:30 UTC is 1 Nov 00:30 there (November), 30 Nov 16:30 UTC is 1 Dec (not)
    _entry(a1, 10_000, EntryKind.PAYMENT, datetime(2026, 10, 31, 16, 30, tzinfo=UTC), "t:pay1")
    _entry(a1, 5_000, EntryKind.CASH, datetime(2026, 11, 10, 2, tzinfo=UTC), "t:cash1")
    _entry(a1, -5_000, EntryKind.REVERSAL, datetime(2026, 11, 11, 2, tzinfo=UTC), "t:rev1")
    _entry(a1, -1_000, EntryKind.REFUND, datetime(2026, 11, 12, 2, tzinfo=UTC), "t:refund1")  # not a purchase
    _entry(a1, 20_000, EntryKind.PAYMENT, datetime(2026, 11, 30, 16, 30, tzinfo=UTC), "t:pay2")
    _entry(a2, 3_000, EntryKind.CASH, datetime(2026, 11, 5, 2, tzinfo=UTC), "t:cash2")
    _entry(z1, 9_000, EntryKind.PAYMENT, datetime(2026, 11, 5, 2, tzinfo=UTC), "t:pay3")
    db.session.commit()
    return site


@pytest.fixture
def manager(login, make_staff, mall):
    login.staff(make_staff(role=Role.MANAGER, sites=[mall]))


def _rows(html: str) -> dict[str, dict[str, str]]:
    """{account: {column: text}} of the shops table, the total row under ''."""
    out = {}
    for account, body in re.findall(r'<tr[^>]*data-account="([^"]*)">(.*?)</tr>', html, re.S):
        out[account] = dict(re.findall(r'data-col="([^"]+)">([^<]*)<', body))
    return out


def _charts(html: str) -> dict[str, dict]:
    """The charts' descriptions by their element's data-testid."""
    return {name: json.loads(data) for name, data in re.findall(
        r'data-chart data-testid="([^"]+)"[^>]*></div>\s*<script type="application/json">(.*?)</script>', html, re.S)}


def test_each_shop_has_its_months_use_charges_and_purchases(client, manager, mall):
    html = client.get(f"/staff/reports/shops?site=mall&month={MONTH}").get_data(as_text=True)
    rows = _rows(html)
    assert sorted(rows) == ["", "A1", "A2"]  # another site's Z1 is not here
    assert rows["A1"] == {"electric": "465.00", "water": "1.500", "energy": "279.00", "water_fen": "7.50",
                          "charged": "286.50", "purchased": "100.00", "purchased_kwh": "166.67", "net": "-186.50"}
    assert rows["A2"]["electric"] == "123.45" and rows["A2"]["purchased_kwh"] == "52.91"  # 30 yuan at 70/123.45
    assert rows[""]["electric"] == "588.45" and rows[""]["purchased"] == "130.00"
    assert 'href="/staff/reports/shops/A1?site=mall&amp;month=2026-11"' in html
    assert 'href="/staff/reports/shops.xlsx?site=mall&amp;month=2026-11"' in html


def test_the_sums_are_the_roll_ups_and_the_ledgers(client, manager, mall):
    from portal.monthly.periods import month_bounds
    from portal.settings import business_tz

    html = client.get(f"/staff/reports/shops?site=mall&month={MONTH}").get_data(as_text=True)
    total = _rows(html)[""]
    d = DailyUsage
    in_month = (Meter.site_id == mall.id, d.day >= date(2026, 11, 1), d.day <= date(2026, 11, 30),
                d.account_id.is_not(None))
    used, charged = db.session.execute(select(func.sum(d.usage), func.sum(d.charged_fen)).join(
        Meter, Meter.id == d.meter_id).where(*in_month, Meter.kind == MeterKind.ELECTRIC)).one()
    assert Decimal(total["electric"]) * 100 == used and Decimal(total["energy"]) * 100 == charged
    start, end = month_bounds(MONTH, business_tz())
    bought = db.session.scalar(select(func.sum(LedgerEntry.amount_fen)).join(Account).where(
        Account.site_id == mall.id, LedgerEntry.created_at >= start, LedgerEntry.created_at < end,
        LedgerEntry.kind.in_((EntryKind.PAYMENT, EntryKind.CASH, EntryKind.REVERSAL))))
    assert Decimal(total["purchased"]) * 100 == bought == 13_000
    days = _charts(html)["chart-site-days"]
    assert days["unit"] == "kWh" and days["decimals"] == 2 and len(days["x"]) == 30
    shops, common = days["series"]
    assert sum(shops["data"]) == used and shops["data"][4] == 500 + 12_345  # 5 November: E1 and E2
    assert common["data"] == [500] * 30 and shops["stack"] == common["stack"]


@pytest.mark.parametrize("sort, order", [("code", ["A1", "A2"]), ("electric", ["A1", "A2"]),
                                         ("net", ["A1", "A2"]), ("purchased", ["A1", "A2"])])
def test_the_shops_sort_by_the_column_asked(client, manager, mall, sort, order):
    html = client.get(f"/staff/reports/shops?site=mall&month={MONTH}&sort={sort}").get_data(as_text=True)
    assert [a for a in _rows(html) if a] == order
    assert f'data-sort="{sort}"' in html


def test_a_page_of_shops_at_a_time_and_htmx_gets_the_table_alone(client, manager, mall, monkeypatch):
    from portal.staff import report_shops

    monkeypatch.setattr(report_shops, "PAGE_SIZE", 1)
    second = client.get(f"/staff/reports/shops?site=mall&month={MONTH}&sort=water&page=2",
                        headers={"HX-Request": "true"}).get_data(as_text=True).lstrip()
    assert second.startswith('<section class="card report-section" id="report-shops"')
    assert [a for a in _rows(second) if a] == ["A2"] and _rows(second)[""]["electric"] == "588.45"
    assert 'data-testid="shops-previous"' in second and "<h1>" not in second


def test_bad_sort_page_or_month_is_a_400(client, manager, mall):
    for query in ("sort=name", "page=0", "page=x", "month=2026-13"):
        assert client.get(f"/staff/reports/shops?site=mall&{query}").status_code == 400


def test_one_shop_has_its_days_and_its_twelve_months(client, manager, mall):
    res = client.get(f"/staff/reports/shops/A1?site=mall&month={MONTH}")
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    day5 = re.search(r'data-day="2026-11-05">(.*?)</tr>', html, re.S).group(1)
    assert dict(re.findall(r'data-col="([^"]+)">([^<]*)<', day5)) == {
        "electric": "5.00", "energy": "3.00", "water": "0.000", "water_fen": "0.00", "purchased": "0.00"}
    assert 'data-day="2026-11-01"' in html and 'data-day="2026-12-01"' not in html
    months = re.findall(r'data-month="(\d{4}-\d{2})"', html)
    assert months == [f"2025-{m:02d}" for m in range(12, 13)] + [f"2026-{m:02d}" for m in range(1, 12)]
    nov = dict(re.findall(r'data-col="([^"]+)">([^<]*)<', re.search(
        r'data-month="2026-11">(.*?)</tr>', html, re.S).group(1)))
    assert nov == {"electric": "465.00", "energy": "279.00", "water": "1.500", "water_fen": "7.50",
                   "purchased": "100.00"}
    october = re.search(r'data-month="2026-10">(.*?)</tr>', html, re.S).group(1)
    assert 'data-col="electric">999.99<' in october  # 31 October's roll-up is October's
    charts = _charts(html)
    assert sum(charts["chart-shop-days"]["series"][0]["data"]) == 46_500
    assert charts["chart-shop-months-water"]["unit"] == "m³" and charts["chart-shop-months-water"]["decimals"] == 3
    money = {s["name"]: s["data"] for s in charts["chart-shop-days-money"]["series"]}
    assert [sum(v) for v in money.values()] == [27_900, 750, 10_000]


def test_another_sites_shop_is_not_found(client, manager, mall):
    assert client.get(f"/staff/reports/shops/Z1?site=mall&month={MONTH}").status_code == 404
    assert client.get(f"/staff/reports/shops/Z1?site=other&month={MONTH}").status_code == 404
    assert client.get(f"/staff/reports/shops?site=other&month={MONTH}").status_code == 404
    assert client.get(f"/staff/reports/shops.xlsx?site=other&month={MONTH}").status_code == 404
    assert client.get(f"/staff/reports/common?site=other&month={MONTH}").status_code == 404
    assert client.get(f"/staff/reports/shops/NOPE?site=mall&month={MONTH}").status_code == 404


def test_the_sites_twelve_months_shops_and_common_areas(client, manager, mall):
    html = client.get(f"/staff/reports/months?site=mall&month={MONTH}").get_data(as_text=True)
    months = dict(re.findall(r'data-month="(\d{4}-\d{2})"><td>[^<]*</td><td class="num" data-col="shops">([^<]*)<',
                             html))
    assert len(months) == 12 and months["2026-11"] == "588.45" and months["2026-10"] == "999.99"
    assert re.search(r'data-month="2026-11">.*?data-col="common">150.00<', html)
    chart = _charts(html)["chart-site-months"]
    assert chart["x"][-1] == "2026-11" and chart["series"][1]["data"][-2:] == [7_000, 15_000]
    partial = client.get(f"/staff/reports/months?site=mall&month={MONTH}", headers={"HX-Request": "true"})
    assert partial.get_data(as_text=True).lstrip().startswith('<div id="site-months"')


def test_the_shops_workbook_cell_by_cell(client, manager, mall):
    res = client.get(f"/staff/reports/shops.xlsx?site=mall&month={MONTH}")
    assert res.status_code == 200 and res.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["shops"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["account", "name", "electricity_kwh", "water_m3", "energy_yuan", "water_yuan", "purchased_yuan",
                       "purchased_kwh"]
    assert ws["A1"].comment is not None
    assert rows[1] == ["A1", "=Noodles", 465, 1.5, 279, 7.5, 100, 166.67]
    assert rows[2] == ["A2", "Tea", 123.45, 0, 70, 0, 30, 52.91]
    assert len(rows) == 3
    assert ws["B2"].data_type == "s" and ws["B2"].quotePrefix  # text, never a formula
    for column, fmt in zip("CDEFGH", ("0.00", "0.000", "0.00", "0.00", "0.00", "0.00")):
        assert ws[f"{column}2"].data_type == "n" and ws[f"{column}2"].number_format == fmt


def test_common_meters_per_day_and_month_and_their_workbook(client, manager, mall):
    html = client.get(f"/staff/reports/common?site=mall&month={MONTH}").get_data(as_text=True)
    c1 = re.search(r'<tr data-meter="C1">(.*?)</tr>', html, re.S).group(1)
    assert 'data-day="2026-11-01">5.00<' in c1 and 'data-col="month">150.00<' in c1
    assert 'data-meter="E1"' not in html
    assert re.search(r'<tr data-meter="C1">.*?data-month="2026-10">70.00<', html, re.S)
    charts = _charts(html)
    assert charts["chart-common-days-electric"]["series"] == [{"name": "C1", "data": [500] * 30, "stack": "all"}]
    assert charts["chart-common-days-water"]["unit"] == "m³"
    res = client.get(f"/staff/reports/common.xlsx?site=mall&month={MONTH}")
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["common"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["meter", "name", "kind", "unit", "date", "usage"]
    assert rows[1] == ["C1", "meter", "electric", "kWh", datetime(2026, 11, 1), 5]
    assert len(rows) == 1 + 30 + 30
    cw4 = next(r for r in rows if r[0] == "CW" and r[4] == datetime(2026, 11, 4))
    assert cw4[3:] == ["m³", datetime(2026, 11, 4), 2.345]
    assert ws["E2"].number_format == "yyyy-mm-dd" and ws["F2"].number_format == "0.00"


@pytest.mark.parametrize("role, status", [(Role.MANAGER, 200), (Role.AUDITOR, 200), (Role.CASHIER, 403),
                                          (Role.OPERATOR, 403)])
def test_who_opens_them(client, login, make_staff, mall, role, status):
    login.staff(make_staff(role=role, sites=[mall]))
    for path in ("shops", "shops/A1", "months", "common", "shops.xlsx", "common.xlsx"):
        assert client.get(f"/staff/reports/{path}?site=mall&month={MONTH}").status_code == status, path
