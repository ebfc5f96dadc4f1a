"""Who is told of an event, on which channel: an event becomes one `Delivery` row per recipient, written in the
caller's transaction (so it is told if and only if what happened commits), at most once per crossing.

The callers name the event (portal.notify.events), the crossing (what makes this occurrence one: an alarm's id,
a ledger entry's id, an order) and the params of its sentence. A crossing is told once per recipient: the
delivery's dedupe key is `event:crossing:recipient`, unique in the table, and a second call for the same crossing
inserts nothing.

A shop is told on its channels in order (WeChat where a bound user follows the official account, then SMS by the
configured backends), each later channel the fallback of the one before. A site's staff are told through its
recipients (portal.models.NotifyRecipient) who take the event.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.bulk import among, chunks, insert_rows
from portal.models import Account, Audience, Delivery, NotifyRecipient, utcnow
from portal.notify.events import EVENTS, Event
from portal.settings import current


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


def _route(addresses: Sequence[tuple[str, str]]) -> tuple[str, str, str] | None:
    """(channel, recipient, fallback) of channel-address pairs in order; None when there is none."""
    if not addresses:
        return None
    (channel, recipient), rest = addresses[0], addresses[1:]
    return channel, recipient, ",".join(f"{c}:{a}" for c, a in rest)


def _row(event: Event, crossing: str, site_id: int, addresses: Sequence[tuple[str, str]], params: dict[str, str],
         *, account_id: int | None = None, alarm_id: int | None = None, recipient_id: int | None = None,
         tenant_user_id: int | None = None, who: str) -> dict | None:
    route = _route(addresses)
    if route is None:
        return None
    channel, recipient, fallback = route
    now = utcnow()
    return dict(site_id=site_id, account_id=account_id, alarm_id=alarm_id, event=event.name,
                audience=event.audience.value, dedupe_key=f"{event.name}:{crossing}:{who}"[:200],
                tenant_user_id=tenant_user_id, recipient_id=recipient_id, recipient=recipient, channel=channel,
                fallback=fallback, text=event.text(params)[:500], params=dict(params), link=None,
                urgent=event.urgent, status="pending", attempts=0, due_at=now, created_at=now)


def _insert(session: Session, rows: Iterable[dict | None]) -> int:
    """Write the deliveries, skipping crossings already told; how many were new."""
    rows = [r for r in rows if r is not None]
    return len(insert_rows(session, Delivery.__table__, rows, conflict=("dedupe_key",), returning="id"))


def tell_shops(session: Session, items: Sequence[ShopEvent]) -> int:
    """Tell each shop of its event (set-wise: a fee run tells thousands); how many deliveries were queued."""
    sms = sms_channels()
    rows = []
    for part in chunks(items):
        ids = sorted({i.account_id for i in part})
        shops = {a.id: a for a in session.execute(
            select(Account.id, Account.site_id, Account.phone).where(among(session, Account.id, ids)))}
        for item in part:
            shop, event = shops.get(item.account_id), EVENTS[item.event]
            if shop is None or not shop.phone:
                continue
            rows.append(_row(event, item.crossing, shop.site_id, [(c, shop.phone) for c in sms], item.params,
                             account_id=shop.id, who=f"phone:{shop.phone}"))
    return _insert(session, rows)


def tell_shop(session: Session, account_id: int, event: str, crossing: str, params: dict[str, str]) -> int:
    """Tell one shop of an event; how many deliveries were queued (0 when this crossing was told before)."""
    return tell_shops(session, [ShopEvent(account_id, event, crossing, params)])


def tell_staff(session: Session, site_id: int, event: str, crossing: str, params: dict[str, str], *,
               account_id: int | None = None, alarm_id: int | None = None) -> int:
    """Tell a site's staff recipients who take this event; how many deliveries were queued."""
    spec, sms = EVENTS[event], sms_channels()
    rows = []
    for r in session.execute(select(NotifyRecipient).where(
            NotifyRecipient.site_id == site_id, NotifyRecipient.active.is_(True))).scalars():
        if r.events and event not in r.events:
            continue
        addresses = ([("wechat", r.wechat_openid)] if r.wechat_openid else []) + \
            ([(c, r.phone) for c in sms] if r.phone else [])
        rows.append(_row(spec, crossing, site_id, addresses, params, account_id=account_id, alarm_id=alarm_id,
                         recipient_id=r.id, who=f"staff:{r.id}"))
    return _insert(session, rows)


def tell_phone(session: Session, phone: str, event: str, crossing: str, params: dict[str, str], *,
               site_id: int | None = None) -> int:
    """Send an event to a phone number by SMS, whoever holds it (a sign-in code)."""
    spec = EVENTS[event]
    assert spec.audience is Audience.TENANT
    return _insert(session, [_row(spec, crossing, site_id, [(c, phone) for c in sms_channels()], params,
                                  who=f"phone:{phone}")])
