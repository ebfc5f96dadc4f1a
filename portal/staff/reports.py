"""Reports (`/staff/reports`): the overview (the month's energy of a site per meter, and the shops in arrears
now), the tabs beside it (each report a module of its own: `report_*`), and every `.xlsx` export (SPEC §4).

Managers, and auditors reading; scoped to the user's sites. Read from the daily roll-ups (portal.metering
.energy_report), so a month of 10,000 meters answers without touching the 15-minute readings.

A report module takes the site and month the same way (`chosen()`), shows the same filter and tabs
(templates/staff/reports/_filters.html, _nav.html), and registers its spreadsheet with `@export(name)`:
`GET /staff/reports/<name>.xlsx?site=CODE&month=YYYY-MM` then answers with it.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import abort, make_response, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.counter.sales import monthly_sales, sales_xlsx
from portal.extensions import db
from portal.ledger.arrears import arrears_list, arrears_xlsx
from portal.metering.energy_report import as_number, energy_rows, energy_xlsx, totals
from portal.metering.usage import unit
from portal.models import Site, utcnow
from portal.monthly.periods import month_of
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped
from portal.web.params import month_arg, query_arg, short_text

#: the spreadsheets by name: each makes the workbook of a site's month (registered with @export)
EXPORTS: dict[str, Callable[[Site, str], bytes]] = {}
#: a shop's supply in the arrears list, in words
SUPPLY_WORDS = {"on": _l("on"), "off": _l("off"), "mixed": _l("partly off")}
#: meters listed on the page (the export has them all)
SHOWN = 100


def export(name: str):
    """Register `make(site, month) -> bytes` as the spreadsheet `/staff/reports/<name>.xlsx`."""
    def register(make: Callable[[Site, str], bytes]) -> Callable[[Site, str], bytes]:
        EXPORTS[name] = make
        return make
    return register


def chosen(default_month: str | None = None) -> tuple[list[Site], Site, str]:
    """The user's sites, the one asked for (?site=CODE, else the first), and the month (?month=, else
    `default_month`, else this one)."""
    sites = db.session.scalars(scoped(select(Site), Site.id).order_by(Site.code)).all()
    if not sites:
        abort(404)
    code = query_arg("site", short_text(32))
    site = next((s for s in sites if s.code == code), None) if code else sites[0]
    if site is None:
        abort(404)
    return sites, site, month_arg("month", default_month or month_of(utcnow(), business_tz()))


@bp.get("/reports")
@require_area("reports")
def reports():
    """The month's energy per meter (the most used first, the totals by kind), the shops in arrears, and the
    exports: every meter, the list, the month's sales by day and channel."""
    sites, site, month = chosen()
    rows = energy_rows(db.session, site, month)
    top = sorted(rows, key=lambda r: (r.kind.value, -r.usage, r.meter))[:SHOWN]
    arrears = arrears_list(db.session, site)
    return render_template("staff/reports/page.html", sites=sites, site=site, month=month, rows=top,
                           total_meters=len(rows), totals=totals(rows), as_number=as_number, unit=unit,
                           arrears=arrears[:SHOWN], arrears_count=len(arrears),
                           arrears_fen=sum(r.balance_fen for r in arrears), supply_words=SUPPLY_WORDS)


@export("energy")
def _energy(site: Site, month: str) -> bytes:
    return energy_xlsx(energy_rows(db.session, site, month))


@export("sales")
def _sales(site: Site, month: str) -> bytes:
    return sales_xlsx(monthly_sales(db.session, {site.id}, month, business_tz()))


@export("arrears")
def _arrears(site: Site, month: str) -> bytes:
    """As the list stands now, whatever the month."""
    return arrears_xlsx(arrears_list(db.session, site), business_tz())


@bp.get("/reports/<name>.xlsx")
@require_area("reports")
def report_xlsx(name: str):
    """GET /staff/reports/<name>.xlsx?site=CODE&month=YYYY-MM (SPEC §4)."""
    make = EXPORTS.get(name)
    if make is None:
        abort(404)
    _sites, site, month = chosen()
    response = make_response(make(site, month))
    response.headers["Content-Type"] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{site.code}-{month}.xlsx"'
    return response
