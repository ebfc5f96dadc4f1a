"""A shop's money history for its tenant, a month at a time.

Charges are posted every 15 minutes per meter, so a month holds thousands of them: they are shown
summed per day and kind, while money in (payments, counter recharges...) is listed one by one. Both
queries read one account's entries through the (account_id, created_at) index.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import Account, EntryKind, LedgerEntry, utcnow
from portal.settings import business_tz
from portal.tenant.blueprint import bp, own_account
from portal.web.htmx import render
from portal.web.params import month_arg

#: consumption and fees: summed per day in the history (and averaged for the remaining days)
CHARGE_KINDS = (EntryKind.ENERGY, EntryKind.WATER, EntryKind.FEE, EntryKind.ALLOCATION)
KIND_LABELS = {
    "payment": _l("Online payment"), "cash": _l("Counter recharge"), "reversal": _l("Correction"),
    "refund": _l("Refund"), "energy": _l("Electricity"), "water": _l("Water"), "fee": _l("Property fee"),
    "allocation": _l("Common area share"), "emergency": _l("Emergency credit"), "transfer": _l("Balance transfer"),
    "settlement": _l("Final settlement"), "adjustment": _l("Adjustment"), "opening": _l("Opening balance"),
}
@dataclass
class Day:
    """One business day: charges summed by kind, money in listed."""

    day: date
    charges: dict[str, int] = field(default_factory=dict)
    items: list[LedgerEntry] = field(default_factory=list)


@dataclass
class Month:
    """One calendar month of an account (business time zone), newest day first."""

    first: date
    days: list[Day]
    charged_fen: int
    received_fen: int

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)


def month_history(session: Session, account: Account, first: date, tz: ZoneInfo) -> Month:
    """The entries of one month: charges per day and kind, every other entry on its own."""
    zone = tz
    start = datetime.combine(first, time.min, zone)
    end = datetime.combine((first + timedelta(days=32)).replace(day=1), time.min, zone)
    rows = session.execute(
        select(LedgerEntry.created_at, LedgerEntry.kind, LedgerEntry.amount_fen, LedgerEntry.id)
        .where(LedgerEntry.account_id == account.id, LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .order_by(LedgerEntry.created_at.desc())).all()
    days: dict[date, Day] = {}
    other_ids = []
    charged = received = 0
    for at, kind, amount, entry_id in rows:
        d = at.astimezone(zone).date()
        day = days.setdefault(d, Day(d))
        if kind in CHARGE_KINDS:
            day.charges[kind.value] = day.charges.get(kind.value, 0) + amount
            charged += amount
        else:
            other_ids.append(entry_id)
            received += amount if amount > 0 else 0
    if other_ids:  # whole rows only for the few that are listed one by one
        entries = {e.id: e for e in session.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(other_ids)))}
        by_day = defaultdict(list)
        for entry_id in other_ids:
            e = entries[entry_id]
            by_day[e.created_at.astimezone(zone).date()].append(e)
        for d, items in by_day.items():
            days[d].items = items
    return Month(first, sorted(days.values(), key=lambda x: x.day, reverse=True), charged, received)


def _first_of(month: str | None, tz: ZoneInfo) -> date:
    if month:
        return date.fromisoformat(f"{month}-01")
    return utcnow().astimezone(tz).date().replace(day=1)


@bp.get("/a/<int:account_id>/history")
def history(account_id: int):
    """One month of history; the page's first month comes lazily, older ones as the tenant scrolls."""
    acct = own_account(account_id)
    tz = business_tz()
    first = _first_of(month_arg(), tz)
    month = month_history(db.session, acct, first, tz)
    opened = acct.created_at.astimezone(tz).date().replace(day=1)
    more = month.previous >= opened
    # the first month replaces the lazy placeholder; older months replace the "more" sentinel
    partial = "tenant/_history_month.html" if request.args.get("month") else "tenant/_history.html"
    return render("tenant/history.html", partial, account=acct, month=month, more=more, kind_labels=KIND_LABELS)
