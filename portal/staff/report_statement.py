"""The energy-and-money statement (`/staff/reports/statement`) and its spreadsheet (`statement.xlsx`, SPEC §4).

Per shop of a site's month: opening and closing balance, paid, energy and water, fees, allocation, other, the
property fee left unpaid, and its meters' readings at the month's ends with their use. Above the table the
site's totals and the two checks of portal.monthly.statement: that every row ties out, and that the daily
roll-ups agree with the ledger (with what to do when they do not).
"""
from __future__ import annotations

from flask import render_template

from portal.extensions import db
from portal.metering.energy_report import as_number
from portal.metering.usage import unit
from portal.models import MeterKind, Site
from portal.monthly.periods import month_bounds
from portal.monthly.statement import (
    MONEY,
    ShopStatement,
    money_statement,
    read_statement,
    reading_text,
    statement_xlsx,
    totals,
)
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.staff.reports import chosen, export
from portal.web.access import require_area
from portal.web.params import page_arg

#: shops per page (the spreadsheet has them all)
PAGE = 100


def site_statement(site: Site, month: str) -> list[ShopStatement]:
    """The statement of every shop of the site for the month."""
    start, end = month_bounds(month, business_tz())
    return read_statement(db.session, site, month, start, end)


@bp.get("/reports/statement")
@require_area("reports")
def report_statement():
    """One page of shops with the site's totals and checks above."""
    sites, site, month = chosen()
    rows = site_statement(site, month)
    page = page_arg()
    pages = max((len(rows) + PAGE - 1) // PAGE, 1)
    return render_template("staff/reports/statement.html", sites=sites, site=site, month=month,
                           rows=rows[(page - 1) * PAGE: page * PAGE], count=len(rows), total=totals(rows),
                           page=min(page, pages), pages=pages, columns=("opening", *MONEY, "closing"),
                           kinds=list(MeterKind), as_number=as_number, unit=unit, reading_text=reading_text)


@export("statement")
def statement_workbook(site: Site, month: str) -> bytes:
    """The month's `statement.xlsx`: its columns are money only, so only the ledger is read for it."""
    start, end = month_bounds(month, business_tz())
    return statement_xlsx(money_statement(db.session, site.id, month, start, end))
