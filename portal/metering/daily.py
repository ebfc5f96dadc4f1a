"""Daily roll-ups (daily_usage): each meter's business day in one row, so no report reads 15-minute readings.

A row holds the day's opening and closing register, the sum of its validated deltas (`usage`), the number of
readings and the energy or water money charged for the meter that day. Which day:

- a reading belongs to the business day its interval closes in: interval_start in (00:00, 24:00] business
  time (TZ_BUSINESS), as the monthly consumption counts readings (portal.metering.consumption);
- money belongs to the business day its ledger entry was posted: created_at in [00:00, 24:00), as the
  monthly statements count it (portal.monthly.reports). So a month's charged_fen ties out with its ledger.

Two ways in, which agree (tests/metering/test_daily.py):
- upkeep, in the transaction that writes the rows: the poll cycle (`roll_up_readings` per flushed batch),
  billing and the meter-mode usage debits (`roll_up_charges`), a meter swap. Set-wise: one
  INSERT ... ON CONFLICT DO UPDATE per batch, adding to the day and moving its opening or closing reading
  only when the new reading lies outside the day's first or last; raw readings are never read again.
- `rebuild_daily` (`flask --app wsgi energy rebuild-daily`): the days recomputed from interval_readings and
  the ledger, a few statements per range of days, idempotent.

The queries on the roll-ups (per meter, shop or site, per day or month, opening and closing readings of a
period) are in portal.metering.usage.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from portal.bulk import array_literal, chunks, postgresql
from portal.models import Account, DailyUsage, EntryKind, IntervalReading, LedgerEntry, Meter, utcnow
from portal.models.base import UTCDateTime, upsert_insert
from portal.settings import business_tz

#: days recomputed per statement by the rebuild (a month of a 10,000-meter site is ~29 million readings)
REBUILD_DAYS = 31
_TICK = timedelta(microseconds=1)
_COLUMNS = ("meter_id", "day", "account_id", "opening_reading", "closing_reading", "first_at", "last_at",
            "usage", "charged_fen", "readings", "updated_at")
_CHARGED_KINDS = (EntryKind.ENERGY, EntryKind.WATER)


def reading_day(at: datetime, tz: ZoneInfo | None = None) -> date:
    """The business day a reading taken at `at` closes: (00:00, 24:00] business time."""
    return (at - _TICK).astimezone(tz or business_tz()).date()


def posting_day(at: datetime, tz: ZoneInfo | None = None) -> date:
    """The business day of a ledger entry created at `at`: [00:00, 24:00) business time."""
    return at.astimezone(tz or business_tz()).date()


def business_today() -> date:
    """Today in the business time zone: the day the roll-ups and the ledger's postings of now belong to."""
    return posting_day(utcnow())


def day_start(day: date, tz: ZoneInfo | None = None) -> datetime:
    """00:00 business time of `day`, in UTC."""
    return datetime.combine(day, time(0), tz or business_tz()).astimezone(UTC)


# -- upkeep ------------------------------------------------------------------------------------------

#: a charge to add to its day: meter id, account id, fen charged (positive), when its ledger entry was posted
Charge = tuple[int, int, int, datetime]


