"""What a poll cycle loads and writes set-wise: plain rows of gateways, meters, states and commands.

A cycle touches every meter of a farm, so it loads them in a few Core queries (no ORM objects: building
20,000 of them took longer than the bus work of a fast farm) and CycleRecorder (portal.metering.cycle) writes
them back in one statement per batch. Only what a bus's plan needs is loaded before it starts (`load_gateways`,
then `load_meters` a part at a time, the first buses running while the rest load); the rest (`load_states`,
`last_intervals`) while they run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import DateTime, Text, cast, func, select
from sqlalchemy.orm import Session

from portal.bulk import among, chunks, driver_rows, postgresql
from portal.models import (
    CommandStatus,
    ControlCommand,
    ControlMode,
    Gateway,
    IntervalReading,
    Meter,
    MeterKind,
    MeterState,
    Supply,
    as_utc,
    utcnow,
)

#: how far back a cycle first looks for each meter's newest reading (at most two monthly partitions)
RECENT = timedelta(days=31)
#: PostgreSQL advisory-lock namespace: (BUS_LOCK, gateway id) is held by the cycle using that bus
BUS_LOCK = 0x5046

STATE_COLUMNS = tuple(c.name for c in MeterState.__table__.columns)
#: state columns a cycle does not need to know, only to write: a reading without them keeps the old value
KEPT_UNLESS_READ = ("energy_tou",)
#: state columns the I/O plan needs; the others are fetched while the buses already run
_PLAN_STATE = ("meter_id", "missed_polls", "supply_actual", "supply_inferred")
#: the state columns `load_states` adds
_LOADED_STATE = tuple(n for n in STATE_COLUMNS if n not in KEPT_UNLESS_READ and n not in _PLAN_STATE)
_METER_COLUMNS = ("id", "gateway_id", "site_id", "code", "kind", "account_id", "unit_id", "profile", "control_mode",
                  "tariff_id", "power_limit_w", "supply_desired", "desired_reason", "keep_power", "purchase_count",
                  "purchase_total_fen", "deduction_total_fen", "books_remaining_fen", "books_count", "books_net_fen",
                  "books_read_at")


@dataclass(frozen=True)
class CommandRow:
    """A pending command of a meter."""

    id: int
    action: str
    payload: dict | None


@dataclass
class MeterRow:
    """One meter as a cycle sees it: the meter's columns, its state row (None: never read), its commands."""

    id: int
    gateway_id: int
    site_id: int
    code: str
    kind: MeterKind
    account_id: int | None
    unit_id: int
    profile: str
    control_mode: ControlMode
    tariff_id: int | None
    power_limit_w: int | None
    supply_desired: Supply
    desired_reason: str
    keep_power: bool
    purchase_count: int
    purchase_total_fen: int
    deduction_total_fen: int
    #: meter mode: the books as of the last accounted read (portal.metering.books); None before the first
    books_remaining_fen: int | None
    books_count: int | None
    books_net_fen: int | None
    books_read_at: datetime | None
    state: dict | None = None
    commands: list[CommandRow] = field(default_factory=list)


# load_meters builds MeterRow from a row by position: its first fields are the columns, in the same order
assert tuple(f.name for f in fields(MeterRow))[:len(_METER_COLUMNS)] == _METER_COLUMNS


def _typed(columns) -> tuple[tuple[int, Callable], ...]:
    """What the driver's values of these columns need to be what the ORM gives (`driver_rows` converts nothing):
    (position, conversion) for each enum (its member by value) and each timestamp (in UTC)."""
    out = []
    for i, column in enumerate(columns):
        if getattr(column.type, "enum_class", None) is not None:
            out.append((i, column.type.enum_class))
        elif isinstance(getattr(column.type, "impl", None), DateTime):
            out.append((i, as_utc))
    return tuple(out)


def _converted(row: tuple, typed: tuple[tuple[int, Callable], ...]) -> list:
    values = list(row)
    for i, convert in typed:
        if values[i] is not None:
            values[i] = convert(values[i])
    return values


_M, _S = Meter.__table__, MeterState.__table__
#: a part's meters with what the plan needs of their states (straight to the driver, `driver_rows`)
_METERS_SQL = (f"SELECT {', '.join(f'm.{n}' for n in _METER_COLUMNS)}, {', '.join(f's.{n}' for n in _PLAN_STATE)} "
               "FROM meters m LEFT JOIN meter_states s ON s.meter_id = m.id WHERE m.gateway_id = ANY(%b::bigint[]) "
               "ORDER BY m.gateway_id, m.unit_id")
