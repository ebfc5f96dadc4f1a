"""The sender: due deliveries go out through their channels, each answer recorded (portal.notify.claims).

A run first recovers what a dead sender left `sending`, then sends each channel's due deliveries in batches:
claimed and committed, sent one by one, the answers written every fraction of a second and at the end of the
batch. Each channel runs in a thread of its own (on PostgreSQL), so a channel that times out holds up only itself:
a WeChat outage does not keep a supply-off text in the queue behind it. A batch is claimed urgent first, so a
burst of ten thousand low-balance messages does not hold up a supply-off queued after it either.

A run ends when nothing of its channels is due (it goes round once more when a delivery fell back from one of its
channels to another), or after RUN_SECONDS; a batch stops starting sends when half the
lease (NOTIFY_LEASE_SECONDS) has passed since its claim and gives the rest back, so that no delivery of a live
sender is ever taken for one a dead sender left. At its end a run wakes the senders of whatever is still due:
its own queue again when it made progress and work is left, the modem's queue whenever the modem has work.

The GSM modem's deliveries are sent by the modem's queue alone (`sms_modem`), on the machine it is plugged into;
every other channel's by `notify` (portal.notify.kick).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import Delivery, utcnow
from portal.notify import registry
from portal.notify.channels.base import Channel, Result
from portal.notify.claims import Claimed, claim, record, recover, release
from portal.notify.kick import MODEM_CHANNELS, kick, sender_of
from portal.settings import current

log = logging.getLogger(__name__)

#: the channels the `notify` queue sends (the modem's are MODEM_CHANNELS, on its own queue)
NOTIFY_CHANNELS = tuple(name for name in registry.NAMES if name not in MODEM_CHANNELS)
#: deliveries one channel's sender claims at a time
BATCH = 100
#: a run claims no new batch after this many seconds (the cron starts one each minute; a run with work left
#: queues the next at once)
RUN_SECONDS = 45.0
#: answers are written at least this often: a sender killed in between leaves at most this much of sent
#: messages unrecorded (found `sending` after the lease: uncertain, or resent where the provider drops repeats)
RECORD_EVERY = 0.2


def send_due(channels: Sequence[str], *, now: datetime | None = None, batch: int = BATCH,
             run_seconds: float = RUN_SECONDS) -> Counter:
    """Send what is due on these channels (`now` fixed: a test's clock); the run's counts by outcome."""
    app = current_app._get_current_object()
    lease = timedelta(seconds=current().notify.lease_seconds)
    with Session(db.engine) as session:
        counts = recover(session, now or utcnow(), lease)
    deadline = time.monotonic() + run_seconds
    work = partial(_send_channel, app, now=now, batch=batch, deadline=deadline, lease=lease)
    while True:
        done = Counter()
        if len(channels) > 1 and db.engine.dialect.name == "postgresql":
            with ThreadPoolExecutor(len(channels), thread_name_prefix="payfirst-notify") as pool:
                for one in pool.map(work, channels):
                    done += one
        else:  # SQLite (the demo) has one writer at a time: the channels take turns
            for name in channels:
                done += work(name)
        counts += done
        # a fallback may have moved deliveries to a channel whose turn had ended: once more for them
        if not done["fallback"] or time.monotonic() >= deadline:
            break
    _wake(channels, progressed=counts["claimed"] > 0 or counts["resent"] > 0, now=now)
    if counts:
        log.info("notifications sent on %s: %s", ",".join(channels), dict(counts))
    return counts


def _send_channel(app: Flask, name: str, *, now: datetime | None, batch: int, deadline: float,
                  lease: timedelta) -> Counter:
    """Claim and send one channel's due deliveries, batch after batch, until none is due or the run's time is up."""
    counts = Counter()
    with app.app_context(), Session(db.engine) as session:
        channel = registry.channel(name)
        while time.monotonic() < deadline:
            claimed = claim(session, name, now or utcnow(), batch)
            if not claimed:
                break
            counts["claimed"] += len(claimed)
            counts += _send_batch(session, name, channel, claimed, now=now,
                                  stop_at=time.monotonic() + lease.total_seconds() / 2)
    return counts


def _send_batch(session: Session, name: str, channel: Channel | None, claimed: Sequence[Claimed], *,
                now: datetime | None, stop_at: float) -> Counter:
    """Send a claimed batch in order, recording the answers as they come; give back what there was no time for."""
    counts, answered, written = Counter(), [], time.monotonic()
    for i, item in enumerate(claimed):
        if time.monotonic() >= stop_at:
            release(session, claimed[i:])
            counts["released"] += len(claimed) - i
            break
        answered.append((item, _send_one(name, channel, item)))
        if time.monotonic() - written >= RECORD_EVERY:
            counts += record(session, answered, now or utcnow())
            session.commit()
            answered, written = [], time.monotonic()
    counts += record(session, answered, now or utcnow())
    session.commit()
    return counts


def _send_one(name: str, channel: Channel | None, item: Claimed) -> Result:
    """The channel's answer; a channel that is not configured fails (fall back), one that raises is retried."""
    if channel is None:
        return Result.failed(f"the {name} channel is not configured")
    try:
        return channel.send(item.message())
    except Exception as exc:  # a bug in a channel: logged, and the message tried again later
        log.exception("the %s channel raised on delivery %s", name, item.id)
        return Result.retry(f"{type(exc).__name__}: {exc}")


def _wake(channels: Sequence[str], *, progressed: bool, now: datetime | None) -> None:
    """Queue the senders of what is still due: this run's own when it made progress, any other's always."""
    with Session(db.engine) as session:
        due = set(session.execute(select(Delivery.channel).distinct().where(
            Delivery.status == "pending", Delivery.due_at <= (now or utcnow()))).scalars())
        own = {sender_of(c) for c in channels}
        wake = [c for c in due if c in registry.NAMES and (progressed or sender_of(c) not in own)]
        if wake:
            kick(session, wake)
            session.commit()
