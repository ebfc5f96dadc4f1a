"""A cycle's Modbus I/O on a thread of its own, handing back what each bus says as soon as it says it.

The poller records readings while the buses are still busy (a 9600-baud bus of 60 meters takes seconds,
mostly waiting), so the database work hides behind the slowest bus instead of following it. Nothing on
this thread touches the database: plans go in as plain data, observations and outcomes come out.
"""
from __future__ import annotations

import asyncio
import gc
import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from portal.metering.cycle import Observation
from worker.relays import MeterPlan, poll_and_reconcile

#: the GIL switch interval during a cycle: a reply waits at most this long for the recording thread to
#: let go (Python's default, 5 ms, adds up to a noticeable slice of a 60-meter bus)
SWITCH_INTERVAL = 0.0002
_settings_lock = threading.Lock()
_cycles = 0
_saved: tuple[float, bool] = (0.005, True)


@contextmanager
def responsive() -> Iterator[None]:
    """Run a cycle without stop-the-world pauses: no cyclic garbage collection (a full collection over a
    10,000-meter cycle's rows stops every bus for about 0.15 s) and a short GIL switch interval.

    Process-wide settings, so counted: they are restored when the last cycle running ends. Whatever
    cyclic garbage a cycle leaves is collected after it, when collection is back on.
    """
    global _cycles, _saved
    with _settings_lock:
        if _cycles == 0:
            _saved = (sys.getswitchinterval(), gc.isenabled())
            sys.setswitchinterval(min(SWITCH_INTERVAL, _saved[0]))
            gc.disable()
        _cycles += 1
    try:
        yield
    finally:
        with _settings_lock:
            _cycles -= 1
            if _cycles == 0:
                sys.setswitchinterval(_saved[0])
                if _saved[1]:
                    gc.enable()


@dataclass
class GatewayPlan:
    """What one gateway's I/O needs, as plain data."""

    gateway_id: int
    host: str
    port: int
    protocol: str
    meters: list[MeterPlan]


@dataclass
class GatewayDone:
    """A gateway's bus is finished: an observation per meter and the outcome of every write."""

    gateway_id: int
    observations: dict[int, Observation] = field(default_factory=dict)
    writes: list = field(default_factory=list)


class Buses:
    """Run the plans' buses (all in parallel, at most `concurrency` at once) on a thread of their own.

    `events()` yields batches of what happened so far: an `Observation` for each meter that answered, as
    it answers, and a `GatewayDone` when a gateway's bus is finished. Leaving the `with` block cancels
    whatever is still running (the caller failed, or a job timed out) and waits for the thread.
    """

    def __init__(self, plans: list[GatewayPlan], *, concurrency: int, timeout: float):
        self.plans, self.concurrency, self.timeout = plans, concurrency, timeout
        #: wall-clock seconds from the first request to the last bus finished
        self.seconds = 0.0
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="poll-buses", daemon=True)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._stopped = False

    def __enter__(self) -> Buses:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def events(self) -> Iterator[list]:
        """Batches of events in the order they happened; ends when every bus is done."""
        while True:
            batch = [self._events.get()]
            while True:
                try:
                    batch.append(self._events.get_nowait())
                except queue.Empty:
                    break
            end = batch[-1] is None or isinstance(batch[-1], BaseException)
            if isinstance(batch[-1], BaseException):
                raise batch[-1]
            yield batch[:-1] if end else batch
            if end:
                return

    def stop(self) -> None:
        """Cancel the buses still running and wait for the thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._loop is not None and self._task is not None:
                try:
                    self._loop.call_soon_threadsafe(self._task.cancel)
                except RuntimeError:
                    pass  # the loop has closed: the buses were done
        self._thread.join()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.seconds = time.perf_counter() - started
            self._events.put(exc)
            return
        self.seconds = time.perf_counter() - started
        self._events.put(None)

    async def _main(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        sem = asyncio.Semaphore(self.concurrency)
        put = self._events.put

        async def one(plan: GatewayPlan) -> None:
            async with sem:
                observations, writes = await poll_and_reconcile(
                    plan.host, plan.port, plan.protocol, plan.meters, timeout=self.timeout, on_reading=put)
            put(GatewayDone(plan.gateway_id, observations, writes))

        await asyncio.gather(*(one(p) for p in self.plans))