_METERS_TYPED = _typed([*(_M.c[n] for n in _METER_COLUMNS), *(_S.c[n] for n in _PLAN_STATE)])
_STATES_SQL = f"SELECT meter_id, {', '.join(_LOADED_STATE)} FROM meter_states WHERE meter_id = ANY(%b::bigint[])"
_STATES_TYPED = _typed([_S.c.meter_id, *(_S.c[n] for n in _LOADED_STATE)])


@dataclass
class GatewayRow:
    """One gateway and its meters, in unit-id order."""

    id: int
    code: str
    site_id: int
    host: str
    port: int
    protocol: str
    online: bool
    missed_cycles: int
    last_seen_at: datetime | None
    #: how many meters it has (`load_gateways`); `meters` holds them once `load_meters` loaded them
    meter_count: int = 0
    meters: list[MeterRow] = field(default_factory=list)


def lock_buses(session: Session, gateway_ids: list[int] | None) -> None:
    """Hold each gateway's bus until the caller commits, so two cycles of one gateway never overlap (and
    nothing else that writes a meter's readings, such as a meter swap, runs in the middle of a cycle)."""
    # A command's poll and the minute's poll can run on two workers at once; without this both would
    # talk on one RS485 bus, and both would plan the same writes from the same stale rows.
    if not postgresql(session):
        return  # the embedded demo runs its jobs one at a time on one thread
    ids = select(Gateway.id).order_by(Gateway.id)  # one order everywhere: no deadlock between cycles
    if gateway_ids is not None:
        ids = ids.where(Gateway.id.in_(gateway_ids))
    ids = ids.subquery()
    session.execute(select(func.pg_advisory_xact_lock(BUS_LOCK, ids.c.id)))


def load_gateways(session: Session, gateway_ids: list[int] | None) -> list[GatewayRow]:
    """The gateways (all when None) in id order, each with its number of meters but not the meters yet
    (`load_meters`): a cycle loads those a part at a time, and runs the first buses while it loads the rest."""
    session.flush()  # the queries here are Core: send what the session holds first
    g, m = Gateway.__table__, Meter.__table__
    count = select(func.count()).where(m.c.gateway_id == g.c.id).scalar_subquery().label("meter_count")
    gq = select(*(g.c[n] for n in (
        "id", "code", "site_id", "host", "port", "protocol", "online", "missed_cycles", "last_seen_at",
    )), count).order_by(g.c.id)
    if gateway_ids is not None:
        gq = gq.where(g.c.id.in_(gateway_ids))
    gateways = [GatewayRow(**r._asdict()) for r in session.execute(gq)]
    for gw in gateways:
        gw.protocol = getattr(gw.protocol, "value", gw.protocol)
    return gateways


def load_meters(session: Session, gateways: list[GatewayRow]) -> None:
    """The gateways' meters with their pending commands and what the plan needs of their states, in two queries
    (the rest of the states: `load_states`)."""
    if not gateways:
        return
    by_id = {gw.id: gw for gw in gateways}
    m, s = _M, _S
    meters: dict[int, MeterRow] = {}
    n = len(_METER_COLUMNS)  # by position: 10,000 rows by name cost a third of the loading
    if postgresql(session):  # straight to the driver: ten thousand rows a cycle (portal.bulk.driver_rows)
        found = [_converted(r, _METERS_TYPED) for r in driver_rows(session, _METERS_SQL, (list(by_id),))]
    else:
        found = session.execute(
            select(*(m.c[name] for name in _METER_COLUMNS), *(s.c[name].label(f"s_{name}") for name in _PLAN_STATE))
            .outerjoin(s, s.c.meter_id == m.c.id).where(m.c.gateway_id.in_(list(by_id)))
            .order_by(m.c.gateway_id, m.c.unit_id)).all()  # fetched at once: iterating fetches row by row
    for r in found:
        meter = MeterRow(*r[:n])
        if r[n] is not None:  # the state's meter_id: the meter was read before
            meter.state = dict(zip(_PLAN_STATE, r[n:]))
        meters[meter.id] = meter
        by_id[meter.gateway_id].meters.append(meter)
    c = ControlCommand.__table__
    cq = (select(c.c.id, c.c.meter_id, c.c.action, c.c.payload)
          .where(c.c.status == CommandStatus.PENDING, c.c.meter_id.in_(select(m.c.id).where(
              m.c.gateway_id.in_(list(by_id))))).order_by(c.c.id))
    for r in session.execute(cq):
        meters[r.meter_id].commands.append(CommandRow(r.id, r.action, r.payload))


