"""Who is told of an event, on which channel, and when: an event becomes one `Delivery` row per recipient, written
in the caller's transaction (so it is told if and only if what happened commits), at most once per crossing.

The callers name the event (portal.notify.events), the crossing (what makes this occurrence one: an alarm's id,
a ledger entry's id, an order) and the params of its sentence. A crossing is told once per recipient: the
delivery's dedupe key is `event:crossing:recipient`, unique in the table, and a second call for the same crossing
inserts nothing.

A shop is told through the tenant users bound to it: each on the shop's channels in order (NotifyPreference,
"wechat,sms" by default) — WeChat where the user has an openid, the official account is configured and the event
has a template (WECHAT_TEMPLATE_<EVENT>); SMS to the user's phone (the shop's when the user has none) on the
SMS_BACKEND backends in order — each later address the fallback of the one before. A shop nobody bound can be
reached through is told on the phone on its file. A shop may mute events and choose its channels; an event it
cannot mute (supply off and restored, over power, sign-in codes) goes whatever it chose, on its channels first and
then on the others. Quiet hours (the shop's own, else NOTIFY_QUIET_HOURS) hold a message that is not urgent until
they end. A site's staff are told through its recipients (NotifyRecipient) who take the event, while on duty:
outside their duty hours, from the start of the next.

The deliveries are pending when the transaction commits, and the senders are woken then (portal.notify.kick).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from portal.bulk import among, chunks, insert_rows
from portal.models import (
    Account,
    Audience,
    Delivery,
    NotifyPreference,
    NotifyRecipient,
    TenantBinding,
    TenantUser,
    utcnow,
)
from portal.notify.events import EVENTS, Event
from portal.notify.hours import Window, duty_from, quiet_until
from portal.notify.kick import kick
from portal.settings import Settings, current, public_url

#: a shop's channels when it chose none, in order
DEFAULT_CHANNELS = ("wechat", "sms")
#: the page a shop's message opens (WeChat), by its endpoint: the tenant's page of that shop
SHOP_PAGE = "tenant.account"


@dataclass(frozen=True)
class ShopEvent:
    """One shop's occurrence of an event, for `tell_shops`."""

    account_id: int
    event: str
    #: what makes this occurrence one (an alarm id, a ledger entry id, an order number)
    crossing: str
    params: dict[str, str] = field(default_factory=dict)


def sms_channels() -> tuple[str, ...]:
    """The SMS backends in the order they are tried (SMS_BACKEND)."""
    return current().sms.backends


def wechat_template(settings: Settings, event: str) -> bool:
    """Whether the official account is configured and has a template for the event."""
    wechat = settings.wechat
    return bool(wechat.app_id and wechat.app_secret and dict(wechat.templates).get(event))


def _route(addresses: Sequence[tuple[str, str]]) -> tuple[str, str, str] | None:
    """(channel, recipient, fallback) of channel-address pairs in order; None when there is none."""
    if not addresses:
        return None
    (channel, recipient), rest = addresses[0], addresses[1:]
    return channel, recipient, ",".join(f"{c}:{a}" for c, a in rest)


def _row(event: Event, crossing: str, site_id: int | None, addresses: Sequence[tuple[str, str]],
         params: dict[str, str], *, now: datetime, due_at: datetime | None = None, link: str | None = None,
         account_id: int | None = None, alarm_id: int | None = None, recipient_id: int | None = None,
         tenant_user_id: int | None = None, who: str) -> dict | None:
    route = _route(addresses)
    if route is None:
        return None
    channel, recipient, fallback = route
    return dict(site_id=site_id, account_id=account_id, alarm_id=alarm_id, event=event.name,
                audience=event.audience.value, dedupe_key=f"{event.name}:{crossing}:{who}"[:200],
                tenant_user_id=tenant_user_id, recipient_id=recipient_id, recipient=recipient, channel=channel,
                fallback=fallback[:200], text=event.text(params)[:500], params=dict(params), link=link,
                urgent=event.urgent, status="pending", attempts=0, due_at=due_at or now, created_at=now)


