"""Gateway I/O against pymodbus's own server: reads, confirmed writes, timeouts, reconnects."""

import asyncio
import struct
import time

import pytest
from pymodbus import FramerType
from pymodbus.constants import ExcCodes

from worker.meters import (
    GatewayClient,
    GatewayDown,
    MeterOffline,
    MeterRejected,
    MeterTimeout,
    Unsupported,
    WriteNotConfirmed,
    get_profile,
    poll_gateway,
    set_keep_power,
    set_power_limit,
    set_supply,
    write_purchase,
)

PREPAID = get_profile("payfirst-prepaid-v1")
ACREL = get_profile("acrel-ddsy1352")
WATER = get_profile("payfirst-water-v1")
DTSU = get_profile("chint-dtsu666")
FRAMER = {"modbus-tcp": FramerType.SOCKET, "rtu-over-tcp": FramerType.RTU}
PROTOCOLS = pytest.mark.parametrize("protocol", sorted(FRAMER))
FAST = dict(timeout=0.15, reconnect_backoff=0.0)


def prepaid_mem(energy=1_234_567, remaining=10_000, count=3, total=30_000, supply=0, trip=0,
                keep=0, mode=1, limit=0):
    """A payfirst-prepaid-v1 meter's registers, word by word from METERS.md."""
    remaining &= 0xFFFFFFFF
    return {0x0000: energy >> 16, 0x0001: energy & 0xFFFF, 0x000B: 2205, 0x000C: 512,
            0x000D: 1100, 0x000F: 1150, 0x0010: 956,
            0x0100: remaining >> 16, 0x0101: remaining & 0xFFFF, 0x0102: count,
            0x0103: total >> 16, 0x0104: total & 0xFFFF, 0x0105: supply, 0x0106: trip,
            0x0107: keep, 0x0108: mode, 0x0130: limit, 0x0140: 0, 0x0141: 8000}


def prepaid_behaviour(unit, mem, address, values):
    """How the reference prepaid meter reacts to writes (only what these tests need)."""
    if address == 0x0120:
        if values not in ([0x55], [0xAA]):
            return ExcCodes.ILLEGAL_VALUE
        on = values == [0x55]
        mem[0x0105], mem[0x0106] = (0, 0) if on else (1, 2)
    elif address == 0x0121:
        mem[0x0107] = values[0]
    elif address == 0x0110:
        amount, count = values[0] << 16 | values[1], values[2]
        if count != mem[0x0102] + 1:
            return ExcCodes.ILLEGAL_VALUE
        remaining = (((mem[0x0100] << 16 | mem[0x0101]) ^ 0x80000000) - 0x80000000) + amount
        total = (mem[0x0103] << 16 | mem[0x0104]) + amount
        mem[0x0100], mem[0x0101] = (remaining >> 16) & 0xFFFF, remaining & 0xFFFF
        mem[0x0103], mem[0x0104], mem[0x0102] = total >> 16, total & 0xFFFF, count
    else:
        mem.update(zip(range(address, address + len(values)), values))
    return None


def f32(x):
    return struct.unpack(">HH", struct.pack(">f", x))


def dtsu_mem():
    """Only the DTSU666 registers METERS.md lists (floats with the table's scale)."""
    mem = {}
    for addr, x in ((0x2006, 2301.0), (0x2008, 2302.0), (0x200A, 2303.0), (0x200C, 1000.0),
                    (0x200E, 2000.0), (0x2010, 3000.0), (0x2012, 15000.0), (0x202A, 990.0),
                    (0x2044, 5001.0), (0x101E, 4321.5), (0x1028, 1.25)):
        mem[addr], mem[addr + 1] = f32(x)
    return mem


def run(coro):
    return asyncio.run(coro)


@PROTOCOLS
def test_prepaid_meter_is_read_in_two_requests(protocol, fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(remaining=-250, supply=1, trip=1)})

    async def go():
        async with serve_bus(bus, FRAMER[protocol]) as port:
            async with GatewayClient("127.0.0.1", port, protocol, **FAST) as gw:
                return await gw.read_meter(5, PREPAID)

    r = run(go())
    assert (r.energy_total, r.voltage, r.current) == (1_234_567, 2205, 512)
    assert (r.power_w, r.pf) == (1100, 956)
    assert (r.remaining_fen, r.purchase_count) == (-250, 3)
    assert (r.supply, r.trip_reason) == ("off", "arrears")
    assert bus.log == [(5, 3, 0x0000, 17), (5, 3, 0x0100, 9)]


def test_full_read_adds_power_limit_and_price(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(limit=440)})

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.read_meter(5, PREPAID, full=True)

    r = run(go())
    assert (r.power_limit_w, r.price_e4) == (4400, 8000)
    assert len(bus.log) == 4