class DayTotals:
    """Meter-days to add, gathered from a batch of readings and the charges posted for them, then written
    with one upsert (`flush`): the poll cycle adds both before it writes, so each day's row moves once."""

    def __init__(self) -> None:
        self.tz = business_tz()
        self.rows: dict[tuple[int, date], dict] = {}
        # a cycle's readings share a few instants and its postings a day: their days are worked out once
        self._reading_days: dict[datetime, date] = {}
        self._posting_span: tuple[datetime, datetime, date] | None = None

    def _row(self, meter_id: int, day: date, account_id: int | None) -> dict:
        row = self.rows.get((meter_id, day))
        if row is None:
            row = self.rows[(meter_id, day)] = dict(
                meter_id=meter_id, day=day, account_id=account_id, opening_reading=None, closing_reading=None,
                first_at=None, last_at=None, usage=0, charged_fen=0, readings=0)
        elif account_id is not None:
            row["account_id"] = account_id
        return row

    def add_readings(self, readings: Iterable[dict], account_of: dict[int, int | None]) -> None:
        """Interval readings (dicts of meter_id, interval_start, energy_total, delta) to their days."""
        for r in readings:
            at, energy, delta = r["interval_start"], r["energy_total"], r["delta"] or 0
            day = self._reading_days.get(at)
            if day is None:
                day = self._reading_days[at] = reading_day(at, self.tz)
            row = self._row(r["meter_id"], day, account_of.get(r["meter_id"]))
            if row["first_at"] is None or at < row["first_at"]:
                row["first_at"], row["opening_reading"] = at, energy - delta
            if row["last_at"] is None or at > row["last_at"]:
                row["last_at"], row["closing_reading"] = at, energy
            row["usage"] += delta
            row["readings"] += 1

    def add_charges(self, charges: Iterable[Charge]) -> None:
        """Energy or water charges to the days they were posted on."""
        for meter_id, account_id, fen, posted_at in charges:
            span = self._posting_span
            if span is None or not span[0] <= posted_at < span[1]:
                day = posting_day(posted_at, self.tz)
                span = self._posting_span = (day_start(day, self.tz), day_start(day + timedelta(days=1), self.tz), day)
            self._row(meter_id, span[2], account_id)["charged_fen"] += fen

    def flush(self, session: Session, now: datetime | None = None) -> int:
        """Add what was gathered to the days in the database; returns the meter-days written."""
        rows, now = list(self.rows.values()), now or utcnow()
        self.rows = {}
        for row in rows:
            row["updated_at"] = now
        _upsert(session, rows)
        return len(rows)


def roll_up_readings(session: Session, readings: Iterable[dict], account_of: dict[int, int | None],
                     now: datetime | None = None) -> int:
    """Add interval readings just written (dicts of meter_id, interval_start, energy_total, delta) to their
    days; `account_of`: each meter's shop now. One upsert; returns the meter-days touched."""
    days = DayTotals()
    days.add_readings(readings, account_of)
    return days.flush(session, now)


def roll_up_charges(session: Session, charges: Iterable[Charge], now: datetime | None = None) -> int:
    """Add energy and water charges just posted to their meters' days. One upsert; returns the meter-days."""
    days = DayTotals()
    days.add_charges(charges)
    return days.flush(session, now)


#: ON CONFLICT of a day already there, in SQL text (`_added` says the same for SQLAlchemy statements)
_EARLIER = "EXCLUDED.first_at < d.first_at OR d.first_at IS NULL AND EXCLUDED.first_at IS NOT NULL"
_LATER = "EXCLUDED.last_at > d.last_at OR d.last_at IS NULL AND EXCLUDED.last_at IS NOT NULL"
_MERGE = (
    "ON CONFLICT (meter_id, day) DO UPDATE SET "
    "account_id = coalesce(EXCLUDED.account_id, d.account_id), "
    f"opening_reading = CASE WHEN {_EARLIER} THEN EXCLUDED.opening_reading ELSE d.opening_reading END, "
    f"first_at = CASE WHEN {_EARLIER} THEN EXCLUDED.first_at ELSE d.first_at END, "
    f"closing_reading = CASE WHEN {_LATER} THEN EXCLUDED.closing_reading ELSE d.closing_reading END, "
    f"last_at = CASE WHEN {_LATER} THEN EXCLUDED.last_at ELSE d.last_at END, "
    "usage = d.usage + EXCLUDED.usage, charged_fen = d.charged_fen + EXCLUDED.charged_fen, "
    "readings = d.readings + EXCLUDED.readings, updated_at = EXCLUDED.updated_at"
)


def _upsert(session: Session, rows: list[dict]) -> None:
    """INSERT the meter-days, or add them to the days already there: one statement per chunk."""
    if not rows:
        return
    table = DailyUsage.__table__
    if postgresql(session):
        # SQL text with one array per column, as portal.bulk writes: nothing for SQLAlchemy to compile per batch
        dialect = session.get_bind().dialect
        arrays = ", ".join(f"CAST(:c{i} AS {table.c[c].type.compile(dialect)}[])" for i, c in enumerate(_COLUMNS))
        sql = text(f"INSERT INTO daily_usage AS d ({', '.join(_COLUMNS)}) SELECT * FROM unnest({arrays}) {_MERGE}")
        for part in chunks(rows):
            session.execute(sql, {f"c{i}": _array([r[c] for r in part], table.c[c].type)
                                  for i, c in enumerate(_COLUMNS)})
    else:
        stmt = upsert_insert(session, table)
        for part in chunks(rows, 5000):
            session.execute(_added(stmt), list(part))


