"""The delivery log read back, and a delivery sent again: what staff pages and the API show of `Delivery` rows,
and the one thing staff do to one.

Reading: newest first (created_at, then id), a page at a time by a keyset cursor, with no count. The table
grows by thousands a day, so each page is one small query per scope — one site (its index (site_id,
created_at)) or one shop (its index (account_id, created_at)) — whose rows are merged here: a page costs the
same on the first day and after a year, whatever the filters (a reader has a few sites; an admin every one,
and one query for the messages of no site).

Addresses: staff who may not see numbers get them masked (`masked`). A sign-in code is never shown: its value
is blotted out of the text (`shown_text`); staff have no use for a tenant's code, and it would let them in.

Sending again: a failed or uncertain delivery is put back to pending, due now, its attempts counted from zero
(what it was is in the audit log). An uncertain one may have reached its recipient: the page asks first.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, tuple_, update
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Delivery, DeliveryStatus, utcnow
from portal.notify.kick import kick

#: what may be sent again: what no channel took (failed), or what may or may not have gone (uncertain)
RESENDABLE = frozenset({DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN})
#: params never shown to staff, by event: a sign-in code lets whoever reads it in
SECRET_PARAMS = {"login_code": ("code",)}
BLOT = "••••••"


class NotResendable(ValueError):
    """The delivery is not failed or uncertain (any more), or is a sign-in code."""


@dataclass(frozen=True)
class LogQuery:
    """What a reader asks of the log; None means any."""

    event: str | None = None
    status: DeliveryStatus | None = None
    channel: str | None = None
    #: created at or after
    since: datetime | None = None
    #: created before
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions of these filters."""
        found = []
        if self.event:
            found.append(Delivery.event == self.event)
        if self.status:
            found.append(Delivery.status == self.status)
        if self.channel:
            found.append(Delivery.channel == self.channel)
        if self.since:
            found.append(Delivery.created_at >= self.since)
        if self.until:
            found.append(Delivery.created_at < self.until)
        return found


def site_scopes(site_ids: Iterable[int], *, siteless: bool = False) -> list[ColumnElement[bool]]:
    """One scope per site (and one for the messages of no site, the sign-in codes, for those who see them)."""
    scopes = [Delivery.site_id == site_id for site_id in sorted(site_ids)]
    return [*scopes, Delivery.site_id.is_(None)] if siteless else scopes


def shop_scopes(account_ids: Iterable[int]) -> list[ColumnElement[bool]]:
    """One scope per shop."""
    return [Delivery.account_id == account_id for account_id in sorted(account_ids)]


def newest(session: Session, scopes: Sequence[ColumnElement[bool]], query: LogQuery = LogQuery(), *, limit: int,
           before: Delivery | None = None) -> list[Delivery]:
    """The newest `limit` deliveries of the scopes that match, older than `before` when given; newest first.

    Each scope answers the keys of its newest rows; the rows are loaded once the page's keys are known.
    """
    keys: list[tuple[datetime, int]] = []
    for scope in scopes:
        q = select(Delivery.created_at, Delivery.id).where(scope, *query.conditions())
        if before is not None:
            # `created_at <=` as well: the scope's index on (..., created_at) can use it, not the pair alone
            q = q.where(Delivery.created_at <= before.created_at,
                        tuple_(Delivery.created_at, Delivery.id) < tuple_(before.created_at, before.id))
        keys += session.execute(q.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit)).tuples()
    ids = [i for _at, i in sorted(keys, reverse=True)[:limit]]
    rows = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))} if ids else {}
    return [rows[i] for i in ids]


def masked(address: str) -> str:
    """An address for someone who may not see it: 139****0001 for a phone number, oABC…wxyz for an openid."""
    if len(address) <= 8:
        return "*" * len(address)
    if address.lstrip("+").isdigit():
        return f"{address[:3]}****{address[-4:]}"
    return f"{address[:4]}…{address[-4:]}"


def shown_text(delivery: Delivery) -> str:
    """The message as staff may read it: a sign-in code blotted out."""
    text = delivery.text
    for name in SECRET_PARAMS.get(delivery.event, ()):
        value = (delivery.params or {}).get(name)
        if value:
            text = text.replace(str(value), BLOT)
    return text


def may_send_again(delivery: Delivery) -> bool:
    """Whether staff may put this delivery back in the queue."""
    return delivery.status in RESENDABLE and delivery.event not in SECRET_PARAMS


def send_again(session: Session, delivery: Delivery, actor: str) -> None:
    """Queue a failed or uncertain delivery again on its channel, due now; audited (NotResendable otherwise).

    The status is checked in the UPDATE itself: two people pressing at once queue it once.
    """
    if delivery.event in SECRET_PARAMS:
        raise NotResendable("a sign-in code is asked for again by its tenant")
    session.refresh(delivery)
    was = delivery.status.value, delivery.attempts, delivery.error, delivery.provider_id
    done = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.status.in_(RESENDABLE))
        .values(status=DeliveryStatus.PENDING, due_at=utcnow(), attempts=0, claimed_at=None, error=None,
                provider_id=None).execution_options(synchronize_session=False))
    session.refresh(delivery)
    if done.rowcount != 1:
        raise NotResendable(delivery.status.value)
    audit(session, actor, "delivery.sent_again", "delivery", delivery.id, delivery.site_id, event=delivery.event,
          channel=delivery.channel, account_id=delivery.account_id, error=was[2], provider_id=was[3],
          changed={"status": [was[0], delivery.status.value], "attempts": [was[1], 0]})
    kick(session, [delivery.channel])  # its sender runs once this commits, not at the cron's next minute