def _insert(session: Session, rows: Iterable[dict | None]) -> int:
    """Write the deliveries, skipping crossings already told, and wake their senders; how many were new."""
    unique: dict[str, dict] = {}  # a crossing twice in one call is told once, as in two calls
    for r in rows:
        if r is not None:
            unique.setdefault(r["dedupe_key"], r)
    rows = list(unique.values())
    told = len(insert_rows(session, Delivery.__table__, rows, conflict=("dedupe_key",), returning="id"))
    if told:
        kick(session, {r["channel"] for r in rows})
    return told


# --- shops -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bound:
    """A tenant user bound to a shop, as routing needs them."""

    id: int
    phone: str | None
    openid: str | None


def _channels(preference: NotifyPreference | None, event: Event) -> list[str]:
    """The shop's channels for this event, in order (an event it cannot mute goes on every channel)."""
    chosen = [c.strip() for c in (preference.channels if preference else ",".join(DEFAULT_CHANNELS)).split(",")]
    order = [c for c in dict.fromkeys(chosen) if c in DEFAULT_CHANNELS]
    return order if event.mutable else order + [c for c in DEFAULT_CHANNELS if c not in order]


def _shop_addresses(phone: str, users: Sequence[_Bound], order: Sequence[str], wechat: bool,
                    sms: Sequence[str]) -> list[tuple[str, int | None, list[tuple[str, str]]]]:
    """(who, tenant user id, addresses in order) of everyone to tell about a shop."""
    told, firsts = [], set()
    for user in users:
        addresses = []
        for channel in order:
            if channel == "wechat" and wechat and user.openid:
                addresses.append(("wechat", user.openid))
            elif channel == "sms" and (user.phone or phone):
                addresses += [(backend, user.phone or phone) for backend in sms]
        if addresses and addresses[0] not in firsts:  # two users without a phone of their own: one text
            firsts.add(addresses[0])
            told.append((f"user:{user.id}", user.id, addresses))
    if not told and phone and "sms" in order:
        told.append((f"phone:{phone}", None, [(backend, phone) for backend in sms]))
    return told


def _bound_users(session: Session, ids: Sequence[int]) -> dict[int, list[_Bound]]:
    users = defaultdict(list)
    for account_id, user_id, phone, openid in session.execute(
            select(TenantBinding.account_id, TenantUser.id, TenantUser.phone, TenantUser.wechat_openid)
            .join(TenantUser, TenantUser.id == TenantBinding.tenant_user_id)
            .where(among(session, TenantBinding.account_id, ids)).order_by(TenantUser.id)):
        users[account_id].append(_Bound(user_id, phone, openid))
    return users


def tell_shops(session: Session, items: Sequence[ShopEvent]) -> int:
    """Tell each shop of its event (set-wise: a fee run tells thousands); how many deliveries were queued."""
    settings, now = current(), utcnow()
    sms, tz = settings.sms.backends, settings.core.tz
    pages = current_app.url_map.bind("")
    rows = []
    for part in chunks(items):
        ids = sorted({i.account_id for i in part})
        shops = {a.id: a for a in session.execute(
            select(Account.id, Account.site_id, Account.phone).where(among(session, Account.id, ids)))}
        preferences = {p.account_id: p for p in session.execute(
            select(NotifyPreference).where(among(session, NotifyPreference.account_id, ids))).scalars()}
        users = _bound_users(session, ids)
        for item in part:
            shop, event = shops.get(item.account_id), EVENTS[item.event]
            if shop is None:
                continue
            preference = preferences.get(shop.id)
            if preference is not None and event.mutable and event.name in (preference.muted or ()):
                continue
            due_at = None if event.urgent else quiet_until(now, _quiet_hours(preference, settings), tz)
            link = public_url(pages.build(SHOP_PAGE, {"account_id": shop.id}))
            for who, user_id, addresses in _shop_addresses(
                    shop.phone or "", users.get(shop.id, ()), _channels(preference, event),
                    wechat_template(settings, event.name), sms):
                rows.append(_row(event, item.crossing, shop.site_id, addresses, item.params, now=now,
                                 due_at=due_at, link=link, account_id=shop.id, tenant_user_id=user_id, who=who))
    return _insert(session, rows)


