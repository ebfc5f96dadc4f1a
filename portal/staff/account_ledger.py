"""One shop's ledger on its staff page: filtered by kind and business days, newest first, paged by keys.

A shop on 15-minute billing has some 35,000 entries a year, so the ledger is never counted and never skipped
through with OFFSET: a page is the next PAGE_SIZE entries before (older) or after (newer) the entry named in the
address, walked along the (account_id, created_at) index, and whether another page exists is one more row asked
for. Every parameter goes through portal.web.params: a kind, day or entry that is no such thing is a 400.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import abort
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, or_, select

from portal.extensions import db
from portal.models import EntryKind, LedgerEntry
from portal.settings import business_tz
from portal.web.params import BadParameter, day_arg, id_arg, query_arg

PAGE_SIZE = 50

#: the ledger's kinds in words, in the filter's order
KIND_LABELS = {
    EntryKind.PAYMENT: _l("Payment"), EntryKind.CASH: _l("Counter recharge"), EntryKind.ENERGY: _l("Electricity"),
    EntryKind.WATER: _l("Water"), EntryKind.FEE: _l("Property fee"), EntryKind.ALLOCATION: _l("Common area share"),
    EntryKind.EMERGENCY: _l("Emergency credit"), EntryKind.REFUND: _l("Refund"), EntryKind.REVERSAL: _l("Reversal"),
    EntryKind.TRANSFER: _l("Balance transfer"), EntryKind.ADJUSTMENT: _l("Manual adjustment"),
    EntryKind.SETTLEMENT: _l("Closure settlement"), EntryKind.OPENING: _l("Opening balance"),
}


def _kind(name: str, text: str) -> EntryKind:
    try:
        return EntryKind(text)
    except ValueError:
        raise BadParameter(_("%(name)s must be one of: %(allowed)s", name=name,
                             allowed=", ".join(k.value for k in EntryKind))) from None


@dataclass(frozen=True)
class LedgerFilters:
    """What the ledger shows: a kind (None: all) and the first and last business day (None: open-ended)."""

    kind: EntryKind | None = None
    first: date | None = None
    last: date | None = None

    def args(self) -> dict:
        """The filters as the page's address carries them."""
        found = {"kind": self.kind.value if self.kind else None,
                 "from": self.first.isoformat() if self.first else None,
                 "to": self.last.isoformat() if self.last else None}
        return {name: value for name, value in found.items() if value}


def ledger_filters() -> LedgerFilters:
    """?kind=, ?from= and ?to= (business days, both included); a first day after the last is a 400."""
    first, last = day_arg("from"), day_arg("to")
    if first and last and first > last:
        abort(400, description=_("from must be a day on or before to"))
    return LedgerFilters(query_arg("kind", _kind), first, last)


@dataclass
class LedgerPage:
    """A page of entries, newest first, and the cursors of the pages either side (None: there is none)."""

    entries: list[LedgerEntry]
    older: int | None
    newer: int | None


def _filtered(account_id: int, f: LedgerFilters) -> Select:
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if f.kind is not None:
        query = query.where(LedgerEntry.kind == f.kind)
    tz = business_tz()
    if f.first is not None:
        query = query.where(LedgerEntry.created_at >= datetime.combine(f.first, time(0), tz))
    if f.last is not None:
        query = query.where(LedgerEntry.created_at < datetime.combine(f.last + timedelta(days=1), time(0), tz))
    return query


def _older_than(at: datetime, entry_id: int):
    # created_at <= at lets the index bound the walk; the rest breaks ties between entries of one instant
    return and_(LedgerEntry.created_at <= at, or_(LedgerEntry.created_at < at, LedgerEntry.id < entry_id))


def _newer_than(at: datetime, entry_id: int):
    return and_(LedgerEntry.created_at >= at, or_(LedgerEntry.created_at > at, LedgerEntry.id > entry_id))


def _cursor(account_id: int, name: str) -> tuple[datetime, int] | None:
    entry_id = id_arg(name)
    if entry_id is None:
        return None
    at = db.session.scalar(select(LedgerEntry.created_at).where(LedgerEntry.id == entry_id,
                                                                LedgerEntry.account_id == account_id))
    if at is None:
        abort(400, description=_("%(name)s must be an entry of this shop's ledger", name=name))
    return at, entry_id


def _exists(query: Select) -> bool:
    return db.session.scalar(query.with_only_columns(LedgerEntry.id).limit(1)) is not None


def ledger_page(account_id: int, f: LedgerFilters) -> LedgerPage:
    """The page of the shop's ledger that ?before= or ?after= names (neither: the newest), with its neighbours."""
    query = _filtered(account_id, f)
    newest_first = (LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
    oldest_first = (LedgerEntry.created_at.asc(), LedgerEntry.id.asc())
    after = _cursor(account_id, "after")
    before = None if after else _cursor(account_id, "before")
    if after is not None:
        rows = db.session.scalars(query.where(_newer_than(*after)).order_by(*oldest_first)
                                  .limit(PAGE_SIZE + 1)).all()
        more_newer = len(rows) > PAGE_SIZE
        entries = list(reversed(rows[:PAGE_SIZE]))
        more_older = bool(entries) and _exists(query.where(_older_than(entries[-1].created_at, entries[-1].id)))
    else:
        if before is not None:
            query_page = query.where(_older_than(*before))
        else:
            query_page = query
        rows = db.session.scalars(query_page.order_by(*newest_first).limit(PAGE_SIZE + 1)).all()
        more_older = len(rows) > PAGE_SIZE
        entries = rows[:PAGE_SIZE]
        more_newer = (before is not None and bool(entries)
                      and _exists(query.where(_newer_than(entries[0].created_at, entries[0].id))))
    return LedgerPage(entries, entries[-1].id if more_older else None, entries[0].id if more_newer else None)
