"""What a poll cycle means: latest state, 15-minute readings, validation, alarms, billable deltas.

The poller (worker/poller.py) talks Modbus and hands over plain observations; this module decides and
writes rows. It knows nothing about registers or sockets.

A cycle touches every meter of a farm, so it works on plain rows (portal/cycle_rows.py) and writes them
back set-wise (`CycleRecorder.flush`: one upsert per batch), not through ORM objects. Readings are
recorded as they arrive, while the other buses are still busy.
"""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from portal.alarms import clear_many, raise_many
from portal.bulk import insert_rows
from portal.metering.books import BooksRecorder, Usage
from portal.metering.daily import DayTotals
from portal.metering.rows import (
    KEPT_UNLESS_READ,
    STATE_COLUMNS,
    GatewayRow,
    MeterRow,
    last_intervals,
    load_states,
    new_state,
)
from portal.metering.supply import SupplyChange, off_alarm, tell_supply
from portal.models import (
    AlarmKind,
    CommandStatus,
    ControlCommand,
    Gateway,
    IntervalReading,
    MeterKind,
    MeterState,
    Supply,
)
from portal.notify.alarms import tell_cleared, tell_raised

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
#: a supply read off a meter by its value (an Enum call costs more than the rest of its handling)
_SUPPLY = {s.value: s for s in Supply}
STATE_FIELDS = ("energy_total", "energy_tou", "power_w", "remaining_fen", "purchase_count",
                "purchase_total_fen", "trip_reason")
#: those written only when the reading holds them (all but the trip reason: none now is news too)
_WHEN_READ = tuple(name for name in STATE_FIELDS if name != "trip_reason")


class Observation(NamedTuple):
    """One meter in one cycle: its logical fields, or why there are none.

    A named tuple, not a dataclass: a cycle makes one per meter twice (in the buses' process and again here), and
    a frozen dataclass's constructor costs twice a tuple's, its pickle three times."""

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
    over_limit: list[MeterRow] = field(default_factory=list)


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


def due_for_poll(state: dict | None) -> bool:
    """Skip a known-offline meter except on its probe cycles."""
    if state is None or state["missed_polls"] < METER_OFFLINE_AFTER:
        return True
    return (state["missed_polls"] - METER_OFFLINE_AFTER) % PROBE_EVERY == PROBE_EVERY - 1


