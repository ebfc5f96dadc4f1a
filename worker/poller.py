"""The poller: read every meter of a gateway, reconcile relays to their desired state, record the cycle.

One job per gateway (`poll_gateway_job`), enqueued every minute by the cron and at once after any
command. The Modbus part runs in asyncio beside the recording (worker/buses.py: one connection per gateway,
one request at a time on a bus, gateways in parallel; on a thread for a job's gateway, in a child process for a
cycle of many); the recording part (portal.metering.cycle, then
portal.metering.billing, and for meter-mode meters portal.metering.books) runs here at the same time, in one
transaction, which ends with the books check of the meter-mode shops polled.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.alarms import raise_alarm
from portal.audit import audit
from portal.control.commands import MONEY_WRITES
from portal.control.polls import request_poll
from portal.metering.billing import bill_deltas
from portal.metering.books import post_usage
from portal.metering.books_check import check_books, start_books
from portal.metering.cycle import CycleRecorder, Observation, due_for_poll
from portal.metering.rows import GatewayRow, MeterRow, load_gateways, load_meters, lock_buses
from portal.models import AlarmKind, ControlCommand, ControlMode, Meter, Site, Supply, utcnow
from portal.notify.alarms import tell_raised
from portal.settings import current
from portal.stopwatch import Parts, part, timing
from portal.tariffs.pricing import Version
from portal.tariffs.versions import Versions
from worker.buses import Buses, GatewayPlan, in_child, responsive
from worker.meters.profiles import get_profile
from worker.relays import MeterPlan

log = logging.getLogger(__name__)
#: rows recorded in memory before they are written (one multi-row upsert). Each batch costs a dozen statements
#: whatever its size; at 2,000 rather than 500 a 10,030-meter cycle writes 5-6 batches, not 11-20, and its last one
#: after the buses takes 0.03-0.1 s (measured in alternating runs: steady 1.19 -> 1.13 s; the boundary cycle
#: 1.58-1.81 s either way)
FLUSH_ROWS = 2000
#: a cycle loads its meters in parts, the buses of each part starting as it is loaded: the first of about this many
#: meters, each part after it this many times larger (10,030 meters: 1,003, 4,012, then the other 5,015)
LOAD_FIRST = 1000
LOAD_GROWTH = 4


@dataclass
class CycleStats:
    """Figures of one cycle, printed by `poll --once` and the benchmark."""

    gateways: int = 0
    meters: int = 0
    read: int = 0
    missed: int = 0
    writes: int = 0
    #: the loading (locks, rows, plans: the first buses start during it); the buses; after the last bus (the
    #: rest of the recording, billing). The recording mostly happens during the buses, on the other thread.
    load_seconds: float = 0.0
    io_seconds: float = 0.0
    record_seconds: float = 0.0
    #: CPU seconds of the process that ran the buses, when they ran in a child (worker/buses.py); on a thread
    #: their CPU is this process's own
    io_cpu_seconds: float = 0.0
    #: the cycle's wall time cut into parts on the recording thread (portal.stopwatch): load, bus wait (for the
    #: buses' next answers), record (readings, states, alarms, roll-ups), bill (pricing and posting, meter-mode
    #: usage debits), rules (balance rules), books (meter-mode books check); they add up to the cycle's wall time
    parts: dict[str, float] = field(default_factory=dict)


#: a meter's power-limit register is read back (and rewritten if wrong) once per this many minutes
LIMIT_CHECK_MINUTES = 15


class MeterPrices:
    """The price in force for each meter-mode meter (0.0001 yuan per kWh / m³): what it charges itself, for the
    meters of each part of a cycle as it is loaded (`add`); each site's default tariff and each tariff's version are
    read once, whichever part first needs them.

    A meter keeps one price (0140H), so the platform gives meter-mode meters flat tariffs only
    (portal.tariffs.admin refuses the others); a time-of-use or tiered version met here anyway (data from
    before that rule) gives the meter its base price: the flat period's, or the first tier's.
    """

    def __init__(self, session: Session, now: datetime):
        self.session, self.now = session, now
        #: meter id -> price, for the meters added so far
        self.prices: dict[int, int] = {}
        self._defaults: dict[int, int | None] = {}  # site id -> its default tariff
        self._versions: dict[int, Version | None] = {}  # tariff id -> its version in force now (None: none yet)

    def add(self, gateways: list[GatewayRow]) -> dict[int, int]:
        """Price these gateways' meter-mode meters too; the prices so far."""
        meters = [m for gw in gateways for m in gw.meters if m.control_mode == ControlMode.METER]
        if not meters:
            return self.prices
        sites = {m.site_id for m in meters} - self._defaults.keys()
        if sites:
            self._defaults.update(self.session.execute(
                select(Site.id, Site.default_tariff_id).where(Site.id.in_(sites))).all())
        tariff_of = {m.id: m.tariff_id or self._defaults.get(m.site_id) for m in meters}
        tariffs = set(tariff_of.values()) - {None} - self._versions.keys()
        if tariffs:
            versions = Versions(self.session, tariffs)
            self._versions.update((t, versions.at(t, self.now)) for t in tariffs)
        for meter_id, tariff_id in tariff_of.items():
            version = self._versions.get(tariff_id)
            if version is not None:
                self.prices[meter_id] = version.unit_price_e4
        return self.prices


