"""What a poll cycle means: latest state, 15-minute readings, validation, alarms, billable deltas.

The poller (worker/poller.py) talks Modbus and hands over plain observations; this module decides and
writes rows. It knows nothing about registers or sockets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.alarms import clear_alarm, raise_many
from portal.models import AlarmKind, Gateway, IntervalReading, Meter, MeterKind, MeterState, Supply

INTERVAL = timedelta(minutes=15)
#: missed polls before a meter is offline (alarm), and cycles before a gateway is
METER_OFFLINE_AFTER = 3
GATEWAY_OFFLINE_AFTER = 2
#: a known-offline meter is probed every this many cycles, so it costs one timeout now and then
PROBE_EVERY = 5
#: consecutive reads above the shop's power limit before the platform trips it
OVER_LIMIT_READS = 3
#: physical ceilings for the jump check when no limit is set: 100 kW, 10 m³/h
MAX_POWER_W = 100_000
MAX_FLOW_LPH = 10_000

STATE_FIELDS = ("energy_total", "energy_tou", "power_w", "remaining_fen", "purchase_count",
                "purchase_total_fen", "trip_reason")


@dataclass(frozen=True)
class Observation:
    """One meter in one cycle: its logical fields, or why there are none."""

    meter_id: int
    fields: dict | None = None
    error: str | None = None
    gateway_down: bool = False


@dataclass(frozen=True)
class Delta:
    """Validated consumption of one meter over one interval, for billing."""

    meter_id: int
    account_id: int | None
    interval_start: datetime
    amount: int  # 0.01 kWh or litres
    energy_tou: tuple | None = None
    #: when the previous interval reading was taken: the delta was used over [since, interval_start)
    since: datetime | None = None


@dataclass
class CycleResult:
    """What a cycle recorded, for the caller (billing, logs, benchmarks)."""

    read: int = 0
    missed: int = 0
    deltas: list[Delta] = field(default_factory=list)
    alarms: list[dict] = field(default_factory=list)
    #: alarms to close, by kind: one statement per kind at the end of the gateway, not one per meter
    cleared: dict[AlarmKind, list[str]] = field(default_factory=dict)
    over_limit: list[Meter] = field(default_factory=list)


def interval_start(at: datetime) -> datetime:
    """The 15-minute boundary at or before `at` (UTC)."""
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def gateway_down(observations) -> bool:
    """Nothing answered and the driver blamed the gateway: refused, dropped, or a bus that stays silent."""
    blamed = False
    for o in observations:
        if o.fields is not None:
            return False
        blamed = blamed or o.gateway_down
    return blamed


def due_for_poll(meter: Meter) -> bool:
    """Skip a known-offline meter except on its probe cycles."""
    st = meter.state
    if st is None or st.missed_polls < METER_OFFLINE_AFTER:
        return True
    return (st.missed_polls - METER_OFFLINE_AFTER) % PROBE_EVERY == PROBE_EVERY - 1


def last_intervals(session: Session, meter_ids: list[int]) -> dict[int, IntervalReading]:
    """The newest interval reading of each meter.

    On PostgreSQL one index probe per meter (LATERAL ... LIMIT 1): a max() per meter would read every
    reading the meter ever had, a month of them after a month.
    """
    meter_ids = list(meter_ids)
    if not meter_ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        cols = IntervalReading.__table__.columns
        names = ", ".join(f"r.{c.name}" for c in cols)
        stmt = text(
            f"SELECT {names} FROM unnest(CAST(:ids AS bigint[])) AS m(id) CROSS JOIN LATERAL "
            "(SELECT * FROM interval_readings WHERE meter_id = m.id ORDER BY interval_start DESC LIMIT 1) AS r"
        ).bindparams(ids=meter_ids).columns(*cols)
        rows = session.execute(select(IntervalReading).from_statement(stmt)).scalars()
        return {r.meter_id: r for r in rows}
    newest = (select(IntervalReading.meter_id, func.max(IntervalReading.interval_start).label("at"))
              .where(IntervalReading.meter_id.in_(meter_ids)).group_by(IntervalReading.meter_id).subquery())
    rows = session.execute(select(IntervalReading).join(
        newest, (IntervalReading.meter_id == newest.c.meter_id) & (IntervalReading.interval_start == newest.c.at)
    )).scalars()
    return {r.meter_id: r for r in rows}


def record_cycle(session: Session, gateway: Gateway, meters: list[Meter], observations: dict[int, Observation],
                 now: datetime, previous: dict[int, IntervalReading] | None = None) -> CycleResult:
    """Write one gateway's cycle: states, interval readings, gateway and meter alarms; return deltas.

    `previous`: the meters' newest interval readings when the caller fetched them for many gateways at once.
    """
    result = CycleResult()
    boundary = interval_start(now)
    if previous is None:
        previous = last_intervals(session, [m.id for m in meters])
    down = gateway_down(observations.values())
    _record_gateway(session, gateway, down, now, result)
    for meter in meters:
        st = meter.state
        if st is None:
            st = meter.state = MeterState(meter_id=meter.id, missed_polls=0, over_limit_reads=0, online=False)
            session.add(st)
        obs = observations.get(meter.id)
        if obs is None or obs.fields is None:
            _record_miss(meter, st, obs, down, gateway.online, result)
            continue
        result.read += 1
        _record_reading(session, meter, st, obs.fields, now, boundary, previous.get(meter.id), result)
    for kind, subjects in result.cleared.items():
        clear_alarm(session, kind, subjects)
    raise_many(session, result.alarms)
    session.flush()
    return result


def _record_gateway(session: Session, gw: Gateway, down: bool, now: datetime, result: CycleResult) -> None:
    subject = f"gateway:{gw.id}"
    if down:
        gw.missed_cycles += 1
        if gw.missed_cycles >= GATEWAY_OFFLINE_AFTER:
            gw.online = False
            result.alarms.append(dict(kind=AlarmKind.GATEWAY_OFFLINE, subject=subject, site_id=gw.site_id,
                                      gateway_id=gw.id, message=f"gateway {gw.code} ({gw.host}:{gw.port}) not answering"))
        return
    if gw.missed_cycles or not gw.online:
        result.cleared.setdefault(AlarmKind.GATEWAY_OFFLINE, []).append(subject)
    gw.online, gw.missed_cycles, gw.last_seen_at = True, 0, now


def _record_miss(meter: Meter, st: MeterState, obs: Observation | None, down: bool, gateway_online: bool,
                 result: CycleResult) -> None:
    result.missed += 1
    if down:
        # The gateway's fault, not the meter's: it raises one alarm of its own, and counting the miss here
        # would leave the meter skipped (its commands waiting) for cycles after the gateway is back.
        st.online = st.online and gateway_online
        return
    st.missed_polls += 1
    if st.missed_polls >= METER_OFFLINE_AFTER:
        st.online = False
        why = obs.error if obs and obs.error else "skipped while offline"
        result.alarms.append(dict(kind=AlarmKind.METER_OFFLINE, subject=f"meter:{meter.id}",
                                  site_id=meter.site_id, meter_id=meter.id, account_id=meter.account_id,
                                  message=f"meter {meter.code} not answering ({why})"))


def _record_reading(session, meter, st, fields, now, boundary, last, result) -> None:
    if st.missed_polls >= METER_OFFLINE_AFTER or not st.online:
        result.cleared.setdefault(AlarmKind.METER_OFFLINE, []).append(f"meter:{meter.id}")
    energy = fields.get("energy_total")
    suspect = _validate_energy(meter, st, energy, now, last, result)
    st.online, st.missed_polls, st.last_seen_at, st.updated_at = True, 0, now, now
    for name in STATE_FIELDS:
        value = fields.get(name)
        if value is not None or name == "trip_reason":
            setattr(st, name, list(value) if isinstance(value, tuple) else value)
    st.voltage_dv, st.current_ca, st.pf_milli = fields.get("voltage"), fields.get("current"), fields.get("pf")
    if fields.get("keep_power") is not None:
        st.keep_power_actual = fields["keep_power"]
    if fields.get("supply") is not None:
        st.supply_actual, st.supply_inferred = Supply(fields["supply"]), False
    if energy is None:
        return
    if suspect:
        # A reset or impossible jump: the new value becomes the baseline, and nothing is billed across it.
        session.add(IntervalReading(meter_id=meter.id, interval_start=now, energy_total=energy,
                                    energy_tou=_tou(fields), delta=None))
    elif last is None or last.interval_start < boundary:
        delta = energy - last.energy_total if last is not None else None
        session.add(IntervalReading(meter_id=meter.id, interval_start=boundary, energy_total=energy,
                                    energy_tou=_tou(fields), delta=delta))
        if delta:
            tou = _tou_delta(fields, last)
            result.deltas.append(Delta(meter.id, meter.account_id, boundary, delta, tou, since=last.interval_start))
    _check_power(meter, st, fields.get("power_w"), result,
                 tripped_itself=fields.get("trip_reason") == "over_power" and fields.get("supply") == "off")


def _validate_energy(meter, st, energy, now, last, result) -> bool:
    """True when the register went backwards or jumped further than the supply allows."""
    if energy is None:
        return False
    ref = last.energy_total if last is not None else st.energy_total
    ref_at = last.interval_start if last is not None else st.last_seen_at
    if ref is None:
        return False
    problem = None
    if energy < ref:
        problem = f"energy register went back from {ref} to {energy} (reset or tamper); not billed"
    elif ref_at is not None:
        hours = max((now - ref_at).total_seconds(), 60) / 3600
        if meter.kind == MeterKind.WATER:
            ceiling = MAX_FLOW_LPH * hours
        else:
            ceiling = (meter.power_limit_w or MAX_POWER_W) * 1.5 * hours / 10  # W·h -> 0.01 kWh
        if energy - ref > ceiling + 100:
            problem = f"energy jumped by {energy - ref} in {hours:.2f} h, beyond what the supply allows; not billed"
    if problem is None:
        return False
    result.alarms.append(dict(kind=AlarmKind.TAMPER, subject=f"meter:{meter.id}", site_id=meter.site_id,
                              meter_id=meter.id, account_id=meter.account_id, message=f"{meter.code}: {problem}"))
    return True


def _check_power(meter: Meter, st: MeterState, power_w: int | None, result: CycleResult,
                 tripped_itself: bool = False) -> None:
    if tripped_itself:  # the meter saw its limit exceeded for 3 s and opened: record it as ours
        closing = any(c.action == "close" for c in meter.pending_commands)  # unless a person just closed it
        if not closing:
            result.over_limit.append(meter)
        return
    if not meter.power_limit_w or power_w is None or power_w <= meter.power_limit_w:
        st.over_limit_reads = 0
        return
    st.over_limit_reads += 1
    if st.over_limit_reads >= OVER_LIMIT_READS:
        result.over_limit.append(meter)


def _tou(fields: dict) -> list | None:
    tou = fields.get("energy_tou")
    return list(tou) if tou is not None else None


def _tou_delta(fields: dict, last: IntervalReading | None) -> tuple | None:
    now_tou = fields.get("energy_tou")
    if now_tou is None or last is None or last.energy_tou is None:
        return None
    parts = tuple(a - b for a, b in zip(now_tou, last.energy_tou))
    return parts if all(p >= 0 for p in parts) else None
