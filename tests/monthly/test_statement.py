"""The energy-and-money statement (/staff/reports/statement, statement.xlsx): it ties out and equals the ledger.

Every statement is checked against the ledger summed the slow way (every entry read): per shop and month each
column is the sum of its kinds, the opening is everything before the month, the closing everything up to its
end, a month's closing is the next one's opening, the last closing is the account's balance; in total too.
"""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.metering.billing import bill_deltas
from portal.metering.cycle import Delta
from portal.metering.daily import rebuild_daily, roll_up_readings
from portal.metering.energy_report import energy_rows
from portal.models import Account, DailyUsage, EntryKind, IntervalReading, LedgerEntry, MeterKind, Role, utcnow
from portal.monthly.periods import month_bounds, month_of
from portal.monthly.statement import MONEY, statement, totals
from portal.settings import business_tz
from tests.monthly.conftest import SH

MONTHS = ("2026-08", "2026-09", "2026-10")
#: the statement's columns and the ledger's kinds each one sums (the rest: "other")
KINDS_OF = {"paid": {EntryKind.PAYMENT, EntryKind.CASH, EntryKind.REFUND},
            "energy": {EntryKind.ENERGY, EntryKind.WATER}, "fees": {EntryKind.FEE},
            "allocation": {EntryKind.ALLOCATION}}


def _column_of(kind: EntryKind) -> str:
    return next((c for c, kinds in KINDS_OF.items() if kind in kinds), "other")


def post_at(account, amount: int, kind: EntryKind, at: datetime, n: int, meter_id: int | None = None) -> None:
    """Post an entry as if at `at` (the caller posts in time order, so balance_after stays right)."""
    posted = post_entry(db.session, account, amount, kind, f"test:{account.id}:{n}", meter_id=meter_id)
    db.session.execute(update(LedgerEntry).where(LedgerEntry.id == posted.entry.id).values(created_at=at))


def the_slow_way(site_id: int, month: str) -> dict[str, dict[str, int]]:
    """Per shop code: opening, each column and closing of the month, from every ledger entry of the site."""
    start, end = month_bounds(month, business_tz())
    out: dict[str, dict[str, int]] = {}
    for code, kind, amount, at in db.session.execute(
            select(Account.code, LedgerEntry.kind, LedgerEntry.amount_fen, LedgerEntry.created_at)
            .join(Account, Account.id == LedgerEntry.account_id).where(Account.site_id == site_id)):
        row = out.setdefault(code, dict.fromkeys(("opening", *MONEY, "closing"), 0))
        if at < start:
            row["opening"] += amount
        elif at < end:
            row[_column_of(EntryKind(kind))] += amount
        if at < end:
            row["closing"] += amount
    return out


def site_statement(site, month: str):
    start, end = month_bounds(month, business_tz())
    return statement(db.session, site.id, month, start, end, energy_rows(db.session, site, month))


entries = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(list(EntryKind)), st.integers(-50_000, 50_000)
                             .filter(bool), st.integers(0, 3), st.integers(0, 30 * 24 * 60 - 1)),
                   min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=entries)
def test_every_statement_ties_out_and_equals_the_ledger(make_site, make_account, make_gateway, make_meter, entries):
    """Random entries of every kind over three months (some on a month's last minute or first), three shops,
    energy and water charged to meters: each month, per shop and in total, equals the ledger read entry by entry."""
    site = make_site()
    gateway = make_gateway(site=site)
    shops = [make_account(site=site, code=f"A{i}", created_at=datetime(2026, 1, 1, tzinfo=SH)) for i in range(3)]
    meters = [make_meter(account=shop, gateway=gateway, code=f"E{i}") for i, shop in enumerate(shops)]
    # each shop its own water meter: a meter charges the shop it belongs to (the roll-ups keep one shop per
    # meter and day), and a water charge on another shop's meter is no case the billing makes
    waters = [make_meter(account=shop, gateway=gateway, code=f"W{i}", kind=MeterKind.WATER,
                         profile="payfirst-water-v1") for i, shop in enumerate(shops)]
    begin = datetime(2026, 8, 1, tzinfo=SH)
    timed = sorted(((begin + timedelta(days=30 * month_n - 1, minutes=minute)), shop, kind, amount)
                   for shop, kind, amount, month_n, minute in entries)
    for n, (at, shop, kind, amount) in enumerate(timed):
        meter_id = None
        if kind in (EntryKind.ENERGY, EntryKind.WATER):  # charges are debits of a shop's meter
            amount = -abs(amount)
            meter_id = (waters if kind == EntryKind.WATER else meters)[shop].id
        post_at(shops[shop], amount, kind, at, n, meter_id)
    db.session.commit()
    rebuild_daily(db.session, date(2026, 7, 1), date(2026, 11, 30), site.id)
    db.session.commit()

    previous = None
    for month in MONTHS:
        rows = site_statement(site, month)
        ledger = the_slow_way(site.id, month)
        assert [r.code for r in rows] == ["A0", "A1", "A2"]
        for r in rows:
            expected = ledger.get(r.code, dict.fromkeys(("opening", *MONEY, "closing"), 0))
            assert {c: r.fen(c) for c in expected} == expected
            assert r.ties_out and r.ledger_closing_fen == r.fen("closing")
            assert r.roll_up_gap_fen == 0  # the roll-ups rebuilt from the same ledger agree with it
        total = totals(rows)
        assert total.ties_out and total.untied == [] and total.roll_up_gaps == []
        assert total.fen == {c: sum(v[c] for v in ledger.values()) for c in total.fen}
        if previous is not None:
            assert [r.fen("opening") for r in rows] == [p.fen("closing") for p in previous]
        previous = rows
    last = site_statement(site, month_of(utcnow(), business_tz()))
    assert [r.fen("closing") for r in last] == [db.session.get(Account, s.id).balance_fen for s in shops]


