"""Non-disconnection time (不断电时段): weekly windows, Chinese public holidays, a site's own calendar days.

`is_no_trip_time(site, at)` says whether nobody at the site may be cut off for money at `at`. The local
day (business time zone, Asia/Shanghai) is classified first, the first rule that applies wins:

1. a site calendar day (CalendarDay): a holiday protects the whole day; a working day is worked like a
   weekday (no holiday protection; on a weekend it takes Monday's windows);
2. with `site.protect_holidays`, the national calendar (chinese_calendar): a statutory holiday protects
   the whole day (weekend days inside the holiday period too); a make-up workday (调休上班) on a weekend
   is worked like a weekday. For a year the library has no data for, weekends protect the whole day
   instead, and a warning is logged (once per year and process) and shown on the staff rules page;
3. otherwise the day is ordinary.

Then the weekly windows of the day's weekday apply: start <= HH:MM < end. A window across midnight is
stored as two rows (22:00-24:00, and 00:00-06:00 of the next weekday).
"""
from __future__ import annotations

import functools
import logging
import re
from datetime import date, datetime
from typing import NamedTuple

import chinese_calendar
from chinese_calendar.constants import Holiday, holidays, workdays
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from portal.audit import audit
from portal.extensions import db
from portal.models import CalendarDay, NoTripWindow, Site
from portal.settings import business_tz

log = logging.getLogger(__name__)

HOLIDAY, WORKDAY, ORDINARY = "holiday", "workday", "ordinary"
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")
_warned_years: set[int] = set()


class CalendarError(ValueError):
    """A window or calendar day that cannot be stored."""



def calendar_known(year: int) -> bool:
    """Whether chinese_calendar has the public holidays of this year."""
    try:
        chinese_calendar.is_holiday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@functools.lru_cache(maxsize=2048)
def national_day_kind(day: date) -> str:
    """HOLIDAY, WORKDAY (make-up workday on a weekend) or ORDINARY by the national calendar."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("chinese_calendar has no public holidays for %s: weekends are protected instead; "
                        "upgrade chinesecalendar", day.year)
        return HOLIDAY if day.weekday() >= 5 else ORDINARY
    if on_holiday and name is not None:  # ordinary weekends are (True, None): not a public holiday
        return HOLIDAY
    if not on_holiday and day.weekday() >= 5:
        return WORKDAY
    return ORDINARY


def day_kind(session: Session, site: Site, day: date) -> str:
    """How the site treats this local day: its own calendar first, then the national one if protected."""
    override = session.execute(
        select(CalendarDay.holiday).where(CalendarDay.site_id == site.id, CalendarDay.day == day)
    ).scalar_one_or_none()
    if override is not None:
        return HOLIDAY if override else WORKDAY
    return national_day_kind(day) if site.protect_holidays else ORDINARY


def is_no_trip_time(site: Site, at: datetime) -> bool:
    """Whether `at` (UTC) falls in a no-trip time of the site: a protected day or a weekly window."""
    session = object_session(site) or db.session
    local = at.astimezone(business_tz())
    kind = day_kind(session, site, local.date())
    if kind == HOLIDAY:
        return True
    weekday = 0 if kind == WORKDAY and local.weekday() >= 5 else local.weekday()
    hhmm = local.strftime("%H:%M")  # compared here: "HH:MM" strings sort as times whatever the collation
    windows = session.execute(select(NoTripWindow.start, NoTripWindow.end).where(
        NoTripWindow.site_id == site.id, NoTripWindow.weekday == weekday)).all()
    return any(start <= hhmm < end for start, end in windows)


def _hhmm(text: str, *, end: bool = False) -> str:
    """A time of day typed by a person as "HH:MM" ("8:00" too; "24:00" only as an end)."""
    text = (text or "").strip()
    if len(text) == 4 and text[1] == ":":
        text = "0" + text
    if not _HHMM.fullmatch(text) or (text == "24:00" and not end):
        raise CalendarError(_l("Times are HH:MM, from 00:00 to 24:00."))
    return text


def add_no_trip_window(session: Session, site: Site, weekday: int, start: str, end: str,
                       actor: str) -> list[NoTripWindow]:
    """Add a weekly window; one across midnight (22:00-06:00) becomes two rows, today's and tomorrow's."""
    if weekday not in range(7):
        raise CalendarError(_l("Choose a day of the week."))
    start, end = _hhmm(start), _hhmm(end, end=True)
    end = "24:00" if end == "00:00" else end  # "until midnight"
    if start == end:
        raise CalendarError(_l("A window needs an end different from its start."))
    if start < end:
        parts = [(weekday, start, end)]
    else:  # across midnight: the rest of this day and the start of the next
        parts = [(weekday, start, "24:00"), ((weekday + 1) % 7, "00:00", end)]
    rows = [NoTripWindow(site_id=site.id, weekday=d, start=s, end=e) for d, s, e in parts]
    session.add_all(rows)
    session.flush()
    audit(session, actor, "site.no_trip_window_added", "site", site.id, site.id,
          windows=[f"{d} {s}-{e}" for d, s, e in parts])
    return rows


def remove_no_trip_window(session: Session, site: Site, window_id: int, actor: str) -> bool:
    """Delete one weekly window of the site; False when there is no such window."""
    row = session.get(NoTripWindow, window_id)
    if row is None or row.site_id != site.id:
        return False
    audit(session, actor, "site.no_trip_window_removed", "site", site.id, site.id,
          window=f"{row.weekday} {row.start}-{row.end}")
    session.delete(row)
    session.flush()
    return True


def windows_of(session: Session, site: Site) -> list[NoTripWindow]:
    """The site's weekly windows, Monday first."""
    return list(session.execute(select(NoTripWindow).where(NoTripWindow.site_id == site.id)
                                .order_by(NoTripWindow.weekday, NoTripWindow.start)).scalars())