def _array(values: list, type_) -> str:
    """portal.bulk.array_literal, each distinct day or instant written once: a cycle's batch has a few of them
    for thousands of rows (writing each again was half the upkeep's time)."""
    if isinstance(type_, Integer):
        return array_literal(values, type_)
    seen: dict = {}
    return "{" + ",".join(seen[v] if v in seen else seen.setdefault(v, array_literal([v], type_)[1:-1])
                          for v in values) + "}"


def _added(stmt):
    """ON CONFLICT: the sums add up; the opening moves to an earlier reading, the closing to a later one."""
    d, x = DailyUsage.__table__.c, stmt.excluded
    earlier = and_(x.first_at.is_not(None), or_(d.first_at.is_(None), x.first_at < d.first_at))
    later = and_(x.last_at.is_not(None), or_(d.last_at.is_(None), x.last_at > d.last_at))
    return stmt.on_conflict_do_update(index_elements=["meter_id", "day"], set_=dict(
        account_id=func.coalesce(x.account_id, d.account_id),
        opening_reading=case((earlier, x.opening_reading), else_=d.opening_reading),
        first_at=case((earlier, x.first_at), else_=d.first_at),
        closing_reading=case((later, x.closing_reading), else_=d.closing_reading),
        last_at=case((later, x.last_at), else_=d.last_at),
        usage=d.usage + x.usage, charged_fen=d.charged_fen + x.charged_fen, readings=d.readings + x.readings,
        updated_at=x.updated_at))


# -- rebuild -----------------------------------------------------------------------------------------

def earliest_reading(session: Session) -> datetime | None:
    """When the oldest reading was taken. Every meter's first reading is a baseline without a delta, so the
    small partial index of those (ix_interval_readings_no_delta) answers without reading the rest."""
    r = IntervalReading.__table__
    return session.scalar(select(func.min(r.c.interval_start)).where(r.c.delta.is_(None)))


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: the days recomputed, the meter-days written, days skipped (their readings are
    partly dropped by the retention, so their roll-ups are kept as they are)."""

    first: date | None
    last: date | None
    rows: int
    skipped: int = 0


def rebuild_daily(session: Session, first: date, last: date, site_id: int | None = None,
                  retained_from: datetime | None = None) -> Rebuilt:
    """Recompute the roll-ups of days first..last (of one site's meters, or all) from interval_readings and
    the ledger; idempotent. Days before `retained_from` (the oldest reading partition's start: see
    portal.metering.partitions) are skipped, their raw readings being partly gone."""
    tz = business_tz()
    skipped = 0
    if retained_from is not None:
        while first <= last and day_start(first, tz) < retained_from:
            first += timedelta(days=1)
            skipped += 1
    if first > last:
        return Rebuilt(None, None, 0, skipped)
    rows, day = 0, first
    while day <= last:
        end = min(last, day + timedelta(days=REBUILD_DAYS - 1))
        rows += _rebuild_range(session, day, end, site_id, tz)
        day = end + timedelta(days=1)
    return Rebuilt(first, last, rows, skipped)


def _rebuild_range(session: Session, first: date, last: date, site_id: int | None, tz: ZoneInfo) -> int:
    d = DailyUsage.__table__
    now = utcnow()
    in_range = and_(d.c.day >= first, d.c.day <= last)
    if site_id is not None:
        in_range = and_(in_range, d.c.meter_id.in_(select(Meter.id).where(Meter.site_id == site_id)))
    # 1. the days' reading and money parts start again from nothing (the shop the day belonged to stays)
    session.execute(update(d).where(in_range).values(
        opening_reading=None, closing_reading=None, first_at=None, last_at=None, usage=0, charged_fen=0,
        readings=0, updated_at=now))
    # 2. the readings, grouped by meter and day
    stmt = upsert_insert(session, d)
    readings = _readings_by_day(session, first, last, site_id, tz, now)
    session.execute(stmt.from_select(_COLUMNS, readings).on_conflict_do_update(
        index_elements=["meter_id", "day"], set_={c: stmt.excluded[c] for c in _COLUMNS[3:]}
        | {"account_id": func.coalesce(d.c.account_id, stmt.excluded.account_id)}))
    # 3. the money, grouped by meter and day of posting
    stmt = upsert_insert(session, d)
    charges = _charges_by_day(session, first, last, site_id, tz, now)
    session.execute(stmt.from_select(_COLUMNS, charges).on_conflict_do_update(
        index_elements=["meter_id", "day"], set_=dict(charged_fen=stmt.excluded.charged_fen,
                                                      account_id=stmt.excluded.account_id, updated_at=now)))
    # 4. days left with neither
    session.execute(delete(d).where(in_range, d.c.readings == 0, d.c.charged_fen == 0))
    return session.scalar(select(func.count()).select_from(d).where(in_range))


def _bounds(first: date, last: date, tz: ZoneInfo):
    """The days as rows (day, start, end) in UTC: SQLite has no time zones."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return union_all(*(select(literal(day, Date).label("day"), literal(day_start(day, tz), UTCDateTime).label("start"),
                              literal(day_start(day + timedelta(days=1), tz), UTCDateTime).label("end"))
                       for day in days)).subquery("bounds")


