"""The poll-cycle figures of SPEC §5: floor, driver, full cycle, boundary cycle, 9600 baud."""
from __future__ import annotations

import asyncio
import inspect
import statistics
import time
import timeit
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pymodbus.client import AsyncModbusTcpClient


@dataclass
class Figure:
    """One printed line: what, value, bar (None = informational), pass/fail."""

    name: str
    value: float
    unit: str
    bar: float | None = None
    note: str = ""
    fmt: str = ".2f"

    @property
    def ok(self) -> bool | None:
        return None if self.bar is None else self.value <= self.bar

    def line(self) -> str:
        value = f"{self.value:{self.fmt}} {self.unit}"
        bar = f"≤ {self.bar:{self.fmt}} {self.unit}" if self.bar is not None else "-"
        verdict = {None: "info", True: "PASS", False: "FAIL"}[self.ok]
        text = f"{self.name:<44} {value:>14}  {bar:>16}  {verdict}"
        return f"{text}  ({self.note})" if self.note else text


@dataclass
class Timing:
    wall: float
    cpu: float
    extra: dict = field(default_factory=dict)


# -- floor: a bare pymodbus client ----------------------------------------------------------

async def _bare_gateway(host: str, port: int, units: list[int]) -> int:
    """Connect, two reads per meter one at a time, close; returns the number of failed reads."""
    client = AsyncModbusTcpClient(host, port=port, timeout=1.0, retries=0, reconnect_delay=0)
    errors = 0
    if not await client.connect():
        return 2 * len(units)
    try:
        for unit in units:
            for address, count in ((0x0000, 17), (0x0100, 9)):
                try:
                    rsp = await client.read_holding_registers(address, count=count, device_id=unit)
                    errors += rsp.isError() or len(rsp.registers) != count
                except Exception:
                    errors += 1
    finally:
        client.close()
    return errors


def floor_cycle(farm: list[tuple[str, int, list[int]]], loop_factory=None) -> Timing:
    """All gateways in parallel, each strictly one request at a time, nothing stored; on asyncio's own event loop
    (SPEC's floor), or on the one `loop_factory` makes (uvloop's, as the poll buses run: an informational figure)."""
    async def main() -> int:
        return sum(await asyncio.gather(*(_bare_gateway(h, p, u) for h, p, u in farm)))

    c0, t0 = time.process_time(), time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        errors = runner.run(main())
    return Timing(time.perf_counter() - t0, time.process_time() - c0, {"errors": errors})


# -- the driver alone (worker.meters), no database --------------------------------------------

def driver_cycle(farm: list[tuple[str, int, list[int]]], profile_name: str) -> Timing:
    """poll_many over fresh GatewayClients (as every poll cycle makes them), nothing stored."""
    from worker.meters.codec import Reading
    from worker.meters.gateway import GatewayClient
    from worker.meters.poll import poll_many
    from worker.meters.profiles import get_profile

    profile = get_profile(profile_name)

    async def main():
        clients = [(GatewayClient(h, p, timeout=1.0), [(u, profile) for u in units]) for h, p, units in farm]
        try:
            return await poll_many(clients)
        finally:
            for c, _ in clients:
                await c.close()

    c0, t0 = time.process_time(), time.perf_counter()
    results = asyncio.run(main())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    bad = sum(not isinstance(r, Reading) for rs in results for r in rs)
    return Timing(wall, cpu, {"errors": bad})


def decode_us(profile_name: str) -> float:
    """codec.decode of one meter's two blocks, µs (best of 5 x 20,000)."""
    from worker.meters.codec import decode
    from worker.meters.profiles import get_profile

    profile = get_profile(profile_name)
    blocks = {0x0000: [0, 12345, 0, 100, 0, 2000, 0, 8000, 0, 2245, 0, 2200, 350, 770, 0, 780, 990],
              0x0100: [0, 50000, 3, 0, 60000, 1, 0, 0, 0]}
    decode(profile, blocks)
    n = 20_000
    return min(timeit.repeat(lambda: decode(profile, blocks), number=n, repeat=5)) / n * 1e6


