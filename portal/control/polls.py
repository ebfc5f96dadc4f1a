"""Asking for a poll: the one way domain code gets a gateway read (and its relays reconciled) at once."""
from __future__ import annotations

from sqlalchemy.orm import Session

from portal.queue.names import POLL_GATEWAY
from portal.queue.outbox import enqueue


def request_poll(session: Session, gateway_id: int) -> None:
    """Poll this gateway as soon as the transaction commits (one pending job per gateway)."""
    enqueue(session, POLL_GATEWAY, gateway_id, dedupe_key=f"poll:{gateway_id}")
