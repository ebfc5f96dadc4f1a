"""0110H purchases and 0114H deductions over Modbus TCP: one count sequence, and the limits of METERS.md."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusTcpClient

DT = AsyncModbusTcpClient.DATATYPE
PURCHASE, DEDUCTION = 0x0110, 0x0114


def words(amount: int, count: int) -> list[int]:
    return [amount >> 16 & 0xFFFF, amount & 0xFFFF, count]


def test_a_deduction_lowers_the_balance_takes_the_next_count_and_leaves_the_purchase_total(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1", remaining_fen=1_000)
    assert not bus.write(1, PURCHASE, words(500, 1)).isError()
    assert not bus.write(1, DEDUCTION, words(300, 2)).isError()
    assert bus.value(1, 0x0100, DT.INT32) == 1_200
    assert bus.value(1, 0x0102, DT.UINT16) == 2
    assert bus.value(1, 0x0103, DT.UINT32) == 500


def test_a_deduction_below_zero_trips_a_meter_mode_meter_and_a_purchase_restores_it(one_meter):
    _, bus = one_meter("payfirst-prepaid-v1", control_mode="meter", remaining_fen=200)
    assert not bus.write(1, DEDUCTION, words(500, 1)).isError()
    assert bus.value(1, 0x0100, DT.INT32) == -300
    assert bus.regs(1, 0x0105, 2) == [1, 1]  # off, arrears
    assert not bus.write(1, PURCHASE, words(1_000, 2)).isError()
    assert bus.regs(1, 0x0105, 2) == [0, 0]


@pytest.mark.parametrize("address", [PURCHASE, DEDUCTION])
@pytest.mark.parametrize("amount", [0, 10_000_001, 0xFFFFFFFF])
def test_an_amount_outside_1_to_10_million_fen_is_exception_03_and_changes_nothing(one_meter, address, amount):
    _, bus = one_meter("payfirst-prepaid-v1", remaining_fen=100)
    before = bus.regs(1, 0x0100, 9)
    assert bus.write(1, address, words(amount, 1)).exception_code == 3
    assert bus.regs(1, 0x0100, 9) == before


@pytest.mark.parametrize("address", [PURCHASE, DEDUCTION])
def test_the_limits_themselves_are_accepted(one_meter, address):
    _, bus = one_meter("payfirst-prepaid-v1", remaining_fen=0)
    assert not bus.write(1, address, words(1, 1)).isError()
    assert not bus.write(1, address, words(10_000_000, 2)).isError()
    sign = 1 if address == PURCHASE else -1
    assert bus.value(1, 0x0100, DT.INT32) == sign * 10_000_001


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_deduction_with_any_count_but_the_next_is_exception_03_and_changes_nothing(one_meter, count):
    _, bus = one_meter("payfirst-prepaid-v1", remaining_fen=100)
    assert not bus.write(1, PURCHASE, words(100, 1)).isError()
    before = bus.regs(1, 0x0100, 9)
    assert bus.write(1, DEDUCTION, words(50, count)).exception_code == 3
    assert bus.regs(1, 0x0100, 9) == before


def test_the_deduction_register_is_write_only_and_needs_three_words(one_meter):
    _, bus = one_meter("payfirst-water-v1")
    assert bus.read(1, DEDUCTION, 3).exception_code == 2
    assert bus.write(1, DEDUCTION, [0, 500]).exception_code == 2


def test_a_meter_without_a_prepaid_block_has_no_deduction_register(one_meter):
    _, bus = one_meter("acrel-ddsy1352")
    assert bus.write(1, DEDUCTION, words(100, 1)).exception_code == 2
