"""/staff/notifications (SPEC §4 "delivery log, templates, recipients"): the delivery log tab, sending a message
again, and the demo's messages; the templates tab is `notify_templates`, the recipients tab `notify_recipients`.

The log: the deliveries of the reader's sites, newest first, 50 a page, paged by a keyset cursor (`before`: the
id of the last row shown) and never counted (the table grows by thousands a day; portal.notify.deliveries reads
it one site or shop at a time, along their indexes). Filters: site, shop code, event, status, channel, first and
last day (business time); one that makes no sense answers 400 with the page saying why (htmx: 200, the table
saying why). No index serves an event, status or channel (a site's rows are read newest first until enough
match), so without a shop such a filter looks at WINDOW_DAYS at most (`_window`): a month of a site is one
index range however rare the match (an index on (site_id, status, created_at) would lift that for the status).
A row's message is shown on expanding it. Managers (and admins) see numbers whole and may send a
failed or uncertain message again, after a confirmation page; others see 139****0001.

The demo's messages: with SMS_BACKEND listing `log`, nothing leaves the machine, and this tab shows what would
have been sent — the deliveries on the `log` channel, read from the table (the web and the worker are separate
processes: the log channel's memory is the worker's); the last WINDOW_DAYS when the log is only a fallback.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, Delivery, DeliveryStatus, NotifyRecipient, Site
from portal.notify.deliveries import (
    LogQuery,
    NotResendable,
    masked,
    may_send_again,
    newest,
    send_again,
    shop_scopes,
    shown_text,
    site_scopes,
)
from portal.notify.events import EVENTS
from portal.settings import business_tz, current
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped_or_404, site_ids
from portal.web.htmx import go_to, refuse_query, render
from portal.web.params import BadParameter, KeysetFilters, one_of, parse_day, parse_id, short_text
from portal.web.roles import may_open

PAGE_SIZE = 50
#: the channels a delivery can be on (portal.notify.channels), in words
CHANNELS = {"wechat": _l("WeChat"), "aliyun": _l("Aliyun SMS"), "modem": _l("GSM modem"), "log": _l("Log (demo)")}
STATUSES = {"pending": _l("pending"), "sending": _l("sending"), "sent": _l("sent"), "failed": _l("failed"),
            "uncertain": _l("uncertain")}
#: the longest site or shop code a filter takes
CODE_MAX = 40
#: the most days a filter that no index serves looks at (see the module docstring)
WINDOW_DAYS = 31


def log_configured() -> bool:
    """Whether the demo's `log` channel is one of the SMS backends (then the demo tab is shown)."""
    return "log" in current().sms.backends


def tabs() -> list[tuple[str, object]]:
    """The tabs of the notifications pages this reader may open: (endpoint, title)."""
    shown = [("staff.notifications", _l("Delivery log")), ("staff.notify_templates", _l("Templates"))]
    if may_open(current_user.role, "notify_recipients"):
        shown.append(("staff.notify_recipients", _l("Recipients")))
    if log_configured():
        shown.append(("staff.notify_demo", _l("Demo messages")))
    return shown


@dataclass(frozen=True)
class LogFilters(KeysetFilters):
    """What the reader asked of the log; empty strings and None mean any."""

    site: str = ""
    shop: str = ""
    event: str = ""
    status: str = ""
    channel: str = ""
    day_from: date | None = None
    day_to: date | None = None
    #: the keyset cursor: rows older than this delivery
    before: int | None = None


def parse_filters(args) -> LogFilters:
    """The log's filters of a query string (BadParameter: one makes no sense)."""
    def arg(name, parse, default=None):
        text = (args.get(name) or "").strip()
        return parse(name, text) if text else default

    f = LogFilters(site=arg("site", short_text(CODE_MAX), ""), shop=arg("shop", short_text(CODE_MAX), ""),
                   event=arg("event", one_of(EVENTS), ""), status=arg("status", one_of(STATUSES), ""),
                   channel=arg("channel", one_of(CHANNELS), ""), day_from=arg("from", parse_day),
                   day_to=arg("to", parse_day), before=arg("before", parse_id))
    if f.day_from and f.day_to and f.day_from > f.day_to:
        raise BadParameter(_("The first day (%(first)s) is after the last (%(last)s).", first=f.day_from.isoformat(),
                             last=f.day_to.isoformat()))
    return f


