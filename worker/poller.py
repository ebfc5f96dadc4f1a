"""The poller: read every meter of a gateway, reconcile relays to their desired state, record the cycle.

One job per gateway (`poll_gateway_job`), enqueued every minute by the cron and at once after any
command. The Modbus part runs in asyncio (one connection per gateway, one request at a time on a bus,
gateways in parallel); the recording part is portal.metering and portal.billing in one transaction.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from portal.alarms import raise_alarm
from portal.audit import audit
from portal.billing import bill_deltas
from portal.control import request_poll
from portal.extensions import db
from portal.jobs import job, release_dedupe
from portal.metering import Observation, due_for_poll, last_intervals, record_cycle
from portal.models import (
    AlarmKind, CommandStatus, ControlCommand, ControlMode, Gateway, Meter, Site, Supply, utcnow,
)
from worker.meters.profiles import get_profile
from worker.reconcile import MeterPlan

log = logging.getLogger(__name__)
#: per-request timeout; a gateway that is down costs one of these per cycle
REQUEST_TIMEOUT = 1.0
#: PostgreSQL advisory-lock namespace: (BUS_LOCK, gateway id) is held by the cycle using that bus
BUS_LOCK = 0x5046


@dataclass
class GatewayPlan:
    """What one gateway's I/O needs, as plain data (no ORM objects cross into asyncio)."""

    gateway_id: int
    host: str
    port: int
    protocol: str
    meters: list[MeterPlan]


@dataclass
class GatewayOutcome:
    """What the bus said: an observation per meter and the outcome of every write."""

    observations: dict[int, Observation] = field(default_factory=dict)
    writes: list = field(default_factory=list)


@dataclass
class CycleStats:
    """Figures of one cycle, printed by `poll --once` and the benchmark."""

    gateways: int = 0
    meters: int = 0
    read: int = 0
    missed: int = 0
    writes: int = 0
    io_seconds: float = 0.0
    record_seconds: float = 0.0


@job("polling", timeout=300)
def poll_gateway_job(gateway_id: int) -> CycleStats:
    """Poll one gateway now (the cron's minute job, or right after a command)."""
    release_dedupe(f"poll:{gateway_id}")
    return run_cycle(db.session, [gateway_id])


@job("polling", timeout=60)
def schedule_polls() -> int:
    """Enqueue one poll job per gateway; a gateway whose job still waits is not queued twice."""
    ids = db.session.execute(select(Gateway.id).order_by(Gateway.id)).scalars().all()
    for gateway_id in ids:
        request_poll(db.session, gateway_id)
    return len(ids)


def lock_buses(session: Session, gateway_ids: list[int] | None) -> None:
    """Hold each gateway's bus until the caller commits, so two cycles of one gateway never overlap."""
    # A command's poll and the minute's poll can run on two workers at once; without this both would
    # talk on one RS485 bus, and both would plan the same writes from the same stale rows.
    if session.get_bind().dialect.name != "postgresql":
        return  # the embedded demo runs its jobs one at a time on one thread
    ids = select(Gateway.id).order_by(Gateway.id)  # one order everywhere: no deadlock between cycles
    if gateway_ids is not None:
        ids = ids.where(Gateway.id.in_(gateway_ids))
    ids = ids.subquery()
    session.execute(select(func.pg_advisory_xact_lock(BUS_LOCK, ids.c.id)))


def load_gateways(session: Session, gateway_ids: list[int] | None) -> list[Gateway]:
    """Gateways with their meters, states and pending commands, in three queries."""
    q = select(Gateway).order_by(Gateway.id).options(
        selectinload(Gateway.meters).selectinload(Meter.state),
        selectinload(Gateway.meters).selectinload(Meter.pending_commands),
    )
    if gateway_ids is not None:
        q = q.where(Gateway.id.in_(gateway_ids))
    return list(session.execute(q).scalars())


#: a meter's power-limit register is read back (and rewritten if wrong) once per this many minutes
LIMIT_CHECK_MINUTES = 15


