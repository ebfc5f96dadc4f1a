"""Injectable clocks: meters integrate energy lazily up to clock.now_ms()."""

from __future__ import annotations

import threading
import time
from datetime import datetime


def _to_ms(start: datetime | float | None) -> int:
    if start is None:
        return int(time.time() * 1000)
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise ValueError("give an aware datetime (e.g. tzinfo=SHANGHAI)")
        return int(start.timestamp() * 1000)
    return int(start * 1000)


class ManualClock:
    """A clock that only moves when told to: deterministic fast-forward for tests."""

    def __init__(self, start: datetime | float | None = None) -> None:
        self._ms = _to_ms(start)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """Current simulated time, epoch milliseconds."""
        return self._ms

    def advance(self, seconds: float) -> None:
        """Move simulated time forward."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._ms += round(seconds * 1000)


class RealClock:
    """Wall-clock time, optionally sped up (speed=60: one simulated minute per second)."""

    def __init__(self, start: datetime | float | None = None, speed: float = 1.0) -> None:
        self._origin_sim = _to_ms(start)
        self._origin_mono = time.monotonic()
        self._speed = speed

    def now_ms(self) -> int:
        """Current simulated time, epoch milliseconds."""
        elapsed = time.monotonic() - self._origin_mono
        return self._origin_sim + int(elapsed * self._speed * 1000)

    def advance(self, seconds: float) -> None:
        """Jump ahead on top of the running time (handy in demos)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._origin_sim += round(seconds * 1000)
