"""Monthly partitions of the 15-minute readings (PostgreSQL only; the SQLite demo keeps one table).

Migration 0015 made interval_readings a table partitioned by range of interval_start: one partition per
UTC month, `interval_readings_pYYYYMM`, and `interval_readings_legacy` holding everything from before the
cut-over. The cron (worker.jobs.housekeeping.readings_partitions_job) creates the months ahead and, when
READINGS_RETENTION_MONTHS is set, detaches and drops the partitions wholly older than that many months —
only after recomputing the roll-ups of their days (portal.metering.daily), so no report loses a day. A day
whose readings straddle a dropped partition keeps the roll-up it had; `rebuild_daily` skips it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from portal.bulk import postgresql
from portal.metering.daily import Rebuilt, reading_day, rebuild_daily

PARENT = "interval_readings"
#: months of partitions kept ready beyond the current one
AHEAD = 3
_NAME = re.compile(r"^interval_readings_(p[0-9]{6}|legacy|flat)$")
_BOUND = re.compile(r"FROM \((?:'([^']+)'|MINVALUE)\) TO \('([^']+)'\)")


def is_partition(name: str) -> bool:
    """Whether a table name is one of the readings' partitions (not a model: Alembic must leave it alone)."""
    return bool(_NAME.match(name))


@dataclass(frozen=True)
class Partition:
    """One partition and its range [start, end) of interval_start; start None: everything before `end`."""

    name: str
    start: datetime | None
    end: datetime


def month_start(at: datetime, plus: int = 0) -> datetime:
    """The first instant of `at`'s UTC month, `plus` months on."""
    n = at.year * 12 + at.month - 1 + plus
    return datetime(n // 12, n % 12 + 1, 1, tzinfo=UTC)


def partitioned(session: Session) -> bool:
    """Whether interval_readings is partitioned here (PostgreSQL after migration 0015)."""
    if not postgresql(session):
        return False
    query = text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:t)")
    return bool(session.scalar(query, {"t": PARENT}))


def partitions(session: Session) -> list[Partition]:
    """The readings' partitions, oldest first."""
    found = []
    for name, bound in session.execute(text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"), {"t": PARENT}):
        m = _BOUND.search(bound or "")
        if m is None:
            continue  # a DEFAULT partition someone added: not ours to manage
        start = datetime.fromisoformat(m[1]).astimezone(UTC) if m[1] else None
        found.append(Partition(name, start, datetime.fromisoformat(m[2]).astimezone(UTC)))
    return sorted(found, key=lambda p: p.end)


def retained_from(session: Session) -> datetime | None:
    """The earliest instant whose readings are all still here (None: nothing was ever dropped)."""
    if not partitioned(session):
        return None
    found = partitions(session)
    return found[0].start if found else None


def ensure_ahead(session: Session, now: datetime, months: int = AHEAD) -> list[str]:
    """Create the partitions of this UTC month and the `months` after it that are missing; returns their names."""
    if not partitioned(session):
        return []
    have = partitions(session)
    created = []
    for plus in range(months + 1):
        start, end = month_start(now, plus), month_start(now, plus + 1)
        if any((p.start is None or p.start <= start) and p.end >= end for p in have):
            continue
        # a month partly covered (a partition someone made by hand) starts where the last one ends
        start = max([start, *(p.end for p in have if p.end > start and p.end < end)])
        name = f"{PARENT}_p{start:%Y%m}"
        session.execute(text(f"CREATE TABLE {name} PARTITION OF {PARENT} "
                             f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"))
        have.append(Partition(name, start, end))
        created.append(name)
    return created


@dataclass(frozen=True)
class Dropped:
    """A partition dropped by the retention, and the roll-ups recomputed before."""

    name: str
    rolled_up: Rebuilt


def drop_expired(session: Session, now: datetime, keep_months: int) -> list[Dropped]:
    """Detach and drop the partitions wholly before the UTC month `keep_months` before now's, oldest first,
    each after its days are rolled up again from its readings. keep_months 0: keep everything."""
    if not keep_months or not partitioned(session):
        return []
    horizon = month_start(now, -keep_months)
    dropped = []
    for p in partitions(session):
        if p.end > horizon:
            break
        start = p.start or session.scalar(text(f"SELECT min(interval_start) FROM {p.name}"))
        if start is not None:
            first, last = _days(start, p.end)
            rolled = rebuild_daily(session, first, last, retained_from=retained_from(session))
        else:
            rolled = Rebuilt(None, None, 0)
        session.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {p.name}"))
        session.execute(text(f"DROP TABLE {p.name}"))
        dropped.append(Dropped(p.name, rolled))
    return dropped


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    """The business days whose readings lie (partly) in [start, end)."""
    return reading_day(start), reading_day(end - timedelta(microseconds=1))
