"""Shops' monthly bills (月度账单, 缴费通知单) that the property office prints and hands out (/staff/reports/bills):
an A4 page per shop with the month's money and meters, the office's phone, and how the tenant signs in — the QR
code of the shop's sticker address, its account code and, on bills printed with codes, its binding code.

Every figure is the shop's row of the site's statement (portal.staff.report_statement.site_statement: the ledger's
money, the daily roll-ups' readings and use), so a bill never disagrees with the statement report; a bill adds only
the balance and fee arrears as they are when it is printed. Cashiers and managers print bills, auditors read them
(portal.web.roles, `bills`). A binding code is stored hashed, so printing one is issuing it: a manager (the role
that issues binding codes) puts codes on a sheet of bills with a POST that issues them as the sticker sheet does
(portal.auth.binding.issue_for_print: asked first when printed codes would stop working, audited), answered once
and never cached; printing without codes voids nothing. A sheet is the chosen shops, one shop (from its page), or
a site's shops MAX_BILLS at a time.
"""
from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from flask import abort, make_response, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from portal.auth.binding import PrintedCodesInUse, issue_for_print, printed
from portal.extensions import db
from portal.metering.daily import business_today
from portal.metering.energy_report import as_number
from portal.metering.usage import unit
from portal.models import Account, AccountStatus, MeterKind, Site, utcnow
from portal.monthly.periods import month_bounds, month_of, parse_month, previous_month
from portal.settings import business_tz, public_url
from portal.staff.blueprint import bp
from portal.staff.report_statement import site_statement
from portal.staff.reports import chosen
from portal.staff.stickers import MAX_SHEET, codes_in_use, sticker_address
from portal.web.access import require_area, scoped
from portal.web.params import BadParameter, one_of, page_arg, query_arg, short_text
from portal.web.params import parse_month as checked_month
from portal.web.roles import may_change, may_open

#: bills on one sheet: as many as a sticker sheet issues codes for at once (each a deliberate hash and a QR code)
MAX_BILLS = MAX_SHEET
#: which shops the chooser ticks: none (the default), those never given a binding code, or all
TICKS = ("none", "new", "all")
#: which shops of a sheet a manager's print gives codes: those without one, or every one (voiding printed codes)
CODES = ("new", "all")
#: a meter's kind as a bill names it
METER_KINDS = {MeterKind.ELECTRIC: _l("Electricity meter"), MeterKind.WATER: _l("Water meter")}
#: the statement's energy column in its two parts (portal.monthly.reports.COLUMNS), beside each kind's use
CHARGES = ((MeterKind.ELECTRIC, "energy"), (MeterKind.WATER, "water"))


def this_month() -> str:
    """The business month of today."""
    return month_of(utcnow(), business_tz())


def _begun(month: str) -> str:
    if month > this_month():
        abort(400, description=_("month %(month)s has not begun: a bill is for this month or one before it.",
                                 month=month))
    return month


def _site_and_month() -> tuple[list[Site], Site, str]:
    """The user's sites, the one asked for and the month (?month=, the month before this one by default)."""
    sites, site, month = chosen(previous_month(this_month()))
    return sites, site, _begun(month)


def _shops(site: Site, month: str):
    """The site's open shops that existed in the month (the statement has a row for each), by code."""
    _start, end = month_bounds(month, business_tz())
    return (select(Account).where(Account.site_id == site.id, Account.status == AccountStatus.ACTIVE,
                                  Account.created_at < end).order_by(Account.code))


def _asked(site: Site, month: str, codes: list[str]) -> list[Account]:
    """The shops of these account codes, by code: at most MAX_BILLS (400 beyond); 404 when one is not a shop of
    the site's month (another site's shop cannot be probed)."""
    if not codes:
        abort(400, description=_("Tick the shops to print bills for."))
    if len(codes) > MAX_BILLS:
        abort(400, description=_("At most %(most)s bills at a time: untick some, or print every shop's bills "
                                 "sheet by sheet.", most=MAX_BILLS))
    try:
        wanted = {short_text(32)("account", code) for code in codes}
    except BadParameter as exc:
        abort(400, description=str(exc))
    shops = list(db.session.scalars(_shops(site, month).where(Account.code.in_(wanted))))
    if len(shops) != len(wanted):
        abort(404)
    return shops


def _bills(site: Site, month: str, shops: list[Account], codes: dict[int, str]) -> list[dict]:
    """Each shop's bill: its row of the site's statement, its sticker address and QR code (once it has a token),
    and its binding code when one was issued for this sheet."""
    rows = {r.money.account_id: r for r in site_statement(site, month)}
    return [dict(account=a, row=rows[a.id], code=printed(codes[a.id]) if a.id in codes else None,
                 **(sticker_address(a) if a.sticker_token else {})) for a in shops]