def load_states(session: Session, meters: dict[int, MeterRow]) -> None:
    """Complete the state rows `load_meters` started with the columns the recording needs."""
    with_state = [m.id for m in meters.values() if m.state is not None]
    unread = dict.fromkeys(KEPT_UNLESS_READ)
    if postgresql(session):  # straight to the driver: ten thousand rows a cycle (portal.bulk.driver_rows)
        found = [_converted(r, _STATES_TYPED) for r in driver_rows(session, _STATES_SQL, (with_state,))]
    else:
        found = [r for part in chunks(with_state) for r in session.execute(
            select(_S.c.meter_id, *(_S.c[n] for n in _LOADED_STATE)).where(among(session, _S.c.meter_id, part))).all()]
    for r in found:  # by position
        state = meters[r[0]].state
        state.update(zip(_LOADED_STATE, r[1:]))
        state.update(unread)


class LastInterval(NamedTuple):
    """A meter's newest interval reading, as `last_intervals` finds it."""

    meter_id: int
    interval_start: datetime
    energy_total: int
    #: its JSON text, parsed only by a cycle that bills across the boundary
    energy_tou: str | None


def last_intervals(session: Session, meter_ids: list[int], now: datetime | None = None) -> dict:
    """The newest interval reading of each meter, by meter id: its meter_id, interval_start, energy_total and
    energy_tou as JSON text (parsed only by a cycle that bills across the boundary, and only then).

    On PostgreSQL one index probe per meter (LATERAL ... LIMIT 1): a max() per meter would read every
    reading the meter ever had, a month of them after a month.
    """
    meter_ids = list(meter_ids)
    if not meter_ids:
        return {}
    if postgresql(session):
        # The readings are partitioned by month (portal.metering.partitions), and an ORDER BY ... LIMIT 1 probes
        # every partition's index: first the recent months alone (pruned to two partitions), then, for the
        # meters not read lately, all of them. Straight to the driver, as `load_states`.
        found = {}
        for since in ((now or utcnow()) - RECENT, None):
            missing = [m for m in meter_ids if m not in found]
            if not missing:
                break
            recent = "AND interval_start > %s " if since is not None else ""
            sql = ("SELECT r.meter_id, r.interval_start, r.energy_total, r.energy_tou::text "
                   "FROM unnest(%b::bigint[]) AS m(id) CROSS JOIN LATERAL "
                   f"(SELECT * FROM interval_readings WHERE meter_id = m.id {recent}"
                   "ORDER BY interval_start DESC LIMIT 1) AS r")
            for r in driver_rows(session, sql, (missing, since) if since is not None else (missing,)):
                found[r[0]] = LastInterval(r[0], as_utc(r[1]), r[2], r[3])
        return found
    # SQLite (the demo): the newest reading's time by one probe of the primary key per meter, then that row (a
    # max() grouped by meter reads every reading, a year of them after the demo's backfill: 1.3 s a gateway)
    m, t = Meter.__table__, IntervalReading.__table__
    tou = cast(t.c.energy_tou, Text).label("energy_tou")
    newest = (select(t.c.interval_start).where(t.c.meter_id == m.c.id).order_by(t.c.interval_start.desc()).limit(1)
              .correlate(m).scalar_subquery())
    stmt = (select(t.c.meter_id, t.c.interval_start, t.c.energy_total, tou)
            .join(m, m.c.id == t.c.meter_id).where(m.c.id.in_(meter_ids), t.c.interval_start == newest))
    return {r.meter_id: r for r in session.execute(stmt)}


def new_state(meter_id: int, now: datetime) -> dict:
    """The state row of a meter read for the first time."""
    state = dict.fromkeys(STATE_COLUMNS)
    state.update(meter_id=meter_id, online=False, supply_inferred=False, missed_polls=0, over_limit_reads=0,
                 updated_at=now)
    return state


