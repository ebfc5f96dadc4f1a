"""Billing months ("YYYY-MM") in the business time zone, as UTC instants."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def business_tz() -> ZoneInfo:
    """The business time zone (days, months, time-of-use periods): TZ_BUSINESS, Asia/Shanghai by default."""
    from flask import current_app, has_app_context

    return ZoneInfo(current_app.config["TZ_BUSINESS"] if has_app_context() else "Asia/Shanghai")


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
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def month_of(at: datetime, tz: ZoneInfo) -> str:
    """The business-time-zone month containing a (timezone-aware) instant."""
    return f"{at.astimezone(tz):%Y-%m}"


def previous_month(month: str) -> str:
    """The month before "YYYY-MM"."""
    year, mon = parse_month(month)
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def monthly_cron(day_hour: int, minute: int, tz: ZoneInfo) -> str:
    """The UTC cron line for the 1st of every month at hour:minute business time.

    East of UTC that moment falls on the previous day, the last of the month: croniter's `L`.
    Zones with summer time would drift by an hour half the year; Asia/Shanghai has none.
    """
    offset = datetime.combine(datetime(2001, 1, 1), time(day_hour, minute), tz).utcoffset() or timedelta(0)
    minutes = day_hour * 60 + minute - int(offset.total_seconds() // 60)
    day = "1"
    if minutes < 0:
        minutes, day = minutes + 1440, "L"
    elif minutes >= 1440:
        minutes, day = minutes - 1440, "2"
    return f"{minutes % 60} {minutes // 60} {day} * *"
