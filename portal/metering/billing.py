"""Billing hook of the poll cycle: price validated interval deltas and post them to the ledger.

Each delta is priced by the tariff version in force when its consumption began (so a price change
never re-prices the past): flat, time-of-use (from the meter's own TOU registers where it has them,
otherwise from when the interval ran, never from when the reading arrived) or tiered over the month's
running total. Sub-fen remainders carry forward per meter; every posting has an idempotency key and
every priced reading is marked billed in the same transaction, so a rerun posts nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.bulk import among, chunks, loaded, update_rows
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


def price_delta(session: Session, meter, version: Version, d: Delta, tz: ZoneInfo) -> int:
    """The exact cost of one delta in 0.00001 fen (`meter`: anything with the meter's `id` and `kind`)."""
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
                days: DayTotals | None = None,
                unwritten: Callable[[list[tuple[int, datetime]]], list[tuple[int, datetime]]] | None = None,
                ) -> list[int]:
    """Charge each platform-mode shop meter for its delta, once; the balance rules run at `now` (the cycle's).
    Returns the ids of the shops charged.

    A cycle crossing an interval boundary bills every shop at once, so it works on plain rows, never ORM
    objects: the meters with their tariff in one query, the postings through the ledger's bulk path (one lock,
    insert and balance update per chunk, same guarantees as post_entry, each entry tagged with its meter as it
    is inserted), the readings marked billed and the sub-fen remainders written in one statement each. The
    charges are added to their meters' days (portal.metering.daily): to `days`, which the cycle writes with its
    readings' days, or at once. `unwritten`: the caller holds readings not written yet (a poll cycle's batch), and
    marks those of the (meter, interval) keys it is given billed before it inserts them; it returns the others,
    which are marked in the database.
    """
    deltas = [d for d in deltas if d.account_id is not None and d.amount > 0]
    if not deltas:
        return []
    tz = business_tz()
    meters = _meters(session, {d.meter_id for d in deltas})
    versions = Versions(session, {m.tariff_id for m in meters.values()} - {None})
    charged: dict[int, None] = {}
    postings: list[tuple[EntryKind, Movement]] = []
    billed: list[tuple[int, datetime]] = []
    remainders: dict[int, int] = {}  # sub-fen carried forward, written once per meter at the end
    for d in sorted(deltas, key=lambda d: (d.meter_id, d.interval_start)):
        meter = meters.get(d.meter_id)
        if meter is None or meter.control_mode != ControlMode.PLATFORM:
            continue  # a meter-mode meter charges itself (and one no longer in a shop is not a shop's to pay)
        version = versions.at(meter.tariff_id, d.since or d.interval_start)
        if version is None:
            continue  # no tariff yet: the reading stays unbilled until one exists
        if version.kind == "tiered" and billed:
            _mark_billed(session, billed, unwritten)  # a tier counts the month's billed readings, these included
        try:
            cost = price_delta(session, meter, version, d, tz)
        except TariffError as exc:  # a tariff that cannot price this meter: leave the reading unbilled
            log.warning("meter %s not billed for %s: %s", meter.code, d.interval_start, exc)
            continue
        fen, remainders[meter.id] = to_fen(cost, remainders.get(meter.id, meter.charge_remainder_e5))
        if fen:
            kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
            key = f"{kind.value}:{meter.id}:{d.interval_start.isoformat()}"
            postings.append((kind, Movement(meter.account_id, -fen, key, memo=f"{meter.code} {d.amount}",
                                            meter_id=meter.id)))
        billed.append((meter.id, d.interval_start))
        charged[meter.account_id] = None
    created: dict[str, datetime] = {}
    posted = _post(session, postings, created)
    charges = [(m.meter_id, m.account_id, -m.amount_fen, created[m.key]) for m in posted]
    if days is not None:
        days.add_charges(charges)
    else:
        roll_up_charges(session, charges, now)
    _deduct_from_purses(session, posted)
    _mark_billed(session, billed, unwritten)
    _set_remainders(session, meters, remainders)
    apply_balance_rules(session, charged, now)
    return list(charged)


