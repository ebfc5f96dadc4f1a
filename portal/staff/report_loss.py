"""Line loss (`/staff/reports/line-loss`): each master meter of a site against the sum of its sub-meters for a
month — kWh (m³ for water), the loss and its percent, flagged above portal.monthly.loss_report.LOSS_FLAG_BP or
when negative — and its `.xlsx`. Read off the daily roll-ups (portal.monthly.reports.line_loss).

Which meter feeds which is set on `/staff/billing/line-loss` (managers), beside the same table.
"""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.extensions import db
from portal.models import Site
from portal.monthly.loss_report import LOSS_FLAG_BP, flag, line_loss_xlsx
from portal.monthly.periods import month_bounds
from portal.monthly.reports import LineLoss, line_loss
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.staff.reports import chosen, export
from portal.web.access import require_area
from portal.web.roles import may_open

#: a flag in words
FLAG_WORDS = {"high": _l("high"), "negative": _l("negative: check the wiring and the meters")}


def _rows(site: Site, month: str) -> list[LineLoss]:
    start, end = month_bounds(month, business_tz())
    return line_loss(db.session, site.id, start, end)


@bp.get("/reports/line-loss")
@require_area("reports")
def report_line_loss():
    """The site's master meters for the month, each with its sub-meters, the loss and its flag."""
    sites, site, month = chosen()
    rows = _rows(site, month)
    return render_template("staff/reports/line_loss.html", sites=sites, site=site, month=month, rows=rows,
                           flags={r.meter_id: flag(r) for r in rows}, flag_words=FLAG_WORDS,
                           limit=f"{LOSS_FLAG_BP // 100}.{LOSS_FLAG_BP % 100:02d}",
                           may_link=may_open(current_user.role, "monthly"))


@export("line-loss")
def _line_loss(site: Site, month: str) -> bytes:
    return line_loss_xlsx(_rows(site, month))
