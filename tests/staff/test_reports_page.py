"""The month's energy report on /staff/reports and its .xlsx (SPEC §4 `energy`), read from the daily roll-ups."""
from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest

from portal.extensions import db
from portal.metering.daily import rebuild_daily
from portal.models import IntervalReading, MeterKind, Role

MONTH = "2026-11"


@pytest.fixture
def site_with_use(make_site, make_account, make_gateway, make_meter):
    """A shop meter and a water meter with hourly readings on 2-4 November, a common meter, a quiet meter."""
    site = make_site("mall")
    gateway = make_gateway(site=site)
    shop = make_account(site=site, code="=HYPERLINK(1)")  # a code a spreadsheet would run, were it not text
    electric = make_meter(account=shop, gateway=gateway, code="E1")
    water = make_meter(account=shop, gateway=gateway, code="W1", kind=MeterKind.WATER, profile="payfirst-water-v1")
    common = make_meter(gateway=gateway, code="C1")
    make_meter(gateway=gateway, code="Q1")  # never read
    start = datetime(2026, 11, 2, 0, tzinfo=UTC)
    for meter, step, total in ((electric, 125, 100_000), (water, 7, 5_000), (common, 40, 20_000)):
        for n in range(72):
            total += step
            db.session.add(IntervalReading(meter_id=meter.id, interval_start=start + timedelta(hours=n),
                                           energy_total=total, delta=step))
    db.session.commit()
    rebuild_daily(db.session, date(2026, 11, 1), date(2026, 11, 30), site.id)
    db.session.commit()
    return site


