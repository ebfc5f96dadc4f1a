"""A shop's money history for its tenant, a month at a time, filtered by month and kind.

Energy and water are charged every 15 minutes per meter, so a month holds thousands of such entries: their days
are read off the daily roll-ups (portal.metering.usage: what was used and charged per business day), never off
the ledger's charges or the raw readings. Every other entry (payments, counter recharges, fees, the common-area
share, reversals, refunds...) is listed on its own, with what explains it: a payment its e-receipt and invoice
state, a fee its basis, a common-area share its breakdown (公示), a reversal the entry it corrects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, joinedload

from portal.extensions import db
from portal.metering.daily import business_today
from portal.metering.usage import Used, account_days
from portal.models import (
    Account,
    AllocationLine,
    AllocationRun,
    EntryKind,
    FeeCharge,
    InvoiceRequest,
    LedgerEntry,
    MeterKind,
    utcnow,
)
from portal.monthly.fees import BasisKind, read_basis
from portal.payments.invoices import PAID_KINDS, request_for_month, requests_for_entries
from portal.settings import business_tz
from portal.tenant.blueprint import bp, own_account
from portal.web.htmx import is_htmx, render
from portal.web.params import month_arg, one_of, query_arg

#: consumption and fees: summed per day in the history (and averaged for the remaining days)
CHARGE_KINDS = (EntryKind.ENERGY, EntryKind.WATER, EntryKind.FEE, EntryKind.ALLOCATION)
#: the metered charges, shown per day from the roll-ups
METERED = {EntryKind.ENERGY: MeterKind.ELECTRIC, EntryKind.WATER: MeterKind.WATER}
KIND_LABELS = {
    "payment": _l("Online payment"), "cash": _l("Counter recharge"), "reversal": _l("Correction"),
    "refund": _l("Refund"), "energy": _l("Electricity"), "water": _l("Water"), "fee": _l("Property fee"),
    "allocation": _l("Common area share"), "emergency": _l("Emergency credit"), "transfer": _l("Balance transfer"),
    "settlement": _l("Final settlement"), "adjustment": _l("Adjustment"), "opening": _l("Opening balance"),
}
#: the history's kind filter: its values, the entry kinds each shows, and its words
FILTERS: dict[str, tuple[tuple[EntryKind, ...], object]] = {
    "payments": ((EntryKind.PAYMENT, EntryKind.CASH), _l("Payments")),
    "energy": ((EntryKind.ENERGY, EntryKind.WATER), _l("Energy")),
    "fees": ((EntryKind.FEE,), _l("Fees")),
    "allocation": ((EntryKind.ALLOCATION,), _l("Common area")),
    "refunds": ((EntryKind.REVERSAL, EntryKind.REFUND), _l("Reversals and refunds")),
    "other": ((EntryKind.EMERGENCY, EntryKind.TRANSFER, EntryKind.SETTLEMENT, EntryKind.ADJUSTMENT,
               EntryKind.OPENING), _l("Other")),
}


@dataclass(frozen=True)
class Metered:
    """One day's electricity or water: the amount used (stored units) and the money charged (fen, positive)."""

    kind: str
    usage: int
    charged_fen: int


@dataclass
class Day:
    """One business day: its metered charges (from the roll-ups) and its other entries, one by one."""

    day: date
    metered: list[Metered] = field(default_factory=list)
    items: list[LedgerEntry] = field(default_factory=list)


@dataclass
class Month:
    """One calendar month of an account (business time zone), newest day first, with what explains its entries."""

    first: date
    days: list[Day]
    charged_fen: int
    received_fen: int
    #: entry id -> its standing invoice request; the month's own request
    invoices: dict[int, InvoiceRequest] = field(default_factory=dict)
    month_invoice: InvoiceRequest | None = None
    #: entry id -> its fee row, its allocation lines (run, line), the entry a reversal corrects
    fees: dict[int, FeeCharge] = field(default_factory=dict)
    allocations: dict[int, list[tuple[AllocationRun, AllocationLine]]] = field(default_factory=dict)
    reversed: dict[int, LedgerEntry] = field(default_factory=dict)

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def following(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1)

    @property
    def over(self) -> bool:
        """Whether the month has ended (business time): only then can it be invoiced as a whole."""
        return self.following <= business_today()

    @property
    def key(self) -> str:
        return f"{self.first:%Y-%m}"


def fee_basis(basis: str) -> str:
    """A fee's basis in the reader's language: the fee run stores it in one (portal.monthly.fees.read_basis)."""
    said = read_basis(basis)
    if said.kind == BasisKind.FIXED:
        return _("fixed amount")
    if said.kind == BasisKind.AREA:
        return _("%(area)s m² × ¥%(price)s per m²", area=said.area, price=said.price)
    return basis


