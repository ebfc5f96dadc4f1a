"""Faults switched at runtime: silent meter, gateway down, garbage, exceptions, resets."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from worker.simulator import SimGatewaySpec, SimMeterSpec

DT = AsyncModbusTcpClient.DATATYPE
PROTOCOLS = ["modbus-tcp", "rtu-over-tcp"]


def two_meters(simulate, protocol="modbus-tcp"):
    return simulate(SimGatewaySpec("GW1", protocol=protocol, meters=[
        SimMeterSpec(1, "payfirst-prepaid-v1"), SimMeterSpec(2, "acrel-ddsy1352")]))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_silent_meter_times_out_while_its_neighbour_answers(simulate, connect, protocol):
    sim = two_meters(simulate, protocol)
    bus = connect(sim, timeout=0.2)
    sim.meter("GW1", 1).set_fault("silent")
    with pytest.raises(ModbusIOException):
        bus.read(1, 0x0000, 2)
    assert len(bus.regs(2, 0x0000, 2)) == 2
    sim.meter("GW1", 1).set_fault(None)
    assert len(bus.regs(1, 0x0000, 2)) == 2


def test_unknown_unit_id_is_silent(simulate, connect):
    sim = two_meters(simulate)
    bus = connect(sim, timeout=0.2)
    with pytest.raises(ModbusIOException):
        bus.read(9, 0x0000, 2)


def test_gateway_down_refuses_connections_then_comes_back(simulate, connect):
    sim = two_meters(simulate)
    port = sim.port("GW1")
    sim.set_gateway_down("GW1")
    assert not sim.gateway("GW1").is_up
    refused = connect(sim, timeout=0.2, must_connect=False)
    assert refused.connect() is False
    sim.set_gateway_down("GW1", False)
    assert sim.port("GW1") == port
    bus = connect(sim)
    assert len(bus.regs(2, 0x000B, 1)) == 1


def test_gateway_down_drops_open_connections(simulate, connect):
    sim = two_meters(simulate)
    bus = connect(sim, timeout=0.2)
    assert bus.regs(2, 0x000B, 1)
    sim.set_gateway_down("GW1")
    with pytest.raises(ModbusIOException):
        bus.read(2, 0x000B, 1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_garbage_response_is_not_a_valid_answer(simulate, connect, protocol):
    sim = two_meters(simulate, protocol)
    bus = connect(sim, timeout=0.2)
    sim.meter("GW1", 1).set_fault("garbage")
    with pytest.raises(ModbusIOException):
        bus.read(1, 0x0000, 2)
    sim.meter("GW1", 1).set_fault(None)
    assert len(bus.regs(1, 0x0000, 2)) == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_exception_fault_answers_with_the_chosen_code(simulate, connect, protocol):
    sim = two_meters(simulate, protocol)
    bus = connect(sim)
    sim.meter("GW1", 1).set_fault("exception", code=6)  # server device busy
    assert bus.read(1, 0x0000, 2).exception_code == 6
    assert bus.write1(1, 0x0120, 0xAA).exception_code == 6
    assert sim.meter("GW1", 1).snapshot()["supply"] == "on"  # the faulted write did nothing
    assert not bus.read(2, 0x0000, 2).isError()


def test_gateway_wide_fault_hits_every_meter(simulate, connect):
    sim = two_meters(simulate)
    bus = connect(sim, timeout=0.2)
    sim.gateway("GW1").set_fault("exception")
    assert bus.read(1, 0x0000, 2).exception_code == 4
    assert bus.read(2, 0x0000, 2).exception_code == 4
    sim.gateway("GW1").set_fault("silent")
    with pytest.raises(ModbusIOException):
        bus.read(2, 0x0000, 2)
    sim.gateway("GW1").set_fault(None)
    assert not bus.read(2, 0x0000, 2).isError()


def test_energy_counter_reset_reads_lower(one_meter, clock):
    meter, bus = one_meter("payfirst-prepaid-v1", energy_start=50_000)
    meter.set_load(3000)
    clock.advance(3600)
    assert bus.value(1, 0x0000, DT.UINT32) == 50_300
    meter.reset_energy(0)
    assert bus.value(1, 0x0000, DT.UINT32) == 0
    clock.advance(3600)
    meter.reset_energy(120)
    assert bus.value(1, 0x0000, DT.UINT32) == 120
    with pytest.raises(ValueError):
        meter.reset_energy(121)


def test_chint_energy_reset_shows_in_the_float(one_meter, clock):
    meter, bus = one_meter("chint-dtsu666", energy_start=99_000)
    meter.reset_energy(1_000)
    assert bus.value(1, 0x101E, DT.FLOAT32) == 10.0
