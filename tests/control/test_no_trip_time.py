"""No-trip times: weekly windows (across midnight too), public holidays, make-up workdays, site calendar days."""
from __future__ import annotations

import logging
from datetime import date

import pytest

from portal.control import calendar
from portal.control.calendar import (
    CalendarError,
    add_no_trip_window,
    is_no_trip_time,
    national_day_kind,
    remove_no_trip_window,
    set_calendar_day,
    windows_of,
)
from portal.extensions import db
from tests.control.conftest import OFF, ON, WORKDAY, local, supply, use
from worker.jobs.control import enforce_arrears

FRIDAY = 4


def window(account, weekday: int, start: str, end: str) -> None:
    add_no_trip_window(db.session, account.site, weekday, start, end, "staff:manager")
    db.session.commit()


def test_no_trip_inside_a_weekly_window(shop):
    account = shop(balance_fen=100)
    window(account, 0, "08:00", "12:00")  # Monday mornings

    use(account, 100, now=local(2026, 3, 2, 11, 59))

    assert supply(account) == [ON]


def test_trip_outside_the_weekly_window(shop):
    account = shop(balance_fen=100)
    window(account, 0, "08:00", "12:00")

    use(account, 100, now=local(2026, 3, 2, 12, 0))  # the end is not inside

    assert supply(account) == [OFF]


def test_a_window_across_midnight_is_stored_as_two_and_covers_both_sides(shop):
    account = shop(balance_fen=100)
    window(account, FRIDAY, "22:00", "06:00")
    site = account.site

    assert [(w.weekday, w.start, w.end) for w in windows_of(db.session, site)] == [
        (FRIDAY, "22:00", "24:00"), (FRIDAY + 1, "00:00", "06:00")]
    assert not is_no_trip_time(site, local(2026, 3, 6, 21, 59))
    assert is_no_trip_time(site, local(2026, 3, 6, 23, 30))
    assert is_no_trip_time(site, local(2026, 3, 7, 0, 0))
    assert is_no_trip_time(site, local(2026, 3, 7, 5, 59))
    assert not is_no_trip_time(site, local(2026, 3, 7, 6, 0))


def test_windows_are_in_shanghai_time_not_utc(shop):
    account = shop(balance_fen=100)
    window(account, 0, "08:00", "09:00")

    assert is_no_trip_time(account.site, local(2026, 3, 2, 8, 30))  # 00:30 UTC
    assert not is_no_trip_time(account.site, local(2026, 3, 2, 16, 30))  # 08:30 UTC


def test_removed_window_protects_no_more(shop):
    account = shop(balance_fen=100)
    window(account, 0, "00:00", "24:00")
    remove_no_trip_window(db.session, account.site, windows_of(db.session, account.site)[0].id, "staff:manager")
    db.session.commit()

    assert not is_no_trip_time(account.site, WORKDAY)


@pytest.mark.parametrize("start, end", [("8:00", "25:00"), ("24:00", "06:00"), ("10:00", "10:00"), ("ten", "11:00")])
def test_a_bad_window_is_refused(shop, start, end):
    with pytest.raises(CalendarError):
        add_no_trip_window(db.session, shop().site, 0, start, end, "staff:manager")


def test_no_trip_on_a_public_holiday(shop):
    account = shop(balance_fen=100)

    use(account, 100, now=local(2026, 10, 1, 15))  # National Day

    assert supply(account) == [ON]


def test_public_holidays_trip_like_any_day_when_the_site_does_not_protect_them(shop):
    account = shop(balance_fen=100, protect_holidays=False)

    use(account, 100, now=local(2026, 10, 1, 15))

    assert supply(account) == [OFF]


def test_ordinary_weekends_are_not_public_holidays(shop):
    account = shop(balance_fen=100)

    use(account, 100, now=local(2026, 9, 13, 15))  # a plain Sunday

    assert supply(account) == [OFF]


def test_make_up_workday_on_a_sunday_trips_although_sundays_have_a_window(shop):
    account = shop(balance_fen=100)
    window(account, 6, "00:00", "24:00")  # Sundays protected
    assert is_no_trip_time(account.site, local(2026, 9, 13, 15))  # a plain Sunday

    use(account, 100, now=local(2026, 9, 20, 15))  # Sunday worked before National Day (调休上班)

    assert supply(account) == [OFF]


def test_site_holiday_protects_a_day_the_nation_works(shop):
    account = shop(balance_fen=100)
    set_calendar_day(db.session, account.site, date(2026, 3, 2), True, "mall anniversary", "staff:manager")

    use(account, 100, now=WORKDAY)

    assert supply(account) == [ON]


def test_site_working_day_overrides_a_public_holiday(shop):
    account = shop(balance_fen=100)
    set_calendar_day(db.session, account.site, date(2026, 10, 2), False, "open as usual", "staff:manager")

    use(account, 100, now=local(2026, 10, 2, 15))

    assert supply(account) == [OFF]


def test_year_without_national_data_protects_weekends_and_says_so(shop, caplog):
    national_day_kind.cache_clear()
    calendar._warned_years.discard(2099)
    site = shop().site

    with caplog.at_level(logging.WARNING, logger="portal.control.calendar"):
        saturday = is_no_trip_time(site, local(2099, 1, 3, 15))
        monday = is_no_trip_time(site, local(2099, 1, 5, 15))

    assert (saturday, monday) == (True, False)
    assert "no public holidays for 2099" in caplog.text


def test_window_end_trips_through_the_minute_job(shop):
    account = shop(balance_fen=100)
    window(account, 0, "00:00", "12:00")
    use(account, 100, now=local(2026, 3, 2, 11, 0))
    assert supply(account) == [ON]

    assert enforce_arrears(now=local(2026, 3, 2, 11, 59)) == 0
    assert supply(account) == [ON]
    assert enforce_arrears(now=local(2026, 3, 2, 12, 0)) == 1
    assert supply(account) == [OFF]


def test_a_tripped_shop_is_restored_when_a_no_trip_window_begins(shop):
    account = shop(balance_fen=100)
    window(account, 0, "22:00", "24:00")
    use(account, 100, now=local(2026, 3, 2, 21, 0))
    assert supply(account) == [OFF]

    enforce_arrears(now=local(2026, 3, 2, 22, 0))

    assert supply(account) == [ON]
    assert account.meters[0].desired_reason == "restored"


def test_the_minute_job_run_twice_switches_once(shop):
    account = shop(balance_fen=100)
    window(account, 0, "00:00", "12:00")
    use(account, 100, now=local(2026, 3, 2, 11, 0))

    assert [enforce_arrears(now=local(2026, 3, 2, 12, m)) for m in (0, 1)] == [1, 0]
