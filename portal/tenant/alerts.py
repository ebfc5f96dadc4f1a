"""A shop's alerts page (/t/a/<id>/alerts): which channels and which events its tenants are told of, its quiet
hours, and the last messages sent about it.

The choice is the shop's (portal.notify.preferences), shared by every tenant bound to it, and routing reads it
(portal.notify.route). WeChat is offered when the official account is configured and someone bound to the shop
signed in with WeChat; else SMS is the one channel. The last messages are the shop's tenant messages only (staff
alarms about it are the office's), newest first, their numbers masked, a sign-in code's value never shown.
"""
from __future__ import annotations

from datetime import time

from flask import request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, select

from portal.extensions import db
from portal.models import Account, Audience, Delivery, TenantBinding, TenantUser
from portal.notify.deliveries import masked, shown_text
from portal.notify.events import EVENTS
from portal.notify.preferences import SHOP_EVENTS, Choice, PreferenceRefused, checked_choice, choice_of, keep_choice
from portal.settings import current
from portal.tenant.blueprint import bp, own_account
from portal.web.htmx import answer_form, render

#: how many of the last messages the page lists
LAST = 20
CHANNELS = {"wechat": _l("WeChat"), "sms": _l("SMS")}
#: a delivery's channel as a tenant reads it: every SMS backend is "SMS"
SENT_BY = {"wechat": _l("WeChat"), "aliyun": _l("SMS"), "modem": _l("SMS"), "log": _l("SMS")}
STATUSES = {"pending": _l("Waiting"), "sending": _l("Sending"), "sent": _l("Sent out"),
            "failed": _l("Could not be sent"), "uncertain": _l("Not sure it arrived")}
REFUSED = {
    "no_channel": _l("Choose at least one way to be told."),
    "unknown_channel": _l("That way of being told is not offered here."),
    "unknown_event": _l("That message cannot be turned off."),
    "half_quiet": _l("Give both the start and the end of the quiet hours, or neither."),
    "empty_quiet": _l("The quiet hours start and end at the same time: change one, or clear both."),
    "bad_time": _l("Give the quiet hours as a time of day, e.g. 22:00."),
}


def wechat_offered(account: Account) -> bool:
    """Whether WeChat is a channel for this shop: the official account set up, and a WeChat bound to the shop."""
    if not current().wechat.oauth_configured:
        return False
    return bool(db.session.scalar(select(exists().where(
        TenantBinding.account_id == account.id, TenantBinding.tenant_user_id == TenantUser.id,
        TenantUser.wechat_openid.is_not(None)))))


def last_messages(account: Account) -> list[dict]:
    """The last LAST tenant messages about the shop, newest first, as the page shows them."""
    rows = db.session.scalars(select(Delivery).where(
        Delivery.account_id == account.id, Delivery.audience == Audience.TENANT)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(LAST))
    return [{"d": d, "event": EVENTS[d.event].label if d.event in EVENTS else d.event, "text": shown_text(d),
             "to": masked(d.recipient), "by": SENT_BY.get(d.channel, d.channel),
             "status": STATUSES.get(d.status.value, d.status.value), "when": d.sent_at or d.created_at}
            for d in rows]


def alerts_context(account: Account, choice: Choice | None = None, error: str | None = None,
                   message: str | None = None, typed: tuple[str, str] | None = None) -> dict:
    """What the alerts partial shows: the choice (the stored one, or the one refused with the times as typed), the
    events, and what to say."""
    choice = choice or choice_of(db.session, account.id)
    quiet = typed or tuple(t.strftime("%H:%M") for t in choice.quiet or ()) or ("", "")
    return dict(account=account, choice=choice, quiet=quiet, events=SHOP_EVENTS, channels=CHANNELS,
                wechat=wechat_offered(account), wechat_configured=current().wechat.oauth_configured,
                alerts_error=error, alerts_message=message, quiet_default=current().notify.quiet_hours)


def _time(raw: str | None) -> time | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return time.fromisoformat(raw[:8]).replace(second=0, microsecond=0)
    except ValueError:
        raise PreferenceRefused("bad_time") from None


def _typed() -> tuple[Choice, tuple[str, str]]:
    """The form as typed, unchecked: to show a refused choice again as the tenant left it."""
    told = set(request.form.getlist("event"))
    muted = frozenset(e.name for e in SHOP_EVENTS if e.mutable and e.name not in told)
    return (Choice(tuple(request.form.getlist("channel")), muted),
            (request.form.get("quiet_start", "")[:8], request.form.get("quiet_end", "")[:8]))


def _chosen(account: Account) -> Choice:
    """The form's choice, checked (PreferenceRefused when it cannot be kept)."""
    typed, (start, end) = _typed()
    if "wechat" in typed.channels and not wechat_offered(account):
        raise PreferenceRefused("unknown_channel")
    return checked_choice(typed.channels, typed.muted, (_time(start), _time(end)))


@bp.get("/a/<int:account_id>/alerts")
def alerts(account_id: int):
    """The shop's alerts: the form, and the last messages sent."""
    account = own_account(account_id)
    return render("tenant/alerts.html", "tenant/_alerts.html", page_only=lambda: {"messages": last_messages(account)},
                  **alerts_context(account))


@bp.post("/a/<int:account_id>/alerts")
def save_alerts(account_id: int):
    """Keep the shop's choice (CSRF-checked, audited); a refused one is shown again with what was wrong."""
    account = own_account(account_id)
    try:
        choice = _chosen(account)
    except PreferenceRefused as exc:
        typed, quiet = _typed()
        return render("tenant/alerts.html", "tenant/_alerts.html", refused=True,
                      page_only=lambda: {"messages": last_messages(account)},
                      **alerts_context(account, typed, error=str(REFUSED[exc.code]), typed=quiet))
    changed = keep_choice(db.session, account, choice, current_user.actor)
    db.session.commit()
    message = _("Saved.") if changed else _("Nothing changed.")
    return answer_form("tenant/_alerts.html", url_for("tenant.alerts", account_id=account.id),
                       lambda: alerts_context(account, message=message), message=message)