def plan_for(gw: GatewayRow, now: datetime, prices: dict[int, int] | None = None) -> GatewayPlan:
    """The gateway's I/O plan: which meters to read and what each should be."""
    plans = []
    prices = prices or {}
    for m in gw.meters:
        st = m.state
        # Spread the extra reads over the quarter hour; a meter never read before is checked at once.
        check_now = st is None or now.minute % LIMIT_CHECK_MINUTES == m.id % LIMIT_CHECK_MINUTES
        inferred = st["supply_actual"] if st and st["supply_inferred"] and st["supply_actual"] else None
        plans.append(MeterPlan(
            meter_id=m.id, unit_id=m.unit_id, profile=get_profile(m.profile), due=due_for_poll(st),
            desired=m.supply_desired.value, desired_reason=m.desired_reason, keep_power=m.keep_power,
            meter_mode=m.control_mode == ControlMode.METER, inferred_actual=inferred and inferred.value,
            power_limit_w=m.power_limit_w, purchase_count=m.purchase_count,
            purchase_total_fen=m.purchase_total_fen, check_limit=m.power_limit_w is not None and check_now,
            # a payload without an amount fails on the bus as unwritable, for this meter alone
            writes=tuple((c.id, c.action, (c.payload or {}).get("amount_fen")) for c in m.commands
                         if c.action in MONEY_WRITES),
            price_e4=prices.get(m.id) if check_now else None,
        ))
    return GatewayPlan(gw.id, gw.host, gw.port, gw.protocol, plans)


def run_cycle(session: Session, gateway_ids: list[int] | None = None, *, concurrency: int | None = None,
              timeout: float | None = None, now: datetime | None = None) -> CycleStats:
    """One full cycle over the given gateways (all when None), recorded at `now`; the caller commits.

    The buses run beside this thread (worker/buses.py) while it records: each reading as it arrives, each gateway
    when its bus is done, in batches of FLUSH_ROWS. So a cycle lasts about as long as its slowest bus.
    `concurrency` (gateways at once) and `timeout` (seconds per request) default to the polling settings.
    """
    polling = current().polling
    concurrency = concurrency or polling.concurrency
    timeout = timeout or polling.request_timeout
    with responsive():
        return _cycle(session, gateway_ids, concurrency, timeout, now)


