"""Manager pages for the monthly runs: property fee settings and policy, allocation groups and their runs, line
loss of master meters, and the monthly report (HTML and CSV). Templates in templates/staff/monthly/; the URLs
stay under /staff/billing/ (SPEC).

Views stay thin: the rules are in portal.monthly.fees, portal.monthly.allocation and portal.monthly.reports.
Every page is scoped to the user's sites (portal.web.access); a row of another site is a 404.
"""
from __future__ import annotations

from flask import abort, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Account,
    AllocationGroup,
    AllocationLine,
    AllocationMember,
    AllocationRun,
    FeeCharge,
    Site,
    Tariff,
    allocation_sources,
    utcnow,
)
from portal.money import parse_units
from portal.monthly.fees import FeeSettingsError, set_fee_settings
from portal.monthly.periods import month_bounds, month_of, previous_month
from portal.monthly.reports import COLUMNS, line_loss, monthly_report, report_csv, totals
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import answer_form, render
from portal.web.params import id_arg, month_arg, page_arg

REPORT_PAGE = 200
COLUMN_LABELS = {
    "code": _l("Account"), "name": _l("Shop"), "opening": _l("Opening balance"), "payments": _l("Payments"),
    "refunds": _l("Refunds"), "energy": _l("Electricity"), "water": _l("Water"), "fee": _l("Property fee"),
    "allocation": _l("Common area"), "other": _l("Other"), "closing": _l("Closing balance"),
    "fee_unpaid": _l("Fee unpaid"),
}


@bp.context_processor
def monthly_labels() -> dict:
    """Label helpers for the monthly templates (templates/staff/monthly/)."""
    return dict(column_labels=COLUMN_LABELS, report_columns=COLUMNS)


def _scoped_sites() -> list[Site]:
    return db.session.execute(scoped(select(Site), Site.id).order_by(Site.code)).scalars().all()


def _chosen_site(sites: list[Site]) -> Site:
    """The site named by ?site= (one of the user's), else the first; 404 when the user has none."""
    wanted = id_arg("site")
    for site in sites:
        if wanted is None or site.id == wanted:
            return site
    abort(404)


def _this_month() -> str:
    return month_of(utcnow(), business_tz())


@bp.get("/billing/")
@require_area("monthly")
def billing():
    """Fee settings and recent fee runs, allocation groups with their last run, links to the reports."""
    sites = _scoped_sites()
    site = _chosen_site(sites)
    fee_months = db.session.execute(
        select(FeeCharge.month, func.count(), func.sum(FeeCharge.fee_fen), func.sum(FeeCharge.posted_fen),
               func.sum(FeeCharge.arrears_fen))
        .join(Account, Account.id == FeeCharge.account_id).where(Account.site_id == site.id)
        .group_by(FeeCharge.month).order_by(FeeCharge.month.desc()).limit(6)).all()
    return render_template("staff/monthly/index.html", sites=sites, site=site, groups=_groups(site),
                           fee_months=fee_months, this_month=_this_month(),
                           last_month=previous_month(_this_month()))


def _groups(site: Site) -> list[dict]:
    groups = db.session.execute(select(AllocationGroup).where(AllocationGroup.site_id == site.id)
                                .order_by(AllocationGroup.code)).scalars().all()
    ids = [gr.id for gr in groups]
    sources = dict(db.session.execute(select(allocation_sources.c.group_id, func.count())
                                      .where(allocation_sources.c.group_id.in_(ids))
                                      .group_by(allocation_sources.c.group_id)).tuples().all())
    members = dict(db.session.execute(select(AllocationMember.group_id, func.count())
                                      .where(AllocationMember.group_id.in_(ids))
                                      .group_by(AllocationMember.group_id)).tuples().all())
    tariffs = dict(db.session.execute(select(Tariff.id, Tariff.name).where(Tariff.site_id == site.id)).tuples().all())
    latest = {}
    for run in db.session.execute(select(AllocationRun).where(AllocationRun.group_id.in_(ids))
                                  .order_by(AllocationRun.period)).scalars():
        latest[run.group_id] = run
    return [dict(group=gr, sources=sources.get(gr.id, 0), members=members.get(gr.id, 0),
                 tariff=tariffs.get(gr.tariff_id or site.default_tariff_id), last=latest.get(gr.id))
            for gr in groups]


