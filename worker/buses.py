"""A cycle's Modbus I/O beside its recording, handing back what each bus says as soon as it says it.

The poller records readings while the buses are still busy (a 9600-baud bus of 60 meters takes seconds,
mostly waiting), so the database work hides behind the slowest bus instead of following it. Nothing on
the bus side touches the database: plans go in as plain data (a part at a time, as the cycle loads them; the
first buses run while the rest load), observations and outcomes come out.

A cycle of one or a few buses runs them on a thread of its own. A cycle of many (a whole farm, `poll
--once`) runs them in a child process: there the I/O of a hundred buses and the recording are each a core's
work, and on two threads of one interpreter they spent as much CPU handing its lock back and forth as on
their work (10,030 meters: 2.5-3.0 s of CPU in a cycle whose parts take 1.4 s apart).
"""
from __future__ import annotations

import asyncio
import gc
import multiprocessing
import pickle
import queue
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from portal.metering.cycle import Observation
from worker.relays import MeterPlan, poll_and_reconcile

try:  # libuv's event loop: the same asyncio API, a fifth less CPU a Modbus request (not built for Windows)
    from uvloop import new_event_loop as _new_loop
except ImportError:  # pragma: no cover - a development machine without it runs asyncio's own
    _new_loop = None

#: the GIL switch interval during a cycle: a reply waits at most this long for the recording thread to
#: let go (Python's default, 5 ms, adds up to a noticeable slice of a 60-meter bus)
SWITCH_INTERVAL = 0.0002
#: a cycle over at least this many buses and this many meters runs its buses in a child process (a one-gateway
#: poll job records a few dozen readings: the fork would cost more than the interpreter's lock does)
CHILD_FROM_GATEWAYS = 2
CHILD_FROM_METERS = 1_000
#: the child sends what its buses said at most this often (one message a batch, not one a meter)
SEND_EVERY = 0.005
#: how long a stopped child may take to cancel its buses before it is killed
CHILD_STOP_SECONDS = 5.0
#: the child forks from a server that has already imported the buses (a spawn would import them every cycle)
_CHILDREN = multiprocessing.get_context("forkserver")
_CHILDREN.set_forkserver_preload([__name__])
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


def run_buses(main) -> object:
    """Run the buses' coroutine to its end on an event loop of its own: uvloop's where it is installed (a poll
    request costs a fifth less CPU there: 10,030 meters read in 0.63 s of CPU instead of 0.76 s), else asyncio's."""
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(main)


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


def in_child(gateways: int, meters: int) -> bool:
    """Whether a cycle of so many buses and meters runs them in a child process (by default)."""
    return gateways >= CHILD_FROM_GATEWAYS and meters >= CHILD_FROM_METERS


