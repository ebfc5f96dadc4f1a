"""What a meter, a shop or a site used and was charged per business day or month, and a period's opening and
closing readings: all read off the daily roll-ups (portal.metering.daily), never off the 15-minute readings.

Amounts are in the readings' units (0.01 kWh; water litres), money in fen; `usage_text` writes an amount as the
decimal string the API and the exports show (kWh with 2 decimals, m³ with 3). Electricity and water are never
added together: every query names the kind it sums. Days without a row are days of nothing used: the lists
have one entry per day (or month) of the period, so a chart has no holes.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from portal.bulk import among, chunks
from portal.models import DailyUsage, Meter, MeterKind

#: the unit of each kind's amounts once shown, and the decimals of the stored unit
UNITS = {MeterKind.ELECTRIC: ("kWh", 2), MeterKind.WATER: ("m³", 3)}


@dataclass(frozen=True)
class Used:
    """One day (`period` a date) or month (`period` YYYY-MM): the amount used and the money charged."""

    period: date | str
    usage: int = 0
    charged_fen: int = 0


@dataclass(frozen=True)
class PeriodReadings:
    """A meter's register at the start of a period's first day with readings, and at its last reading."""

    meter_id: int
    opening: int | None
    closing: int | None


def unit(kind: MeterKind) -> str:
    """kWh or m³."""
    return UNITS[MeterKind(kind)][0]


def usage_text(amount: int, kind: MeterKind) -> str:
    """An amount in stored units as a decimal string in kWh or m³ ("12.34", "0.105"); exact, no float."""
    decimals = UNITS[MeterKind(kind)][1]
    whole, part = divmod(abs(amount), 10 ** decimals)
    return f"{'-' if amount < 0 else ''}{whole}.{part:0{decimals}d}"


def meter_days(session: Session, meter_id: int, first: date, last: date) -> list[Used]:
    """One meter, each day first..last."""
    return _by_day(session, DailyUsage.meter_id == meter_id, None, first, last)


def account_days(session: Session, account_id: int, first: date, last: date,
                 kind: MeterKind = MeterKind.ELECTRIC) -> list[Used]:
    """A shop's meters of one kind summed, each day first..last (the days recorded while they were its)."""
    return _by_day(session, DailyUsage.account_id == account_id, kind, first, last)


def site_days(session: Session, site_id: int, first: date, last: date, kind: MeterKind = MeterKind.ELECTRIC,
              common: bool | None = None) -> list[Used]:
    """A site's meters of one kind summed, each day; `common` True: its common-area meters only, False: its
    shops' meters only, None: all."""
    meters = select(Meter.id).where(Meter.site_id == site_id)
    if common is not None:
        meters = meters.where(Meter.account_id.is_(None) if common else Meter.account_id.is_not(None))
    return _by_day(session, DailyUsage.meter_id.in_(meters), kind, first, last)


