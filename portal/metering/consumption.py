"""What meters used between two instants: the whole business days from the daily roll-ups, only the part-days
at either edge off the registers.

The monthly runs (portal.monthly.allocation) and line loss (portal.monthly.reports) ask for periods of whole
business days, which the roll-ups (portal.metering.daily) answer with one grouped row per meter. Allocation can
also ask for a period cut at any instant: a tariff version that starts at 14:00 prices the day's readings before
and after it apart, and the billing page previews the month so far (up to now). Those part-days are read off the
registers by `period_consumption`, which stays for them — a few index probes per meter over one day, never a
month of 15-minute rows.

`period_consumption` rests on the metering invariant (portal.metering.cycle, and the counter's meter swap): a
reading's `delta` is either NULL (the first reading, a reset or an impossible jump: a new baseline) or exactly its
register minus the previous reading's. So the sum of a meter's deltas over the readings closing in (start, end]
telescopes to

    E(last reading <= end) - E(base) - Σ over NULL-delta readings in the period of (E_i - E_previous)

where the base is the last reading at or before `start` (or, for a meter first read inside the period,
that first reading): three index probes per meter plus the rare NULL-delta readings (found by a small partial
index, which also counts them for line loss: `failed_readings`).

The roll-ups are kept in the transaction that writes the readings, so they are up to date whenever a reading is
there; readings written before the roll-ups existed (an upgrade) are not. `catch_up` finds such meters by their
first reading in the period and rebuilds the days before a monthly run reads them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from portal.bulk import among, chunks
from portal.metering.daily import day_start, rebuild_daily
from portal.metering.partitions import retained_from
from portal.metering.usage import meters_used
from portal.models import DailyUsage, IntervalReading, Meter
from portal.settings import business_tz


@dataclass(frozen=True)
class Used:
    """A meter's validated consumption in a period and how many of its readings there had no delta."""

    amount: int
    gaps: int = 0


def _probe(condition, newest: bool):
    r = IntervalReading
    order = r.interval_start.desc() if newest else r.interval_start.asc()
    return (select(r.energy_total).where(r.meter_id == Meter.id, condition).order_by(order).limit(1)
            .correlate(Meter).scalar_subquery())


def period_consumption(session: Session, meter_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, Used]:
    """{meter id: Used} for readings closing in (start, end]; equal to the sum of their deltas."""
    r = IntervalReading
    ids = sorted(set(meter_ids))
    found: dict[int, Used] = {}
    for part in chunks(ids):
        ends = session.execute(select(
            Meter.id, _probe(r.interval_start <= end, True), _probe(r.interval_start <= start, True),
            _probe(and_(r.interval_start > start, r.interval_start <= end), False),
        ).where(among(session, Meter.id, part))).all()
        previous = aliased(IntervalReading)
        prior = (select(previous.energy_total).where(previous.meter_id == r.meter_id,
                                                     previous.interval_start < r.interval_start)
                 .order_by(previous.interval_start.desc()).limit(1).correlate(r).scalar_subquery())
        breaks: dict[int, list] = {}
        for meter_id, energy, before in session.execute(
                select(r.meter_id, r.energy_total, prior).where(
                    r.delta.is_(None), among(session, r.meter_id, part), r.interval_start > start,
                    r.interval_start <= end)):
            breaks.setdefault(meter_id, []).append((energy, before))
        for meter_id, last, before, first in ends:
            if last is None or (before is None and first is None):
                found[meter_id] = Used(0)
                continue
            amount = last - (before if before is not None else first)
            amount -= sum(e - p for e, p in breaks.get(meter_id, ()) if p is not None)
            found[meter_id] = Used(amount, len(breaks.get(meter_id, ())))
    return found


def whole_days(start: datetime, end: datetime) -> tuple[date, date] | None:
    """The first and last business day lying wholly inside [start, end); None when there is none."""
    tz = business_tz()
    first = start.astimezone(tz).date()
    if day_start(first, tz) < start:
        first += timedelta(days=1)
    last = end.astimezone(tz).date() - timedelta(days=1)
    return (first, last) if first <= last else None


def used_between(session: Session, meter_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, int]:
    """{meter id: amount} for readings closing in (start, end]: equal to the sum of their deltas. Whole business
    days come from the roll-ups; a part-day at either edge (a price change at 14:00, a month so far) from the
    registers."""
    ids = sorted(set(meter_ids))
    used = dict.fromkeys(ids, 0)
    if not ids or end <= start:
        return used
    days = whole_days(start, end)
    if days is None:
        edges = [(start, end)]
    else:
        tz = business_tz()
        for meter_id, amount in meters_used(session, ids, *days).items():
            used[meter_id] += amount
        edges = [(start, day_start(days[0], tz)), (day_start(days[1] + timedelta(days=1), tz), end)]
    for since, until in edges:
        if since < until:
            for meter_id, u in period_consumption(session, ids, since, until).items():
                used[meter_id] += u.amount
    return used


def failed_readings(session: Session, meter_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, int]:
    """{meter id: readings closing in (start, end] without a delta} (a first reading, a reset, a jump): what a
    period's figure is short of. Read off the partial index of those rare readings only."""
    r = IntervalReading
    ids = sorted(set(meter_ids))
    found = dict.fromkeys(ids, 0)
    for part in chunks(ids):
        for meter_id, count in session.execute(
                select(r.meter_id, func.count()).where(r.delta.is_(None), among(session, r.meter_id, part),
                                                       r.interval_start > start, r.interval_start <= end)
                .group_by(r.meter_id)):
            found[meter_id] = int(count)
    return found


def behind(session: Session, meter_ids: Iterable[int], first: date, last: date) -> set[int]:
    """The meters whose roll-ups of days first..last miss readings: the first reading closing in those days is not
    the first the roll-ups hold (one index probe per meter, and one over its ≤ 31 days). The roll-ups are written
    in the transaction that writes the readings, so what they can miss is history from before they existed, which
    lies at the start: a period wholly before (no roll-up at all) or one the upgrade cut (the first days missing)."""
    tz = business_tz()
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    r, d = IntervalReading, DailyUsage
    read = (select(r.interval_start).where(r.meter_id == Meter.id, r.interval_start > start, r.interval_start <= end)
            .order_by(r.interval_start).limit(1).correlate(Meter).scalar_subquery())
    rolled = (select(func.min(d.first_at)).where(d.meter_id == Meter.id, d.day >= first, d.day <= last)
              .correlate(Meter).scalar_subquery())
    stale: set[int] = set()
    for part in chunks(sorted(set(meter_ids))):
        for meter_id, read_first, rolled_first in session.execute(
                select(Meter.id, read, rolled).where(among(session, Meter.id, part))):
            if read_first != rolled_first:
                stale.add(meter_id)
    return stale


def catch_up(session: Session, meter_ids: Iterable[int], first: date, last: date) -> bool:
    """Rebuild the roll-ups of days first..last of the sites whose meters (of these) are behind their readings;
    True when it did. Only flushes."""
    stale = behind(session, meter_ids, first, last)
    if not stale:
        return False
    kept_from = retained_from(session)
    for site_id in sorted(set(session.scalars(select(Meter.site_id).where(Meter.id.in_(stale))))):
        rebuild_daily(session, first, last, site_id, retained_from=kept_from)
    return True