def set_calendar_day(session: Session, site: Site, day: date, holiday: bool, note: str,
                     actor: str) -> CalendarDay:
    """Mark a local day as the site's own holiday or working day (replacing an earlier mark)."""
    row = session.execute(select(CalendarDay).where(CalendarDay.site_id == site.id, CalendarDay.day == day)
                          ).scalar_one_or_none()
    if row is None:
        row = CalendarDay(site_id=site.id, day=day, holiday=holiday)
        session.add(row)
    row.holiday, row.note = bool(holiday), (note or "").strip()[:120]
    session.flush()
    audit(session, actor, "site.calendar_day_set", "site", site.id, site.id, day=day.isoformat(),
          holiday=row.holiday, note=row.note)
    return row


def remove_calendar_day(session: Session, site: Site, day_id: int, actor: str) -> bool:
    """Forget one of the site's calendar days; False when there is no such day."""
    row = session.get(CalendarDay, day_id)
    if row is None or row.site_id != site.id:
        return False
    audit(session, actor, "site.calendar_day_removed", "site", site.id, site.id, day=row.day.isoformat())
    session.delete(row)
    session.flush()
    return True


def calendar_days_of(session: Session, site: Site, since: date | None = None) -> list[CalendarDay]:
    """The site's own calendar days (from `since` on), in date order."""
    q = select(CalendarDay).where(CalendarDay.site_id == site.id).order_by(CalendarDay.day)
    if since is not None:
        q = q.where(CalendarDay.day >= since)
    return list(session.execute(q).scalars())


class NationalDay(NamedTuple):
    """A day of the national calendar that differs from the plain week."""

    day: date
    kind: str
    name: str
    name_zh: str


def national_days(year: int) -> list[NationalDay]:
    """The year's statutory holidays and make-up workdays (empty when the library has no data)."""
    if not calendar_known(year):
        return []
    zh = {h.value: h.chinese for h in Holiday}
    rows = [NationalDay(d, HOLIDAY, n, zh.get(n, n)) for d, n in holidays.items() if d.year == year]
    rows += [NationalDay(d, WORKDAY, n, zh.get(n, n)) for d, n in workdays.items() if d.year == year]
    return sorted(rows)
