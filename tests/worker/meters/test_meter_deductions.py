"""The driver's deduction (0114H) against the METERS.md table and the independent simulator."""

import asyncio

import pytest

from worker.meters import (
    GatewayClient,
    MeterRejected,
    Unsupported,
    encode,
    get_profile,
    write_deduction,
    write_purchase,
)
from worker.simulator import ManualClock, SimGatewaySpec, SimMeterSpec, SimulatorThread

PREPAID = get_profile("payfirst-prepaid-v1")
WATER = get_profile("payfirst-water-v1")


@pytest.mark.no_db
def test_a_deduction_is_amount_then_count_at_0114h_confirmed_by_the_count():
    w = encode(PREPAID, write_deduction(123_456, 8))
    assert (w.address, w.registers, w.confirm, w.expect) == (0x0114, (0x0001, 0xE240, 8), "purchase_count", 8)
    assert encode(WATER, write_deduction(5, 1)).address == 0x0114


@pytest.mark.no_db
def test_a_meter_without_a_prepaid_block_cannot_be_deducted():
    with pytest.raises(Unsupported):
        encode(get_profile("acrel-ddsy1352"), write_deduction(100, 1))


@pytest.mark.no_db
@pytest.mark.parametrize("amount, count", [(0, 1), (100, 0), (-5, 1)])
def test_a_deduction_needs_a_positive_amount_and_count(amount, count):
    with pytest.raises(ValueError):
        write_deduction(amount, count)


@pytest.mark.no_db
def test_an_amount_no_register_holds_fails_while_encoding_before_the_bus():
    with pytest.raises(ValueError, match="does not fit u32"):
        encode(PREPAID, write_deduction(99_999_999_999, 1))


def test_purchases_and_deductions_share_the_count_on_the_simulator():
    spec = SimGatewaySpec("GW1", meters=[SimMeterSpec(1, "payfirst-prepaid-v1", remaining_fen=1_000)])

    async def go(port):
        async with GatewayClient("127.0.0.1", port, timeout=0.5) as gw:
            bought = await gw.write(1, PREPAID, write_purchase(500, 1))
            taken = await gw.write(1, PREPAID, write_deduction(200, 2))
            with pytest.raises(MeterRejected) as again:
                await gw.write(1, PREPAID, write_deduction(200, 2))
            with pytest.raises(MeterRejected) as too_much:
                await gw.write(1, PREPAID, write_deduction(10_000_001, 3))
            return bought, taken, again.value, too_much.value

    with SimulatorThread([spec], clock=ManualClock()) as sim:
        bought, taken, again, too_much = asyncio.run(go(sim.port("GW1")))
        shown = sim.meter("GW1", 1).snapshot()
    assert (bought.purchase_count, taken.purchase_count) == (1, 2)
    assert (taken.remaining_fen, taken.purchase_total_fen) == (1_300, 500)
    assert again.exception_code == 3 and too_much.exception_code == 3
    assert (shown["remaining_fen"], shown["purchase_count"]) == (1_300, 2)