class CycleRecorder:
    """Records one cycle as it happens: each reading when it arrives, each gateway's misses when it is done.

    Rows wait in memory until `flush()` (the caller flushes every few thousand rows and at the end), which
    writes them set-wise; the interval readings until `write_readings()`, after the caller has billed them
    (`billed`), so each is inserted once, already marked. The caller commits.
    """

    def __init__(self, session: Session, gateways: list[GatewayRow], now: datetime):
        self.session, self.now, self.boundary = session, now, interval_start(now)
        self.meters = {m.id: m for gw in gateways for m in gw.meters}
        load_states(session, self.meters)
        self.previous = last_intervals(session, list(self.meters), now)
        self.result = CycleResult()
        self._states: dict[int, dict] = {}  # meter id -> state row to write
        #: interval readings waiting to be written, by their key (meter id, interval start): the billing marks them
        self._readings: dict[tuple[int, datetime], dict] = {}
        self._gateways: list[dict] = []
        self._alarms: list[dict] = []
        self._cleared: dict[AlarmKind, list[str]] = {}
        self._applied: list[int] = []  # command ids the meters now obey
        self._errors: list[dict] = []  # command id, error
        self._failed: list[dict] = []  # command id, error: a value no register can hold, never to be written
        self._write_failed: set[int] = set()  # meters a write failed on this cycle
        self._write_done: set[int] = set()  # meters written without a failure this cycle
        self._supply: list[SupplyChange] = []  # shop meters whose relay or valve went off or on
        self._supply_off: dict[int, dict] = {}  # meter id -> its supply_off alarm, raised at the next flush
        #: meter-mode books: reads, acknowledged writes, usage debits (portal.metering.books)
        self.books = BooksRecorder(now)
        #: the daily roll-ups of the readings flushed and of the money billed for them, written by the caller
        #: once both are in (`days.flush`), so each meter's day moves once per batch
        self.days = DayTotals()

    @property
    def pending(self) -> int:
        """Rows waiting for the next flush."""
        return len(self._states) + len(self._readings)

    # -- what happened --------------------------------------------------------------------------

    def reading(self, obs: Observation) -> None:
        """A meter answered."""
        meter = self.meters[obs.meter_id]
        st = self._state(meter)
        self.result.read += 1
        fields, now = obs.fields, self.now
        if st["missed_polls"] >= METER_OFFLINE_AFTER or not st["online"]:
            self._cleared.setdefault(AlarmKind.METER_OFFLINE, []).append(f"meter:{meter.id}")
        energy = fields.get("energy_total")
        last = self.previous.get(meter.id)
        suspect = self._suspect_energy(meter, st, energy, last)
        st["online"], st["missed_polls"], st["last_seen_at"], st["updated_at"] = True, 0, now, now
        for name in _WHEN_READ:
            value = fields.get(name)
            if value is not None:
                st[name] = list(value) if isinstance(value, tuple) else value
        st["trip_reason"] = fields.get("trip_reason")
        st["voltage_dv"], st["current_ca"] = fields.get("voltage"), fields.get("current")
        st["pf_milli"] = fields.get("pf")
        if fields.get("keep_power") is not None:
            st["keep_power_actual"] = fields["keep_power"]
        supply = fields.get("supply")
        if supply is not None:
            supply = _SUPPLY.get(supply) or Supply(supply)
            self._supply_now(meter, st, supply, fields.get("trip_reason"))
            st["supply_actual"], st["supply_inferred"] = supply, False
        self.books.read(meter, fields)
        if energy is None:
            return
        if suspect:
            # A reset or impossible jump: the new value becomes the baseline, and nothing is billed across it.
            self._wait(dict(meter_id=meter.id, interval_start=now, energy_total=energy, energy_tou=_tou(fields),
                            delta=None, billed=False))
        elif last is None or last.interval_start < self.boundary:
            delta = energy - last.energy_total if last is not None else None
            self._wait(dict(meter_id=meter.id, interval_start=self.boundary, energy_total=energy,
                            energy_tou=_tou(fields), delta=delta, billed=False))
            if delta:
                self.result.deltas.append(Delta(meter.id, meter.account_id, self.boundary, delta,
                                                _tou_delta(fields, last.energy_tou), since=last.interval_start))
        self._check_power(meter, st, fields.get("power_w"),
                          tripped_itself=fields.get("trip_reason") == "over_power" and fields.get("supply") == "off")

    def gateway_done(self, gw: GatewayRow, observations: dict[int, Observation]) -> None:
        """A gateway's bus is finished: its own state, and the meters that did not answer."""
        # a poll that failed before (record_poll_failure) has gone through now
        self._cleared.setdefault(AlarmKind.GATEWAY_OFFLINE, []).append(f"gateway:{gw.id}:poll")
        down = gateway_down(observations.values())
        subject = f"gateway:{gw.id}"
        if down:
            gw.missed_cycles += 1
            if gw.missed_cycles >= GATEWAY_OFFLINE_AFTER:
                gw.online = False
                self._alarms.append(dict(kind=AlarmKind.GATEWAY_OFFLINE, subject=subject, site_id=gw.site_id,
                                         gateway_id=gw.id,
                                         message=f"gateway {gw.code} ({gw.host}:{gw.port}) not answering",
                                         data=dict(what="gateway_offline", gateway=gw.code,
                                                   address=f"{gw.host}:{gw.port}")))
        else:
            if gw.missed_cycles or not gw.online:
                self._cleared.setdefault(AlarmKind.GATEWAY_OFFLINE, []).append(subject)
            gw.online, gw.missed_cycles, gw.last_seen_at = True, 0, self.now
        self._gateways.append(dict(gid=gw.id, online=gw.online, missed_cycles=gw.missed_cycles,
                                   last_seen_at=gw.last_seen_at))
        for meter in gw.meters:
            obs = observations.get(meter.id)
            if obs is None or obs.fields is None:
                self._miss(meter, obs, down, gw.online)

    def _miss(self, meter: MeterRow, obs: Observation | None, down: bool, gateway_online: bool) -> None:
        st = self._state(meter)
        self.result.missed += 1
        if down:
            # The gateway's fault, not the meter's: it raises one alarm of its own, and counting the miss here
            # would leave the meter skipped (its commands waiting) for cycles after the gateway is back.
            st["online"] = st["online"] and gateway_online
            return
        st["missed_polls"] += 1
        if st["missed_polls"] >= METER_OFFLINE_AFTER:
            st["online"] = False
            why = obs.error if obs and obs.error else "skipped while offline"
            self._alarms.append(dict(kind=AlarmKind.METER_OFFLINE, subject=f"meter:{meter.id}",
                                     site_id=meter.site_id, meter_id=meter.id, account_id=meter.account_id,
                                     message=f"meter {meter.code} not answering ({why})",
                                     data=dict(what="meter_offline", meter=meter.code, why=why)))

    def set_state(self, meter: MeterRow, **values) -> None:
        """What a write changed on the meter (supply, keep-power): written with the next flush."""
        st = self._state(meter)
        if values.get("supply_actual") is not None:
            self._supply_now(meter, st, Supply(values["supply_actual"]), None)
        st.update(values)

    def _supply_now(self, meter: MeterRow, st: dict, supply: Supply, tripped_for: str | None) -> None:
        """The meter's supply is seen (read, or acknowledged after a write): a change raises or clears its
        supply_off alarm, and a shop's is told."""
        before = st["supply_actual"]
        if before is not None and before == supply:  # a Supply, or its value: the same str
            return  # no crossing: nothing to write, the cycle's cost stays with the meters that changed
        change = SupplyChange(meter, supply, tripped_for)
        if supply == Supply.OFF:
            self._supply_off[meter.id] = off_alarm(change)
        else:
            # never read before (new, or swapped) counts too. Clears run before raises at the flush, so an off seen
            # earlier in this batch is dropped here rather than raised after its own clear.
            self._supply_off.pop(meter.id, None)
            self._cleared.setdefault(AlarmKind.SUPPLY_OFF, []).append(f"meter:{meter.id}")
        if meter.account_id is not None and before is not None:
            self._supply.append(change)

    def money_written(self, meter: MeterRow, action: str, count: int, amount_fen: int) -> None:
        """A purchase or deduction the meter acknowledged as write number `count` (its books need it)."""
        self.books.written(meter, action, count, amount_fen)

    def write_outcome(self, meter: MeterRow, ok: bool) -> None:
        """Whether a write to the meter went through: a failure is an alarm until a cycle writes it again."""
        (self._write_done if ok else self._write_failed).add(meter.id)

    def finish(self, meter: MeterRow, actions: tuple[str, ...], matches) -> None:
        """The meter's pending commands of these actions that `matches` accepts are applied."""
        done = [c for c in meter.commands if c.action in actions and matches(c)]
        self._applied.extend(c.id for c in done)
        meter.commands = [c for c in meter.commands if c not in done]

    def command_error(self, meter: MeterRow, actions: tuple[str, ...], error: str) -> None:
        """The meter's pending commands of these actions failed this time (tried again next cycle)."""
        self._errors.extend(dict(cid=c.id, error=error[:200]) for c in meter.commands if c.action in actions)

    def command_failed(self, meter: MeterRow, command_id: int, error: str) -> None:
        """A command whose value can never be written: failed for good, so it no longer blocks the meter."""
        self._failed.append(dict(cid=command_id, error=error[:200]))
        meter.commands = [c for c in meter.commands if c.id != command_id]

    def alarm(self, **row) -> None:
        self._alarms.append(row)

    def accounted(self, gw: GatewayRow) -> None:
        """A gateway's writes are recorded: account its meter-mode reads, settle its meters' write alarms."""
        self.books.account(gw.meters)
        for meter in gw.meters:
            if meter.id in self._write_failed:
                continue
            if meter.id in self._write_done:
                self._cleared.setdefault(AlarmKind.METER_OFFLINE, []).append(f"meter:{meter.id}:write")

    def take_usage(self) -> list[Usage]:
        """The meter-mode usage debits accounted since the last call."""
        return self.books.take_usage()

    def take_decisions(self) -> tuple[list[MeterRow], list[Delta]]:
        """The meters over their power limit and the billable deltas recorded since the last call."""
        taken = self.result.over_limit, self.result.deltas
        self.result.over_limit, self.result.deltas = [], []
        return taken

    # -- writing ---------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is waiting but the readings: states (one upsert), gateways, commands, alarms. The readings
        wait for their billing (`billed`, then `write_readings`), so each is inserted once, billed or not."""
        s = self.session
        if self._states:
            insert_rows(s, MeterState.__table__, list(self._states.values()), conflict=["meter_id"],
                        update=STATE_COLUMNS[1:], keep=KEPT_UNLESS_READ)
            self._states.clear()
        if self._gateways:
            g = Gateway.__table__
            s.execute(update(g).where(g.c.id == bindparam("gid")).values(
                online=bindparam("online"), missed_cycles=bindparam("missed_cycles"),
                last_seen_at=bindparam("last_seen_at")), self._gateways)
            self._gateways.clear()
        self.books.flush(s)
        c = ControlCommand.__table__
        if self._applied:
            s.execute(update(c).where(c.c.id.in_(self._applied), c.c.status == CommandStatus.PENDING)
                      .values(status=CommandStatus.APPLIED, applied_at=self.now, error=""))
            self._applied.clear()
        if self._errors:
            s.execute(update(c).where(c.c.id == bindparam("cid")).values(error=bindparam("error")), self._errors)
            self._errors.clear()
        if self._failed:
            s.execute(update(c).where(c.c.id == bindparam("cid"), c.c.status == CommandStatus.PENDING)
                      .values(status=CommandStatus.FAILED, error=bindparam("error")), self._failed)
            self._failed.clear()
        closed = [a for kind, subjects in self._cleared.items() for a in clear_many(s, kind, subjects)]
        self._cleared.clear()
        opened = raise_many(s, self._alarms + list(self._supply_off.values()) + self.books.alarms)
        self._alarms.clear()
        self._supply_off.clear()
        self.books.alarms.clear()
        # who is concerned is told in the same transaction: the staff of what went offline, broke or came back,
        # the shops of what their supply did
        tell_cleared(s, closed)
        tell_raised(s, opened)
        tell_supply(s, self._supply, self.now)
        self._supply.clear()

    def billed(self, keys: list[tuple[int, datetime]]) -> list[tuple[int, datetime]]:
        """Mark the waiting readings of these (meter, interval) keys billed; returns the keys of readings not
        waiting here (written before), for the billing to mark in the database."""
        others = []
        for key in keys:
            reading = self._readings.get(key)
            if reading is None:
                others.append(key)
            else:
                reading["billed"] = True
        return others

    def write_readings(self) -> None:
        """Insert the waiting readings (billed where `billed` said so) and add them to their days."""
        if self._readings:
            rows = list(self._readings.values())
            insert_rows(self.session, IntervalReading.__table__, rows)
            # their days, written with the charges billed for them (`days`: portal.metering.daily)
            self.days.add_readings(rows, {r["meter_id"]: self.meters[r["meter_id"]].account_id for r in rows})
            self._readings.clear()

    def _wait(self, reading: dict) -> None:
        self._readings[reading["meter_id"], reading["interval_start"]] = reading

    # -- rules -----------------------------------------------------------------------------------

    def _state(self, meter: MeterRow) -> dict:
        if meter.state is None:
            meter.state = new_state(meter.id, self.now)
        self._states[meter.id] = meter.state
        return meter.state

    def _suspect_energy(self, meter: MeterRow, st: dict, energy: int | None, last) -> bool:
        """True when the register went backwards or jumped further than the supply allows."""
        if energy is None:
            return False
        ref = last.energy_total if last is not None else st["energy_total"]
        ref_at = last.interval_start if last is not None else st["last_seen_at"]
        if ref is None:
            return False
        problem = None
        if energy < ref:
            problem = f"energy register went back from {ref} to {energy} (reset or tamper); not billed"
        elif ref_at is not None:
            hours = max((self.now - ref_at).total_seconds(), 60) / 3600
            if meter.kind == MeterKind.WATER:
                ceiling = MAX_FLOW_LPH * hours
            else:
                ceiling = (meter.power_limit_w or MAX_POWER_W) * 1.5 * hours / 10  # W·h -> 0.01 kWh
            if energy - ref > ceiling + 100:
                problem = f"energy jumped by {energy - ref} in {hours:.2f} h, beyond what the supply allows; not billed"
        if problem is None:
            return False
        self._alarms.append(dict(kind=AlarmKind.TAMPER, subject=f"meter:{meter.id}", site_id=meter.site_id,
                                 meter_id=meter.id, account_id=meter.account_id, message=f"{meter.code}: {problem}",
                                 data=dict(what="meter_problem", meter=meter.code, problem=problem)))
        return True

    def _check_power(self, meter: MeterRow, st: dict, power_w: int | None, tripped_itself: bool) -> None:
        if tripped_itself:  # the meter saw its limit exceeded for 3 s and opened: record it as ours
            if not any(c.action == "close" for c in meter.commands):  # unless a person just closed it
                self.result.over_limit.append(meter)
            return
        if not meter.power_limit_w or power_w is None or power_w <= meter.power_limit_w:
            st["over_limit_reads"] = 0
            return
        st["over_limit_reads"] += 1
        if st["over_limit_reads"] >= OVER_LIMIT_READS:
            self.result.over_limit.append(meter)


def _tou(fields: dict) -> list | None:
    tou = fields.get("energy_tou")
    return list(tou) if tou is not None else None


def _tou_delta(fields: dict, last_tou_json: str | None) -> tuple | None:
    """Each time-of-use register's growth since the last interval reading (its registers as JSON text)."""
    now_tou = fields.get("energy_tou")
    last_tou = json.loads(last_tou_json) if now_tou is not None and last_tou_json else None
    if last_tou is None:
        return None
    parts = tuple(map(operator.sub, now_tou, last_tou))
    return parts if min(parts, default=0) >= 0 else None
