"""A delivery's way through a sender, in SQL: claimed, answered, given back, or found where a dead sender left it.

- `claim`: due pending deliveries of one channel, urgent first and then the oldest due, become `sending` with
  `claimed_at` and one more attempt, and the claim is committed before any provider is asked: a sender that dies
  afterwards leaves them `sending`, never pending to be sent again unseen. `FOR UPDATE SKIP LOCKED` lets several
  senders claim at once without waiting on each other or taking the same row.
- `record`: the channel's answers. SENT keeps the provider's id; RETRY is pending again after a backoff (1, 5, 15,
  60 minutes; an urgent message tries a channel twice, a minute apart), and after the last try it counts as FAILED;
  FAILED moves to the next address of `fallback` (pending at once, attempts counted afresh) or, with none left,
  ends `failed`. `error` keeps each channel's last word ("aliyun: isv.MOBILE_NUMBER_ILLEGAL ... | modem: ..."),
  so the log shows why a message went the way it did.
- `release`: claimed but not tried (the sender ran out of time) goes back as it was.
- `recover`: `sending` longer than the lease (NOTIFY_LEASE_SECONDS) means its sender died holding it. WeChat drops a
  repeated client_msg_id (our key) for ten minutes, so within them the message is sent again, and WeChat answers
  the first message's id without sending it twice; any other channel cannot tell whether it went, so the delivery
  is `uncertain`: final, shown to staff, never sent again by itself.

Every answer is written only where the row is still this claim's (same `claimed_at`): a sender that outlived its
lease still records what it knows (it sent: better than `uncertain`), but not over a newer claim of the row.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from portal.models import Delivery
from portal.notify.channels.base import Message, Outcome, Result

#: the waits before each retry on one channel; after the last, the channel has given up
BACKOFF = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60))
#: tries of an urgent message (supply off, a sign-in code) on one channel before the next: it cannot wait an hour
URGENT_TRIES = 2
#: WeChat sends a client_msg_id once per ten minutes: a message a dead sender held is resent well within them
WECHAT_REPEAT = timedelta(minutes=9)
#: channels whose provider drops a repeat of the message's key (Message.key)
REPEAT_SAFE = {"wechat": WECHAT_REPEAT}
ERROR_CHARS = 300

_t = Delivery.__table__
_CLAIMED = (_t.c.id, _t.c.channel, _t.c.recipient, _t.c.event, _t.c.text, _t.c.params, _t.c.link, _t.c.dedupe_key,
            _t.c.urgent, _t.c.attempts, _t.c.fallback, _t.c.error, _t.c.due_at)


@dataclass(frozen=True)
class Claimed:
    """A delivery a sender holds: what it sends, and what it needs to record the answer."""

    id: int
    channel: str
    recipient: str
    event: str
    text: str
    params: dict
    link: str | None
    key: str
    urgent: bool
    #: tries on this channel, this one included
    attempts: int
    fallback: str
    error: str | None
    claimed_at: datetime

    @property
    def tries(self) -> int:
        """Tries this channel gets."""
        return URGENT_TRIES if self.urgent else len(BACKOFF) + 1

    def message(self) -> Message:
        """The message for the channel; its key, the dedupe key, is the same on every try."""
        return Message(self.event, self.recipient, self.text, {str(k): str(v) for k, v in (self.params or {}).items()},
                       self.link, key=self.key)


def claim(session: Session, channel: str, now: datetime, limit: int) -> list[Claimed]:
    """Claim up to `limit` due deliveries of a channel, urgent first, and commit; in the order to send them."""
    due = (select(_t.c.id).where(_t.c.status == "pending", _t.c.channel == channel, _t.c.due_at <= now)
           .order_by(_t.c.urgent.desc(), _t.c.due_at, _t.c.id).limit(limit).with_for_update(skip_locked=True))
    rows = session.execute(update(_t).where(_t.c.id.in_(due)).values(
        status="sending", claimed_at=now, attempts=_t.c.attempts + 1).returning(*_CLAIMED)).all()
    session.commit()
    rows.sort(key=lambda r: (not r.urgent, r.due_at, r.id))
    return [Claimed(r.id, r.channel, r.recipient, r.event, r.text, r.params, r.link, r.dedupe_key, r.urgent,
                    r.attempts, r.fallback, r.error, now) for r in rows]


def record(session: Session, answered: Sequence[tuple[Claimed, Result]], now: datetime) -> Counter:
    """Write the channels' answers (the caller commits); how many came to sent, retry, fallback, failed."""
    outcomes, changes = Counter(), []
    for item, result in answered:
        outcome, values = _answer(item, result, now)
        outcomes[outcome] += 1
        changes.append((item, values))
    _write(session, changes, ("sending", "pending", "uncertain"))
    return outcomes


