"""One gateway's bus work for a cycle: read every due meter, then make each meter what it should be.

Level-triggered: whatever happened before (a lost command, a gateway that was down), each cycle compares
the desired state with what the meter reports and writes only where they differ, reading back to confirm.

One bad meter never stops a bus: a write the meter refuses (a Modbus exception) or that cannot even be
encoded (a value its register cannot hold) is an outcome of that meter, and the next meter is written.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from portal.metering.cycle import Observation, gateway_down
from worker.meters.codec import (
    set_keep_power,
    set_power_limit,
    set_price,
    set_supply,
    write_deduction,
    write_purchase,
)
from worker.meters.errors import GatewayDown, MeterError, Unsupported
from worker.meters.gateway import GatewayClient
from worker.meters.poll import poll_gateway
from worker.meters.profiles import Profile

log = logging.getLogger(__name__)
#: what a value that no register can hold raises while it is encoded (before the bus is touched)
UNWRITABLE = (ValueError, TypeError, OverflowError, Unsupported)


class MeterPlan(NamedTuple):
    """What the platform wants of one meter this cycle.

    A named tuple, not a dataclass: a cycle plans every meter, and its plans are pickled to the buses' process
    (10,030 plans: `plan_for` 33 -> 20 ms, unpickled in 13 -> 4 ms)."""

    meter_id: int
    unit_id: int
    profile: Profile
    due: bool
    desired: str  # "on" / "off"
    #: why: arrears, remote (a person), over_power, restored...
    desired_reason: str
    keep_power: bool
    meter_mode: bool
    inferred_actual: str | None  # last acknowledged supply, for meters that cannot report it
    power_limit_w: int | None
    #: the platform's view of the meter's one count sequence: writes acknowledged, purchases' sum
    purchase_count: int
    purchase_total_fen: int
    #: money writes waiting, oldest first: (command id, "purchase" or "deduction", amount_fen)
    writes: tuple[tuple[int, str, int | None], ...] = ()
    #: read the power-limit register back this cycle (it is not in the regular poll's blocks)
    check_limit: bool = False
    #: meter mode: the price the meter should charge itself, when it is due for a check this cycle
    price_e4: int | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """The result of one write: `value` is what the meter now holds."""

    meter_id: int
    #: supply, keep_power, power_limit, price, purchase, deduction (value: (count, amount)), purchase_mismatch,
    #: error (the meter's reconciliation failed as a whole)
    kind: str
    ok: bool
    value: object = None
    inferred: bool = False
    command_id: int | None = None
    error: str | None = None
    actions: tuple[str, ...] = ()
    #: the value can never be written (its register cannot hold it): the command fails for good
    unwritable: bool = False


async def poll_and_reconcile(host: str, port: int, protocol: str, meters: list[MeterPlan], *,
                             timeout: float = 1.0, on_reading: Callable[[Observation], None] | None = None,
                             ) -> tuple[dict[int, Observation], list[WriteOutcome]]:
    """Read the gateway's due meters, then reconcile each one that answered.

    `on_reading` is called with each meter's observation as soon as the meter has answered.
    """
    due = [m for m in meters if m.due]
    observations: dict[int, Observation] = {}
    writes: list[WriteOutcome] = []
    client = GatewayClient(host, port, protocol, timeout=timeout, retries=0)
    try:
        def answered(i: int, fields: dict) -> None:
            obs = observations[due[i].meter_id] = Observation(due[i].meter_id, fields=fields)
            if on_reading is not None:
                on_reading(obs)

        results = await poll_gateway(client, [(m.unit_id, m.profile) for m in due], on_reading=answered, fields=True)
        for plan, res in zip(due, results):
            if isinstance(res, MeterError):
                observations[plan.meter_id] = Observation(plan.meter_id, error=str(res)[:120],
                                                          gateway_down=isinstance(res, GatewayDown))
        # Skipped meters share the gateway's fate, so a dead gateway is one gateway alarm even when
        # none of its meters was due; with nobody to read, one connect tells whether it answers.
        if due:
            down = gateway_down(observations.values())
        else:
            down = bool(meters) and not await client.connect(force=True)
        for plan in due:
            obs = observations[plan.meter_id]
            if obs.fields is not None:
                writes.extend(await _reconcile_isolated(client, plan, obs.fields))
    finally:
        await client.close()
    for plan in meters:
        if not plan.due:
            observations[plan.meter_id] = Observation(plan.meter_id, error="offline; skipped until its probe",
                                                      gateway_down=down)
    return observations, writes


async def _reconcile_isolated(client: GatewayClient, plan: MeterPlan, fields: dict) -> list[WriteOutcome]:
    """reconcile_meter, with whatever it did not foresee kept to this meter."""
    try:
        return await reconcile_meter(client, plan, fields)
    except Exception as exc:  # a bug or a surprise of one meter must not cost the rest of the bus
        log.exception("reconciling meter %s (unit %s) failed", plan.meter_id, plan.unit_id)
        return [WriteOutcome(plan.meter_id, "error", False, error=f"{type(exc).__name__}: {exc}")]


async def reconcile_meter(client: GatewayClient, plan: MeterPlan, fields: dict) -> list[WriteOutcome]:
    """The writes one meter needs now, in order: purchases, keep-power, power limit, supply."""
    out: list[WriteOutcome] = []
    caps = plan.profile.caps
    if plan.meter_mode and caps.purchase_count:
        out.extend(await _money(client, plan, fields))
    if caps.keep_power and fields.get("keep_power") is not None and fields["keep_power"] != plan.keep_power:
        out.append(await _write(client, plan, "keep_power", set_keep_power(plan.keep_power), plan.keep_power,
                                actions=("keep_power_on", "keep_power_off")))
    if plan.meter_mode and caps.internal_balance and plan.price_e4 is not None and await _price_differs(client, plan):
        out.append(await _write(client, plan, "price", set_price(plan.price_e4), plan.price_e4))
    if caps.power_limit and plan.power_limit_w and await _limit_differs(client, plan, fields):
        out.append(await _write(client, plan, "power_limit", set_power_limit(plan.power_limit_w), plan.power_limit_w))
    if caps.relay or caps.valve:
        actual = fields.get("supply") if caps.supply_readable else plan.inferred_actual
        # A meter-mode meter that tripped itself for arrears is right to: only a purchase restores it.
        # The meter's own trips are right: a meter-mode meter out of credit (only a purchase restores
        # it), and any meter above its power limit (the platform records it; a person closes it).
        reason = fields.get("trip_reason")
        own_trip = actual == "off" and (reason == "over_power" or (plan.meter_mode and reason == "arrears"))
        overruled = (own_trip and plan.desired == "on"
                     and not (reason == "over_power" and plan.desired_reason == "remote"))
        if actual != plan.desired and not overruled:
            out.append(await _write(client, plan, "supply", set_supply(plan.desired), plan.desired,
                                    inferred=not caps.supply_readable, actions=("trip", "close")))
    return out


async def _limit_differs(client: GatewayClient, plan: MeterPlan, fields: dict) -> bool:
    """Whether the meter's own power limit differs from the shop's (read back when due)."""
    current = fields.get("power_limit_w")
    if current is None and plan.check_limit:
        try:
            current = (await client.read_field(plan.unit_id, plan.profile, "power_limit_w")).power_limit_w
        except MeterError:
            return False  # not answering now: the next check tries again
    return current is not None and current != plan.power_limit_w


async def _price_differs(client: GatewayClient, plan: MeterPlan) -> bool:
    """Whether a meter-mode meter charges itself another price than the tariff's (read back when due)."""
    try:
        current = (await client.read_field(plan.unit_id, plan.profile, "price_e4")).price_e4
    except MeterError:
        return False  # not answering now: the next check tries again
    return current is not None and current != plan.price_e4


