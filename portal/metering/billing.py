"""Billing hook of the poll cycle: price validated interval deltas and post them to the ledger.

Each delta is priced by the tariff version in force when its consumption began (so a price change
never re-prices the past): flat, time-of-use (from the meter's own TOU registers where it has them,
otherwise from when the interval ran, never from when the reading arrived) or tiered over the month's
running total. Sub-fen remainders carry forward per meter; every posting has an idempotency key and
every priced reading is marked billed in the same transaction, so a rerun posts nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, func, select, text, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.bulk import among, array_literal, postgresql
from portal.control.balance import apply_balance_rules
from portal.control.commands import MoneyWrite, queue_many
from portal.ledger.bulk import Movement, lock_balances, post_many
from portal.metering.books_check import purses
from portal.metering.cycle import Delta
from portal.metering.daily import DayTotals, roll_up_charges
from portal.models import (
    Account,
    ControlMode,
    EntryKind,
    IntervalReading,
    Meter,
    MeterKind,
    Site,
)
from portal.settings import business_tz
from portal.tariffs.pricing import PERIODS, TariffError, Version, cost_e5, month_start, split_by_period, to_fen
from portal.tariffs.versions import Versions

log = logging.getLogger(__name__)


def price_delta(session: Session, meter: Meter, version: Version, d: Delta, tz: ZoneInfo) -> int:
    """The exact cost of one delta in 0.00001 fen."""
    kind = meter.kind.value
    if version.kind == "tou":
        if d.energy_tou is not None and sum(d.energy_tou) == d.amount:
            by_period = dict(zip(PERIODS, d.energy_tou))  # the meter's own registers: exact
        else:
            by_period = split_by_period(version, d.since or d.interval_start, d.interval_start, d.amount, tz)
        return cost_e5(version, kind, d.amount, by_period=by_period)
    if version.kind == "tiered":
        begun = month_start(d.since or d.interval_start, tz)
        before = session.execute(
            select(func.coalesce(func.sum(IntervalReading.delta), 0)).where(
                IntervalReading.meter_id == meter.id, IntervalReading.billed.is_(True),
                IntervalReading.interval_start > begun, IntervalReading.interval_start < d.interval_start)
        ).scalar_one()
        return cost_e5(version, kind, d.amount, month_before=int(before))
    return cost_e5(version, kind, d.amount)


def bill_deltas(session: Session, deltas: Iterable[Delta], now: datetime | None = None,
                days: DayTotals | None = None) -> list[Account]:
    """Charge each platform-mode shop meter for its delta, once; the balance rules run at `now` (the cycle's).

    A cycle crossing an interval boundary bills every shop at once, so the postings go through the
    ledger's bulk path (one lock, insert and balance update per chunk, same guarantees as post_entry)
    and the readings are marked billed in one statement per chunk. The charges are added to their meters'
    days (portal.metering.daily): to `days`, which the cycle writes with its readings' days, or at once.
    """
    deltas = [d for d in deltas if d.account_id is not None and d.amount > 0]
    if not deltas:
        return []
    tz = business_tz()
    meters = {m.id: m for m in session.execute(
        select(Meter).where(among(session, Meter.id, {d.meter_id for d in deltas}))
        .options(joinedload(Meter.account).joinedload(Account.site))
    ).scalars()}
    versions = Versions(session, {m.tariff_id or m.account.site.default_tariff_id for m in meters.values()} - {None})
    charged: dict[int, Account] = {}
    postings: list[tuple[EntryKind, int, Movement]] = []
    billed: list[tuple[int, datetime]] = []
    remainders: dict[int, int] = {}  # sub-fen carried forward, written once per meter at the end
    for d in sorted(deltas, key=lambda d: (d.meter_id, d.interval_start)):
        meter = meters[d.meter_id]
        if meter.control_mode != ControlMode.PLATFORM:
            continue  # a meter-mode meter charges itself
        site: Site = meter.account.site
        version = versions.at(meter.tariff_id or site.default_tariff_id, d.since or d.interval_start)
        if version is None:
            continue  # no tariff yet: the reading stays unbilled until one exists
        if version.kind == "tiered" and billed:
            _mark_billed(session, billed)  # a tier counts the month's billed readings, these included
        try:
            cost = price_delta(session, meter, version, d, tz)
        except TariffError as exc:  # a tariff that cannot price this meter: leave the reading unbilled
            log.warning("meter %s not billed for %s: %s", meter.code, d.interval_start, exc)
            continue
        fen, remainders[meter.id] = to_fen(cost, remainders.get(meter.id, meter.charge_remainder_e5))
        if fen:
            kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
            key = f"{kind.value}:{meter.id}:{d.interval_start.isoformat()}"
            postings.append((kind, meter.id, Movement(meter.account_id, -fen, key, memo=f"{meter.code} {d.amount}")))
        billed.append((meter.id, d.interval_start))
        charged[meter.account_id] = meter.account
    created: dict[str, datetime] = {}
    posted = _post(session, postings, created)
    charges = [(m.meter_id, m.account_id, -m.amount_fen, created[m.key]) for m in posted]
    if days is not None:
        days.add_charges(charges)
    else:
        roll_up_charges(session, charges, now)
    _deduct_from_purses(session, posted)
    _mark_billed(session, billed)
    _set_remainders(session, meters, remainders)
    apply_balance_rules(session, charged, now)
    return list(charged.values())


def _post(session: Session, postings: list[tuple[EntryKind, int, Movement]],
          created: dict[str, datetime]) -> list[Movement]:
    """Post the charges (kind, meter id, movement) exactly once per key, each account locked once; returns
    the movements posted now (with their meter), and their created_at in `created`."""
    if not postings:
        return []
    balances = lock_balances(session, (m.account_id for _, _, m in postings))
    meter_of = {m.key: meter_id for _, meter_id, m in postings}
    posted: list[Movement] = []
    for kind in dict.fromkeys(k for k, _, _ in postings):
        for m in post_many(session, [m for k, _, m in postings if k == kind], kind, balances=balances,
                           created=created):
            balances[m.account_id] += m.amount_fen
            posted.append(replace(m, meter_id=meter_of[m.key]))
    # the bulk path knows accounts, not meters: tag the new entries with their meter, as post_entry does
    _bulk_update(session, "ledger_entries", "meter_id", "bigint", "idempotency_key", "varchar",
                 [m.key for m in posted], [meter_of[m.key] for m in posted])
    return posted


def _deduct_from_purses(session: Session, posted: list[Movement]) -> None:
    """A shop whose money is in a meter-mode meter (its purse) pays its platform-mode meters' charges out of
    it too, as deductions: one set of books for a shop with both kinds of meter."""
    found = purses(session, {m.account_id for m in posted}) if posted else {}
    queue_many(session, [MoneyWrite(p.meter_id, p.gateway_id, m.amount_fen, f"deduction:{m.key}", m.memo)
                         for m in posted if (p := found.get(m.account_id)) is not None], "system:billing")


def _mark_billed(session: Session, keys: list[tuple[int, datetime]]) -> None:
    """interval_readings.billed = true for these (meter, interval) keys; empties `keys`."""
    if not keys:
        return
    if postgresql(session):
        session.execute(text(
            "UPDATE interval_readings AS r SET billed = true "
            "FROM unnest(CAST(:m AS bigint[]), CAST(:t AS timestamptz[])) AS v(meter_id, at) "
            "WHERE r.meter_id = v.meter_id AND r.interval_start = v.at"),
            {"m": array_literal([m for m, _ in keys], Integer()), "t": array_literal([at for _, at in keys])})
    else:
        table = IntervalReading.__table__
        session.execute(update(table).values(billed=True)
                        .where(table.c.meter_id == bindparam("m"), table.c.interval_start == bindparam("at")),
                        [{"m": m, "at": at} for m, at in keys])
    for key in keys:  # what an ORM update would have done to readings loaded in this session
        cached = session.identity_map.get(identity_key(IntervalReading, key))
        if cached is not None:
            set_committed_value(cached, "billed", True)
    keys.clear()


def _set_remainders(session: Session, meters: dict[int, Meter], remainders: dict[int, int]) -> None:
    """meters.charge_remainder_e5 in one statement, the loaded meters kept in step (no per-row flush)."""
    changed = {i: r for i, r in remainders.items() if r != meters[i].charge_remainder_e5}
    if not changed:
        return
    session.flush()  # nothing of the meters may stay pending under the committed values set below
    _bulk_update(session, "meters", "charge_remainder_e5", "bigint", "id", "integer",
                 list(changed), list(changed.values()))
    for meter_id, remainder in changed.items():
        set_committed_value(meters[meter_id], "charge_remainder_e5", remainder)


def _bulk_update(session: Session, table: str, column: str, column_type: str, key: str, key_type: str,
                 keys: list, values: list) -> None:
    """UPDATE table SET column = value WHERE key = k for each (k, value): one statement on PostgreSQL."""
    if not keys:
        return
    if postgresql(session):
        session.execute(text(
            f"UPDATE {table} AS t SET {column} = v.value "
            f"FROM unnest(CAST(:k AS {key_type}[]), CAST(:v AS {column_type}[])) AS v(key, value) "
            f"WHERE t.{key} = v.key"), {"k": array_literal(keys), "v": array_literal(values)})
    else:
        session.execute(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),
                        [{"k": k, "v": v} for k, v in zip(keys, values)])