def month_words(month: str) -> str:
    """A month as a bill names it: 2026年10月, October 2026."""
    year, mon = parse_month(month)
    return format_skeleton("yMMMM", date(year, mon, 1), locale=get_locale())


def _sheet(site: Site, month: str, shops: list[Account], *, codes: dict[int, str] | None = None,
           error: str | None = None, paging: dict | None = None, status: int = 200):
    """The sheet of bills; with codes, the answer is the only place they are shown, so no cache stores it."""
    codes = codes or {}
    may_issue = may_open(current_user.role, "account_binding_codes") and may_change(current_user.role)
    page = render_template(
        "staff/bills_sheet.html", site=site, month=month, month_name=month_words(month),
        bills=_bills(site, month, shops, codes), issued=len(codes), error=error, paging=paging, may_issue=may_issue,
        without_code=sum(a.binding_code_hash is None for a in shops), month_over=month < this_month(),
        printed_on=format_date(business_today(), "long"), bind_url=public_url(url_for("auth.tenant_bind")),
        meter_kinds=METER_KINDS, charges=CHARGES, as_number=as_number, unit=unit,
        back=url_for("staff.report_bills", site=site.code, month=month))
    response = make_response(page, status)
    if codes:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/reports/bills")
@require_area("bills")
def report_bills():
    """Choose the shops of a site's month to print bills for, or print every shop's, a sheet at a time."""
    sites, site, month = _site_and_month()
    shops = list(db.session.scalars(_shops(site, month)))
    tick = query_arg("tick", one_of(TICKS), "none")
    ticked = {a.id for a in shops if tick == "all" or (tick == "new" and a.binding_code_hash is None)}
    sheets = [(n + 1, shops[i].code, shops[min(i + MAX_BILLS, len(shops)) - 1].code)
              for n, i in enumerate(range(0, len(shops), MAX_BILLS))]
    return render_template("staff/reports/bills.html", sites=sites, site=site, month=month, shops=shops,
                           ticked=ticked, sheets=sheets, max_bills=MAX_BILLS,
                           in_reports=may_open(current_user.role, "reports"))


@bp.get("/reports/bills/print")
@require_area("bills")
def report_bills_print():
    """The bills without binding codes: the shops asked for (?account=CODE, repeated), else a sheet of all."""
    _sites, site, month = _site_and_month()
    codes = request.args.getlist("account")
    if codes:
        return _sheet(site, month, _asked(site, month, codes))
    count = db.session.scalar(select(func.count()).select_from(_shops(site, month).subquery()))
    pages = max((count + MAX_BILLS - 1) // MAX_BILLS, 1)
    page = min(page_arg(), pages)
    shops = list(db.session.scalars(_shops(site, month).offset((page - 1) * MAX_BILLS).limit(MAX_BILLS)))
    return _sheet(site, month, shops, paging=dict(page=page, pages=pages, count=count))


def _posted_site() -> Site:
    code = request.form.get("site", "")[:32]
    site = db.session.scalar(scoped(select(Site), Site.id).where(Site.code == code))
    if site is None:
        abort(404)
    return site


def _posted(name: str, parse) -> str:
    """A field of the form, parsed as a query parameter is (portal.web.params): 400 saying why when it does not."""
    try:
        return parse(name, request.form.get(name, ""))
    except BadParameter as exc:
        abort(400, description=str(exc))


@bp.post("/reports/bills/print")
@require_area("account_binding_codes", to_change=True)
def report_bills_print_codes():
    """Issue binding codes to the sheet's shops (`codes`: those without one, or all, confirmed when that voids
    printed codes) and answer the sheet with them (shown this once)."""
    site, month = _posted_site(), _begun(_posted("month", checked_month))
    which = _posted("codes", one_of(CODES))
    shops = _asked(site, month, request.form.getlist("account"))
    chosen_shops = shops if which == "all" else [a for a in shops if a.binding_code_hash is None]
    if not chosen_shops:
        return _sheet(site, month, shops, status=422, error=_("Every shop on this sheet has a binding code already: "
                                                               "print new codes for all of them, or none."))
    try:
        issued = issue_for_print(db.session, site.id, chosen_shops, current_user.actor, "shop_bills.printed",
                                 confirmed=request.form.get("reissue") == "yes", month=month)
    except PrintedCodesInUse as refused:
        return _sheet(site, month, shops, status=422, error=codes_in_use(refused))
    db.session.commit()
    return _sheet(site, month, shops, codes={a.id: code for a, code in issued})
