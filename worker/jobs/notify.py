"""Notification jobs: the senders of the due deliveries, one per queue (portal.notify.send).

Each is queued after a transaction that wrote deliveries (portal.notify.kick) and by a sender that left work; the
`notify` one also runs every minute from the cron (retries come due, quiet hours end, a dead sender's deliveries
are recovered) and wakes the modem's when the modem has work.
"""
from __future__ import annotations

from portal.notify.kick import MODEM_CHANNELS, dedupe_key
from portal.notify.send import NOTIFY_CHANNELS, send_due
from portal.queue.dispatch import release_dedupe
from portal.queue.names import SEND_MODEM_NOTIFICATIONS, SEND_NOTIFICATIONS
from worker.jobs.base import job


@job("notify", timeout=300)
def send_notifications() -> dict:
    """Send the due deliveries of every channel but the modem (WeChat, Aliyun SMS, the demo's log)."""
    release_dedupe(dedupe_key(SEND_NOTIFICATIONS))  # a kick from now on queues a fresh run
    return dict(send_due(NOTIFY_CHANNELS))


@job("sms_modem", timeout=600)
def send_modem_notifications() -> dict:
    """Send the GSM modem's due deliveries (on the machine the modem is plugged into)."""
    release_dedupe(dedupe_key(SEND_MODEM_NOTIFICATIONS))
    return dict(send_due(MODEM_CHANNELS))
