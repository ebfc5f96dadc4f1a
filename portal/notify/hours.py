"""Windows of the day in business time: a shop's quiet hours, a staff recipient's duty hours.

A window runs from `start` to `end` local time, over midnight when start > end ("22:00-08:00"); a message that
may not go now is due at the next moment it may: the end of quiet hours, the start of a duty.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

Window = tuple[time, time]


def within(at: time, window: Window) -> bool:
    """Whether a local time of day falls in the window (its start in, its end out)."""
    start, end = window
    if start <= end:
        return start <= at < end
    return at >= start or at < end


def next_time(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first moment after `now` whose local time in `tz` is `at` (UTC)."""
    local = now.astimezone(tz)
    moment = datetime.combine(local.date(), at, tz)
    if moment <= local:
        moment = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return moment.astimezone(UTC)


def quiet_until(now: datetime, quiet: Window | None, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet hours `now` falls in, or None when it falls in none (or there are none)."""
    if quiet is None or quiet[0] == quiet[1] or not within(now.astimezone(tz).time(), quiet):
        return None
    return next_time(now, quiet[1], tz)


def duty_from(now: datetime, duty: Window | None, tz: ZoneInfo) -> datetime | None:
    """The start of the next duty when `now` is off duty, or None when on duty (or always on duty)."""
    if duty is None or duty[0] == duty[1] or within(now.astimezone(tz).time(), duty):
        return None
    return next_time(now, duty[0], tz)