class Buses:
    """Run the plans' buses (all in parallel, at most `concurrency` at once) beside the caller.

    `events()` yields batches of what happened so far: an `Observation` for each meter that answered, as
    it answers, and a `GatewayDone` when a gateway's bus is finished. Leaving the `with` block cancels
    whatever is still running (the caller failed, or a job timed out) and waits for it.

    The plans are given whole, or in parts as the caller loads them: `add` each part, then `planned` (a cycle of
    many buses loads its gateways a part at a time, and the first buses run while the rest load). In a child
    each part goes to it at once; on a thread the buses start with `planned`.

    `child`: run the buses in a child process (True) or on a thread (False); by default a child for a cycle
    of at least CHILD_FROM_GATEWAYS buses and CHILD_FROM_METERS meters (`in_child`). Either way a thread named
    "poll-buses" feeds `events()`: the buses' own, or the one that reads the child's messages.
    """

    def __init__(self, plans: list[GatewayPlan] | None = None, *, concurrency: int, timeout: float,
                 child: bool | None = None):
        self.concurrency, self.timeout = concurrency, timeout
        if child is None:
            child = in_child(len(plans or ()), sum(len(p.meters) for p in plans or ()))
        self.child = child
        self.plans: list[GatewayPlan] = []
        self._given = plans
        #: wall-clock seconds from the first request to the last bus finished
        self.seconds = 0.0
        #: CPU seconds the child process spent (on a thread the buses' CPU is the caller's process's own)
        self.child_cpu = 0.0
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._pump if child else self._run, name="poll-buses", daemon=True)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._process = None
        self._conn = None
        self._started = threading.Event()  # the child runs (or could not be started): parts may go to it
        self._planned = False
        self._failure: BaseException | None = None
        self._stopped = False
        #: the child's answers are filed by gateway: each meter's, and what each gateway's bus said so far
        self._gateway_of: dict[int, int] = {}
        self._answered: dict[int, dict[int, Observation]] = {}

    def __enter__(self) -> Buses:
        if self.child:
            self._thread.start()
        if self._given is not None:
            self.add(self._given)
            self.planned()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def add(self, plans: list[GatewayPlan]) -> None:
        """More plans: in a child their buses start now; on a thread with the others, at `planned`."""
        if self._planned:
            raise RuntimeError("the buses were planned already")
        self.plans += plans
        if self.child:
            for plan in plans:  # before they go: the child may answer for them at once
                self._answered[plan.gateway_id] = {}
                self._gateway_of.update((m.meter_id, plan.gateway_id) for m in plan.meters)
            self._tell(("plans", plans))

    def planned(self) -> None:
        """No more plans: the buses end when these are done."""
        if self._planned:
            return
        self._planned = True
        if self.child:
            self._tell(("planned", None))
        else:
            self._thread.start()

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
            if end and self._failure is not None:
                raise self._failure  # a part of the plans could not go to the child, which was stopped
            yield batch[:-1] if end else batch
            if end:
                return

    def stop(self) -> None:
        """Cancel the buses still running and wait for them."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._loop is not None and self._task is not None:
                try:
                    self._loop.call_soon_threadsafe(self._task.cancel)
                except RuntimeError:
                    pass  # the loop has closed: the buses were done
            if self._conn is not None:
                try:
                    self._conn.send_bytes(STOP)  # cancels the child's buses
                except OSError:
                    pass  # it has ended already
        if not self._thread.is_alive():
            return  # never started (stopped before `planned`), or done
        self._thread.join(CHILD_STOP_SECONDS if self.child else None)
        if self._thread.is_alive():  # a child that does not stop is killed; its end ends the reading thread
            with self._lock:
                process = self._process
            if process is not None:
                process.kill()
            self._thread.join()

    # -- on a thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            run_buses(self._main())
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
        await _run_buses(_each(self.plans), self.concurrency, self.timeout, self._events.put)

    # -- in a child process ----------------------------------------------------------------------

    def _tell(self, message: tuple) -> None:
        """Send the child a part of the plans (or the word that there are no more), once it runs. What cannot
        go (a plan that does not pickle, a child that has ended) ends the buses: `events()` raises it."""
        self._started.wait()
        if self._failure is not None:
            return
        try:
            # pickled here, unpickled there with the collector off: 10,000 plans took 90 ms to rebuild with it on
            data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
            with self._lock:
                if self._conn is None or self._stopped:
                    return  # the child has ended or was stopped: the reading thread says why
                self._conn.send_bytes(data)
        except BaseException as exc:
            self._failure = exc
            self.stop()

    def _pump(self) -> None:
        """Start the child and turn its messages into events, until it ends."""
        put = self._events.put
        started = time.perf_counter()
        with self._lock:
            if self._stopped:
                self._started.set()
                put(None)
                return
            ours, theirs = _CHILDREN.Pipe()
            try:
                process = _CHILDREN.Process(target=_child, name="poll-buses", daemon=True,
                                            args=(theirs, self.concurrency, self.timeout))
                process.start()
            except BaseException as exc:  # nothing started: the cycle raises what stopped it
                ours.close()
                self._started.set()
                put(exc)
                return
            finally:
                theirs.close()
            self._process, self._conn = process, ours
        self._started.set()
        conn = self._conn
        gateway_of, answered = self._gateway_of, self._answered
        try:
            while True:
                try:
                    kind, body = pickle.loads(conn.recv_bytes())
                except EOFError:
                    self._process.join()
                    raise RuntimeError(f"the process running the poll buses ended (exit code "
                                       f"{self._process.exitcode}) before they were done") from None
                if kind == "events":
                    for item in body:
                        if len(item) == 2:  # (meter id, fields): a meter answered
                            obs = Observation(item[0], fields=item[1])
                            answered[gateway_of[obs.meter_id]][obs.meter_id] = obs
                            put(obs)
                        else:  # ("done", gateway id, the others' observations, writes)
                            _, gateway_id, others, writes = item
                            seen = answered.pop(gateway_id)
                            seen.update((o.meter_id, o) for o in others)
                            put(GatewayDone(gateway_id, seen, writes))
                elif kind == "end":  # the buses' time counts the child's start, which a thread does not have
                    self.seconds, self.child_cpu = time.perf_counter() - started, body
                    put(None)
                    return
                else:  # "error": what ended the buses, raised here as it would have been on a thread
                    put(body)
                    return
        except BaseException as exc:
            put(exc)
        finally:
            with self._lock:  # `stop` and `_tell` write to it under the same lock
                self._conn.close()
                self._conn = None
            self._process.join()


#: the parent's word that cancels the child's buses (any other message is a pickled part of the plans)
STOP = b"stop"


async def _each(plans: list[GatewayPlan]) -> AsyncIterator[GatewayPlan]:
    for plan in plans:
        yield plan


async def _run_buses(plans: AsyncIterator[GatewayPlan], concurrency: int, timeout: float, put) -> None:
    """Each plan's bus as its plan comes (at most `concurrency` at once), until the plans end and every bus is
    done; the first failure ends them all."""
    sem = asyncio.Semaphore(concurrency)

    async def one(plan: GatewayPlan) -> None:
        async with sem:
            observations, writes = await poll_and_reconcile(
                plan.host, plan.port, plan.protocol, plan.meters, timeout=timeout, on_reading=put)
        put(GatewayDone(plan.gateway_id, observations, writes))

    running: list[asyncio.Task] = []
    try:
        async for plan in plans:
            running.append(asyncio.ensure_future(one(plan)))
        await asyncio.gather(*running)
    finally:
        for task in running:
            task.cancel()  # a task done already ignores it


def _child(conn, concurrency: int, timeout: float) -> None:
    """The child process: run the buses of the plans the parent sends, sending what they say in batches; the
    parent's STOP (or its end) cancels them."""
    gc.disable()  # as `responsive`: a collection would stop every bus
    try:
        run_buses(_child_main(conn, concurrency, timeout))
    except asyncio.CancelledError:
        pass  # stopped by the parent, which no longer listens
    except BaseException as exc:
        _send(conn, _error(exc, traceback.format_exc()))
        return
    _send(conn, pickle.dumps(("end", time.process_time())))