def _cycle(session: Session, gateway_ids: list[int] | None, concurrency: int, timeout: float,
           now: datetime | None) -> CycleStats:
    stats = CycleStats()
    started = time.perf_counter()
    now = now if now is not None else utcnow()
    with timing(Parts(rest="record")) as parts:
        with part("load"):
            lock_buses(session, gateway_ids)
            gateways = load_gateways(session, gateway_ids)
        by_id = {gw.id: gw for gw in gateways}
        child = in_child(len(gateways), sum(gw.meter_count for gw in gateways))
        with Buses(concurrency=concurrency, timeout=timeout, child=child) as buses:
            with part("load"):  # the first part's buses run while the rest load
                prices = MeterPrices(session, now)
                for group in _loading_parts(gateways):
                    load_meters(session, group)
                    priced = prices.add(group)
                    buses.add([plan_for(gw, now, priced) for gw in group])
                buses.planned()
            stats.load_seconds = time.perf_counter() - started
            rec = CycleRecorder(session, gateways, now)  # fetches the last readings while the buses run
            for batch in _waited(buses.events()):
                for event in batch:
                    if isinstance(event, Observation):
                        rec.reading(event)
                        continue
                    gw = by_id[event.gateway_id]
                    rec.gateway_done(gw, event.observations)
                    _apply_writes(session, rec, event.writes)
                    _settle(rec, gw, event.observations)
                    rec.accounted(gw)
                    stats.gateways += 1
                    stats.meters += len(gw.meters)
                    stats.writes += len(event.writes)
                if rec.pending >= FLUSH_ROWS:
                    _write(session, rec, now)
            stats.io_seconds = buses.seconds
        stats.io_cpu_seconds = buses.child_cpu
        tail = time.perf_counter()
        _write(session, rec, now)
        # meter-mode shops: books that began catch up with the ledger, then the ledger against what the meters hold
        with part("bill"):
            post_usage(session, start_books(session, rec.books.started, now), now, rec.days)
        rec.days.flush(session, now)
        with part("books"):
            shops = {m.account_id for gw in gateways for m in gw.meters
                     if m.control_mode == ControlMode.METER and m.account_id is not None}
            check_books(session, shops, prices.prices, now)
    stats.read, stats.missed = rec.result.read, rec.result.missed
    stats.record_seconds = time.perf_counter() - tail
    stats.parts = parts.seconds
    return stats


def _loading_parts(gateways: list[GatewayRow]) -> Iterator[list[GatewayRow]]:
    """The gateways in the parts a cycle loads them in: about LOAD_FIRST meters first, each part after it
    LOAD_GROWTH times the one before (a part costs two queries, and the first buses wait for the first)."""
    group: list[GatewayRow] = []
    meters, size = 0, LOAD_FIRST
    for gw in gateways:
        group.append(gw)
        meters += gw.meter_count
        if meters >= size:
            yield group
            group, meters, size = [], 0, size * LOAD_GROWTH
    if group:
        yield group


def _waited(events: Iterator[list]) -> Iterator[list]:
    """The buses' batches of events, the time spent waiting for each counted as `bus wait`."""
    while True:
        with part("bus wait"):
            batch = next(events, None)
        if batch is None:
            return
        yield batch


def _write(session: Session, rec: CycleRecorder, now: datetime) -> None:
    """Write what the cycle recorded so far, then act on it: over-power trips, billing, the daily roll-ups. The
    batch's interval readings are inserted last, after their billing has marked them.

    On a cycle of many gateways this runs while the other buses are still busy, so the shops billed
    here stay locked until the commit; a cron poll job holds one gateway, which bills at its end.
    """
    rec.flush()
    over_limit, deltas = rec.take_decisions()
    for meter in over_limit:
        _trip_over_power(session, meter)
    with part("bill"):
        # the batch's readings are inserted after their billing, already marked billed (no second write of each)
        bill_deltas(session, deltas, now=now, days=rec.days, unwritten=rec.billed)
        post_usage(session, rec.take_usage(), now, rec.days)
    rec.write_readings()
    rec.days.flush(session, now)  # the batch's readings and money to their days, each day's row once


