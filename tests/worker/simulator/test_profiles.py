"""Every documented register of every profile reads back with the METERS.md scale."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusTcpClient

DT = AsyncModbusTcpClient.DATATYPE
MEASUREMENT = [  # address, type, logical value from the snapshot
    (0x0000, DT.UINT32, lambda s: s["energy_total"]),
    (0x0002, DT.UINT32, lambda s: s["energy_tou"][0]),
    (0x0004, DT.UINT32, lambda s: s["energy_tou"][1]),
    (0x0006, DT.UINT32, lambda s: s["energy_tou"][2]),
    (0x0008, DT.UINT32, lambda s: s["energy_tou"][3]),
    (0x000A, DT.UINT16, lambda s: s["access_code"]),
    (0x000B, DT.UINT16, lambda s: s["voltage"]),
    (0x000C, DT.UINT16, lambda s: s["current"]),
    (0x000D, DT.INT16, lambda s: s["power_w"]),
    (0x000F, DT.UINT16, lambda s: s["apparent_va"]),
    (0x0010, DT.INT16, lambda s: s["pf"]),
]


def _run_an_evening(meter, clock, load=2200):
    """Put known, non-zero values everywhere: 2 h of flat then 1 h of sharp energy."""
    meter.set_load(load)
    clock.advance(7 * 3600)  # 12:00 -> 19:00 crosses flat and peak
    clock.advance(3600)  # 19:00 -> 20:00 sharp


@pytest.mark.parametrize("profile", ["acrel-ddsy1352", "payfirst-prepaid-v1"])
def test_measurement_block_reads_with_documented_scale(one_meter, clock, profile):
    meter, bus = one_meter(profile, energy_start=1_234_567)
    _run_an_evening(meter, clock)
    snap = meter.snapshot()
    for address, dt, expected in MEASUREMENT:
        assert bus.value(1, address, dt) == expected(snap), hex(address)
    assert bus.value(1, 0x000D, DT.INT16) == 2200  # 0.001 kW = W
    assert snap["energy_total"] == 1_234_567 + 8 * 220  # 0.01 kWh
    assert snap["energy_tou"][0] == 220  # sharp: 19:00-20:00 at 2.2 kW
    assert 2160 <= snap["voltage"] <= 2240 and 900 <= snap["pf"] <= 980
    # Current = P / (U x pf), in 0.01 A
    assert abs(snap["current"] - 2200 * 100 / (snap["voltage"] / 10 * snap["pf"] / 1000)) <= 1


def test_measurement_block_reads_in_one_request_with_reserved_word(one_meter, clock):
    meter, bus = one_meter("acrel-ddsy1352")
    _run_an_evening(meter, clock)
    regs = bus.regs(1, 0x0000, 17)
    snap = meter.snapshot()
    assert regs[0x000E] == 0  # not in the table: reserved, reads as zero
    assert regs[0x000D] == 2200 and regs[0x000B] == snap["voltage"]


@pytest.mark.parametrize("address", [0x0011, 0x0100, 0x0057, 0x2006, 0x0110])
def test_acrel_unmapped_addresses_are_exception_02(one_meter, address):
    _, bus = one_meter("acrel-ddsy1352")
    assert bus.read(1, address, 1).exception_code == 2


def test_read_running_past_a_block_is_exception_02(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1")
    assert bus.read(1, 0x0010, 2).exception_code == 2
    assert bus.read(1, 0x0105, 5).exception_code == 2


def test_prepaid_block_reads_balance_counts_and_status(one_meter):
    meter, bus = one_meter("payfirst-prepaid-v1", control_mode="meter", remaining_fen=-1234,
                           price_e4=123_456)
    meter.set_keep_power(True)
    meter.set_power_limit_w(4_560)
    meter.set_alarm_fen(1, 2_000)
    meter.set_alarm_fen(2, 70_000)
    assert bus.value(1, 0x0100, DT.INT32) == -1234
    assert bus.value(1, 0x0102, DT.UINT16) == 0
    assert bus.value(1, 0x0103, DT.UINT32) == 0
    assert bus.value(1, 0x0105, DT.UINT16) == 1  # off: tripped for arrears at start...
    assert bus.value(1, 0x0106, DT.UINT16) == 1  # ...reason arrears
    assert bus.value(1, 0x0107, DT.UINT16) == 1
    assert bus.value(1, 0x0108, DT.UINT16) == 1  # meter mode
    assert bus.value(1, 0x0130, DT.UINT16) == 456  # 0.01 kW
    assert bus.value(1, 0x0131, DT.UINT32) == 2_000
    assert bus.value(1, 0x0133, DT.UINT32) == 70_000
    assert bus.value(1, 0x0140, DT.UINT32) == 123_456
    assert bus.regs(1, 0x0100, 9) == [0xFFFF, 0xFB2E, 0, 0, 0, 1, 1, 1, 1]


def test_water_meter_reads_litres_flow_and_prepaid_block(one_meter, clock):
    meter, bus = one_meter("payfirst-water-v1", control_mode="meter", remaining_fen=900,
                           energy_start=70_000)
    meter.set_load(600)  # L/h
    clock.advance(1800)
    assert bus.value(1, 0x0000, DT.UINT32) == 70_300
    assert bus.value(1, 0x0002, DT.UINT16) == 600
    assert bus.value(1, 0x0100, DT.INT32) == 870  # 0.3 m³ at 1.0000 yuan/m³
    assert bus.value(1, 0x0105, DT.UINT16) == 0  # valve open
    assert bus.value(1, 0x0140, DT.UINT32) == 10_000


@pytest.mark.parametrize("address", [0x0003, 0x000B, 0x0130, 0x0120])
def test_water_meter_has_no_electric_registers(one_meter, address):
    _, bus = one_meter("payfirst-water-v1")
    assert bus.read(1, address, 1).exception_code == 2


def test_chint_floats_carry_the_documented_scale(one_meter, clock):
    meter, bus = one_meter("chint-dtsu666", energy_start=1_234_56)
    meter.set_load(9_000)
    clock.advance(3600)
    snap = meter.snapshot()
    f = DT.FLOAT32
    for i, address in enumerate((0x2006, 0x2008, 0x200A)):  # x 0.1 V
        assert bus.value(1, address, f) == snap["phase_voltage"][i]
        assert 2160 <= bus.value(1, address, f) <= 2240
    for i, address in enumerate((0x200C, 0x200E, 0x2010)):  # x 0.001 A
        assert bus.value(1, address, f) == snap["phase_current_ma"][i]
    phase_a_amps = bus.value(1, 0x200C, f) * 0.001
    assert abs(phase_a_amps * bus.value(1, 0x2006, f) * 0.1 * snap["pf"] / 1000 - 3000) < 5
    assert bus.value(1, 0x2012, f) == 90_000  # x 0.1 W
    assert bus.value(1, 0x202A, f) == snap["pf"]  # x 0.001
    assert 4995 <= bus.value(1, 0x2044, f) <= 5005  # x 0.01 Hz
    assert bus.value(1, 0x101E, f) == pytest.approx(1234.56 + 9.0, abs=0.005)  # kWh
    assert bus.value(1, 0x1028, f) == 0.0


@pytest.mark.parametrize("address", [0x0000, 0x0100, 0x2000, 0x2046, 0x4028])
def test_chint_unmapped_addresses_are_exception_02(one_meter, address):
    _, bus = one_meter("chint-dtsu666")
    assert bus.read(1, address, 2).exception_code == 2


def test_chint_refuses_every_write(one_meter):
    _, bus = one_meter("chint-dtsu666")
    assert bus.write(1, 0x2006, [0, 0]).exception_code == 2