async def _child_main(conn, concurrency: int, timeout: float) -> None:
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    parts: asyncio.Queue = asyncio.Queue()

    def hand(callback, *args) -> bool:
        try:
            loop.call_soon_threadsafe(callback, *args)
            return True
        except RuntimeError:  # the loop has closed: the buses are done, nobody listens
            return False

    def listen() -> None:
        """The parent's messages, read on a thread of their own with blocking reads until its STOP (or its end).
        Not a reader on the loop: uvloop makes a descriptor it watches non-blocking, and a part larger than the
        pipe's buffer then arrives in pieces that a read of the whole message cannot wait for."""
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                message = STOP  # the parent has gone
            if message == STOP:
                hand(task.cancel)
                return
            kind, plans = pickle.loads(message)
            if not hand(parts.put_nowait, plans if kind == "plans" else None):
                return

    async def planned() -> AsyncIterator[GatewayPlan]:
        while (plans := await parts.get()) is not None:
            for plan in plans:
                yield plan

    threading.Thread(target=listen, name="poll-buses-plans", daemon=True).start()
    waiting: list = []
    timer: asyncio.TimerHandle | None = None

    def send() -> None:
        nonlocal timer
        timer = None
        conn.send_bytes(pickle.dumps(("events", waiting), pickle.HIGHEST_PROTOCOL))
        waiting.clear()

    def put(event) -> None:
        nonlocal timer
        if isinstance(event, Observation):
            waiting.append((event.meter_id, event.fields))
        else:  # a bus is done: what was sent already goes by meter id, the rest whole
            waiting.append(("done", event.gateway_id, [o for o in event.observations.values() if o.fields is None],
                            event.writes))
        if timer is None:
            timer = loop.call_later(SEND_EVERY, send)

    try:
        await _run_buses(planned(), concurrency, timeout, put)
    finally:
        if timer is not None:
            timer.cancel()
    if waiting:
        send()


def _error(exc: BaseException, where: str) -> bytes:
    """The message that tells the parent what ended the buses: the exception itself, its traceback here in a
    note; one that cannot be rebuilt from its pickle (a constructor of other arguments) goes as its text."""
    exc.add_note("in the poll buses' process:\n" + where)
    try:
        message = pickle.dumps(("error", exc))
        pickle.loads(message)
    except Exception:
        message = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}\n{exc.__notes__[-1]}")))
    return message


def _send(conn, message: bytes) -> None:
    try:
        conn.send_bytes(message)
    except OSError:
        pass  # the parent has gone: nobody to tell
