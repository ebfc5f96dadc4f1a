"""/staff/notifications/templates: every event people are told of (portal.notify.events), who hears it, whether
quiet hours hold it and a shop may mute it, its sentence in Chinese and English filled with sample values, and
for each channel with templates whether one is configured for it (WECHAT_TEMPLATE_<EVENT>,
ALIYUN_SMS_TEMPLATE_<EVENT>). An event without a template on a channel is refused by that channel and goes on
to the next: only the GSM modem and the demo's log send the text itself.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.models import Audience
from portal.notify.events import EVENTS
from portal.settings import current
from portal.staff.blueprint import bp
from portal.staff.notifications import CHANNELS, tabs
from portal.web.access import require_area
from portal.web.htmx import render

#: a value for every param of every event, to show its sentence filled in
SAMPLE_PARAMS = {
    "shop": "A101", "shop_name": _l("Corner Bakery"), "site": _l("Riverside Mall"), "meter": "E101",
    "gateway": "GW01", "balance": "18.50", "level": "20.00", "restore": "50.00", "amount": "100.00",
    "trip_at": "2026-12-06 18:00", "at": "2026-12-06 18:00", "reason": _l("arrears"), "channel": _l("Alipay"),
    "month": "2026-11", "watts": "9200", "limit": "8000", "code": "123456",
    "detail": _l("the purchase count went backwards"), "ledger": "120.00", "meters": "118.40",
    "order": "PF202612060001", "day": "2026-12-05", "count": "3", "what": _l("a refund of ¥200.00"), "by": "li",
}
AUDIENCES = {Audience.TENANT: _l("tenants"), Audience.STAFF: _l("staff recipients")}


def template_rows() -> list[dict]:
    """Each event with its sentences and its template on each channel that takes templates (None: none)."""
    settings = current()
    wechat, aliyun = dict(settings.wechat.templates), dict(settings.sms.aliyun_templates)
    return [{
        "e": e, "audience": AUDIENCES[e.audience],
        "zh": e.text(SAMPLE_PARAMS, "zh"), "en": e.text(SAMPLE_PARAMS, "en"),
        "wechat": wechat.get(e.name), "aliyun": aliyun.get(e.name),
    } for e in EVENTS.values()]


@bp.get("/notifications/templates")
@require_area("notifications")
def notify_templates():
    """Every event, its sentences and its templates; and the channels configured here."""
    settings = current()
    return render("staff/notifications/templates.html", "staff/notifications/_templates.html", tabs=tabs(),
                  rows=template_rows(), sms_backends=[CHANNELS.get(b, b) for b in settings.sms.backends],
                  wechat_on=settings.wechat.oauth_configured)
