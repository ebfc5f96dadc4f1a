"""A shop's choice of what it is told and how (NotifyPreference): read for its alerts page, and changed there by its
tenants. Routing (portal.notify.route) reads the same row when it tells the shop of an event.

No row means the defaults: WeChat where bound, else SMS; every event; the platform's quiet hours. A shop may turn
off what it can mute (portal.notify.events.MUTABLE) and choose its channels; what it cannot mute (supply off and
restored, over power) goes whatever it chose. The verb flushes and audits; the caller commits.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time

from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Account, Audience, NotifyPreference, utcnow
from portal.notify.events import EVENTS, MUTABLE, Event
from portal.notify.hours import Window
from portal.notify.route import DEFAULT_CHANNELS

#: what a shop's alerts page lists: the events about a shop (a sign-in code is about a phone, not a shop)
SHOP_EVENTS: tuple[Event, ...] = tuple(e for e in EVENTS.values() if e.audience is Audience.TENANT
                                       and e.name != "login_code")


@dataclass(frozen=True)
class Choice:
    """What a shop chose: its channels in order, the events it muted, its own quiet hours (None: the platform's)."""

    channels: tuple[str, ...] = DEFAULT_CHANNELS
    muted: frozenset[str] = frozenset()
    quiet: Window | None = None


class PreferenceRefused(ValueError):
    """A choice that cannot be kept; `code` says which: no_channel, unknown_channel, unknown_event, half_quiet,
    empty_quiet."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def choice_of(session: Session, account_id: int) -> Choice:
    """The shop's choice as stored, or the defaults when it never chose."""
    row = session.get(NotifyPreference, account_id)
    if row is None:
        return Choice()
    channels = tuple(c for c in dict.fromkeys(x.strip() for x in row.channels.split(",")) if c in DEFAULT_CHANNELS)
    quiet = (row.quiet_start, row.quiet_end) if row.quiet_start is not None and row.quiet_end is not None else None
    return Choice(channels, frozenset(row.muted or ()), quiet)


def checked_choice(channels: Iterable[str], muted: Iterable[str], quiet: tuple[time | None, time | None]) -> Choice:
    """The choice, or PreferenceRefused: a channel at least, known channels and mutable events, quiet hours with
    both ends (or neither) that are not the same time."""
    channels = tuple(c for c in DEFAULT_CHANNELS if c in set(channels))  # kept in the routing's order
    if not channels:
        raise PreferenceRefused("no_channel")
    muted = frozenset(muted)
    if not muted <= set(MUTABLE):
        raise PreferenceRefused("unknown_event")
    start, end = quiet
    if (start is None) != (end is None):
        raise PreferenceRefused("half_quiet")
    if start is not None and start == end:
        raise PreferenceRefused("empty_quiet")
    return Choice(channels, muted, (start, end) if start is not None else None)


def keep_choice(session: Session, account: Account, choice: Choice, actor: str) -> bool:
    """Store the shop's choice (audited with what it was); whether anything changed."""
    before = choice_of(session, account.id)
    if before == choice:
        return False
    row = session.get(NotifyPreference, account.id) or NotifyPreference(account_id=account.id)
    row.channels = ",".join(choice.channels)
    row.muted = sorted(choice.muted)
    row.quiet_start, row.quiet_end = choice.quiet or (None, None)
    row.updated_at = utcnow()
    session.add(row)
    was, now = _described(before), _described(choice)
    audit(session, actor, "notify.preference_changed", "account", account.id, account.site_id,
          changed={name: [was[name], now[name]] for name in now if was[name] != now[name]})
    session.flush()
    return True


def _described(choice: Choice) -> dict:
    quiet = [t.strftime("%H:%M") for t in choice.quiet] if choice.quiet else None
    return {"channels": list(choice.channels), "muted": sorted(choice.muted), "quiet": quiet}