async def _write(client, plan, kind, command, value, *, inferred=False, actions=()) -> WriteOutcome:
    try:
        await client.write(plan.unit_id, plan.profile, command)
    except UNWRITABLE as exc:
        return WriteOutcome(plan.meter_id, kind, False, error=f"{type(exc).__name__}: {exc}", actions=actions,
                            unwritable=True)
    except MeterError as exc:
        return WriteOutcome(plan.meter_id, kind, False, error=f"{type(exc).__name__}: {exc}", actions=actions)
    return WriteOutcome(plan.meter_id, kind, True, value, inferred=inferred, actions=actions)


async def _money(client, plan: MeterPlan, fields: dict) -> list[WriteOutcome]:
    """Write each pending purchase and deduction exactly once, in order, checking the meter's count (one
    sequence for both) and purchase total against the platform's."""
    out = []
    count, total = plan.purchase_count, plan.purchase_total_fen
    m_count, m_total = fields.get("purchase_count"), fields.get("purchase_total_fen")
    pending = []
    for command_id, action, amount in plan.writes:
        if type(amount) is int and amount > 0:
            pending.append((command_id, action, amount))
        else:  # a command row without a usable amount can never be written; the others still can
            out.append(WriteOutcome(plan.meter_id, action, False, command_id=command_id, unwritable=True,
                                    error=f"no amount to write: {amount!r}", actions=(action,)))
    # Writes of earlier cycles whose acknowledgement (or commit) was lost show on the meter as exactly the
    # next k counts (and the purchases among them in its purchase total): record them, never write again.
    ahead, paid = 0, 0
    for k, (_, action, amount) in enumerate(pending, start=1):
        paid += amount if action == "purchase" else 0
        if m_count == count + k and m_total == total + paid:
            ahead = k
    for command_id, action, amount in pending[:ahead]:
        count, total = count + 1, total + (amount if action == "purchase" else 0)
        out.append(WriteOutcome(plan.meter_id, action, True, (count, amount), command_id=command_id))
    for command_id, action, amount in pending[ahead:]:
        if (m_count, m_total) != (count, total):
            break
        encode = write_purchase if action == "purchase" else write_deduction
        try:
            after = await client.write(plan.unit_id, plan.profile, encode(amount, count + 1))
        except UNWRITABLE as exc:  # this value can never be written; the next one still can
            out.append(WriteOutcome(plan.meter_id, action, False, command_id=command_id, unwritable=True,
                                    error=f"{type(exc).__name__}: {exc}", actions=(action,)))
            continue
        except MeterError as exc:
            out.append(WriteOutcome(plan.meter_id, action, False, command_id=command_id,
                                    error=f"{type(exc).__name__}: {exc}", actions=(action,)))
            return out
        bought = amount if action == "purchase" else 0
        m_count = after.purchase_count if after is not None else count + 1
        known = after is not None and after.purchase_total_fen is not None
        m_total = after.purchase_total_fen if known else total + bought
        count, total = count + 1, total + bought
        out.append(WriteOutcome(plan.meter_id, action, True, (count, amount), command_id=command_id))
    if m_count is not None and (m_count, m_total) != (count, total):
        out.append(WriteOutcome(plan.meter_id, "purchase_mismatch", False, (m_count, m_total), error=(
            f"meter reports {m_count} purchases / {m_total} fen, platform wrote {count} / {total} fen")))
    return out

