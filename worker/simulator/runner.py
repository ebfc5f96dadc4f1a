"""The Simulator (all gateways on one event loop), a thread wrapper and run_forever."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable

from .clock import ManualClock, RealClock
from .gateway import SimGateway
from .meter import SimMeter
from .specs import SimGatewaySpec, SimMeterSpec

log = logging.getLogger(__name__)


class Simulator:
    """Every simulated gateway and meter, served from the running event loop."""

    def __init__(self, gateway_specs: Iterable[SimGatewaySpec],
                 clock: ManualClock | RealClock | None = None) -> None:
        self.clock = clock if clock is not None else RealClock()
        self.gateways: dict[str, SimGateway] = {}
        for spec in gateway_specs:
            if spec.code in self.gateways:
                raise ValueError(f"duplicate gateway code {spec.code!r}")
            meters = {m.unit_id: SimMeter(m, self.clock) for m in spec.meters}
            self.gateways[spec.code] = SimGateway(spec, meters)

    async def start(self) -> None:
        """Open every gateway's port."""
        for gateway in self.gateways.values():
            await gateway.start()

    async def stop(self) -> None:
        """Close every port and connection."""
        for gateway in self.gateways.values():
            await gateway.stop()

    def gateway(self, code: str) -> SimGateway:
        """The gateway with this code (faults, timing, port)."""
        return self.gateways[code]

    def meter(self, gateway_code: str, unit_id: int) -> SimMeter:
        """The meter to inspect (snapshot()) or alter (set_load, set_fault, ...)."""
        return self.gateways[gateway_code].meters[unit_id]

    def port(self, gateway_code: str) -> int:
        """The TCP port a gateway listens on (the real one when the spec said 0)."""
        return self.gateways[gateway_code].port

    def replace_meter(self, gateway_code: str, spec: SimMeterSpec) -> SimMeter:
        """A technician swaps the physical meter at `spec.unit_id` (换表): a fresh meter answers from now on."""
        gateway = self.gateways[gateway_code]
        if spec.unit_id not in gateway.meters:
            raise KeyError(f"no meter at unit {spec.unit_id} on {gateway_code}")
        meter = gateway.meters[spec.unit_id] = SimMeter(spec, self.clock)
        return meter

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward."""
        self.clock.advance(seconds)

    async def set_gateway_down(self, code: str, down: bool = True) -> None:
        """Take a gateway off the network (connections refused) or bring it back."""
        gateway = self.gateways[code]
        await (gateway.stop() if down else gateway.start())


class SimulatorThread:
    """A Simulator on its own event loop in a background thread (tests, demo CLI)."""

    def __init__(self, gateway_specs: Iterable[SimGatewaySpec],
                 clock: ManualClock | RealClock | None = None) -> None:
        self.sim = Simulator(gateway_specs, clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> SimulatorThread:
        """Start the loop thread and open every port; returns self."""
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="meter-simulator",
                                        daemon=True)
        self._thread.start()
        try:
            self.call(self.sim.start(), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Close every port, stop the loop and join the thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
            loop.close()

    def call(self, coro, timeout: float = 30.0):
        """Run a coroutine on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def set_gateway_down(self, code: str, down: bool = True) -> None:
        """Take a gateway off the network or bring it back (blocking)."""
        self.call(self.sim.set_gateway_down(code, down))

    def meter(self, gateway_code: str, unit_id: int) -> SimMeter:
        """See Simulator.meter."""
        return self.sim.meter(gateway_code, unit_id)

    def gateway(self, code: str) -> SimGateway:
        """See Simulator.gateway."""
        return self.sim.gateway(code)

    def port(self, gateway_code: str) -> int:
        """See Simulator.port."""
        return self.sim.port(gateway_code)

    def replace_meter(self, gateway_code: str, spec: SimMeterSpec) -> SimMeter:
        """See Simulator.replace_meter."""
        return self.sim.replace_meter(gateway_code, spec)

    def advance(self, seconds: float) -> None:
        """See Simulator.advance."""
        self.sim.advance(seconds)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_forever(gateway_specs: Iterable[SimGatewaySpec],
                clock: ManualClock | RealClock | None = None,
                on_started: Callable[[Simulator], None] | None = None) -> None:
    """Serve the given gateways until interrupted (the demo CLI's entry point)."""

    async def main() -> None:
        sim = Simulator(gateway_specs, clock)
        await sim.start()
        meters = sum(len(g.meters) for g in sim.gateways.values())
        log.info("simulating %d gateways, %d meters", len(sim.gateways), meters)
        if on_started is not None:
            on_started(sim)
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
