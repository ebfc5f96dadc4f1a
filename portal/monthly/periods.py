"""Billing months ("YYYY-MM") in the business time zone, as UTC instants."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    """A month that is malformed or cannot be billed yet."""


def parse_month(text: str) -> tuple[int, int]:
    """(year, month) of "YYYY-MM"; PeriodError otherwise."""
    found = _MONTH.match(text or "")
    if not found:
        raise PeriodError(f"expected a month as YYYY-MM, got {text!r}")
    return int(found.group(1)), int(found.group(2))


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which the business-time-zone month begins and the next one begins."""
    year, mon = parse_month(month)
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(nxt[0], nxt[1], 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_of(at: datetime, tz: ZoneInfo) -> str:
    """The business-time-zone month containing a (timezone-aware) instant."""
    return f"{at.astimezone(tz):%Y-%m}"


def previous_month(month: str) -> str:
    """The month before "YYYY-MM"."""
    year, mon = parse_month(month)
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"