def _apply_writes(session: Session, rec: CycleRecorder, writes: list) -> None:
    """Record what the meters acknowledged (supply states, purchases and deductions, commands done) and what
    they refused: a failed write is an alarm on that meter, and the rest of the gateway goes on."""
    for w in writes:
        meter = rec.meters[w.meter_id]
        if w.kind not in ("purchase_mismatch",):
            rec.write_outcome(meter, w.ok)
        if w.kind == "supply" and w.ok:
            rec.set_state(meter, supply_actual=Supply(w.value), supply_inferred=w.inferred)
            rec.finish(meter, ("trip", "close"), lambda c, off=w.value == "off": (c.action == "trip") == off)
        elif w.kind == "keep_power" and w.ok:
            rec.set_state(meter, keep_power_actual=w.value)
            rec.finish(meter, ("keep_power_on", "keep_power_off"), lambda c: True)
        elif w.kind in MONEY_WRITES and w.ok:
            rec.money_written(meter, w.kind, *w.value)
            rec.finish(meter, (w.kind,), lambda c, cid=w.command_id: c.id == cid)
            audit(session, "system:poller", f"meter.{w.kind}_written", "meter", meter.id, meter.site_id,
                  command_id=w.command_id, purchase_count=w.value[0], amount_fen=w.value[1])
        elif w.kind == "purchase_mismatch":
            rec.alarm(kind=AlarmKind.TAMPER, subject=f"meter:{meter.id}:purchases", site_id=meter.site_id,
                      message=f"{meter.code}: {w.error}", meter_id=meter.id, account_id=meter.account_id,
                      data=dict(what="meter_problem", meter=meter.code, problem=w.error))
        elif not w.ok:
            if w.unwritable and w.command_id is not None:
                rec.command_failed(meter, w.command_id, w.error or "")
            else:
                rec.command_error(meter, w.actions, w.error or "")
            what = "cannot be written (no register holds it)" if w.unwritable else "failed"
            rec.alarm(kind=AlarmKind.METER_OFFLINE, subject=f"meter:{meter.id}:write", site_id=meter.site_id,
                      meter_id=meter.id, account_id=meter.account_id,
                      message=f"{meter.code}: {w.kind} write {what}: {w.error}; the rest of its gateway is served",
                      data=dict(what="write_unwritable" if w.unwritable else "write_failed", meter=meter.code,
                                write=w.kind, error=w.error))


def _settle(rec: CycleRecorder, gw: GatewayRow, observations: dict[int, Observation]) -> None:
    """A supply command the meter already obeys needs no write: once the meter is read, it is done."""
    for meter in gw.meters:
        if not meter.commands:  # most meters, most cycles
            continue
        obs = observations.get(meter.id)
        if obs is not None and obs.fields is not None and meter.state["supply_actual"] == meter.supply_desired:
            off = meter.supply_desired == Supply.OFF
            rec.finish(meter, ("trip", "close"), lambda c, off=off: (c.action == "trip") == off)


def _trip_over_power(session: Session, row: MeterRow) -> None:
    """Power above the shop's limit for several reads: trip it, alarm, and tell who is concerned."""
    meter = session.get(Meter, row.id)
    if meter.supply_desired == Supply.OFF or meter.keep_power:
        return
    power_w = row.state["power_w"]
    meter.supply_desired, meter.desired_reason = Supply.OFF, "over_power"
    session.add(ControlCommand(meter_id=meter.id, action="trip", actor="system:power-limit",
                               reason=f"power above {meter.power_limit_w} W"))
    opened = raise_alarm(session, AlarmKind.OVER_POWER, f"meter:{meter.id}", meter.site_id,
                         f"{meter.code}: power {power_w} W above the limit {meter.power_limit_w} W; tripped",
                         data=dict(what="over_power", meter=meter.code, power_w=power_w, limit_w=meter.power_limit_w),
                         meter_id=meter.id, account_id=meter.account_id)
    tell_raised(session, [opened])  # the shop hears it at once, and not again as a plain supply off
    audit(session, "system:power-limit", "meter.over_power", "meter", meter.id, meter.site_id,
          power_w=power_w, limit_w=meter.power_limit_w)
    request_poll(session, meter.gateway_id)
