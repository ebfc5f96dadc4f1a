"""The monthly runs started from /staff/billing/: "run fees for YYYY-MM" and "run allocation for YYYY-MM", each
first shown as a preview of its totals (how many shops, how much money), then run on a confirmation.

The preview is the run's own plan without writing (portal.monthly.fees.preview_fees,
portal.monthly.allocation.preview); the run is the command line's verb for the page's site
(portal.monthly.runs), idempotent and audited. Auditors see previews; only a manager confirms. htmx swaps the run's
card on the billing page; a browser without it gets the card on a page of its own.
"""
from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import db
from portal.models import Site, utcnow
from portal.monthly.allocation import preview
from portal.monthly.fees import preview_fees
from portal.monthly.periods import PeriodError, month_of, previous_month
from portal.monthly.runs import allocate_site, run_site_fees
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped_or_404
from portal.web.htmx import render
from portal.web.params import BadParameter, parse_month
from portal.web.roles import may_change

RUNS = ("fees", "allocation")


def default_months() -> dict[str, str]:
    """The month each run is usually for: fees for this month (charged on the 1st), allocation for the last."""
    this_month = month_of(utcnow(), business_tz())
    return {"fees": this_month, "allocation": previous_month(this_month)}


def run_card(site: Site, which: str, month: str | None = None, **shown) -> dict:
    """What a run's card shows: its month form, and a preview or a result when there is one."""
    usual = default_months()[which]
    card = dict(site=site, which=which, month=month or usual, usual=usual, preview=None, result=None,
                error=None, can_change=may_change(current_user.role))
    card.update(shown)
    return card


def _card(refused: bool = False, **card):
    """The run's card: alone for htmx (the billing page swaps it), else on a page of its own."""
    return render("staff/monthly/run.html", "staff/monthly/_run.html", refused=refused, **card)


def _month(text: str) -> str:
    return parse_month("month", text.strip())


def _planned(site: Site, which: str, month: str):
    """The run's preview: one FeeRun for fees, the groups' outcomes for allocation."""
    if which == "fees":
        return preview_fees(db.session, month, site_ids={site.id})[0]
    return preview(db.session, month, site_ids={site.id})


def _period_error(which: str, month: str) -> str:
    if which == "fees":
        return _("%(month)s has not begun yet: fees are charged for this month or earlier.", month=month)
    return _("%(month)s is not over yet: allocation runs for a finished month.", month=month)


@bp.get("/billing/sites/<int:site_id>/runs/<any(fees, allocation):which>")
@require_area("monthly")
def billing_run_preview(site_id: int, which: str):
    """The totals a run for ?month= (default: the usual month) would post now, and the button that runs it."""
    site = scoped_or_404(Site, site_id)
    text = request.args.get("month") or default_months()[which]
    try:
        month = _month(text)
        return _card(**run_card(site, which, month, preview=_planned(site, which, month)))
    except BadParameter as exc:
        return _card(refused=True, **run_card(site, which, error=str(exc)))
    except PeriodError:
        return _card(refused=True, **run_card(site, which, month, error=_period_error(which, month)))


@bp.post("/billing/sites/<int:site_id>/runs/<any(fees, allocation):which>")
@require_area("monthly")
def billing_run(site_id: int, which: str):
    """Run it, as the command line does: what was posted already is not posted again."""
    site = scoped_or_404(Site, site_id)
    try:
        month = _month(request.form.get("month", ""))
    except BadParameter as exc:
        return _card(refused=True, **run_card(site, which, error=str(exc)))
    try:
        if which == "fees":
            result = run_site_fees(db.session, site, month, current_user.actor)
        else:
            result = allocate_site(db.session, site, month, current_user.actor)
    except PeriodError:
        db.session.rollback()
        return _card(refused=True, **run_card(site, which, month, error=_period_error(which, month)))
    db.session.commit()
    return _card(**run_card(site, which, month, result=result))