@bp.post("/billing/sites/<int:site_id>/fees")
@require_area("monthly")
def billing_fee_settings(site_id: int):
    """Save the fee and its policy; the trip policy needs the Art. 944 warning acknowledged."""
    site = scoped_or_404(Site, site_id)
    error = None
    try:
        rate = parse_units(request.form.get("rate"), 4, blank=0)
        fixed = parse_units(request.form.get("fixed"), 2, blank=0)
        changed = set_fee_settings(db.session, site, current_user.actor, rate_e4_per_m2=rate, fixed_fen=fixed,
                                   trip_enabled=request.form.get("policy") == "trip",
                                   warning_acknowledged=request.form.get("acknowledge") == "yes")
    except (ValueError, FeeSettingsError) as exc:
        db.session.rollback()
        changed = None
        if getattr(exc, "code", "") == "unacknowledged":
            error = _("The trip policy stays off: confirm that you have read the Civil Code Art. 944 warning.")
        else:
            error = _("Enter amounts in yuan: the rate with at most four decimals, the fixed fee with at most two.")
    else:
        db.session.commit()
    return answer_form("staff/monthly/_fees.html", url_for("staff.billing", site=site.id),
                       lambda: {"site": site, "error": error, "saved": changed is not None,
                                "form": request.form if error else None},
                       error=error, message=None if error else _("Fee settings saved."), redirect_code=303)


@bp.get("/billing/groups/<int:group_id>")
@require_area("monthly")
def billing_group(group_id: int):
    """One group's run for a period (?period=, default the latest): the priced total and each shop's part."""
    group = scoped_or_404(AllocationGroup, group_id)
    query = select(AllocationRun).where(AllocationRun.group_id == group.id)
    period = month_arg("period")
    if period:
        query = query.where(AllocationRun.period == period)
    run = db.session.execute(query.order_by(AllocationRun.period.desc()).limit(1)).scalar_one_or_none()
    periods = db.session.execute(select(AllocationRun.period).where(AllocationRun.group_id == group.id)
                                 .order_by(AllocationRun.period.desc())).scalars().all()
    lines = []
    if run is not None:
        lines = db.session.execute(
            select(AllocationLine, Account.code, Account.name).join(Account, Account.id == AllocationLine.account_id)
            .where(AllocationLine.run_id == run.id).order_by(Account.code)).all()
    return render_template("staff/monthly/group.html", group=group, run=run, lines=lines, periods=periods)


@bp.get("/billing/line-loss")
@require_area("monthly")
def billing_line_loss():
    """Master meters against the sum of their sub-meters for a month (default: the last one)."""
    sites = _scoped_sites()
    site = _chosen_site(sites)
    month = month_arg(default=previous_month(_this_month()))
    start, end = month_bounds(month, business_tz())
    return render("staff/monthly/line_loss.html", "staff/monthly/_line_loss.html", sites=sites, site=site,
                  month=month, rows=line_loss(db.session, site.id, start, end))


@bp.get("/billing/report")
@require_area("monthly")
def billing_report():
    """Each shop's month: opening balance, movements by kind, closing balance; ?format=csv for all rows."""
    sites = _scoped_sites()
    site = _chosen_site(sites)
    month = month_arg(default=_this_month())
    start, end = month_bounds(month, business_tz())
    statements = monthly_report(db.session, site.id, month, start, end)
    if request.args.get("format") == "csv":
        body = "\ufeff" + report_csv(statements, {k: str(v) for k, v in COLUMN_LABELS.items()})  # BOM: Excel
        response = make_response(body)
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="report-{site.code}-{month}.csv"'
        return response
    page = page_arg()
    pages = max((len(statements) + REPORT_PAGE - 1) // REPORT_PAGE, 1)
    return render_template("staff/monthly/report.html", sites=sites, site=site, month=month,
                           rows=statements[(page - 1) * REPORT_PAGE: page * REPORT_PAGE], total=totals(statements),
                           count=len(statements), page=page, pages=pages)