def _readings_by_day(session: Session, first: date, last: date, site_id: int | None, tz: ZoneInfo, now: datetime):
    r = IntervalReading.__table__
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    window = and_(r.c.interval_start > start, r.c.interval_start <= end)
    if postgresql(session):
        # (00:00, 24:00]: the reading at midnight closes the day before
        day = cast(func.timezone(tz.key, r.c.interval_start - literal_column("interval '1 microsecond'")), Date)
        source = r
    else:
        b = _bounds(first, last, tz)
        day, source = b.c.day, r.join(b, and_(r.c.interval_start > b.c.start, r.c.interval_start <= b.c.end))
    grouped = select(r.c.meter_id, day.label("day"), func.min(r.c.interval_start).label("first_at"),
                     func.max(r.c.interval_start).label("last_at"),
                     func.sum(func.coalesce(r.c.delta, 0)).label("usage"),
                     func.count().label("readings")).select_from(source).where(window)
    if site_id is not None:
        grouped = grouped.where(r.c.meter_id.in_(select(Meter.id).where(Meter.site_id == site_id)))
    g = grouped.group_by(r.c.meter_id, day).subquery("g")
    f, la, m = r.alias("f"), r.alias("l"), Meter.__table__
    return (select(g.c.meter_id, g.c.day, m.c.account_id, (f.c.energy_total - func.coalesce(f.c.delta, 0)),
                   la.c.energy_total, g.c.first_at, g.c.last_at, cast(g.c.usage, BigInteger), literal(0, BigInteger),
                   cast(g.c.readings, Integer), literal(now, UTCDateTime))
            .join(f, and_(f.c.meter_id == g.c.meter_id, f.c.interval_start == g.c.first_at))
            .join(la, and_(la.c.meter_id == g.c.meter_id, la.c.interval_start == g.c.last_at))
            .join(m, m.c.id == g.c.meter_id).where(true()))


def _charges_by_day(session: Session, first: date, last: date, site_id: int | None, tz: ZoneInfo, now: datetime):
    le = LedgerEntry.__table__
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    window = and_(le.c.created_at >= start, le.c.created_at < end, le.c.meter_id.is_not(None),
                  le.c.kind.in_(_CHARGED_KINDS))
    if postgresql(session):
        day = cast(func.timezone(tz.key, le.c.created_at), Date)
        source = le
    else:
        b = _bounds(first, last, tz)
        day, source = b.c.day, le.join(b, and_(le.c.created_at >= b.c.start, le.c.created_at < b.c.end))
    query = select(le.c.meter_id, day.label("day"), func.max(le.c.account_id).label("account_id"),
                   func.sum(-le.c.amount_fen).label("charged")).select_from(source).where(window)
    if site_id is not None:  # by the site's shops too: their (account, created_at) index finds the entries
        query = query.where(le.c.meter_id.in_(select(Meter.id).where(Meter.site_id == site_id)),
                            le.c.account_id.in_(select(Account.id).where(Account.site_id == site_id)))
    g = query.group_by(le.c.meter_id, day).subquery("c")
    nothing = literal(None, BigInteger)
    return select(g.c.meter_id, g.c.day, g.c.account_id, nothing, nothing, literal(None, UTCDateTime),
                  literal(None, UTCDateTime), literal(0, BigInteger), cast(g.c.charged, BigInteger),
                  literal(0, Integer), literal(now, UTCDateTime)).where(true())