def _meters(session: Session, meter_ids: set[int]) -> dict:
    """The meters to bill as rows: what pricing and posting need, the tariff already the site's where the
    meter has none of its own."""
    m = Meter.__table__
    query = (select(m.c.id, m.c.code, m.c.kind, m.c.control_mode, m.c.account_id, m.c.charge_remainder_e5,
                    func.coalesce(m.c.tariff_id, Site.default_tariff_id).label("tariff_id"))
             .join(Account, Account.id == m.c.account_id).join(Site, Site.id == Account.site_id))
    found = {}
    for part in chunks(sorted(meter_ids)):
        found.update((r.id, r) for r in session.execute(query.where(among(session, m.c.id, part))).all())
    return found


def _post(session: Session, postings: list[tuple[EntryKind, Movement]],
          created: dict[str, datetime]) -> list[Movement]:
    """Post the charges exactly once per key, each account locked once; returns the movements posted now, and
    their created_at in `created`."""
    if not postings:
        return []
    balances = lock_balances(session, (m.account_id for _, m in postings))
    posted: list[Movement] = []
    for kind in dict.fromkeys(k for k, _ in postings):
        for m in post_many(session, [m for k, m in postings if k == kind], kind, balances=balances,
                           created=created):
            balances[m.account_id] += m.amount_fen
            posted.append(m)
    return posted


def _deduct_from_purses(session: Session, posted: list[Movement]) -> None:
    """A shop whose money is in a meter-mode meter (its purse) pays its platform-mode meters' charges out of
    it too, as deductions: one set of books for a shop with both kinds of meter."""
    found = purses(session, {m.account_id for m in posted}) if posted else {}
    queue_many(session, [MoneyWrite(p.meter_id, p.gateway_id, m.amount_fen, f"deduction:{m.key}", m.memo)
                         for m in posted if (p := found.get(m.account_id)) is not None], "system:billing")


def _mark_billed(session: Session, keys: list[tuple[int, datetime]],
                 unwritten: Callable[[list[tuple[int, datetime]]], list[tuple[int, datetime]]] | None = None,
                 ) -> None:
    """interval_readings.billed = true for these (meter, interval) keys; empties `keys`. Those of readings the
    caller has not written yet it marks itself (`unwritten`, see bill_deltas).

    One statement per interval (a boundary cycle bills one interval for every meter): the interval and the
    meters as an integer array, along the readings' primary key."""
    written = unwritten(keys) if unwritten is not None and keys else keys
    if not written:
        keys.clear()
        return
    table = IntervalReading.__table__
    by_interval: dict[datetime, list[int]] = {}
    for meter_id, at in written:
        by_interval.setdefault(at, []).append(meter_id)
    for at, meter_ids in by_interval.items():
        for part in chunks(meter_ids):
            session.execute(update(table).values(billed=True)
                            .where(table.c.interval_start == at, among(session, table.c.meter_id, part)))
    marked = set(written)
    for cached in loaded(session, IntervalReading):  # what an ORM update would have done to readings loaded here
        if (cached.meter_id, cached.interval_start) in marked:
            set_committed_value(cached, "billed", True)
    keys.clear()


def _set_remainders(session: Session, meters: dict, remainders: dict[int, int]) -> None:
    """meters.charge_remainder_e5 in one statement, meters loaded in the session kept in step (no per-row flush)."""
    changed = {i: r for i, r in remainders.items() if r != meters[i].charge_remainder_e5}
    if not changed:
        return
    session.flush()  # nothing of the meters may stay pending under the committed values set below
    update_rows(session, Meter.__table__, "id", [{"id": i, "charge_remainder_e5": r} for i, r in changed.items()])
    for cached in loaded(session, Meter):
        if cached.id in changed:
            set_committed_value(cached, "charge_remainder_e5", changed[cached.id])
