"""portal.stopwatch: a cycle's wall time cut into parts that add up."""
import time

import pytest

from portal.stopwatch import Parts, part, timing

pytestmark = pytest.mark.no_db


def test_parts_count_their_own_time_and_add_up_to_the_whole():
    began = time.perf_counter()
    with timing(Parts(rest="record")) as parts:
        time.sleep(0.02)
        with part("bill"):
            time.sleep(0.03)
            with part("rules"):
                time.sleep(0.04)
            time.sleep(0.01)
        with part("bill"):
            time.sleep(0.01)
    whole = time.perf_counter() - began
    s = parts.seconds
    assert set(s) == {"record", "bill", "rules"}
    assert s["rules"] >= 0.04
    assert 0.05 <= s["bill"] < 0.05 + 0.04  # its own time: the rules inside it are not counted twice
    assert s["record"] >= 0.02
    assert sum(s.values()) == pytest.approx(whole, abs=0.005)


def test_a_part_outside_timing_does_nothing():
    with part("bill"):
        pass
    with timing(Parts()) as parts:
        pass
    assert set(parts.seconds) == {"other"}


def _fails_in_a_part():
    with part("bill"):
        time.sleep(0.01)
        raise RuntimeError("boom")


def test_a_part_that_raises_is_still_charged_and_closed():
    with timing(Parts()) as parts:
        with pytest.raises(RuntimeError):
            _fails_in_a_part()
        with part("rules"):
            pass
    assert parts.seconds["bill"] >= 0.01
    assert "rules" in parts.seconds
