"""Writes over Modbus TCP: relay commands, purchases, keep-power, limits, meter mode."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusTcpClient

DT = AsyncModbusTcpClient.DATATYPE


def test_acrel_relay_command_trips_and_closes(one_meter, clock):
    meter, bus = one_meter("acrel-ddsy1352")
    assert not bus.write(1, 0x0057, [0x0001, 0x0001]).isError()
    assert meter.snapshot()["supply"] == "off"
    energy = bus.value(1, 0x0000, DT.UINT32)
    clock.advance(3600)
    assert bus.value(1, 0x0000, DT.UINT32) == energy  # open relay: no energy
    assert bus.value(1, 0x000D, DT.INT16) == 0
    assert not bus.write(1, 0x0057, [0x0001, 0x0000]).isError()
    assert meter.snapshot()["supply"] == "on"


@pytest.mark.parametrize("words", [[0x0000, 0x0001], [0x0001, 0x0002], [0x00AA, 0x0000]])
def test_acrel_relay_command_with_other_values_is_exception_03(one_meter, words):
    meter, bus = one_meter("acrel-ddsy1352")
    assert bus.write(1, 0x0057, words).exception_code == 3
    assert meter.snapshot()["supply"] == "on"


def test_acrel_relay_command_needs_both_registers(one_meter):
    _, bus = one_meter("acrel-ddsy1352")
    assert bus.write(1, 0x0057, [0x0001]).exception_code == 2


def test_acrel_access_code_is_writable_up_to_9999(one_meter):
    _, bus = one_meter("acrel-ddsy1352")
    assert not bus.write1(1, 0x000A, 4321).isError()
    assert bus.value(1, 0x000A, DT.UINT16) == 4321
    assert bus.write1(1, 0x000A, 10_000).exception_code == 3


def test_purchase_accepted_increments_count_and_total(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1", remaining_fen=100)
    assert not bus.write(1, 0x0110, [0x0001, 0x86A0, 1]).isError()  # 100000 fen
    assert not bus.write(1, 0x0110, [0x0000, 0x01F4, 2]).isError()  # 500 fen
    assert bus.value(1, 0x0100, DT.INT32) == 100_600
    assert bus.value(1, 0x0102, DT.UINT16) == 2
    assert bus.value(1, 0x0103, DT.UINT32) == 100_500


@pytest.mark.parametrize("count", [0, 2, 7])
def test_purchase_with_wrong_count_is_exception_03_and_changes_nothing(one_meter, count):
    _, bus = one_meter("payfirst-prepaid-v1", remaining_fen=100)
    before = bus.regs(1, 0x0100, 9)
    assert bus.write(1, 0x0110, [0, 500, count]).exception_code == 3
    assert bus.regs(1, 0x0100, 9) == before


def test_purchase_written_twice_is_refused_the_second_time(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1")
    assert not bus.write(1, 0x0110, [0, 500, 1]).isError()
    assert bus.write(1, 0x0110, [0, 500, 1]).exception_code == 3
    assert bus.value(1, 0x0100, DT.INT32) == 500


def test_purchase_register_is_write_only_and_needs_three_words(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1")
    assert bus.read(1, 0x0110, 3).exception_code == 2
    assert bus.write(1, 0x0110, [0, 500]).exception_code == 2


def test_supply_command_off_and_on(one_meter, clock):
    _meter, bus = one_meter("payfirst-prepaid-v1")
    assert not bus.write1(1, 0x0120, 0xAA).isError()
    assert bus.regs(1, 0x0105, 2) == [1, 2]  # off, remote
    clock.advance(600)
    assert bus.value(1, 0x000D, DT.INT16) == 0
    assert not bus.write(1, 0x0120, [0x55]).isError()
    assert bus.regs(1, 0x0105, 2) == [0, 0]


@pytest.mark.parametrize("value", [0, 1, 0x56, 0xAB, 0xFFFF])
def test_supply_command_other_values_are_exception_03(one_meter, value):
    meter, bus = one_meter("payfirst-prepaid-v1")
    assert bus.write1(1, 0x0120, value).exception_code == 3
    assert meter.snapshot()["supply"] == "on"


def test_read_only_registers_refuse_writes(one_meter):
    meter, bus = one_meter("payfirst-prepaid-v1", remaining_fen=5)
    assert bus.write(1, 0x0100, [0, 9999]).exception_code == 2
    assert bus.write1(1, 0x000B, 2300).exception_code == 2
    assert meter.snapshot()["remaining_fen"] == 5


def test_keep_power_command(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1")
    assert not bus.write1(1, 0x0121, 1).isError()
    assert bus.value(1, 0x0107, DT.UINT16) == 1
    assert not bus.write1(1, 0x0121, 0).isError()
    assert bus.value(1, 0x0107, DT.UINT16) == 0
    assert bus.write1(1, 0x0121, 2).exception_code == 3


def test_limits_alarms_price_and_mode_are_writable(one_meter):
    meter, bus = one_meter("payfirst-prepaid-v1", remaining_fen=1)
    assert not bus.write1(1, 0x0130, 550).isError()  # 5.50 kW
    assert not bus.write(1, 0x0131, [0, 1000, 0, 300]).isError()  # both alarms at once
    assert not bus.write(1, 0x0140, [0x0001, 0xE240]).isError()  # 12.3456 yuan/kWh
    assert not bus.write1(1, 0x0108, 1).isError()
    assert bus.regs(1, 0x0130, 5) == [550, 0, 1000, 0, 300]
    snap = meter.snapshot()
    assert (snap["power_limit_w"], snap["price_e4"], snap["control_mode"]) == (
        5500, 123_456, "meter")
    assert bus.write1(1, 0x0108, 2).exception_code == 3


def test_meter_mode_decrements_trips_at_zero_and_purchase_closes(one_meter, clock):
    meter, bus = one_meter("payfirst-prepaid-v1", control_mode="meter", remaining_fen=300,
                           price_e4=15_000)  # 1.5 yuan/kWh
    meter.set_load(2000)  # 3 yuan per hour
    clock.advance(1800)
    assert bus.value(1, 0x0100, DT.INT32) == 150
    clock.advance(3600)
    assert bus.value(1, 0x0100, DT.INT32) == 0
    assert bus.regs(1, 0x0105, 2) == [1, 1]  # off, arrears
    assert bus.value(1, 0x0000, DT.UINT32) == 200  # stopped at 2.00 kWh
    assert not bus.write(1, 0x0110, [0, 1000, 1]).isError()
    assert bus.regs(1, 0x0105, 2) == [0, 0]
    clock.advance(1200)  # 0.66 kWh counted, 0.99 yuan charged
    assert bus.value(1, 0x0100, DT.INT32) == 901


def test_supply_on_command_is_overruled_by_the_meters_own_arrears(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1", control_mode="meter", remaining_fen=0)
    assert not bus.write1(1, 0x0120, 0x55).isError()
    assert bus.regs(1, 0x0105, 2) == [1, 1]


def test_power_limit_trips_with_reason_3(one_meter, clock):
    meter, bus = one_meter("payfirst-prepaid-v1")
    meter.set_load(1500)
    assert not bus.write1(1, 0x0130, 100).isError()  # 1.00 kW
    clock.advance(2)
    assert bus.value(1, 0x0105, DT.UINT16) == 0
    clock.advance(1.5)
    assert bus.regs(1, 0x0105, 2) == [1, 3]
    assert bus.value(1, 0x000D, DT.INT16) == 0


def test_water_valve_command_closes_and_opens(one_meter, clock):
    meter, bus = one_meter("payfirst-water-v1")
    meter.set_load(800)
    assert not bus.write1(1, 0x0120, 0xAA).isError()
    clock.advance(3600)
    assert bus.regs(1, 0x0000, 3) == [0, 0, 0]  # no litres, no flow
    assert not bus.write1(1, 0x0120, 0x55).isError()
    assert bus.value(1, 0x0002, DT.UINT16) == 800
    assert bus.write1(1, 0x0130, 10).exception_code == 2  # no power limit on water