def release(session: Session, items: Sequence[Claimed]) -> None:
    """Give back deliveries claimed but not tried, as they were (the caller commits)."""
    if items:
        session.execute(update(_t).where(_t.c.id.in_([i.id for i in items]), _t.c.status == "sending",
                                         _t.c.claimed_at == items[0].claimed_at)
                        .values(status="pending", attempts=_t.c.attempts - 1))


def recover(session: Session, now: datetime, lease: timedelta) -> Counter:
    """Deliveries left `sending` past the lease: sent again where the provider drops a repeat, else uncertain;
    committed. How many were resent and how many are uncertain."""
    stale = session.execute(select(_t.c.id, _t.c.channel, _t.c.claimed_at, _t.c.error).where(
        _t.c.status == "sending", _t.c.claimed_at < now - lease).with_for_update(skip_locked=True)).all()
    outcomes, changes = Counter(), []
    for row in stale:
        item = Claimed(row.id, row.channel, "", "", "", {}, None, "", False, 0, "", row.error, row.claimed_at)
        window = REPEAT_SAFE.get(row.channel)
        if window is not None and row.claimed_at >= now - window:
            outcomes["resent"] += 1
            changes.append((item, dict(status="pending", due_at=now, error=_note(
                row.error, row.channel, "its sender stopped while sending; sent again with the same key, which "
                                        "the provider does not deliver twice"))))
        else:
            outcomes["uncertain"] += 1
            changes.append((item, dict(status="uncertain", error=_note(
                row.error, row.channel, "its sender stopped while sending: whether it went is unknown, so it is "
                                        "not sent again"))))
    _write(session, changes, ("sending",))
    session.commit()
    return outcomes


def _answer(item: Claimed, result: Result, now: datetime) -> tuple[str, dict]:
    """What a channel's answer comes to, and the row's new values."""
    if result.outcome is Outcome.SENT:
        return "sent", dict(status="sent", sent_at=now, provider_id=(result.provider_id or "")[:80] or None)
    if result.outcome is Outcome.RETRY and item.attempts < item.tries:
        wait = BACKOFF[min(item.attempts, len(BACKOFF)) - 1]
        return "retry", dict(status="pending", due_at=now + wait, error=_note(item.error, item.channel, result.error))
    words = result.error if result.outcome is Outcome.FAILED else f"{result.error} (given up after {item.attempts})"
    error = _note(item.error, item.channel, words)
    if item.fallback:
        first, _, rest = item.fallback.partition(",")
        channel, _, recipient = first.partition(":")
        return "fallback", dict(status="pending", channel=channel, recipient=recipient, fallback=rest, attempts=0,
                                due_at=now, error=error)
    return "failed", dict(status="failed", error=error)


def _note(previous: str | None, channel: str, words: str) -> str:
    """The error column with this channel's last word: it replaces the channel's earlier one, after the others'."""
    parts = [p for p in (previous or "").split(" | ") if p]
    if parts and parts[-1].startswith(f"{channel}: "):
        parts.pop()
    text = " | ".join([*parts, f"{channel}: {words or 'no reason given'}"])
    return text if len(text) <= ERROR_CHARS else "…" + text[-(ERROR_CHARS - 1):]


def _write(session: Session, changes: Sequence[tuple[Claimed, dict]], statuses: tuple[str, ...]) -> None:
    """One UPDATE per shape of change, each row only where it is still its claim's."""
    shapes: dict[tuple[str, ...], list[dict]] = {}
    for item, values in changes:
        shapes.setdefault(tuple(sorted(values)), []).append(
            {"_id": item.id, "_claimed": item.claimed_at, **{f"v_{k}": v for k, v in values.items()}})
    for names, params in shapes.items():
        # (no IN: an expanding parameter cannot go into executemany)
        stmt = update(_t).where(_t.c.id == bindparam("_id"), _t.c.claimed_at == bindparam("_claimed"),
                                or_(*(_t.c.status == s for s in statuses))).values(
            {n: bindparam(f"v_{n}") for n in names})
        session.execute(stmt, params)