def _quiet_hours(preference: NotifyPreference | None, settings: Settings) -> Window | None:
    """The shop's own quiet hours when it set both ends, else the platform's."""
    if preference is not None and preference.quiet_start is not None and preference.quiet_end is not None:
        return preference.quiet_start, preference.quiet_end
    return settings.notify.quiet_hours


def tell_shop(session: Session, account_id: int, event: str, crossing: str, params: dict[str, str]) -> int:
    """Tell one shop of an event; how many deliveries were queued (0 when this crossing was told before)."""
    return tell_shops(session, [ShopEvent(account_id, event, crossing, params)])


# --- staff and phones ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffEvent:
    """One occurrence of an event for a site's staff, for `tell_staffs`."""

    site_id: int
    event: str
    #: what makes this occurrence one (an alarm id, a proposal, a day and platform)
    crossing: str
    params: dict[str, str] = field(default_factory=dict)
    account_id: int | None = None
    alarm_id: int | None = None


def _recipients(session: Session, site_ids: Iterable[int]) -> dict[int, list[Row]]:
    """{site id: its active staff recipients}, loaded in one statement per chunk of sites."""
    found = defaultdict(list)
    r = NotifyRecipient
    for part in chunks(sorted(site_ids)):
        for row in session.execute(select(r.id, r.site_id, r.events, r.phone, r.wechat_openid, r.duty_start,
                                          r.duty_end).where(among(session, r.site_id, part), r.active.is_(True))
                                   .order_by(r.id)):
            found[row.site_id].append(row)
    return found


def tell_staffs(session: Session, items: Sequence[StaffEvent]) -> int:
    """Tell each site's staff recipients who take its event (each from their next duty when off duty), set-wise:
    the recipients loaded once per site, the deliveries written in one statement; how many were queued."""
    if not items:
        return 0
    settings, now = current(), utcnow()
    sms, tz = settings.sms.backends, settings.core.tz
    recipients = _recipients(session, {i.site_id for i in items})
    wechat = {e: wechat_template(settings, e) for e in {i.event for i in items}}
    rows = []
    for item in items:
        spec = EVENTS[item.event]
        for r in recipients.get(item.site_id, ()):
            if r.events and item.event not in r.events:
                continue
            addresses = ([("wechat", r.wechat_openid)] if wechat[item.event] and r.wechat_openid else []) + \
                ([(c, r.phone) for c in sms] if r.phone else [])
            duty = (r.duty_start, r.duty_end) if r.duty_start is not None and r.duty_end is not None else None
            rows.append(_row(spec, item.crossing, item.site_id, addresses, item.params, now=now,
                             due_at=duty_from(now, duty, tz), account_id=item.account_id, alarm_id=item.alarm_id,
                             recipient_id=r.id, who=f"staff:{r.id}"))
    return _insert(session, rows)


def tell_staff(session: Session, site_id: int, event: str, crossing: str, params: dict[str, str], *,
               account_id: int | None = None, alarm_id: int | None = None) -> int:
    """Tell a site's staff recipients who take this event (each from their next duty when off duty); how many
    deliveries were queued."""
    return tell_staffs(session, [StaffEvent(site_id, event, crossing, params, account_id, alarm_id)])


def tell_phone(session: Session, phone: str, event: str, crossing: str, params: dict[str, str], *,
               site_id: int | None = None) -> int:
    """Send an event to a phone number by SMS, whoever holds it (a sign-in code)."""
    settings, spec, now = current(), EVENTS[event], utcnow()
    assert spec.audience is Audience.TENANT
    due_at = None if spec.urgent else quiet_until(now, settings.notify.quiet_hours, settings.core.tz)
    return _insert(session, [_row(spec, crossing, site_id, [(c, phone) for c in settings.sms.backends], params,
                                  now=now, due_at=due_at, who=f"phone:{phone}")])
