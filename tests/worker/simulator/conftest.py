"""Fixtures: a simulator on a background thread and a pymodbus client to poke it."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType

from worker.simulator import SHANGHAI, ManualClock, SimGatewaySpec, SimMeterSpec, SimulatorThread

#: Monday noon in Shanghai: shops open, flat TOU period.
NOON = datetime(2025, 3, 3, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _app_context():
    """The simulator needs no app or database: shadow the suite-wide autouse fixture."""
    return


class Bus:
    """A pymodbus AsyncModbusTcpClient driven synchronously from a test."""

    def __init__(self, port: int, framer: FramerType, timeout: float) -> None:
        self.runner = asyncio.Runner()

        async def make() -> AsyncModbusTcpClient:
            # pymodbus binds the client to the running loop at construction.
            return AsyncModbusTcpClient("127.0.0.1", port=port, framer=framer,
                                        timeout=timeout, retries=0, reconnect_delay=0)

        self.client = self.runner.run(make())

    def connect(self) -> bool:
        """Open the TCP connection; False when refused."""
        return self.runner.run(self.client.connect())

    def run(self, coro):
        """Run any client coroutine."""
        return self.runner.run(coro)

    def read(self, unit: int, address: int, count: int = 1):
        """Raw function 03 response (may be an exception response)."""
        return self.run(self.client.read_holding_registers(address, count=count,
                                                           device_id=unit))

    def regs(self, unit: int, address: int, count: int = 1) -> list[int]:
        """Registers of a read that must succeed."""
        rr = self.read(unit, address, count)
        assert not rr.isError(), rr
        return rr.registers

    def value(self, unit: int, address: int, dt) -> int | float:
        """One typed value via client.convert_from_registers."""
        count = dt.value[1]
        return self.client.convert_from_registers(self.regs(unit, address, count), dt)

    def write(self, unit: int, address: int, values: list[int]):
        """Function 16."""
        return self.run(self.client.write_registers(address, values, device_id=unit))

    def write1(self, unit: int, address: int, value: int):
        """Function 06."""
        return self.run(self.client.write_register(address, value, device_id=unit))

    def close(self) -> None:
        self.client.close()
        self.runner.close()


@pytest.fixture
def clock() -> ManualClock:
    """Simulated time, starting Monday 12:00 in Shanghai."""
    return ManualClock(NOON)


@pytest.fixture
def simulate(clock):
    """simulate(*gateway_specs) -> a started SimulatorThread on the manual clock."""
    started: list[SimulatorThread] = []

    def start(*specs: SimGatewaySpec) -> SimulatorThread:
        sim = SimulatorThread(specs, clock=clock).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def connect():
    """connect(sim, code='GW1', timeout=1.0) -> a connected Bus (RTU framer for rtu-over-tcp)."""
    buses: list[Bus] = []

    def open_bus(sim: SimulatorThread, code: str = "GW1", timeout: float = 1.0,
                 must_connect: bool = True) -> Bus:
        rtu = sim.gateway(code).spec.protocol == "rtu-over-tcp"
        bus = Bus(sim.port(code), FramerType.RTU if rtu else FramerType.SOCKET, timeout)
        buses.append(bus)
        if must_connect:
            assert bus.connect()
        return bus

    yield open_bus
    for bus in buses:
        bus.close()


@pytest.fixture
def one_meter(simulate, connect):
    """one_meter(profile, **spec) -> (meter, bus) for unit 1 on gateway GW1."""

    def make(profile: str, protocol: str = "modbus-tcp", **spec):
        if profile == "payfirst-water-v1":
            spec.setdefault("kind", "water")
        sim = simulate(SimGatewaySpec("GW1", protocol=protocol,
                                      meters=[SimMeterSpec(1, profile, **spec)]))
        return sim.meter("GW1", 1), connect(sim)

    return make
