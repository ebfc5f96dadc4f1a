"""One parser for what a request may carry (portal.web.params): days and months of 2000..2100, pages 1..10,000,
ids within the integer columns, no NUL character; everything else is a BadParameter naming the parameter."""
from __future__ import annotations

from datetime import date

import pytest

from portal.web.params import ID_MAX, PAGE_MAX, BadParameter, parse_day, parse_id, parse_month, parse_page

pytestmark = pytest.mark.no_db


@pytest.mark.parametrize("text, day", [("2000-01-01", date(2000, 1, 1)), ("2026-02-28", date(2026, 2, 28)),
                                       ("2100-12-31", date(2100, 12, 31))])
def test_a_day_of_the_business_years_parses(text, day):
    assert parse_day("day", text) == day


@pytest.mark.parametrize("text", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01", "2026-02-30", "2026-2-1",
                                  "20260201", "2026-02-01T00:00", "２０２６-02-01", " 2026-02-01", "", "yesterday"])
def test_any_other_day_is_refused_by_name(text):
    with pytest.raises(BadParameter, match=r"^day must be a day YYYY-MM-DD of the years 2000 to 2100$"):
        parse_day("day", text)


@pytest.mark.parametrize("text", ["2000-01", "2026-12", "2100-12"])
def test_a_month_of_the_business_years_parses_as_given(text):
    assert parse_month("month", text) == text


@pytest.mark.parametrize("text", ["0000-01", "0001-01", "1999-12", "2101-01", "9999-12", "2026-00", "2026-13",
                                  "2026-1", "2026-01-01", "٢٠٢٦-01", ""])
def test_any_other_month_is_refused_by_name(text):
    with pytest.raises(BadParameter, match=r"^period must be a month YYYY-MM"):
        parse_month("period", text)


def test_pages_run_from_one_to_the_maximum():
    assert (parse_page("page", "1"), parse_page("page", str(PAGE_MAX))) == (1, PAGE_MAX)


@pytest.mark.parametrize("text", ["0", "-1", str(PAGE_MAX + 1), "99999999999999999999", "1.5", "one", "+2", "²"])
def test_any_other_page_is_refused(text):
    with pytest.raises(BadParameter, match=r"^page must be a page number from 1 to 10000$"):
        parse_page("page", text)


def test_ids_fit_the_integer_columns():
    assert (parse_id("site", "1"), parse_id("site", str(ID_MAX))) == (1, ID_MAX)
    for text in ("0", str(ID_MAX + 1), "99999999999999999999", "-3", "x"):
        with pytest.raises(BadParameter, match=r"^site must be an id"):
            parse_id("site", text)
