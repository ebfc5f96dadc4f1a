"""Staff page: the dashboard, the staff area's home; its cards poll themselves with htmx."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.extensions import db
from portal.models import utcnow
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.staff.counter import DETAIL_LABELS, SECTION_TITLES
from portal.staff.dashboard_figures import dashboard_figures
from portal.staff.notifications import log_configured
from portal.web.access import site_ids
from portal.web.alarm_text import kind_label
from portal.web.htmx import render
from portal.web.roles import may_open

#: seconds between two refreshes of the cards (the poller's cycle is of the same order)
POLL_SECONDS = 15
#: why the platform wants a shop's supply off (Meter.desired_reason)
OFF_REASONS = {
    "arrears": _l("Arrears"), "remote": _l("Tripped by staff"), "over_power": _l("Over power"),
    "closure": _l("Shop closed"), "other": _l("Other"),
}


@bp.get("/")
def index():
    """Meters and gateways online, shops off and in arrears, keep-power, open alarms and today's takings; in the
    demo (texts to the log), a link to the messages it would have sent."""
    tz = business_tz()
    now: datetime = utcnow()
    figures = dashboard_figures(db.session, site_ids(), now.astimezone(tz).date(), tz,
                                with_takings=may_open(current_user.role, "counter"))
    return render("staff/dashboard.html", "staff/_dashboard.html", f=figures, now=now, poll_seconds=POLL_SECONDS,
                  kind_label=kind_label, off_reasons=OFF_REASONS, detail_label=lambda d: DETAIL_LABELS.get(d, d),
                  section_titles=SECTION_TITLES,
                  page_only=lambda: {"demo_messages": log_configured() and may_open(current_user.role,
                                                                                   "notifications")})
