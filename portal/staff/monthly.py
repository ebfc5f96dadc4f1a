"""Manager pages for the monthly runs: property fee settings and policy, allocation groups and their runs, line
loss of master meters, and the monthly report (HTML and CSV). Templates in templates/staff/monthly/; the URLs
stay under /staff/billing/ (SPEC).

Views stay thin: the rules are in portal.monthly.fees, portal.monthly.allocation and portal.monthly.reports.
Every page is scoped to the user's sites (portal.web.access); a row of another site is a 404.
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import (
    Account,
    AllocationGroup,
    AllocationMember,
    AllocationMethod,
    AllocationRun,
    FeeCharge,
    Meter,
    Site,
    Tariff,
    allocation_sources,
    utcnow,
)
from portal.money import parse_units
from portal.monthly.fees import FeeSettingsError, set_fee_settings
from portal.monthly.periods import month_bounds, month_of, previous_month
from portal.monthly.reports import line_loss
from portal.monthly.wiring import WiringError, set_master
from portal.settings import business_tz
from portal.staff.billing_groups import flat_tariffs
from portal.staff.billing_runs import RUNS, run_card
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import answer_form, render
from portal.web.params import id_arg, month_arg
from portal.web.roles import may_change

#: why allocate() skips a group (portal.monthly.allocation.Skip.code), in the reader's language
SKIP_REASONS = {
    "no_sources": _l("the group has no common meters"),
    "mixed_kinds": _l("the group mixes electricity and water meters"),
    "no_tariff": _l("no tariff: set one on the group or a default on the site"),
    "no_members": _l("the group has no active member shops"),
    "no_weight": _l("no weight to split by: every member's weight is 0"),
    "no_price": _l("the tariff has no price at the start of the period"),
    "not_flat": _l("common-area allocation needs a flat tariff"),
}


@bp.context_processor
def monthly_labels() -> dict:
    """Label helpers for the monthly templates (templates/staff/monthly/)."""
    return dict(skip_reasons=SKIP_REASONS)


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
                           last_month=previous_month(_this_month()), tariffs=flat_tariffs(site),
                           methods=list(AllocationMethod), can_change=may_change(current_user.role),
                           runs=[run_card(site, which) for which in RUNS])


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


@bp.get("/billing/line-loss")
@require_area("monthly")
def billing_line_loss():
    """Master meters against the sum of their sub-meters for a month (default: the last one), and the links."""
    sites = _scoped_sites()
    site = _chosen_site(sites)
    month = month_arg(default=previous_month(_this_month()))
    start, end = month_bounds(month, business_tz())
    return render("staff/monthly/line_loss.html", "staff/monthly/_line_loss.html", sites=sites, month=month,
                  rows=line_loss(db.session, site.id, start, end), **_links(site))


def _links(site: Site, error: str | None = None, message: str | None = None, form=None) -> dict:
    """Every meter of the site that has a master, with its master: the links the line-loss page sets."""
    master = aliased(Meter)
    links = db.session.execute(select(Meter, master.code).join(master, master.id == Meter.parent_meter_id)
                               .where(Meter.site_id == site.id).order_by(master.code, Meter.code)).all()
    return dict(site=site, links=links, can_change=may_change(current_user.role), links_error=error,
                links_message=message, links_form=form)


def _answer_links(site: Site, error: str | None = None, message: str | None = None, form=None, changed=False):
    """The links section; when a link changed, the line-loss table on the page reloads itself (HX-Trigger)."""
    response = answer_form("staff/monthly/_links.html", url_for("staff.billing_line_loss", site=site.id),
                           lambda: _links(site, error, message, form), error=error, message=message,
                           redirect_code=303)
    if changed:
        response.headers["HX-Trigger"] = "meter-links-changed"
    return response


def _site_meter(site: Site, code: str) -> Meter | None:
    return db.session.execute(select(Meter).where(Meter.site_id == site.id, Meter.code == code)).scalar_one_or_none()


@bp.post("/billing/sites/<int:site_id>/meter-links")
@require_area("monthly")
def billing_set_master(site_id: int):
    """Give a meter of the site its master meter (same site and kind, no loop), by their codes."""
    site = scoped_or_404(Site, site_id)
    form = request.form
    codes = form.get("meter", "").strip()[:32], form.get("master", "").strip()[:32]
    meter, master = (_site_meter(site, code) for code in codes)
    missing = [code for code, row in zip(codes, (meter, master), strict=True) if row is None]
    if missing:
        return _answer_links(site, error=_("No meter %(code)s at this site.", code=missing[0]), form=form)
    try:
        changed = set_master(db.session, meter, master, current_user.actor)
    except WiringError as exc:
        db.session.rollback()
        return _answer_links(site, error=str(exc), form=form)
    db.session.commit()
    return _answer_links(site, message=_("%(sub)s is fed by %(master)s.", sub=meter.code, master=master.code)
                         if changed else _("Nothing changed."), changed=changed)


@bp.post("/billing/meters/<int:meter_id>/master/clear")
@require_area("monthly")
def billing_clear_master(meter_id: int):
    """A meter has no master any more (it leaves its master's line loss)."""
    meter = scoped_or_404(Meter, meter_id)
    site = db.session.get(Site, meter.site_id)
    changed = set_master(db.session, meter, None, current_user.actor)
    db.session.commit()
    return _answer_links(site, message=_("%(code)s has no master meter now.", code=meter.code) if changed
                         else _("Nothing changed."), changed=changed)


@bp.get("/billing/report")
@require_area("monthly")
def billing_report():
    """The monthly report is the statement under the reports now (with its .xlsx in place of the CSV)."""
    site = _chosen_site(_scoped_sites())
    month = month_arg(default=_this_month())
    if request.args.get("format") == "csv":
        return redirect(url_for("staff.report_xlsx", name="statement", site=site.code, month=month))
    return redirect(url_for("staff.report_statement", site=site.code, month=month))