def test_acrel_is_one_request(fake_bus, serve_bus):
    bus = fake_bus({2: {0x0000: 0, 0x0001: 500, 0x000B: 2300}})

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.read_meter(2, ACREL)

    r = run(go())
    assert (r.energy_total, r.voltage, r.energy_tou, r.supply) == (500, 2300, (0, 0, 0, 0), None)
    assert bus.log == [(2, 3, 0x0000, 17)]


@PROTOCOLS
def test_meter_that_refuses_gap_registers_is_read_group_by_group(protocol, fake_bus, serve_bus):
    bus = fake_bus({7: dtsu_mem()}, sparse=True)

    async def go():
        async with serve_bus(bus, FRAMER[protocol]) as port:
            async with GatewayClient("127.0.0.1", port, protocol, **FAST) as gw:
                first = await gw.read_meter(7, DTSU)
                before = gw.requests
                second = await gw.read_meter(7, DTSU)
                return first, second, gw.requests - before

    first, second, requests = run(go())
    assert first == second
    assert first.voltage_phases == (2301, 2302, 2303)
    assert first.current_phases == (100, 200, 300)
    assert (first.power_w, first.pf, first.frequency) == (1500, 990, 5001)
    assert (first.energy_total, first.energy_export) == (432_150, 125)
    assert requests == 5  # the wide plan is not retried once the meter refused it


def test_dtsu666_with_all_registers_is_two_requests(fake_bus, serve_bus):
    bus = fake_bus({7: dtsu_mem()})

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.read_meter(7, DTSU)

    assert run(go()).energy_total == 432_150
    assert bus.log == [(7, 3, 0x2006, 64), (7, 3, 0x101E, 12)]


@PROTOCOLS
def test_supply_command_is_written_then_read_back(protocol, fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem()}, on_write=prepaid_behaviour)

    async def go():
        async with serve_bus(bus, FRAMER[protocol]) as port:
            async with GatewayClient("127.0.0.1", port, protocol, **FAST) as gw:
                return await gw.write(5, PREPAID, set_supply("off"))

    r = run(go())
    assert (r.supply, r.trip_reason) == ("off", "remote")
    assert bus.log == [(5, 16, 0x0120, 1), (5, 3, 0x0100, 9)]


def test_power_limit_is_read_back_from_its_own_register(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem()}, on_write=prepaid_behaviour)

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.write(5, PREPAID, set_power_limit(3000))

    assert run(go()).power_limit_w == 3000
    assert bus.log == [(5, 16, 0x0130, 1), (5, 3, 0x0130, 1)]


def test_purchase_with_the_wrong_count_is_rejected_and_changes_nothing(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(count=3)}, on_write=prepaid_behaviour)

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            await gw.write(5, PREPAID, write_purchase(5000, 5))

    with pytest.raises(MeterRejected) as info:
        run(go())
    assert info.value.exception_code == 3
    assert bus.mem[5][0x0102] == 3 and bus.mem[5][0x0101] == 10_000


def test_purchase_is_applied_and_confirmed_by_its_count(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(remaining=-100, count=3)}, on_write=prepaid_behaviour)

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.write(5, PREPAID, write_purchase(5000, 4))

    r = run(go())
    assert (r.remaining_fen, r.purchase_count, r.purchase_total_fen) == (4900, 4, 35_000)


def test_purchase_whose_ack_was_lost_is_confirmed_by_read_back(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(count=3)}, on_write=prepaid_behaviour)
    bus.lose_ack.add((5, 0x0110))

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.write(5, PREPAID, write_purchase(5000, 4))

    r = run(go())
    assert r.purchase_count == 4 and r.remaining_fen == 15_000


def test_purchase_resent_by_the_retry_and_rejected_is_still_confirmed(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(count=3)}, on_write=prepaid_behaviour)
    bus.lose_ack.add((5, 0x0110))

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, retries=1, **FAST) as gw:
            return await gw.write(5, PREPAID, write_purchase(5000, 4))

    r = run(go())
    assert r.purchase_count == 4 and r.remaining_fen == 15_000
    assert [entry[1] for entry in bus.log] == [16, 16, 3]  # sent, resent (rejected), read back


def test_a_purchase_written_twice_is_rejected_the_second_time(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(count=3)}, on_write=prepaid_behaviour)

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            await gw.write(5, PREPAID, write_purchase(5000, 4))
            await gw.write(5, PREPAID, write_purchase(5000, 4))

    with pytest.raises(MeterRejected):
        run(go())
    assert bus.mem[5][0x0102] == 4 and bus.mem[5][0x0101] == 15_000


