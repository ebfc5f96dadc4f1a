"""Poll cycles: a down gateway costs one timeout, dead meters are skipped, buses run in parallel."""

import asyncio
import time

from worker.meters import (
    DecodeError,
    GatewayClient,
    GatewayDown,
    MeterOffline,
    MeterTimeout,
    Reading,
    get_profile,
    poll_gateway,
    poll_many,
)

PREPAID = get_profile("payfirst-prepaid-v1")
ACREL = get_profile("acrel-ddsy1352")
TIMEOUT = 0.15


def acrel_mem(energy=500):
    return {0x0000: energy >> 16, 0x0001: energy & 0xFFFF, 0x000B: 2200, 0x000C: 100}


def elapsed(coro):
    """(result, seconds) of running `coro` in a fresh event loop."""
    async def timed():
        t = time.monotonic()
        result = await coro
        return result, time.monotonic() - t
    return asyncio.run(timed())


def test_refused_gateway_fails_every_meter_at_once(refused_port):
    gw = GatewayClient("127.0.0.1", refused_port, timeout=TIMEOUT)
    results, took = elapsed(poll_gateway(gw, [(u, ACREL) for u in range(1, 21)]))
    assert all(isinstance(r, GatewayDown) for r in results) and len(results) == 20
    assert gw.requests == 0 and took < TIMEOUT


def test_unreachable_gateway_costs_one_timeout_not_one_per_meter(blackhole_port):
    gw = GatewayClient("127.0.0.1", blackhole_port, timeout=TIMEOUT)
    results, took = elapsed(poll_gateway(gw, [(u, ACREL) for u in range(1, 21)]))
    assert all(isinstance(r, GatewayDown) for r in results)
    assert TIMEOUT * 0.9 < took < TIMEOUT * 2


def test_gateway_with_a_silent_bus_gives_up_after_a_few_meters_then_after_one(silent):
    meters = [(u, ACREL) for u in range(1, 11)]

    async def go():
        async with silent() as port:
            gw = GatewayClient("127.0.0.1", port, timeout=TIMEOUT)
            first, t1 = await timed(poll_gateway(gw, meters, silent_limit=3))
            second, t2 = await timed(poll_gateway(gw, meters, silent_limit=3))
            await gw.close()
            return first, t1, second, t2, [gw.is_offline(u) for u, _ in meters]

    first, t1, second, t2, offline = asyncio.run(go())
    assert sum(isinstance(r, GatewayDown) for r in first) == 7
    assert 3 * TIMEOUT * 0.9 < t1 < 4 * TIMEOUT
    assert sum(isinstance(r, GatewayDown) for r in second) == 9 and t2 < 2 * TIMEOUT
    assert not any(offline)  # the bus was at fault, not the meters


async def timed(coro):
    t = time.monotonic()
    result = await coro
    return result, time.monotonic() - t


def test_dead_meter_is_skipped_until_its_probe_and_others_are_read(fake_bus, serve_bus):
    bus = fake_bus({u: acrel_mem(100 * u) for u in (1, 2, 3, 4)}, dead=(3,))
    meters = [(u, ACREL) for u in (1, 2, 3, 4)]

    async def go():
        async with serve_bus(bus) as port:
            gw = GatewayClient("127.0.0.1", port, timeout=TIMEOUT, offline_after=1,
                               probe_interval=60)
            first = await poll_gateway(gw, meters)
            second, took = await timed(poll_gateway(gw, meters))
            await gw.close()
            return first, second, took

    first, second, took = asyncio.run(go())
    assert [r.energy_total for r in first if isinstance(r, Reading)] == [100, 200, 400]
    assert isinstance(first[2], MeterTimeout) and isinstance(second[2], MeterOffline)
    assert [r.energy_total for i, r in enumerate(second) if i != 2] == [100, 200, 400]
    assert took < TIMEOUT


def test_due_probes_come_after_the_live_meters(fake_bus, serve_bus):
    bus = fake_bus({u: acrel_mem() for u in (1, 2, 3)}, dead=(1,))
    meters = [(u, ACREL) for u in (1, 2, 3)]

    async def go():
        async with serve_bus(bus) as port:
            gw = GatewayClient("127.0.0.1", port, timeout=TIMEOUT, offline_after=1,
                               probe_interval=0)
            await poll_gateway(gw, meters)
            bus.log.clear()
            gw.cursor = 0
            await poll_gateway(gw, meters)
            await gw.close()

    asyncio.run(go())
    assert [unit for unit, *_ in bus.log] == [2, 3, 1]


def test_garbage_is_reported_per_meter_and_the_meter_stays_online(fake_bus, serve_bus):
    bus = fake_bus({1: acrel_mem(), 2: {**acrel_mem(), 0x000B: 0xFFFF}})

    async def go():
        async with serve_bus(bus) as port:
            gw = GatewayClient("127.0.0.1", port, timeout=TIMEOUT, offline_after=1)
            results = await poll_gateway(gw, [(1, ACREL), (2, ACREL)])
            await gw.close()
            return results, gw.is_offline(2)

    (good, garbage), offline = asyncio.run(go())
    assert good.energy_total == 500 and isinstance(garbage, DecodeError) and not offline


def test_a_poll_for_fields_gives_each_reading_as_its_fields_and_errors_as_before(fake_bus, serve_bus):
    bus = fake_bus({1: acrel_mem(), 2: {**acrel_mem(), 0x000B: 0xFFFF}})
    seen = []

    async def go():
        async with serve_bus(bus) as port:
            gw = GatewayClient("127.0.0.1", port, timeout=TIMEOUT, offline_after=1)
            as_fields = await poll_gateway(gw, [(1, ACREL), (2, ACREL)], fields=True,
                                           on_reading=lambda i, r: seen.append((i, r)))
            as_readings = await poll_gateway(gw, [(1, ACREL)])
            await gw.close()
            return as_fields, as_readings

    (fields, garbage), (reading,) = asyncio.run(go())
    assert fields == {name: value for name in reading.__slots__ if (value := getattr(reading, name)) is not None}
    assert fields["energy_total"] == 500 and isinstance(garbage, DecodeError)
    assert seen == [(0, fields)]


def test_gateways_are_polled_in_parallel_within_the_bound(fake_bus, serve_bus, refused_port):
    buses = [fake_bus({1: acrel_mem(), 2: acrel_mem()}, delay=0.05) for _ in range(3)]

    async def go(concurrency):
        async with serve_bus(buses[0]) as p0, serve_bus(buses[1]) as p1, \
                serve_bus(buses[2]) as p2:
            gws = [GatewayClient("127.0.0.1", p, timeout=1.0) for p in (p0, p1, p2, refused_port)]
            meters = [(1, ACREL), (2, ACREL)]
            try:
                return await timed(poll_many([(gw, meters) for gw in gws],
                                             concurrency=concurrency))
            finally:
                for gw in gws:
                    await gw.close()

    (results, parallel) = asyncio.run(go(4))
    _, serial = asyncio.run(go(1))
    assert [len(r) for r in results] == [2, 2, 2, 2]
    assert all(isinstance(r, Reading) for rs in results[:3] for r in rs)
    assert all(isinstance(r, GatewayDown) for r in results[3])
    assert parallel < 0.2 and serial > 0.27  # 2 meters × 0.05 s per bus; 3 buses