def my_sites() -> list[Site]:
    """The sites the reader may pick, by code."""
    ids = site_ids()
    query = select(Site).order_by(Site.code)
    return list(db.session.scalars(query if ids is None else query.where(Site.id.in_(ids))))


def _scopes(f: LogFilters, sites: list[Site]):
    """The sites or shops the filters name among the reader's (BadParameter: not theirs)."""
    chosen = sites
    if f.site:
        chosen = [s for s in sites if s.code == f.site]
        if not chosen:
            raise BadParameter(_("There is no site %(code)s among yours.", code=f.site))
    if f.shop:
        shops = db.session.scalars(select(Account.id).where(
            Account.code == f.shop, Account.site_id.in_([s.id for s in chosen]))).all()
        if not shops:
            raise BadParameter(_("No shop of yours has the code %(code)s.", code=f.shop))
        return shop_scopes(shops)
    # the messages of no site (sign-in codes) are an administrator's to see
    return site_scopes([s.id for s in chosen], siteless=site_ids() is None and not f.site)


def _window(f: LogFilters) -> LogFilters:
    """A filter by event, status or channel without a shop looks at WINDOW_DAYS at most: without a first day the
    last WINDOW_DAYS up to the last day (or today), without a last day WINDOW_DAYS from the first."""
    if f.shop or not (f.event or f.status or f.channel):
        return f
    span = timedelta(days=WINDOW_DAYS - 1)
    if f.day_from is None:
        last = f.day_to or datetime.now(business_tz()).date()
        return replace(f, day_from=last - span, day_to=last)
    if f.day_to is None:
        return replace(f, day_to=f.day_from + span)
    if f.day_to - f.day_from > span:
        raise BadParameter(_("A filter by event, status or channel without a shop covers at most %(n)s days: "
                             "narrow the days, or give a shop.", n=WINDOW_DAYS))
    return f


def _business_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), business_tz())


def _cursor(before: int | None) -> Delivery | None:
    if before is None:
        return None
    row = db.session.get(Delivery, before)
    ids = site_ids()
    if row is None or (ids is not None and row.site_id not in ids):
        raise BadParameter(_("That page of the log does not exist: start again from the newest messages."))
    return row


def rows_of(deliveries: list[Delivery], *, reveal_codes: bool = False) -> list[dict]:
    """What the table shows of each delivery: its words, its shop, its recipient as this reader may see it."""
    shops = {a.id: a for a in db.session.scalars(select(Account).where(
        Account.id.in_({d.account_id for d in deliveries if d.account_id})))}
    people = dict(db.session.execute(select(NotifyRecipient.id, NotifyRecipient.name).where(
        NotifyRecipient.id.in_({d.recipient_id for d in deliveries if d.recipient_id}))).all())
    whole = may_open(current_user.role, "notify_numbers")
    may_resend = may_open(current_user.role, "notify_manage")
    return [{
        "d": d, "event": EVENTS[d.event].label if d.event in EVENTS else d.event,
        "shop": shops.get(d.account_id), "who": people.get(d.recipient_id),
        "recipient": d.recipient if whole else masked(d.recipient),
        "channel": CHANNELS.get(d.channel, d.channel), "status": STATUSES.get(d.status.value, d.status.value),
        "text": d.text if reveal_codes else shown_text(d),
        "resend": may_resend and may_send_again(d),
    } for d in deliveries]


def _page(f: LogFilters, sites: list[Site], query: LogQuery) -> tuple[list[Delivery], int | None]:
    found = newest(db.session, _scopes(f, sites), query, limit=PAGE_SIZE + 1, before=_cursor(f.before))
    older = found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None
    return found[:PAGE_SIZE], older


