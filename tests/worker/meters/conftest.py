"""A tiny fake RS485 bus for the gateway tests: pymodbus's own server with hand-made meters.

It knows nothing of worker.meters: registers are plain {address: value} dicts the tests
fill from METERS.md by hand, so the driver is checked against an independent reading.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import asynccontextmanager

import pytest
from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

# Address windows every fake meter serves; enough for all four profiles.
WINDOWS = ((0x0000, 0x0150), (0x1000, 0x0040), (0x2000, 0x0060))
NEVER = 3600.0  # a dead meter "answers" after the test is long over

OnWrite = Callable[[int, dict[int, int], int, list[int]], "ExcCodes | None"]


class FakeBus:
    """Meters on one fake gateway, with a log of every request the gateway saw."""

    def __init__(self, meters: dict[int, dict[int, int]], *, delay: float = 0.0,
                 dead: tuple[int, ...] = (), on_write: OnWrite | None = None,
                 sparse: bool = False) -> None:
        self.mem = meters
        self.delay = delay
        self.dead = set(dead)
        self.on_write = on_write
        self.sparse = sparse
        self.log: list[tuple[int, int, int, int]] = []  # (unit, function, address, count)
        self.inflight = self.max_inflight = 0
        #: (unit, address) of writes to apply and then never answer: once each, like a lost ack.
        self.lose_ack: set[tuple[int, int]] = set()

    def devices(self) -> list[SimDevice]:
        """One SimDevice per meter; `sparse` serves only the addresses the test filled in."""
        devices = []
        for unit, mem in self.mem.items():
            if self.sparse:
                blocks = [SimData(a, values=[mem[a]], datatype=DataType.REGISTERS)
                          for a in sorted(mem)]
            else:
                blocks = [SimData(base, count=size, values=0, datatype=DataType.REGISTERS)
                          for base, size in WINDOWS]
            devices.append(SimDevice(id=unit, simdata=blocks, action=self._action_for(unit)))
        return devices

    def _action_for(self, unit: int):
        async def action(fc, start, address, count, registers, values):
            self.log.append((unit, fc, address, count))
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            try:
                if unit in self.dead:
                    await asyncio.sleep(NEVER)
                if self.delay:
                    await asyncio.sleep(self.delay)
                mem = self.mem[unit]
                if values is not None:
                    if self.on_write and (code := self.on_write(unit, mem, address, list(values))):
                        return code
                    if self.on_write is None:
                        mem.update(zip(range(address, address + count), values))
                    if (unit, address) in self.lose_ack:
                        self.lose_ack.discard((unit, address))
                        await asyncio.sleep(NEVER)
                for k in range(count):  # serve from the test's dict, the source of truth
                    registers[address - start + k] = mem.get(address + k, 0)
                return None
            finally:
                self.inflight -= 1
        return action


@asynccontextmanager
async def serve(bus: FakeBus, framer: FramerType = FramerType.SOCKET, port: int = 0):
    """Run `bus` on a loopback port (ephemeral unless given); yields the port."""
    server = ModbusTcpServer(bus.devices(), address=("127.0.0.1", port), framer=framer)
    await server.serve_forever(background=True)
    try:
        yield server.transport.sockets[0].getsockname()[1]
    finally:
        await server.shutdown()


@asynccontextmanager
async def silent_gateway():
    """A TCP server that accepts and never answers: a converter whose RS485 line is cut."""
    async def swallow(reader, writer):
        try:
            while await reader.read(256):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(autouse=True)
def _app_context():
    """Meter drivers need no app and no database: override the suite-wide DB fixture here."""
    return


@pytest.fixture
def refused_port() -> int:
    """A loopback port nobody listens on: connect is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def blackhole_port():
    """A loopback port whose accept queue is full: connect hangs until the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    yield port
    for s in fillers:
        s.close()
    listener.close()


@pytest.fixture
def fake_bus():
    """Factory: fake_bus({unit: {addr: value}}, delay=..., dead=(...), on_write=...)."""
    return FakeBus


@pytest.fixture
def serve_bus():
    """The `serve` async context manager, for `async with serve_bus(bus) as port`."""
    return serve


@pytest.fixture
def silent():
    """The `silent_gateway` async context manager."""
    return silent_gateway
