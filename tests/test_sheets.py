"""Spreadsheet exports never carry a formula (SPEC §4): every CSV and .xlsx writer goes through portal.sheets."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from portal.counter.daily_report import DailyReport, Line
from portal.counter.daily_report import report_csv as daily_csv
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import EntryKind, Role
from portal.sheets import append_xlsx_row, cell, yuan_number

#: names a shop or a payer could give themselves, and what a spreadsheet would do with them
EVIL = ["+SUM(1+1)*cmd|' /C calc'!A0", "=1+1", "@x", "-2+3", " =HYPERLINK(\"http://x\")", "\t=1", "\r=1"]
SAFE = ["Shop 1", "李记小吃", "a=b", "1+1", ""]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def evaluable(value: str) -> bool:
    """What a spreadsheet would read as a formula (the check is written here again, not imported)."""
    return value[:1] in ("\t", "\r") or value.lstrip()[:1] in ("=", "+", "-", "@")


@pytest.mark.no_db
@pytest.mark.parametrize("name", EVIL)
def test_formula_like_text_gets_a_leading_apostrophe(name):
    assert cell(name) == "'" + name


@pytest.mark.no_db
@pytest.mark.parametrize("value", [*SAFE, -2, -2.5, Decimal("-1.50"), 0, None])
def test_other_text_and_every_number_are_left_as_they_are(value):
    assert cell(value) == value and type(cell(value)) is type(value)


@pytest.mark.no_db
def test_yuan_numbers_are_exact_decimals_with_two_places():
    assert [str(yuan_number(f)) for f in (-123456, 0, 100, 5)] == ["-1234.56", "0.00", "1.00", "0.05"]


@pytest.mark.no_db
def test_the_daily_report_csv_neutralises_payers_and_references():
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    report = DailyReport(date(2026, 1, 2), [Line(at, "payment", "alipay_wap", "A1", 500, payer, ref)
                                            for payer, ref in zip(EVIL, reversed(EVIL))])
    report.lines.append(Line(at, "reversal", "cash", "A1", -500, "staff:a", "R1"))
    rows = rows_of(daily_csv(report, UTC))
    lines = [r for r in rows if r and r[0] != "total"][1:]
    assert [r[5] for r in lines[:len(EVIL)]] == ["'" + n for n in EVIL]
    assert [r[6] for r in lines[:len(EVIL)]] == ["'" + n for n in reversed(EVIL)]
    assert not any(evaluable(v) for r in rows for v in r if not _is_number(v))
    assert lines[-1][4] == "-5.00"  # the reversal's amount stays a number


def test_the_statement_download_keeps_a_shop_coded_like_a_formula_text(client, login, make_staff, make_site,
                                                                        make_account):
    site = make_site()
    for code in EVIL:
        post_entry(db.session, make_account(site=site, code=code[:32]), -150, EntryKind.ADJUSTMENT, f"sheets:{code}")
    db.session.commit()
    login.staff(make_staff(role=Role.MANAGER, sites=[site]))
    month = f"{datetime.now(UTC):%Y-%m}"
    res = client.get(f"/staff/reports/statement.xlsx?site={site.code}&month={month}")
    ws = openpyxl.load_workbook(io.BytesIO(res.data))["statement"]
    codes = [ws.cell(row=r, column=1) for r in range(2, ws.max_row + 1)]
    # as written; a carriage return is escaped as OOXML says (_x000D_), which Excel reads back and openpyxl does not
    assert sorted(c.value.replace("_x000D_", "\r") for c in codes) == sorted(EVIL)
    assert all(c.data_type == "s" for c in codes)
    assert {ws.cell(row=r, column=7).value for r in range(2, ws.max_row + 1)} == {-1.5}  # other: a number


def test_the_counter_report_download_neutralises_a_payer_named_like_a_formula(client, login, make_staff,
                                                                             make_account):
    shop = make_account(code="P1")
    post_entry(db.session, shop, 1_000, EntryKind.CASH, "sheets:cash:1", memo="cash", actor="=1+1")
    post_entry(db.session, shop, -1_000, EntryKind.REVERSAL, "sheets:rev:1", memo="typo", actor="@x")
    db.session.commit()
    login.staff(make_staff(role=Role.CASHIER, sites=[shop.site]))
    rows = rows_of(client.get("/staff/counter/report?format=csv").get_data(as_text=True))
    actors = {r[5] for r in rows[1:] if r and r[0] != "total"}
    assert actors == {"'=1+1", "'@x"}
    assert not any(evaluable(v) for r in rows for v in r if not _is_number(v))


@pytest.mark.no_db
def test_an_xlsx_row_keeps_formula_like_text_as_quoted_text_and_numbers_as_numbers(tmp_path):
    wb = openpyxl.Workbook()
    append_xlsx_row(wb.active, ["account", "balance_yuan"])
    for name in EVIL:
        append_xlsx_row(wb.active, [name, Decimal("-2.50")])
    wb.save(tmp_path / "out.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    cells = list(ws.iter_rows(min_row=2))
    # XML reads a carriage return back as a line feed; the cell is text either way
    assert ([(c[0].value, c[0].data_type, c[0].quotePrefix) for c in cells]
            == [(n.replace("\r", "\n"), "s", True) for n in EVIL])
    assert {(c[1].value, c[1].data_type) for c in cells} == {(-2.5, "n")}


def _is_number(value: str) -> bool:
    try:
        Decimal(value)
    except ArithmeticError:
        return False
    return True
