"""The meter simulator in a process of its own, so it does not share the poller's GIL.

The parent gets the real ports back, can ask for the bytes each bus carried (to compute the
physical RS485 time), the simulator's CPU time, and stops it. Started with the 'spawn' method:
the child imports only worker.simulator (no Flask, no database).
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from datetime import datetime

from worker.simulator.gateway import BITS_PER_BYTE


class SimProcess:
    """`with SimProcess(specs, start=..., speed=...) as sim:` -> sim.ports, sim.bus_stats(), sim.cpu()."""

    def __init__(self, specs, *, start: datetime | None = None, speed: float = 1.0) -> None:
        # every gateway on a free port of the child's choosing
        self.specs = [dataclasses.replace(s, port=0) for s in specs]
        self.start_at, self.speed = start, speed
        self.ports: dict[str, int] = {}
        self._proc = None
        self._conn = None

    def __enter__(self) -> SimProcess:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(child, self.specs, self.start_at, self.speed),
                                 name="bench-simulator", daemon=True)
        self._proc.start()
        child.close()
        deadline = time.monotonic() + 120
        while not self._conn.poll(0.5):
            if not self._proc.is_alive() or time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError(f"simulator process did not start (exit code {self._proc.exitcode})")
        self.ports = self._conn.recv()
        return self

    def _ask(self, what: str):
        self._conn.send(what)
        return self._conn.recv()

    def bus_stats(self) -> dict[str, dict]:
        """Per gateway since the last reset: transactions, answered, bytes on the RS485 wire, bus seconds."""
        return self._ask("stats")

    def reset_stats(self) -> None:
        self._ask("reset")

    def cpu(self) -> float:
        """CPU seconds (user + system) the simulator process used so far."""
        return self._ask("cpu")

    def __exit__(self, *exc) -> None:
        try:
            self._ask("stop")
        except (EOFError, OSError, BrokenPipeError):
            pass
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def _child(conn, specs, start_at, speed) -> None:
    import asyncio

    from worker.simulator import RealClock, Simulator

    async def main() -> None:
        sim = Simulator(specs, RealClock(start_at, speed=speed))
        stats: dict[str, list] = {}
        for code, gw in sim.gateways.items():
            stats[code] = [0, 0, 0, 0.0]  # transactions, answered, wire bytes, bus seconds
            gw.respond = _counting(gw, stats[code])
        await sim.start()
        conn.send({code: gw.port for code, gw in sim.gateways.items()})
        done = asyncio.Event()

        def on_message() -> None:
            what = conn.recv()
            if what == "stats":
                conn.send({code: dict(transactions=s[0], answered=s[1], wire_bytes=s[2], bus_seconds=s[3])
                           for code, s in stats.items()})
            elif what == "reset":
                for s in stats.values():
                    s[:] = [0, 0, 0, 0.0]
                conn.send(True)
            elif what == "cpu":
                t = os.times()
                conn.send(t.user + t.system)
            elif what == "stop":
                done.set()

        asyncio.get_running_loop().add_reader(conn.fileno(), on_message)
        await done.wait()
        await sim.stop()
        conn.send(True)

    asyncio.run(main())


def _counting(gw, s: list):
    """Wrap SimGateway.respond to count what crossed the bus, by the formula of SimGateway._serve_timed."""
    respond = gw.respond

    def counted(unit: int, pdu: bytes, tag: bytes):
        out = respond(unit, pdu, tag)
        wire = len(pdu) + 3 + (gw._rtu_len(len(out)) if out else 0)  # RTU: address + PDU + CRC, both ways
        s[0] += 1
        s[1] += out is not None
        s[2] += wire
        if gw.baud:
            extra_ms = gw.latency_ms if out else gw.silent_hold_ms
            s[3] += (wire + 3.5) * BITS_PER_BYTE / gw.baud + extra_ms / 1000
        return out

    return counted