def test_write_the_meter_ignores_is_not_confirmed(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem()}, on_write=lambda unit, mem, address, values: None)

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            await gw.write(5, PREPAID, set_keep_power(True))

    with pytest.raises(WriteNotConfirmed) as info:
        run(go())
    assert info.value.reading.keep_power is False


def test_acrel_relay_write_is_acknowledged_but_not_readable(fake_bus, serve_bus):
    bus = fake_bus({2: {}})

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            return await gw.write(2, ACREL, set_supply("off"))

    assert run(go()) is None
    assert bus.log == [(2, 16, 0x0057, 2)]
    assert (bus.mem[2][0x0057], bus.mem[2][0x0058]) == (1, 1)


def test_unsupported_command_never_reaches_the_bus(fake_bus, serve_bus):
    bus = fake_bus({5: {}})

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            try:
                await gw.write(5, WATER, set_power_limit(1000))
            finally:
                assert gw.requests == 0

    with pytest.raises(Unsupported):
        run(go())


def test_silent_meter_times_out_then_is_skipped_until_its_probe(fake_bus, serve_bus):
    bus = fake_bus({9: {}}, dead=(9,))

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, offline_after=2, probe_interval=0.3,
                                 **FAST) as gw:
            for _ in range(2):
                with pytest.raises(MeterTimeout):
                    await gw.read_meter(9, PREPAID)
            sent, t = gw.requests, time.monotonic()
            with pytest.raises(MeterOffline):
                await gw.read_meter(9, PREPAID)
            assert gw.requests == sent and time.monotonic() - t < 0.05
            await asyncio.sleep(0.3)
            with pytest.raises(MeterTimeout) as probe:
                await gw.read_meter(9, PREPAID)
            assert not isinstance(probe.value, MeterOffline) and gw.requests == sent + 1

    run(go())


def test_a_run_of_dead_meters_does_not_drop_the_link(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem(), 9: {}}, dead=(9,))

    async def go():
        async with serve_bus(bus) as port:
            async with GatewayClient("127.0.0.1", port, timeout=0.05, offline_after=99) as gw:
                for _ in range(6):  # pymodbus alone would hang up after retries + 3
                    with pytest.raises(MeterTimeout):
                        await gw.read_meter(9, PREPAID)
                r = await gw.read_meter(5, PREPAID)
                return r, gw.connects

    r, connects = run(go())
    assert r.energy_total == 1_234_567 and connects == 1


def test_client_reconnects_when_the_gateway_comes_back(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem()})

    async def go():
        gw = GatewayClient("127.0.0.1", 0, **FAST)
        async with serve_bus(bus) as port:
            gw.port = port
            await gw.read_meter(5, PREPAID)
        with pytest.raises(GatewayDown):
            await gw.read_meter(5, PREPAID)
        async with serve_bus(bus, port=port):
            r = await gw.read_meter(5, PREPAID)
        await gw.close()
        return r, gw.connects

    r, connects = run(go())
    assert r.energy_total == 1_234_567 and connects == 2


def test_commands_and_polls_never_overlap_on_one_bus(fake_bus, serve_bus):
    bus = fake_bus({u: prepaid_mem() for u in (1, 2, 3, 4)}, delay=0.005,
                   on_write=prepaid_behaviour)

    async def go():
        async with serve_bus(bus) as port, GatewayClient("127.0.0.1", port, **FAST) as gw:
            meters = [(u, PREPAID) for u in (1, 2, 3, 4)]
            return await asyncio.gather(
                poll_gateway(gw, meters), gw.write(2, PREPAID, set_supply("off")),
                gw.write(3, PREPAID, set_keep_power(True)), gw.read_meter(4, PREPAID),
                poll_gateway(gw, meters))

    polled, off, keep, _, _ = run(go())
    assert bus.max_inflight == 1
    assert off.supply == "off" and keep.keep_power is True
    assert all(r.energy_total == 1_234_567 for r in polled)
    writes = [i for i, entry in enumerate(bus.log) if entry[1] == 16]
    for i in writes:  # each write is followed at once by its own read-back
        assert bus.log[i + 1] == (bus.log[i][0], 3, 0x0100, 9)


def test_one_client_serves_successive_event_loops(fake_bus, serve_bus):
    bus = fake_bus({5: prepaid_mem()})
    gw = GatewayClient("127.0.0.1", 0, **FAST)

    async def go():
        async with serve_bus(bus) as port:
            gw.port = port
            r = await gw.read_meter(5, PREPAID)
            await gw.close()
            return r

    assert run(go()) == run(go())  # e.g. one asyncio.run per RQ job


def test_protocol_and_retries_are_checked():
    with pytest.raises(ValueError):
        GatewayClient("127.0.0.1", protocol="rtu")
    with pytest.raises(ValueError):
        GatewayClient("127.0.0.1", retries=3)