def _query(f: LogFilters) -> LogQuery:
    """The log's query of these filters, days as business days."""
    return LogQuery(event=f.event or None, status=DeliveryStatus(f.status) if f.status else None,
                    channel=f.channel or None, since=_business_midnight(f.day_from) if f.day_from else None,
                    until=_business_midnight(f.day_to + timedelta(days=1)) if f.day_to else None)


@bp.get("/notifications")
@require_area("notifications")
def notifications():
    """The delivery log: the filter form and the table, newest first; htmx gets the table alone."""
    sites = my_sites()
    context = {"tabs": tabs(), "sites": sites, "events": EVENTS, "statuses": STATUSES, "channels": CHANNELS,
               "form": {name: (request.args.get(name) or "")[:CODE_MAX] for name in
                        ("site", "shop", "event", "status", "channel", "from", "to")},
               "f": LogFilters(), "rows": [], "older": None, "error": None, "tz_name": str(business_tz()),
               "window": None}
    try:
        f = parse_filters(request.args)
        context["f"] = f
        window = _window(f)
        deliveries, older = _page(f, sites, _query(window))
    except BadParameter as exc:
        return refuse_query("staff/notifications/log.html", "staff/notifications/_log.html",
                            **{**context, "error": str(exc)})
    context |= {"rows": rows_of(deliveries), "older": older,
                "window": (window.day_from, window.day_to) if window != f else None}
    return render("staff/notifications/log.html", "staff/notifications/_log.html", **context)


def _visible_delivery(delivery_id: int) -> Delivery:
    """The delivery if it is of one of the reader's sites (of no site: administrators'); 404 alike otherwise."""
    return scoped_or_404(Delivery, delivery_id, site_of=lambda d: d.site_id)


@bp.get("/notifications/<int:delivery_id>/send-again")
@require_area("notify_manage", to_change=True)
def confirm_send_again(delivery_id: int):
    """Ask before sending a message again: to whom, what, what became of it — an uncertain one may have gone."""
    delivery = _visible_delivery(delivery_id)
    row = rows_of([delivery])[0]
    return render("staff/notifications/send_again.html", "staff/notifications/_send_again.html", tabs=tabs(),
                  r=row)


@bp.post("/notifications/<int:delivery_id>/send-again")
@require_area("notify_manage")
def send_delivery_again(delivery_id: int):
    """Queue a failed or uncertain message again, due now, on its channel; audited."""
    delivery = _visible_delivery(delivery_id)
    shop = db.session.get(Account, delivery.account_id) if delivery.account_id else None
    back = url_for("staff.notifications", shop=shop.code) if shop else url_for("staff.notifications")
    try:
        send_again(db.session, delivery, current_user.actor)
    except NotResendable:
        db.session.rollback()
        flash(_("That message is %(status)s now: there is nothing to send again.",
                status=STATUSES.get(delivery.status.value, delivery.status.value)), "error")
        return go_to(back)
    db.session.commit()
    flash(_("The message to %(who)s is queued again.", who=rows_of([delivery])[0]["recipient"]), "info")
    return go_to(back)


@bp.get("/notifications/demo")
@require_area("notifications")
def notify_demo():
    """What the demo would have sent: the deliveries on the log channel, newest first, with their text."""
    if not log_configured():
        abort(404)
    sites = my_sites()
    # with the log as the only backend every message is on it (no window is needed), and nothing can reach a
    # phone: the page is where a demo's sign-in code is read
    only_log = current().sms.backends == ("log",)
    context = {"tabs": tabs(), "rows": [], "older": None, "error": None, "f": LogFilters(), "window": None}
    try:
        f = LogFilters(channel="log", before=parse_filters({"before": request.args.get("before", "")}).before)
        window = f if only_log else _window(f)
        deliveries, older = _page(f, sites, _query(window))
    except BadParameter as exc:
        return refuse_query("staff/notifications/demo.html", "staff/notifications/_demo.html",
                            **{**context, "error": str(exc)})
    context |= {"rows": rows_of(deliveries, reveal_codes=only_log), "older": older,
                "window": (window.day_from, window.day_to) if window != f else None}
    return render("staff/notifications/demo.html", "staff/notifications/_demo.html", **context)
