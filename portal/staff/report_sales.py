"""Sales (`/staff/reports/sales`): a site's month by business day and channel, and by cashier; its spreadsheet is
the overview's `sales.xlsx` (SPEC §4).

Built from the counter's own daily reports (portal.counter.sales), so the cashier's day and the manager's month
never disagree.
"""
from __future__ import annotations

from flask import render_template

from portal.counter.sales import month_sales
from portal.extensions import db
from portal.models import utcnow
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.staff.counter import DETAIL_LABELS
from portal.staff.reports import chosen
from portal.web.access import require_area
from portal.web.labels import label


def channel_label(channel: str) -> str:
    """A channel or counter method in words."""
    return str(DETAIL_LABELS.get(channel) or label(channel))


@bp.get("/reports/sales")
@require_area("reports")
def report_sales():
    """The month's days by channel (with the totals), and what each cashier took in and reversed."""
    sites, site, month = chosen()
    tz = business_tz()
    sales = month_sales(db.session, {site.id}, month, tz, utcnow().astimezone(tz).date())
    return render_template("staff/reports/sales.html", sites=sites, site=site, month=month, sales=sales,
                           channels=sales.channels(), days=sales.by_day(), channel_label=channel_label)
