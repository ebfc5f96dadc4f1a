"""The audit page's filters, read from the query string and checked: a value that makes no sense is a BadFilter.

Kept apart from the view so it can give way to the shared query parser (portal.web.params) when that lands:
`parse` takes any mapping of strings and answers a frozen AuditFilters or raises BadFilter with words for people.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from portal.web.params import KeysetFilters

#: the oldest and newest day a date filter may name (anything else is a typing mistake)
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ACTION = re.compile(r"[a-z_]+(\.[a-z_]+)*")
_TYPE = re.compile(r"[a-z_]{1,24}")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]*")
#: the largest id a keyset cursor or a target id may be (BIGINT)
_MAX_ID = 2**63 - 1


class BadFilter(ValueError):
    """A filter value that makes no sense; its message says which and why, in the reader's language."""


@dataclass(frozen=True)
class AuditFilters(KeysetFilters):
    """What the reader asked for; empty strings and None mean "any"."""

    who: str = ""
    action: str = ""
    target: str = ""
    site: str = ""
    day_from: date | None = None
    day_to: date | None = None
    q: str = ""
    #: the keyset cursor: show entries older than this one
    before: int | None = None

    @property
    def any(self) -> bool:
        """Whether any filter (not the cursor) is set."""
        return bool(self.query_args())


def _text(args: Mapping[str, str], name: str, longest: int, what) -> str:
    value = (args.get(name) or "").strip()
    if len(value) > longest or not _PRINTABLE.fullmatch(value):
        raise BadFilter(_l("%(what)s: at most %(n)s characters, and no control characters.", what=what, n=longest))
    return value


def _day(args: Mapping[str, str], name: str, what) -> date | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if _DAY.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        raise BadFilter(_l("%(what)s: a date is written YYYY-MM-DD, e.g. 2025-03-31.", what=what))
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadFilter(_l("%(what)s: a date between %(first)s and %(last)s.", what=what, first=FIRST_DAY.isoformat(),
                           last=LAST_DAY.isoformat()))
    return day


def _target(value: str) -> str:
    kind, colon, number = value.partition(":")
    if colon and not (_TYPE.fullmatch(kind) and number.isdigit() and 0 < int(number) <= _MAX_ID):
        raise BadFilter(_l("Target: a shop or meter code, or a kind and an id such as meter:12."))
    return value


def parse(args: Mapping[str, str]) -> AuditFilters:
    """The filters of a query string, checked (BadFilter: one makes no sense)."""
    action = _text(args, "action", 60, _l("Action"))
    if action and not _ACTION.fullmatch(action):
        raise BadFilter(_l("Action: pick one from the list."))
    day_from, day_to = _day(args, "from", _l("From")), _day(args, "to", _l("To"))
    if day_from and day_to and day_from > day_to:
        raise BadFilter(_l("The first day (%(first)s) is after the last (%(last)s).", first=day_from.isoformat(),
                           last=day_to.isoformat()))
    before = (args.get("before") or "").strip()
    if before and not (before.isdigit() and 0 < int(before) <= _MAX_ID):
        raise BadFilter(_l("That page of the log does not exist: start again from the newest entries."))
    return AuditFilters(
        who=_text(args, "who", 80, _l("Who")), action=action,
        target=_target(_text(args, "target", 40, _l("Target"))), site=_text(args, "site", 32, _l("Site")),
        day_from=day_from, day_to=day_to, q=_text(args, "q", 100, _l("Search")),
        before=int(before) if before else None)
