"""The `log` channel of the demo (SMS_BACKEND=log, the default): nothing leaves the machine.

Each message is written to the Python log and the last few hundred are kept in memory, per process, so that a demo
page can show what would have been sent. It always answers SENT: the demo has nobody to fail on, and the routing
above it behaves as it would with a real channel that accepted every message.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from portal.notify.channels.base import Message, Result

log = logging.getLogger(__name__)

#: messages kept per process: enough for a demo page, small enough never to matter
KEEP = 200


@dataclass(frozen=True)
class Logged:
    """A message as the log channel took it, with when and the id it answered."""

    at: datetime
    provider_id: str
    message: Message


class LogChannel:
    """Writes each message to the log and keeps the last `keep`, newest last; every send is SENT."""

    name = "log"

    def __init__(self, keep: int = KEEP):
        self._kept: deque[Logged] = deque(maxlen=keep)
        # sends may come from several threads of one process (a threaded demo server and its in-process jobs)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def send(self, message: Message) -> Result:
        """Log the message, keep it, answer SENT with an id of this process's count."""
        with self._lock:
            provider_id = f"log-{next(self._ids)}"
            self._kept.append(Logged(datetime.now(UTC), provider_id, message))
        log.info("SMS %s to %s [%s, key %s]: %s", provider_id, message.recipient, message.event, message.key or "-",
                 message.text)
        return Result.sent(provider_id)

    def recent(self, limit: int | None = None) -> list[Logged]:
        """The kept messages, newest first (at most `limit`)."""
        with self._lock:
            newest_first = list(reversed(self._kept))
        return newest_first if limit is None else newest_first[:limit]

    def clear(self) -> None:
        """Forget the kept messages (a demo reset)."""
        with self._lock:
            self._kept.clear()


#: the process's log channel: what the demo page reads is what the sender wrote
channel = LogChannel()


def from_settings(settings: object = None) -> LogChannel:
    """The process's log channel (it needs no settings; the argument matches the other channels' factories)."""
    return channel