@pytest.fixture
def billed_site(billing_site, make_account, make_gateway, make_meter):
    """A shop whose meter the real billing charged this month (¥1.00/kWh), with a payment and a fee."""
    site = billing_site(code="mall")
    gateway = make_gateway(site=site)
    shop = make_account(site=site, code="S1", balance_fen=0, created_at=utcnow() - timedelta(days=40))
    meter = make_meter(account=shop, gateway=gateway, code="E1")
    post_entry(db.session, shop, 100_00, EntryKind.PAYMENT, "test:pay")
    start = utcnow().replace(second=0, microsecond=0) - timedelta(hours=1)
    readings, deltas, total = [], [], 10_000
    for n, amount in enumerate((150, 250, 100), start=1):  # 5.00 kWh in all
        at, total = start + timedelta(minutes=15 * n), total + amount
        readings.append(dict(meter_id=meter.id, interval_start=at, energy_total=total, delta=amount))
        deltas.append(Delta(meter.id, shop.id, at, amount))
    db.session.add_all(IntervalReading(**r, billed=False) for r in readings)
    db.session.flush()
    roll_up_readings(db.session, readings, {meter.id: shop.id})  # as the cycle writes them: readings, then charges
    bill_deltas(db.session, deltas, utcnow())
    post_entry(db.session, shop, -12_34, EntryKind.FEE, "test:fee")
    db.session.commit()
    return site


def test_the_page_and_the_xlsx_of_a_month_the_real_billing_charged(client, login, make_staff, billed_site):
    month = month_of(utcnow(), business_tz())
    login.staff(make_staff(role=Role.MANAGER, sites=[billed_site]))
    html = client.get(f"/staff/reports/statement?site=mall&month={month}").get_data(as_text=True)
    assert 'data-ties-out="yes"' in html and 'data-testid="roll-up-gaps"' not in html
    assert 'data-col="paid">100.00<' in html and 'data-col="energy">-5.00<' in html
    assert 'data-col="fees">-12.34<' in html and 'data-col="closing">82.66<' in html
    assert 'data-usage="electric">5.00 kWh<' in html and 'data-meter="E1">E1 100.00 → 105.00<' in html

    res = client.get(f"/staff/reports/statement.xlsx?site=mall&month={month}")
    assert res.status_code == 200 and res.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["statement"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["account", "opening_yuan", "paid_yuan", "energy_yuan", "fees_yuan", "allocation_yuan",
                       "other_yuan", "closing_yuan"]
    assert ws["A1"].comment is not None and len(rows) == 2
    assert rows[1] == ["S1", 0, 100, -5, -12.34, 0, 0, 82.66]
    assert ws["A2"].data_type == "s" and all(ws.cell(row=2, column=c).number_format == "0.00" for c in range(2, 9))
    opening, *moved, closing = (Decimal(str(v)) for v in rows[1][1:])
    assert opening + sum(moved) == closing  # the sheet sums across a row


def test_roll_ups_that_miss_a_day_are_named_with_the_command_that_mends_them(client, login, make_staff, billed_site):
    month = month_of(utcnow(), business_tz())
    db.session.execute(delete(DailyUsage))  # e.g. a database restored without them
    db.session.commit()
    login.staff(make_staff(role=Role.MANAGER, sites=[billed_site]))
    html = client.get(f"/staff/reports/statement?site=mall&month={month}").get_data(as_text=True)
    assert 'data-testid="roll-up-gaps"' in html and "energy rebuild-daily --site mall" in html
    assert 'data-col="energy">-5.00<' in html  # the money is the ledger's either way
    first, last = date.today() - timedelta(days=2), date.today() + timedelta(days=1)
    rebuild_daily(db.session, first, last, billed_site.id)
    db.session.commit()
    html = client.get(f"/staff/reports/statement?site=mall&month={month}").get_data(as_text=True)
    assert 'data-testid="roll-up-gaps"' not in html


def test_a_shop_named_like_a_formula_stays_text_and_other_sites_are_not_shown(client, login, make_staff, make_site,
                                                                              make_account):
    site, elsewhere = make_site("mall"), make_site("elsewhere")
    shop = make_account(site=site, code="=1+2", created_at=utcnow() - timedelta(days=40))
    post_entry(db.session, shop, 5_00, EntryKind.CASH, "test:cash")
    make_account(site=elsewhere, code="B1")
    db.session.commit()
    month = month_of(utcnow(), business_tz())
    login.staff(make_staff(role=Role.AUDITOR, sites=[site]))
    ws = openpyxl.load_workbook(io.BytesIO(client.get(f"/staff/reports/statement.xlsx?site=mall&month={month}").data))
    sheet = ws["statement"]
    assert sheet["A2"].value == "=1+2" and sheet["A2"].data_type == "s" and sheet["C2"].value == 5
    assert sheet.max_row == 2
    assert client.get(f"/staff/reports/statement?site=elsewhere&month={month}").status_code == 404
    assert client.get("/staff/reports/statement?site=mall&month=2026-00").status_code == 400
    assert client.get("/staff/reports/statement?site=mall&page=x").status_code == 400
