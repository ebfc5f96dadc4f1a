"""Sales (`/staff/reports/sales`): a site's month by business day and channel, and by cashier; its spreadsheet is
the overview's `sales.xlsx` (SPEC §4).

Built from the counter's own daily reports (portal.counter.sales), so the cashier's day and the manager's month
never disagree.
"""
from __future__ import annotations

from datetime import timedelta

from flask import render_template

from portal.counter.sales import month_sales
from portal.extensions import db
from portal.metering.usage import month_days
from portal.models import utcnow
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.staff.counter import DETAIL_LABELS
from portal.staff.report_charts import YUAN, chart
from portal.staff.reports import chosen
from portal.web.access import require_area
from portal.web.labels import label


def channel_label(channel: str) -> str:
    """A channel or counter method in words."""
    return str(DETAIL_LABELS.get(channel) or label(channel))


@bp.get("/reports/sales")
@require_area("reports")
def report_sales():
    """The month's days by channel (with the totals, and a chart of every day stacked by channel), and what each
    cashier took in and reversed."""
    sites, site, month = chosen()
    tz = business_tz()
    sales = month_sales(db.session, {site.id}, month, tz, utcnow().astimezone(tz).date())
    days, channels = sales.by_day(), sales.channels()
    first, last = month_days(month)
    every_day = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    per_day = chart([f"{d:%d}" for d in every_day],
                    [(channel_label(c), [days[d][c].amount_fen if c in days.get(d, {}) else 0 for d in every_day])
                     for c in channels], YUAN, stack=True)
    return render_template("staff/reports/sales.html", sites=sites, site=site, month=month, sales=sales,
                           channels=channels, days=days, channel_label=channel_label, per_day=per_day)