def meter_prices(session: Session, gateways: list[Gateway], now: datetime) -> dict[int, int]:
    """The price in force for each meter-mode meter (0.0001 yuan per kWh / m³): what it charges itself.

    A meter keeps one price, so a time-of-use or tiered tariff gives it the version's base price.
    """
    from portal.billing import Versions

    meters = [m for gw in gateways for m in gw.meters if m.control_mode == ControlMode.METER]
    if not meters:
        return {}
    defaults = dict(session.execute(select(Site.id, Site.default_tariff_id).where(
        Site.id.in_({m.site_id for m in meters}))).all())
    tariff_of = {m.id: m.tariff_id or defaults.get(m.site_id) for m in meters}
    versions = Versions(session, set(tariff_of.values()) - {None})
    prices = {}
    for meter_id, tariff_id in tariff_of.items():
        version = versions.at(tariff_id, now)
        if version is not None:
            prices[meter_id] = version.unit_price_e4
    return prices


def plan_for(gw: Gateway, now: datetime | None = None, prices: dict[int, int] | None = None) -> GatewayPlan:
    """The gateway's I/O plan: which meters to read and what each should be."""
    plans = []
    minute = (now or utcnow()).minute
    prices = prices or {}
    for m in gw.meters:
        st = m.state
        # Spread the extra reads over the quarter hour; a meter never read before is checked at once.
        check_now = st is None or minute % LIMIT_CHECK_MINUTES == m.id % LIMIT_CHECK_MINUTES
        check_limit = m.power_limit_w is not None and check_now
        purchases = [(c.id, c.payload["amount_fen"]) for c in m.pending_commands if c.action == "purchase"]
        plans.append(MeterPlan(
            meter_id=m.id, unit_id=m.unit_id, profile=get_profile(m.profile), due=due_for_poll(m),
            desired=m.supply_desired.value, desired_reason=m.desired_reason, keep_power=m.keep_power, meter_mode=m.control_mode == ControlMode.METER,
            inferred_actual=st.supply_actual.value if st and st.supply_inferred and st.supply_actual else None,
            power_limit_w=m.power_limit_w, purchase_count=m.purchase_count,
            purchase_total_fen=m.purchase_total_fen, purchases=purchases, check_limit=check_limit,
            price_e4=prices.get(m.id) if check_now else None,
        ))
    return GatewayPlan(gw.id, gw.host, gw.port, gw.protocol.value, plans)


def run_cycle(session: Session, gateway_ids: list[int] | None = None, *, concurrency: int = 200,
              timeout: float = REQUEST_TIMEOUT, now: datetime | None = None) -> CycleStats:
    """One full cycle over the given gateways (all when None), recorded at `now`; the caller commits."""
    stats = CycleStats()
    lock_buses(session, gateway_ids)
    gateways = load_gateways(session, gateway_ids)
    prices = meter_prices(session, gateways, now or utcnow())
    plans = [plan_for(gw, now, prices) for gw in gateways]
    started = time.perf_counter()
    outcomes = asyncio.run(poll_plans(plans, concurrency, timeout))
    stats.io_seconds = time.perf_counter() - started
    now = now if now is not None else utcnow()
    deltas = []
    # every meter's newest interval reading in one query, not one per gateway
    previous = last_intervals(session, [m.id for gw in gateways for m in gw.meters])
    for gw, outcome in zip(gateways, outcomes):
        result = record_cycle(session, gw, gw.meters, outcome.observations, now, previous=previous)
        deltas.extend(result.deltas)
        _apply_writes(session, gw, outcome.writes, now)
        _settle(gw, outcome.observations, now)
        for meter in result.over_limit:
            _trip_over_power(session, meter)
        stats.gateways += 1
        stats.meters += len(gw.meters)
        stats.read += result.read
        stats.missed += result.missed
        stats.writes += len(outcome.writes)
    bill_deltas(session, deltas, now=now)
    stats.record_seconds = time.perf_counter() - started - stats.io_seconds
    return stats


