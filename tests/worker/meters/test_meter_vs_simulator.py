"""End to end against the team's independent simulator: two readings of METERS.md must agree.

Only the simulator's public API is used (specs, SimulatorThread, meter snapshots and faults);
the driver shares no code with it, so a wrong address, scale or word order on either side
shows up here.
"""

import asyncio

import pytest

from worker.meters import (
    GatewayClient,
    GatewayDown,
    MeterRejected,
    MeterTimeout,
    Reading,
    get_profile,
    poll_gateway,
    set_control_mode,
    set_keep_power,
    set_power_limit,
    set_price,
    set_supply,
    write_purchase,
)
from worker.simulator import ManualClock, SimGatewaySpec, SimMeterSpec, SimulatorThread

PROFILES = ("acrel-ddsy1352", "payfirst-prepaid-v1", "payfirst-water-v1", "chint-dtsu666")
PREPAID = get_profile("payfirst-prepaid-v1")
COMMON = ("energy_total", "energy_tou", "voltage", "power_w", "pf", "apparent_va", "flow_lph",
          "supply", "trip_reason", "keep_power", "control_mode", "remaining_fen",
          "purchase_count", "purchase_total_fen", "power_limit_w", "price_e4", "frequency",
          "energy_export")


def spec(protocol):
    meters = [SimMeterSpec(i + 1, name, kind="water" if "water" in name else "electric",
                           energy_start=1_234_567 + i, seed=i,
                           remaining_fen=800 if "payfirst" in name else 0)
              for i, name in enumerate(PROFILES)]
    return SimGatewaySpec(code=protocol, protocol=protocol, meters=meters)


@pytest.fixture(scope="module")
def sim():
    """One simulated gateway per protocol, each with one meter of every profile."""
    with SimulatorThread([spec("modbus-tcp"), spec("rtu-over-tcp")],
                         clock=ManualClock()) as simulator:
        simulator.advance(3 * 3600)  # some energy in every TOU register
        yield simulator


def client(sim, protocol):
    return GatewayClient("127.0.0.1", sim.port(protocol), protocol, timeout=0.3,
                         reconnect_backoff=0)


def read_all(sim, protocol, full=True):
    async def go():
        async with client(sim, protocol) as gw:
            return [await gw.read_meter(i + 1, get_profile(name), full=full)
                    for i, name in enumerate(PROFILES)]
    return asyncio.run(go())


@pytest.mark.parametrize("protocol", ["modbus-tcp", "rtu-over-tcp"])
def test_driver_reads_what_the_simulator_shows(sim, protocol):
    readings = read_all(sim, protocol)
    for i, (name, reading) in enumerate(zip(PROFILES, readings)):
        shown = sim.meter(protocol, i + 1).snapshot()
        for field in COMMON + (("current",) if name != "chint-dtsu666" else ()):
            got = getattr(reading, field)
            if got is not None:
                assert got == shown[field], (name, field)
    # three-phase: our `current` is phase A; the simulator's is a single-phase equivalent
    dtsu, shown = readings[3], sim.meter(protocol, 4).snapshot()
    assert dtsu.voltage_phases == shown["phase_voltage"]
    assert dtsu.current_phases == tuple((ma + 5) // 10 for ma in shown["phase_current_ma"])
    assert readings[1].energy_total >= 1_234_567 and readings[1].energy_tou[2] > 0


@pytest.mark.parametrize("protocol", ["modbus-tcp", "rtu-over-tcp"])
def test_commands_land_in_the_simulated_meter(sim, protocol):
    meter = sim.meter(protocol, 2)

    async def go():
        async with client(sim, protocol) as gw:
            count = (await gw.read_meter(2, PREPAID)).purchase_count
            off = await gw.write(2, PREPAID, set_supply("off"))
            on = await gw.write(2, PREPAID, set_supply("on"))
            bought = await gw.write(2, PREPAID, write_purchase(1234, count + 1))
            with pytest.raises(MeterRejected) as twice:
                await gw.write(2, PREPAID, write_purchase(1234, count + 1))
            limit = await gw.write(2, PREPAID, set_power_limit(6600))
            price = await gw.write(2, PREPAID, set_price(12_345))
            keep = await gw.write(2, PREPAID, set_keep_power(True))
            mode = await gw.write(2, PREPAID, set_control_mode("platform"))
            return count, off, on, bought, twice.value, limit, price, keep, mode

    count, off, on, bought, twice, limit, price, keep, mode = asyncio.run(go())
    assert (off.supply, off.trip_reason, on.supply) == ("off", "remote", "on")
    assert bought.purchase_count == count + 1 and twice.exception_code == 3
    shown = meter.snapshot()
    assert (shown["purchase_count"], shown["remaining_fen"]) == (count + 1, bought.remaining_fen)
    assert (limit.power_limit_w, shown["power_limit_w"]) == (6600, 6600)
    assert (price.price_e4, shown["price_e4"]) == (12_345, 12_345)
    assert keep.keep_power is shown["keep_power"] is True
    assert mode.control_mode == shown["control_mode"] == "platform"


def test_faulty_meters_and_a_down_gateway(sim):
    protocol = "modbus-tcp"
    meters = [(i + 1, get_profile(name)) for i, name in enumerate(PROFILES)]

    async def go():
        gw = client(sim, protocol)
        sim.meter(protocol, 1).set_fault("silent")
        sim.meter(protocol, 3).set_fault("exception", 4)
        try:
            faulty = await poll_gateway(gw, meters)
        finally:
            sim.meter(protocol, 1).set_fault(None)
            sim.meter(protocol, 3).set_fault(None)
        await gw.close()
        sim.set_gateway_down(protocol)
        try:
            down = await poll_gateway(gw, meters)
        finally:
            sim.set_gateway_down(protocol, False)
        back = await poll_gateway(gw, meters)
        await gw.close()
        return faulty, down, back

    faulty, down, back = asyncio.run(go())
    assert isinstance(faulty[0], MeterTimeout) and isinstance(faulty[2], MeterRejected)
    assert isinstance(faulty[1], Reading) and isinstance(faulty[3], Reading)
    assert all(isinstance(r, GatewayDown) for r in down)
    assert sum(isinstance(r, Reading) for r in back) >= 3  # meter 1 may wait for its probe
