"""Waking the senders: after a transaction that queued deliveries commits, the sender of their queue runs.

A delivery is sent by a job of its channel's queue: the GSM modem's on `sms_modem` (its worker runs on the machine
the modem is plugged into), every other channel's on `notify`. A transaction asks for each queue's sender at
most once (a fee run's 10,000 messages ask once), and the outbox's dedupe key keeps a burst of transactions to
one job waiting per queue; the cron's minute run catches whatever a lost kick missed.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from portal.queue.names import SEND_MODEM_NOTIFICATIONS, SEND_NOTIFICATIONS, JobRef
from portal.queue.outbox import enqueue

#: the channels sent by the GSM modem's own queue; every other channel is sent on `notify`
MODEM_CHANNELS = ("modem",)


def sender_of(channel: str) -> JobRef:
    """The job that sends a channel's deliveries."""
    return SEND_MODEM_NOTIFICATIONS if channel in MODEM_CHANNELS else SEND_NOTIFICATIONS


def dedupe_key(ref: JobRef) -> str:
    """One sender waiting per queue (the job releases it when it starts)."""
    return f"notify:send:{ref.queue}"


def kick(session: Session, channels: Iterable[str]) -> None:
    """Have the senders of these channels run once this transaction commits."""
    senders = {sender_of(c) for c in channels}
    if SEND_NOTIFICATIONS in senders:
        enqueue(session, SEND_NOTIFICATIONS, dedupe_key=dedupe_key(SEND_NOTIFICATIONS), once=True)
    if SEND_MODEM_NOTIFICATIONS in senders:
        enqueue(session, SEND_MODEM_NOTIFICATIONS, dedupe_key=dedupe_key(SEND_MODEM_NOTIFICATIONS), once=True)