async def poll_plans(plans: list[GatewayPlan], concurrency: int, timeout: float) -> list[GatewayOutcome]:
    """Every gateway in parallel (bounded); each bus strictly one request at a time."""
    from worker.reconcile import poll_and_reconcile

    sem = asyncio.Semaphore(concurrency)

    async def one(plan: GatewayPlan) -> GatewayOutcome:
        async with sem:
            observations, writes = await poll_and_reconcile(plan.host, plan.port, plan.protocol, plan.meters,
                                                            timeout=timeout)
            return GatewayOutcome(observations, writes)

    return await asyncio.gather(*(one(p) for p in plans))


def _apply_writes(session: Session, gw: Gateway, writes: list, now) -> None:
    """Record what the meters acknowledged: supply states, purchases, and commands done."""
    meters = {m.id: m for m in gw.meters}
    for w in writes:
        meter = meters[w.meter_id]
        if w.kind == "supply" and w.ok:
            st = meter.state
            st.supply_actual, st.supply_inferred = Supply(w.value), w.inferred
            _finish(meter, ("trip", "close"), now, lambda c: (c.action == "trip") == (w.value == "off"))
        elif w.kind == "keep_power" and w.ok:
            meter.state.keep_power_actual = w.value
            _finish(meter, ("keep_power_on", "keep_power_off"), now, lambda c: True)
        elif w.kind == "purchase" and w.ok:
            meter.purchase_count, meter.purchase_total_fen = w.value
            _finish(meter, ("purchase",), now, lambda c, cid=w.command_id: c.id == cid)
            audit(session, "system:poller", "meter.purchase_written", "meter", meter.id, meter.site_id,
                  command_id=w.command_id, purchase_count=w.value[0])
        elif w.kind == "purchase_mismatch":
            raise_alarm(session, AlarmKind.TAMPER, f"meter:{meter.id}:purchases", meter.site_id,
                        f"{meter.code}: {w.error}", meter_id=meter.id, account_id=meter.account_id)
        elif not w.ok:
            for c in meter.pending_commands:
                if c.action in w.actions:
                    c.error = (w.error or "")[:200]


def _settle(gw: Gateway, observations: dict[int, Observation], now) -> None:
    """A supply command the meter already obeys needs no write: once the meter is read, it is done."""
    for meter in gw.meters:
        obs, st = observations.get(meter.id), meter.state
        if obs is not None and obs.fields is not None and st.supply_actual == meter.supply_desired:
            off = meter.supply_desired == Supply.OFF
            _finish(meter, ("trip", "close"), now, lambda c: (c.action == "trip") == off)


def _finish(meter: Meter, actions: tuple[str, ...], now, matches) -> None:
    for c in meter.pending_commands:
        if c.action in actions and c.status == CommandStatus.PENDING and matches(c):
            c.status, c.applied_at, c.error = CommandStatus.APPLIED, now, ""


def _trip_over_power(session: Session, meter: Meter) -> None:
    """Power above the shop's limit for several reads: trip it, alarm, and tell who is concerned."""
    if meter.supply_desired == Supply.OFF or meter.keep_power:
        return
    meter.supply_desired, meter.desired_reason = Supply.OFF, "over_power"
    session.add(ControlCommand(meter_id=meter.id, action="trip", actor="system:power-limit",
                               reason=f"power above {meter.power_limit_w} W"))
    raise_alarm(session, AlarmKind.OVER_POWER, f"meter:{meter.id}", meter.site_id,
                f"{meter.code}: power {meter.state.power_w} W above the limit {meter.power_limit_w} W; tripped",
                meter_id=meter.id, account_id=meter.account_id)
    audit(session, "system:power-limit", "meter.over_power", "meter", meter.id, meter.site_id,
          power_w=meter.state.power_w, limit_w=meter.power_limit_w)
    request_poll(session, meter.gateway_id)