def month_history(session: Session, account: Account, first: date, tz: ZoneInfo,
                  kinds: tuple[EntryKind, ...] | None = None) -> Month:
    """One month: metered days from the roll-ups, every other entry on its own; `kinds` filters what is listed
    (the month's totals always count everything)."""
    following = (first + timedelta(days=32)).replace(day=1)
    start, end = datetime.combine(first, time.min, tz), datetime.combine(following, time.min, tz)
    entries = session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == account.id, LedgerEntry.created_at >= start,
                                  LedgerEntry.created_at < end, LedgerEntry.kind.not_in(tuple(METERED)))
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())).all()
    metered = {kind: _used_days(session, account.id, first, following, meter_kind)
               for kind, meter_kind in METERED.items()}
    received = sum(e.amount_fen for e in entries if e.kind not in CHARGE_KINDS and e.amount_fen > 0)
    charged = (sum(e.amount_fen for e in entries if e.kind in CHARGE_KINDS)
               - sum(u.charged_fen for used in metered.values() for u in used))
    days: dict[date, Day] = {}
    for kind, used in metered.items():
        if kinds is None or kind in kinds:
            for u in used:
                days.setdefault(u.period, Day(u.period)).metered.append(Metered(kind.value, u.usage, u.charged_fen))
    listed = [e for e in entries if kinds is None or e.kind in kinds]
    for e in listed:
        d = e.created_at.astimezone(tz).date()
        days.setdefault(d, Day(d)).items.append(e)
    month = Month(first, sorted(days.values(), key=lambda x: x.day, reverse=True), charged, received)
    _explain(session, account, month, listed)
    return month


def _used_days(session: Session, account_id: int, first: date, following: date, kind: MeterKind) -> list[Used]:
    """The days of a month with something used or charged (a month to come has none: not asked for)."""
    last = min(following - timedelta(days=1), business_today())
    if last < first:
        return []
    return [u for u in account_days(session, account_id, first, last, kind) if u.usage or u.charged_fen]


def _explain(session: Session, account: Account, month: Month, listed: list[LedgerEntry]) -> None:
    """What the listed entries need beside them: invoices of payments, fee rows, allocation lines, reversed ones."""
    month.invoices = requests_for_entries(session, [e.id for e in listed if e.kind in PAID_KINDS])
    month.month_invoice = request_for_month(session, account.id, month.key)
    fee_months = {e.idempotency_key.rsplit(":", 1)[1]: e.id for e in listed
                  if e.kind == EntryKind.FEE and e.idempotency_key.startswith(f"fee:{account.id}:")}
    if fee_months:
        for fee in session.scalars(select(FeeCharge).where(FeeCharge.account_id == account.id,
                                                            FeeCharge.month.in_(fee_months))):
            month.fees[fee_months[fee.month]] = fee
    month.allocations = _allocation_lines(session, account.id, [e for e in listed if e.kind == EntryKind.ALLOCATION])
    originals = {e.reverses_id: e.id for e in listed if e.reverses_id}
    if originals:
        for original in session.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(originals))):
            month.reversed[originals[original.id]] = original


def _allocation_lines(session: Session, account_id: int,
                      entries: list[LedgerEntry]) -> dict[int, list[tuple[AllocationRun, AllocationLine]]]:
    """Each common-area entry's run and line (its key is alloc:<group>:<period>:<account>), for the 公示."""
    keys = {}
    for e in entries:
        parts = e.idempotency_key.split(":")
        if len(parts) == 4 and parts[0] == "alloc" and parts[1].isdigit():
            keys[(int(parts[1]), parts[2])] = e.id
    if not keys:
        return {}
    rows = session.execute(
        select(AllocationRun, AllocationLine).join(AllocationLine, AllocationLine.run_id == AllocationRun.id)
        .where(AllocationLine.account_id == account_id,
               tuple_(AllocationRun.group_id, AllocationRun.period).in_(list(keys)))
        .options(joinedload(AllocationRun.group))).tuples().all()
    return {keys[(run.group_id, run.period)]: [(run, line)] for run, line in rows}


def _first_of(month: str | None, tz: ZoneInfo) -> date:
    if month:
        return date.fromisoformat(f"{month}-01")
    return utcnow().astimezone(tz).date().replace(day=1)


def history_months(account: Account, tz: ZoneInfo) -> list[str]:
    """The months a shop has a history of, newest first (the month filter's choices)."""
    month, opened = utcnow().astimezone(tz).date().replace(day=1), account.created_at.astimezone(tz).date()
    months = []
    while month >= opened.replace(day=1) and len(months) < 120:
        months.append(f"{month:%Y-%m}")
        month = (month - timedelta(days=1)).replace(day=1)
    return months


@bp.get("/a/<int:account_id>/history")
def history(account_id: int):
    """One month of history. Without a month: this month, older ones loaded as the tenant scrolls. With one: htmx
    asks for the next older month as the tenant scrolls; a page asked for it (the filter) shows that month alone."""
    acct = own_account(account_id)
    tz = business_tz()
    chosen = month_arg()
    kind = query_arg("kind", one_of(FILTERS))
    month = month_history(db.session, acct, _first_of(chosen, tz), tz, FILTERS[kind][0] if kind else None)
    opened = acct.created_at.astimezone(tz).date().replace(day=1)
    scrolling = chosen is None or is_htmx()
    more = scrolling and month.previous >= opened
    # the first month replaces the lazy placeholder; older months replace the "more" sentinel
    partial = "tenant/_history_month.html" if request.args.get("month") else "tenant/_history.html"
    return render("tenant/history.html", partial, account=acct, month=month, more=more, kind_labels=KIND_LABELS,
                  fee_basis=fee_basis, filters=FILTERS, kind=kind, chosen=chosen, months=history_months(acct, tz),
                  single=not scrolling, opened=opened)