def by_month(days: list[Used]) -> list[Used]:
    """Days folded into their months (YYYY-MM), in order."""
    months: dict[str, Used] = {}
    for d in days:
        key = f"{d.period:%Y-%m}"
        m = months.get(key, Used(key))
        months[key] = Used(key, m.usage + d.usage, m.charged_fen + d.charged_fen)
    return list(months.values())


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of a month YYYY-MM."""
    first = date.fromisoformat(f"{month}-01")
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def meters_by_day(session: Session, meter_ids: list[int], first: date, last: date) -> dict[int, list[Used]]:
    """Several meters, each on its own, each day first..last: {meter id: days} (a report's rows)."""
    d = DailyUsage
    found: dict[int, dict[date, Used]] = {m: {} for m in meter_ids}
    for part in chunks(sorted(set(meter_ids))):
        for meter_id, day, used, charged in session.execute(
                select(d.meter_id, d.day, d.usage, d.charged_fen)
                .where(among(session, d.meter_id, part), d.day >= first, d.day <= last)):
            found[meter_id][day] = Used(day, used, charged)
    return {m: _every_day(days, first, last) for m, days in found.items()}


def meters_used(session: Session, meter_ids: Iterable[int], first: date, last: date) -> dict[int, int]:
    """Each meter's usage summed over the business days first..last: {meter id: amount} (0 for a meter with no
    day there). The monthly runs and line loss read this, one grouped row per meter, not ~3,000 readings."""
    d = DailyUsage
    ids = sorted(set(meter_ids))
    found = dict.fromkeys(ids, 0)
    for part in chunks(ids):
        for meter_id, used in session.execute(
                select(d.meter_id, func.sum(d.usage)).where(among(session, d.meter_id, part), d.day >= first,
                                                            d.day <= last).group_by(d.meter_id)):
            found[meter_id] = int(used)
    return found


def period_readings(session: Session, meter_ids: list[int], first: date, last: date) -> dict[int, PeriodReadings]:
    """Each meter's opening reading (its first day with readings in first..last) and closing reading (its last)."""
    d = DailyUsage
    out = {m: PeriodReadings(m, None, None) for m in meter_ids}
    for part in chunks(sorted(set(meter_ids))):
        ends = (select(d.meter_id, func.min(d.day).label("a"), func.max(d.day).label("b"))
                .where(among(session, d.meter_id, part), d.day >= first, d.day <= last, d.readings > 0)
                .group_by(d.meter_id).subquery())
        opening, closing = d.__table__.alias("o"), d.__table__.alias("c")
        for meter_id, opened, closed in session.execute(
                select(ends.c.meter_id, opening.c.opening_reading, closing.c.closing_reading)
                .join(opening, and_(opening.c.meter_id == ends.c.meter_id, opening.c.day == ends.c.a))
                .join(closing, and_(closing.c.meter_id == ends.c.meter_id, closing.c.day == ends.c.b))):
            out[meter_id] = PeriodReadings(meter_id, opened, closed)
    return out


@dataclass(frozen=True)
class MeterPeriod:
    """A meter's days of a period under one shop (None: common area): use, money, and its registers at the
    start of the first day with readings and at the last reading (None: no readings)."""

    meter_id: int
    account_id: int | None
    usage: int
    charged_fen: int
    opening: int | None
    closing: int | None
    first_day: date | None
    last_day: date | None


def site_period(session: Session, site_id: int, first: date, last: date) -> list[MeterPeriod]:
    """Every meter of a site with days in first..last, per shop it was recorded under (a meter moved to another
    shop in the period has a row for each): one range of the roll-ups by day (0016), and the first and last day
    with readings probed by key for their registers. The month's reports of a whole site read this."""
    d = DailyUsage.__table__
    read = d.c.readings > 0
    g = (select(d.c.meter_id, d.c.account_id, func.sum(d.c.usage).label("usage"),
                func.sum(d.c.charged_fen).label("charged"), func.min(case((read, d.c.day))).label("a"),
                func.max(case((read, d.c.day))).label("b"))
         .join(Meter, Meter.id == d.c.meter_id).where(Meter.site_id == site_id, d.c.day >= first, d.c.day <= last)
         .group_by(d.c.meter_id, d.c.account_id).subquery("g"))
    # the registers by a key probe per row (a join would be planned for the ~20 rows per meter that the grouping
    # by meter and shop is estimated to leave, and hash the whole table)
    o, c = d.alias("o"), d.alias("c")
    opening = (select(o.c.opening_reading).where(o.c.meter_id == g.c.meter_id, o.c.day == g.c.a)
               .correlate(g).scalar_subquery())
    closing = (select(c.c.closing_reading).where(c.c.meter_id == g.c.meter_id, c.c.day == g.c.b)
               .correlate(g).scalar_subquery())
    rows = session.execute(select(g.c.meter_id, g.c.account_id, g.c.usage, g.c.charged, opening, closing, g.c.a, g.c.b))
    return [MeterPeriod(m, a, int(u or 0), int(fen or 0), opening, closing, fd, ld)
            for m, a, u, fen, opening, closing, fd, ld in rows]


def _by_day(session: Session, scope, kind: MeterKind | None, first: date, last: date) -> list[Used]:
    d = DailyUsage
    query = (select(d.day, func.sum(d.usage), func.sum(d.charged_fen)).where(scope, d.day >= first, d.day <= last)
             .group_by(d.day))
    if kind is not None:
        query = query.join(Meter, Meter.id == d.meter_id).where(Meter.kind == MeterKind(kind))
    days = {day: Used(day, int(used), int(charged)) for day, used, charged in session.execute(query)}
    return _every_day(days, first, last)


def _every_day(days: dict[date, Used], first: date, last: date) -> list[Used]:
    span = (last - first).days + 1
    return [days.get(day) or Used(day) for day in (first + timedelta(days=n) for n in range(max(span, 0)))]
