"""Poll cycles: every meter of a gateway in turn, and many gateways in parallel.

Different buses run in parallel; one bus is strictly sequential (the gateway's lock).
A poll never raises for a meter: each meter gets its `Reading` (or its fields, see `poll_gateway`) or its
`MeterError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence

from .codec import Reading
from .errors import GatewayDown, MeterError, MeterOffline, MeterTimeout
from .gateway import GatewayClient
from .profiles import Profile

log = logging.getLogger(__name__)

Meter = tuple[int, Profile]  # (unit id on the bus, profile)
Result = Reading | dict | MeterError


async def poll_gateway(client: GatewayClient, meters: Sequence[Meter], *, silent_limit: int = 3,
                       on_reading: Callable[[int, Reading | dict], None] | None = None,
                       fields: bool = False) -> list[Result]:
    """Read every meter on one gateway; results in the order of `meters`.

    `on_reading(index, reading)` is called as each meter answers, before the next request. `fields`: each
    reading as the dict of its fields (`GatewayClient.read_fields`), as a poll cycle records it, not a `Reading`.
    """
    read = client.read_fields if fields else client.read_meter
    results: list[Result | None] = [None] * len(meters)
    if not meters:
        return []
    # one connect attempt per cycle: a dead gateway costs one timeout, not one per meter
    if not await client.connect(force=True):
        down = GatewayDown(f"{client} unreachable")
        return [down] * len(meters)
    # Known-offline meters are skipped until their probe is due, and probed last, so a dead
    # meter costs one timeout per probe interval. The start rotates, so a run of dead meters
    # cannot open every cycle and pass for a silent bus (below).
    n = len(meters)
    start, client.cursor = client.cursor % n, client.cursor % n + 1
    online, probes = [], []
    for i in ((start + k) % n for k in range(n)):
        unit = meters[i][0]
        if not client.is_offline(unit):
            online.append(i)
        elif client.probe_due(unit):
            probes.append(i)
        else:
            results[i] = MeterOffline(f"unit {unit} offline until its next probe")
    # a gateway whose TCP side is up but whose bus answers nothing (a cut RS485 line) would
    # otherwise cost a timeout per meter; after a silent cycle one timeout decides
    limit = 1 if client.silent else silent_limit
    answered, streak, timed_out = False, 0, []
    order = online + probes
    for pos, i in enumerate(order):
        unit, profile = meters[i]
        try:
            results[i] = reading = await read(unit, profile)
            answered, streak = True, 0
            if on_reading is not None:
                on_reading(i, reading)
        except GatewayDown as exc:
            for j in order[pos:]:
                results[j] = exc
            break
        except MeterTimeout as exc:
            results[i] = exc
            streak += 1
            timed_out.append(unit)
            if not answered and streak >= limit:
                silent = GatewayDown(f"{client}: bus silent, {streak} meters unanswered")
                for j in order[pos + 1:]:
                    results[j] = silent
                client.forget_misses(timed_out)  # the gateway's fault, not the meters'
                await client.reset()
                break
        except MeterError as exc:  # garbage or a Modbus exception: the bus works
            results[i] = exc
            answered, streak = True, 0
        except Exception as exc:
            log.exception("unexpected error polling unit %s on %s", unit, client)
            err = MeterError(f"unit {unit}: unexpected {type(exc).__name__}: {exc}")
            err.__cause__ = exc
            results[i] = err
    client.silent = bool(order) and not answered and bool(timed_out)
    return results  # type: ignore[return-value]


async def poll_many(gateways: Iterable[tuple[GatewayClient, Sequence[Meter]]], *,
                    concurrency: int = 200) -> list[list[Result]]:
    """Poll many gateways in parallel, at most `concurrency` at once; one result list each."""
    sem = asyncio.Semaphore(concurrency)

    async def one(client: GatewayClient, meters: Sequence[Meter]) -> list[Result]:
        async with sem:
            return await poll_gateway(client, meters)

    return await asyncio.gather(*(one(c, m) for c, m in gateways))
