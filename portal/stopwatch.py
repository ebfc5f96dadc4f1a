"""Where a poll cycle's time goes: its wall time cut into named parts, without a profiler.

The cycle opens a `Parts` with `timing(parts)`; code anywhere below it marks its stretches with `part(name)`.
Each part counts its own time only: a part opened inside another is taken out of the outer one, so the parts
add up to the time measured. Outside a `timing` block `part` does nothing but enter and leave, so the domain
code marks its parts unconditionally and pays two `perf_counter` calls a part when someone is listening.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Parts:
    """Seconds by part name; time outside every part goes to `rest`."""

    def __init__(self, rest: str = "other") -> None:
        self.seconds: dict[str, float] = {}
        self._stack = [rest]
        self._since = time.perf_counter()

    def _charge(self) -> None:
        now = time.perf_counter()
        name = self._stack[-1]
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._since
        self._since = now

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._charge()
        self._stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def close(self) -> dict[str, float]:
        """Charge what has run since the last change to the open part; returns the seconds by part."""
        self._charge()
        return self.seconds


_current: ContextVar[Parts | None] = ContextVar("payfirst_parts", default=None)


@contextmanager
def timing(parts: Parts) -> Iterator[Parts]:
    """Count the parts marked inside this block (on this thread or task) into `parts`."""
    token = _current.set(parts)
    try:
        yield parts
    finally:
        _current.reset(token)
        parts.close()


@contextmanager
def part(name: str) -> Iterator[None]:
    """Mark a stretch of the work as `name` in the enclosing `timing` block, if there is one."""
    parts = _current.get()
    if parts is None:
        yield
        return
    with parts(name):
        yield
