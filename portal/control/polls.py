"""Asking for a poll: the one way domain code gets a gateway read (and its relays reconciled) at once; and what a
poll job that failed as a whole leaves behind (its gateway's alarm)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from portal.alarms import raise_many
from portal.models import AlarmKind, Gateway
from portal.notify.alarms import tell_raised
from portal.queue.names import POLL_GATEWAY
from portal.queue.outbox import enqueue


def request_poll(session: Session, gateway_id: int) -> None:
    """Poll this gateway as soon as the transaction commits (one pending job per gateway)."""
    enqueue(session, POLL_GATEWAY, gateway_id, dedupe_key=f"poll:{gateway_id}")


def record_poll_failure(session: Session, gateway_id: int, error: str) -> None:
    """A poll job of this gateway failed, so nothing of its cycle was kept: raise the gateway's poll alarm
    (once, told to the site's staff; the next cycle of the gateway that goes through clears it)."""
    gw = session.get(Gateway, gateway_id)
    if gw is not None:
        opened = raise_many(session, [dict(
            kind=AlarmKind.GATEWAY_OFFLINE, subject=f"gateway:{gw.id}:poll", site_id=gw.site_id, gateway_id=gw.id,
            message=f"gateway {gw.code}: poll failed: {error}"[:300],
            data=dict(what="gateway_poll_failed", gateway=gw.code, error=str(error)[:200]))])
        tell_raised(session, opened)