def test_the_xlsx_has_the_specs_columns_numbers_as_numbers_and_every_meter(client, login, make_staff, site_with_use):
    login.staff(make_staff(role=Role.MANAGER, sites=[site_with_use]))
    res = client.get(f"/staff/reports/energy.xlsx?site=mall&month={MONTH}")
    assert res.status_code == 200 and res.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["energy"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["meter", "account", "kind", "unit", "opening_reading", "closing_reading", "usage"]
    assert ws["A1"].comment is not None  # the Chinese name, as a comment, not an extra row
    by_meter = {r[0]: r for r in rows[1:]}
    assert sorted(by_meter) == ["C1", "E1", "Q1", "W1"]
    e1 = by_meter["E1"]
    assert e1[1:4] == ["=HYPERLINK(1)", "electric", "kWh"]
    assert ws.cell(row=rows.index(e1) + 1, column=2).data_type == "s"  # text, never a formula
    assert (e1[4], e1[5], e1[6]) == (1000, 1090, 90)  # 72 hours × 1.25 kWh, from 1000.00 to 1090.00 kWh
    assert by_meter["W1"][3:] == ["m³", 5, 5.504, 0.504]
    assert by_meter["C1"][1] is None and by_meter["C1"][6] == 28.8
    assert by_meter["Q1"][4:] == [None, None, 0]
    for r in rows[1:]:  # closing = opening + use, for every meter read
        if r[4] is not None:
            assert Decimal(str(r[5])) - Decimal(str(r[4])) == Decimal(str(r[6]))
    assert ws.cell(row=rows.index(e1) + 1, column=7).number_format == "0.00"


def test_the_page_shows_the_totals_by_kind_and_the_most_used_meters(client, login, make_staff, site_with_use):
    login.staff(make_staff(role=Role.MANAGER, sites=[site_with_use]))
    html = client.get(f"/staff/reports?site=mall&month={MONTH}").get_data(as_text=True)
    assert 'data-total="electric-shops">90.00<' in html and 'data-total="electric-common">28.80<' in html
    assert 'data-total="water-shops">0.504<' in html
    assert html.index('data-meter="E1"') < html.index('data-meter="C1"')  # the most used first
    assert f'href="/staff/reports/energy.xlsx?site=mall&amp;month={MONTH}"' in html


def test_another_month_another_site_and_bad_input(client, login, make_staff, site_with_use, make_site):
    elsewhere = make_site("elsewhere")
    login.staff(make_staff(role=Role.MANAGER, sites=[site_with_use]))
    empty = client.get("/staff/reports?site=mall&month=2026-10").get_data(as_text=True)
    assert 'data-total="electric-shops">0.00<' in empty
    assert client.get(f"/staff/reports?site={elsewhere.code}").status_code == 404
    assert client.get(f"/staff/reports/energy.xlsx?site={elsewhere.code}&month={MONTH}").status_code == 404
    assert client.get("/staff/reports?month=2026-13").status_code == 400
    assert client.get(f"/staff/reports/nothing.xlsx?site=mall&month={MONTH}").status_code == 404


@pytest.mark.parametrize("role, status", [(Role.MANAGER, 200), (Role.AUDITOR, 200), (Role.ADMIN, 200),
                                          (Role.CASHIER, 403), (Role.OPERATOR, 403)])
def test_who_opens_the_reports(client, login, make_staff, site_with_use, role, status):
    login.staff(make_staff(role=role, sites=[] if role == Role.ADMIN else [site_with_use]))
    assert client.get(f"/staff/reports?site=mall&month={MONTH}").status_code == status
    assert client.get(f"/staff/reports/energy.xlsx?site=mall&month={MONTH}").status_code == status


@pytest.fixture
def debtors(make_site, make_account, make_meter):
    """Three shops: one went below zero on 3 November after having money, one never had any, one is fine."""
    from portal.ledger.entries import post_entry
    from portal.models import EntryKind, LedgerEntry, Supply

    site = make_site("mall")
    fell = make_account(site=site, code="A1", name="Noodles", balance_fen=1_000)
    never = make_account(site=site, code="A2", name="Empty")
    fine = make_account(site=site, code="A3", balance_fen=5_000)
    make_meter(account=fell, code="E1", state={"online": True, "supply_actual": Supply.OFF})
    make_meter(account=fell, code="E2", state={"online": True, "supply_actual": Supply.ON})
    make_meter(account=never, code="E3", state={"online": True, "supply_actual": Supply.OFF})
    make_meter(account=fine, code="E4", state={"online": True, "supply_actual": Supply.ON})
    for n, (account, amount, when) in enumerate([(fell, -600, datetime(2026, 11, 2, 2, tzinfo=UTC)),
                                                 (fell, -700, datetime(2026, 11, 3, 2, tzinfo=UTC)),
                                                 (fell, -100, datetime(2026, 11, 4, 2, tzinfo=UTC)),
                                                 (never, -250, datetime(2026, 11, 1, 2, tzinfo=UTC))]):
        entry = post_entry(db.session, account, amount, EntryKind.ENERGY, f"energy:t:{n}").entry
        entry.created_at = when
    db.session.query(LedgerEntry).filter(LedgerEntry.kind == EntryKind.OPENING).update(
        {"created_at": datetime(2026, 10, 1, tzinfo=UTC)})
    db.session.commit()
    return site


def test_the_arrears_list_says_since_when_and_whether_the_supply_is_off(client, login, make_staff, debtors):
    login.staff(make_staff(role=Role.MANAGER, sites=[debtors]))
    res = client.get(f"/staff/reports/arrears.xlsx?site=mall&month={MONTH}")
    assert res.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["arrears"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["account", "balance_yuan", "since", "supply"]
    # A2 never had money: since its first entry (1 Nov 10:00 Shanghai); A1 since the entry that took it below zero
    assert rows[1:] == [["A2", -2.5, datetime(2026, 11, 1, 10, 0), "off"],
                        ["A1", -4, datetime(2026, 11, 3, 10, 0), "mixed"]]
    assert ws["B2"].number_format == "0.00"
    html = client.get(f"/staff/reports?site=mall&month={MONTH}").get_data(as_text=True)
    assert "2 家商户共欠 ¥6.50。" in html and 'data-account="A3"' not in html
    assert 'href="/staff/accounts/A1?site=mall"' in html
    assert html.count('id="report-arrears"') == 1
    assert re.search(r"<title>([^<]*)</title>", html).group(1).startswith("报表")


def test_the_sales_workbook_nets_each_day_and_channel_as_the_counters_daily_report(client, login, make_staff,
                                                                                    make_site, make_account):
    import uuid

    from portal.counter import operations as ops
    from portal.counter.daily_report import daily_report
    from portal.models import LedgerEntry
    from portal.settings import business_tz

    site = make_site("mall")
    shop = make_account(site=site, code="A1", balance_fen=10_000)
    posted = []
    for amount, method, when in ((10_000, "cash", datetime(2026, 11, 2, 2, tzinfo=UTC)),
                                 (5_000, "cash", datetime(2026, 11, 2, 3, tzinfo=UTC)),
                                 (3_000, "transfer", datetime(2026, 11, 3, 2, tzinfo=UTC))):
        entry, _ = ops.counter_recharge(db.session, shop, amount, method, "", "staff:c", uuid.uuid4().hex)
        entry.created_at = when
        posted.append(entry)
    db.session.commit()
    reversal = ops.reverse_entry(db.session, db.session.get(LedgerEntry, posted[1].id), "wrong shop", "staff:m")
    reversal.created_at = datetime(2026, 11, 2, 4, tzinfo=UTC)
    db.session.commit()

    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    res = client.get(f"/staff/reports/sales.xlsx?site=mall&month={MONTH}")
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["sales"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["date", "channel", "count", "amount_yuan"]
    assert rows[1:] == [[datetime(2026, 11, 2), "cash", 2, 100], [datetime(2026, 11, 3), "transfer", 1, 30]]
    assert ws["D2"].number_format == "0.00" and ws["A2"].number_format == "yyyy-mm-dd"
    day = daily_report(db.session, {site.id}, date(2026, 11, 2), business_tz())
    assert day.total("cash") + day.total("reversal") == 10_000  # the same money as the workbook's first row
    login.staff(make_staff(role=Role.CASHIER, sites=[site]))
    assert client.get(f"/staff/reports/sales.xlsx?site=mall&month={MONTH}").status_code == 403


def test_the_sales_page_shows_each_day_by_channel_and_what_each_cashier_took(client, login, make_staff, make_site,
                                                                             make_account):
    import uuid

    from portal.counter import operations as ops
    from portal.models import LedgerEntry

    site = make_site("mall")
    shop = make_account(site=site, code="A1", balance_fen=10_000)
    posted = []
    for amount, method, cashier, when in ((10_000, "cash", "staff:wang", datetime(2026, 11, 2, 2, tzinfo=UTC)),
                                          (5_000, "cash", "staff:li", datetime(2026, 11, 2, 3, tzinfo=UTC)),
                                          (3_000, "transfer", "staff:li", datetime(2026, 11, 3, 2, tzinfo=UTC))):
        entry, _ = ops.counter_recharge(db.session, shop, amount, method, "", cashier, uuid.uuid4().hex)
        entry.created_at = when
        posted.append(entry)
    db.session.commit()
    reversal = ops.reverse_entry(db.session, db.session.get(LedgerEntry, posted[1].id), "wrong shop", "staff:li")
    reversal.created_at = datetime(2026, 11, 2, 4, tzinfo=UTC)
    db.session.commit()

    login.staff(make_staff(role=Role.AUDITOR, sites=[site]))
    html = client.get(f"/staff/reports/sales?site=mall&month={MONTH}").get_data(as_text=True)
    day2 = html[html.index('data-day="2026-11-02"'):html.index('data-day="2026-11-03"')]
    assert 'data-channel="cash">¥100.00 <small class="muted">(2)</small>' in day2  # 150 in, 50 reversed
    assert 'data-col="total">¥100.00<' in day2
    assert 'data-total="transfer">¥30.00<' in html and 'data-total="all">¥130.00<' in html
    li = html[html.index('data-cashier="staff:li"'):]
    assert "¥80.00" in li and "¥-50.00" in li and 'data-col="net">¥30.00<' in li
    assert 'data-cashier="staff:wang"' in html
    assert client.get("/staff/reports/sales?site=mall&month=11-2026").status_code == 400
