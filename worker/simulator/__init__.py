"""Meter simulator: an independent second implementation of every profile in METERS.md.

It shares no code with worker/meters (the drivers) on purpose: each side reads
the register tables on its own, so the end-to-end tests catch a wrong address,
scale or word order on either side.

    specs = [SimGatewaySpec("GW1", protocol="rtu-over-tcp",
                            meters=[SimMeterSpec(1, "payfirst-prepaid-v1")])]
    with SimulatorThread(specs, clock=ManualClock()) as sim:
        port = sim.port("GW1")
        sim.meter("GW1", 1).set_fault("silent")
"""

from .clock import ManualClock, RealClock
from .gateway import SimGateway
from .load import SHANGHAI
from .meter import SimMeter
from .registers import ModbusError
from .runner import Simulator, SimulatorThread, run_forever
from .specs import SimGatewaySpec, SimMeterSpec, fleet_specs

__all__ = [
    "SHANGHAI",
    "ManualClock",
    "ModbusError",
    "RealClock",
    "SimGateway",
    "SimGatewaySpec",
    "SimMeter",
    "SimMeterSpec",
    "Simulator",
    "SimulatorThread",
    "fleet_specs",
    "run_forever",
]