# -- the full cycle (worker.poller.run_cycle) ------------------------------------------------

class CycleClock:
    """The `now` handed to run_cycle: real time shifted so cycles land where the bench wants them."""

    def __init__(self) -> None:
        from portal.metering.cycle import interval_start

        real = datetime.now(UTC)
        # one minute into an interval, so a minute-long run never crosses a boundary by accident
        self.offset = interval_start(real) + timedelta(minutes=1) - real

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def next_interval(self) -> None:
        self.offset += timedelta(minutes=15)


def full_cycle(app, clock: CycleClock, gateway_ids: list[int] | None = None) -> Timing:
    """run_cycle for every gateway + commit, in a fresh session, as `flask poll --once` does."""
    from portal.extensions import db
    from worker.poller import run_cycle

    with app.app_context():
        kwargs = {"now": clock.now()} if "now" in inspect.signature(run_cycle).parameters else {}
        c0, t0 = time.process_time(), time.perf_counter()
        stats = run_cycle(db.session, gateway_ids, **kwargs)
        t1 = time.perf_counter()
        db.session.commit()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        cpu += getattr(stats, "io_cpu_seconds", 0.0)  # the buses' child process, when they ran in one
        stats.commit_seconds = time.perf_counter() - t1
        db.session.remove()
    return Timing(wall, cpu, {"stats": stats, "now_param": bool(kwargs)})


#: the parts of a cycle's wall time (worker.poller.CycleStats.parts), in the order they are printed
CYCLE_PARTS = ("load", "bus wait", "record", "bill", "rules", "books", "commit")


def where_the_time_goes(t: Timing) -> str:
    """A cycle's wall time by part (load / bus wait / record / bill / rules / books / commit), seconds and shares."""
    s = t.extra.get("stats")
    if s is None or not getattr(s, "parts", None):
        return ""
    parts = dict(s.parts, commit=s.commit_seconds)
    names = [*CYCLE_PARTS, *(k for k in parts if k not in CYCLE_PARTS)]
    return ", ".join(f"{name} {parts[name]:.2f} s ({parts[name] / t.wall:.0%})" for name in names if name in parts)


def say_cycle(what: str, t: Timing, extra: str = "") -> None:
    """Print one timed cycle: wall and CPU, what it read, and where its wall time went."""
    s = t.extra.get("stats")
    detail = (f"; {s.read} read, {s.missed} missed, {s.writes} writes; buses {s.io_seconds:.2f} s, "
              f"after the buses {s.record_seconds:.2f} s") if s else ""
    child = f" ({s.io_cpu_seconds:.3f} s of it the buses' process)" if getattr(s, "io_cpu_seconds", 0) else ""
    print(f"  {what}: {t.wall:.3f} s wall, {t.cpu:.3f} s CPU{child}{detail}{'; ' + extra if extra else ''}")
    if parts := where_the_time_goes(t):
        print(f"    where the time goes: {parts}")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


#: the staff pages' bar (SPEC §5): p95 server time at 10,030 meters
PAGE_BAR_MS = 150.0


def page_figure(client, title: str, path: str, query: dict, requests: int) -> tuple[Figure, object]:
    """A staff page asked `requests` times as htmx asks it (after two warm-ups: the connection pool and the
    templates), in-process: its p95 server time against PAGE_BAR_MS, and the last answer."""
    times = []
    for n in range(requests + 2):
        began = time.perf_counter()
        response = client.get(path, query_string=query, headers={"HX-Request": "true"})
        took = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, (title, response.status_code)
        if n >= 2:
            times.append(took)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]
    figure = Figure(title, p95, "ms", PAGE_BAR_MS, fmt=".1f",
                    note=f"p95 of {len(times)}, median {statistics.median(times):.1f} ms")
    return figure, response
