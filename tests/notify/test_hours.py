"""Quiet hours and duty hours: whether a moment falls in a window of the day, and when a held message is due."""
from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from portal.notify.hours import duty_from, next_time, quiet_until, within

pytestmark = pytest.mark.no_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = (time(22), time(8))


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize("at, inside", [(time(21, 59), False), (time(22), True), (time(23, 30), True),
                                        (time(0), True), (time(7, 59), True), (time(8), False), (time(12), False)])
def test_a_window_over_midnight(at, inside):
    assert within(at, NIGHT) is inside


@pytest.mark.parametrize("at, inside", [(time(8, 59), False), (time(9), True), (time(17, 59), True),
                                        (time(18), False)])
def test_a_window_within_the_day(at, inside):
    assert within(at, (time(9), time(18))) is inside


def test_a_message_in_the_evenings_quiet_hours_is_due_next_morning():
    assert quiet_until(shanghai(6, 23, 15), NIGHT, SHANGHAI) == shanghai(7, 8)


def test_a_message_after_midnight_is_due_the_same_morning():
    assert quiet_until(shanghai(7, 2), NIGHT, SHANGHAI) == shanghai(7, 8)


def test_a_message_outside_quiet_hours_is_not_held():
    assert quiet_until(shanghai(7, 8), NIGHT, SHANGHAI) is None
    assert quiet_until(shanghai(7, 23), None, SHANGHAI) is None
    assert quiet_until(shanghai(7, 23), (time(22), time(22)), SHANGHAI) is None  # an empty window


def test_off_duty_is_due_at_the_next_duty_start():
    day_shift = (time(8), time(20))
    assert duty_from(shanghai(6, 21), day_shift, SHANGHAI) == shanghai(7, 8)
    assert duty_from(shanghai(7, 6), day_shift, SHANGHAI) == shanghai(7, 8)
    assert duty_from(shanghai(7, 9), day_shift, SHANGHAI) is None
    assert duty_from(shanghai(7, 3), None, SHANGHAI) is None  # always on duty


def test_a_night_shift_over_midnight():
    night_shift = (time(20), time(8))
    assert duty_from(shanghai(7, 1), night_shift, SHANGHAI) is None
    assert duty_from(shanghai(7, 12), night_shift, SHANGHAI) == shanghai(7, 20)


def test_the_next_time_is_strictly_after_now():
    assert next_time(shanghai(7, 8), time(8), SHANGHAI) == shanghai(8, 8)
