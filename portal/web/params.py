"""What a request may carry, checked in one place: a malformed or out-of-range value is a 400, never a 500.

The bounds are what the business can mean, and what the database can hold:
- days and months (`YYYY-MM-DD`, `YYYY-MM`) of the years 2000 to 2100: no shop's books start before 2000,
  nothing is billed a century ahead, and a day's or month's bounds in any time zone stay valid dates;
- pages 1 to 10,000 (a list longer than that is filtered, not paged through);
- ids 1 to 2**31 - 1, the range of the integer id columns, in a query (`?site=`) as in a path (`<int:...>`,
  whose converter this module bounds: a larger number matches no route, so it is a 404 like any missing row);
- no NUL character in a path, a query or a form field: PostgreSQL text holds none.
HTML views call the `*_arg` helpers (they abort with 400 and say which parameter); the API answers the same
abort as JSON (portal.api.blueprint).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from typing import TypeVar

from flask import Flask, abort, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

YEAR_MIN, YEAR_MAX = 2000, 2100
PAGE_MAX = 10_000
ID_MAX = 2**31 - 1

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits: \d would take ٢ and ２ too
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

T = TypeVar("T")


class BadParameter(ValueError):
    """A parameter that is malformed or out of range; its message names the parameter and what it may be."""


def parse_day(name: str, text: str) -> date:
    """A calendar day YYYY-MM-DD of the years YEAR_MIN..YEAR_MAX."""
    try:
        day = date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None or not YEAR_MIN <= day.year <= YEAR_MAX:
        raise BadParameter(_("%(name)s must be a day YYYY-MM-DD of the years %(first)s to %(last)s", name=name,
                             first=YEAR_MIN, last=YEAR_MAX))
    return day


def parse_month(name: str, text: str) -> str:
    """A month YYYY-MM of the years YEAR_MIN..YEAR_MAX, as given."""
    found = _MONTH.fullmatch(text)
    if not found or not YEAR_MIN <= int(found[1]) <= YEAR_MAX or not 1 <= int(found[2]) <= 12:
        raise BadParameter(_("%(name)s must be a month YYYY-MM of the years %(first)s to %(last)s", name=name,
                             first=YEAR_MIN, last=YEAR_MAX))
    return text


def parse_page(name: str, text: str) -> int:
    """A page number 1..PAGE_MAX."""
    if not _NUMBER.fullmatch(text) or not 1 <= int(text) <= PAGE_MAX:
        raise BadParameter(_("%(name)s must be a page number from 1 to %(last)s", name=name, last=PAGE_MAX))
    return int(text)


def parse_id(name: str, text: str) -> int:
    """A row id 1..ID_MAX."""
    if not _NUMBER.fullmatch(text) or not 1 <= int(text) <= ID_MAX:
        raise BadParameter(_("%(name)s must be an id (a whole number from 1 to %(last)s)", name=name, last=ID_MAX))
    return int(text)


def one_of(allowed) -> Callable[[str, str], str]:
    """A parser of a value that must be one of `allowed` (a mapping's keys or a sequence)."""
    def parse(name: str, text: str) -> str:
        if text not in allowed:
            raise BadParameter(_("%(name)s must be one of: %(allowed)s", name=name, allowed=", ".join(allowed)))
        return text

    return parse


def short_text(longest: int) -> Callable[[str, str], str]:
    """A parser of a text (a code, a search) of at most `longest` characters once stripped."""
    def parse(name: str, text: str) -> str:
        if len(text.strip()) > longest:
            raise BadParameter(_("%(name)s is at most %(most)s characters", name=name, most=longest))
        return text.strip()

    return parse


def query_arg(name: str, parse: Callable[[str, str], T], default: T | None = None) -> T | None:
    """The query parameter `name` parsed by `parse`; `default` when absent or empty; 400 when it does not parse."""
    text = request.args.get(name, "")
    if text == "":
        return default
    try:
        return parse(name, text)
    except BadParameter as exc:
        abort(400, description=str(exc))


def day_arg(name: str = "day", default: date | None = None) -> date | None:
    """?day=YYYY-MM-DD (see parse_day)."""
    return query_arg(name, parse_day, default)


def month_arg(name: str = "month", default: str | None = None) -> str | None:
    """?month=YYYY-MM (see parse_month)."""
    return query_arg(name, parse_month, default)


def page_arg(name: str = "page") -> int:
    """?page=N, 1 when absent (see parse_page)."""
    return query_arg(name, parse_page, 1)


def id_arg(name: str) -> int | None:
    """?site=ID and the like, None when absent (see parse_id)."""
    return query_arg(name, parse_id)


class IdConverter(IntegerConverter):
    """`<int:...>` in a route, bounded to the id columns' range: a larger number is no row, not a database error."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = ID_MAX,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def refuse_nul() -> None:
    """400 for a NUL character in the path, the query or a form field: no text column can store it."""
    fields = [*request.args.items(multi=True)]
    # a payment notify reads its own body, capped, from the stream (portal.pay.body): parsing it here would empty it
    if request.mimetype in _FORM_TYPES and request.blueprint != "pay":
        fields += request.form.items(multi=True)
    if "\x00" in request.path or any("\x00" in name or "\x00" in value for name, value in fields):
        abort(400, description=_("Text may not contain NUL characters."))


def init_app(app: Flask) -> None:
    """Bound `<int:...>` route parts and refuse NUL characters; before any blueprint adds its routes."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul)


class KeysetFilters:
    """A page's filters as a dataclass whose `before` is its keyset cursor (the audit log, the delivery log)."""

    def query_args(self) -> dict[str, str]:
        """The filters as query-string arguments (without the cursor), for links that keep them: empty ones left
        out, days as ISO dates under the names the forms use (`from`, `to`)."""
        names = {"day_from": "from", "day_to": "to"}
        return {names.get(k, k): (v.isoformat() if isinstance(v, date) else str(v))
                for k, v in asdict(self).items() if k != "before" and v not in ("", None)}
