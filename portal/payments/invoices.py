"""Invoice requests (发票): a tenant asks for an invoice for one payment or for a finished month's payments; staff
issue it elsewhere (the tax bureau's system) and record its number here.

What may be invoiced is money the shop paid in: a platform payment or a counter recharge (PAYMENT, CASH), or a
month's worth of them net of the refunds and reversals posted in that month. A payment or a month has at most one
open request (two partial unique indexes back this against a double tap), and none once it was issued. The two
ways never overlap: a payment of a month asked for as a whole is not invoiced again on its own, and a month one
of whose payments has a request is invoiced payment by payment.

A company invoice (企业) has a title (抬头) and a tax id (税号): a unified social credit code of 18 characters or
an older 15- or 20-character taxpayer number, digits and capital letters. A personal invoice (个人) has none.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Account, EntryKind, InvoiceRequest, InvoiceStatus, InvoiceTitle, LedgerEntry, utcnow

#: the entries an invoice is for: money the shop paid in
PAID_KINDS = (EntryKind.PAYMENT, EntryKind.CASH)
#: what a month's invoice nets against its payments
MONTH_KINDS = (EntryKind.PAYMENT, EntryKind.CASH, EntryKind.REFUND, EntryKind.REVERSAL)
TAX_ID = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{18}|[0-9A-Z]{20}")
INVOICE_NO = re.compile(r"[0-9A-Za-z-]{1,40}")
#: the requests that stand in the way of another one for the same payment or month
ACTIVE = (InvoiceStatus.OPEN, InvoiceStatus.ISSUED)

REASONS = {
    "entry_open": _l("An invoice for this payment has already been requested."),
    "entry_issued": _l("An invoice for this payment has already been issued."),
    "month_open": _l("An invoice for this month has already been requested."),
    "month_issued": _l("An invoice for this month has already been issued."),
    "in_month": _l("This payment is part of the invoice requested for its month."),
    "month_has_payments": _l("Payments of this month already have invoices of their own: request the others one "
                             "by one."),
    "nothing_paid": _l("Nothing was paid in this month, so there is nothing to invoice."),
    "month_not_over": _l("A month can be invoiced once it is over; until then, request an invoice per payment."),
    "already_issued": _l("This invoice has already been issued."),
}


class InvoiceRefused(Exception):
    """The request cannot be made or issued; `code` is a key of REASONS, `str()` the reader's words."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return str(REASONS[self.code])


def normal_tax_id(text: str) -> str:
    """A tax id as typed, without spaces and in capitals (a phone keyboard gives lower case)."""
    return re.sub(r"\s+", "", text or "").upper()


def valid_tax_id(tax_id: str) -> bool:
    """Whether a (normalised) tax id has the shape of a credit code: 15, 18 or 20 digits and capitals."""
    return TAX_ID.fullmatch(tax_id) is not None


def month_span(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which a business month YYYY-MM begins and the next one begins."""
    first = date.fromisoformat(f"{month}-01")
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return (datetime.combine(first, time.min, tz).astimezone(UTC),
            datetime.combine(following, time.min, tz).astimezone(UTC))


def paid_entry(session: Session, account_id: int, entry_id: int) -> LedgerEntry | None:
    """The account's payment or counter recharge with this id (None: not one, or not the account's)."""
    return session.scalar(select(LedgerEntry).where(
        LedgerEntry.id == entry_id, LedgerEntry.account_id == account_id, LedgerEntry.kind.in_(PAID_KINDS),
        LedgerEntry.amount_fen > 0))


def month_paid_fen(session: Session, account_id: int, month: str, tz: ZoneInfo) -> int:
    """What the shop paid in a month, net of the refunds and reversals posted in it."""
    start, end = month_span(month, tz)
    return int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
        LedgerEntry.account_id == account_id, LedgerEntry.kind.in_(MONTH_KINDS),
        LedgerEntry.created_at >= start, LedgerEntry.created_at < end)))


def request_invoice(session: Session, account: Account, *, title_kind: InvoiceTitle, title: str,
                    tax_id: str | None, email: str, actor: str, tz: ZoneInfo, entry: LedgerEntry | None = None,
                    month: str | None = None, now: datetime | None = None) -> InvoiceRequest:
    """Record a request for a payment (`entry`) or a month, once; only flushes. The fields are checked already
    (portal.tenant.invoices); what depends on the books is checked here (InvoiceRefused)."""
    if (entry is None) == (month is None):
        raise ValueError("an invoice is for a payment or for a month")
    if entry is not None:
        _check_entry(session, account, entry, tz)
        amount = entry.amount_fen
    else:
        amount = _check_month(session, account, month, tz, now or utcnow())
    row = InvoiceRequest(account_id=account.id, entry_id=entry.id if entry else None, month=month,
                         amount_fen=amount, title_kind=title_kind, title=title,
                         tax_id=tax_id if title_kind == InvoiceTitle.COMPANY else None, email=email,
                         requested_by=actor)
    try:
        with session.begin_nested():  # two taps at once: the second meets the partial unique index
            session.add(row)
            session.flush()
    except IntegrityError:
        raise InvoiceRefused("entry_open" if entry is not None else "month_open") from None
    audit(session, actor, "invoice.requested", "invoice_request", row.id, account.site_id,
          amount_fen=amount, entry=row.entry_id, month=month)
    return row


def _active(session: Session, *where) -> InvoiceRequest | None:
    return session.scalar(select(InvoiceRequest).where(InvoiceRequest.status.in_(ACTIVE), *where)
                          .order_by(InvoiceRequest.id.desc()).limit(1))


def _refuse_if(found: InvoiceRequest | None, prefix: str) -> None:
    if found is not None:
        raise InvoiceRefused(f"{prefix}_{found.status.value}")


def _check_entry(session: Session, account: Account, entry: LedgerEntry, tz: ZoneInfo) -> None:
    _refuse_if(_active(session, InvoiceRequest.entry_id == entry.id), "entry")
    month = f"{entry.created_at.astimezone(tz):%Y-%m}"
    if _active(session, InvoiceRequest.account_id == account.id, InvoiceRequest.month == month):
        raise InvoiceRefused("in_month")


def _check_month(session: Session, account: Account, month: str, tz: ZoneInfo, now: datetime) -> int:
    start, end = month_span(month, tz)
    if end > now:
        raise InvoiceRefused("month_not_over")
    _refuse_if(_active(session, InvoiceRequest.account_id == account.id, InvoiceRequest.month == month), "month")
    in_month = select(LedgerEntry.id).where(LedgerEntry.account_id == account.id, LedgerEntry.kind.in_(PAID_KINDS),
                                            LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    if _active(session, InvoiceRequest.entry_id.in_(in_month)):
        raise InvoiceRefused("month_has_payments")
    amount = month_paid_fen(session, account.id, month, tz)
    if amount <= 0:
        raise InvoiceRefused("nothing_paid")
    return amount


def issue_invoice(session: Session, request_id: int, invoice_no: str, actor: str, site_id: int,
                  now: datetime | None = None) -> InvoiceRequest:
    """Mark an open request issued with the invoice's number, audited; only flushes. The row is locked, so two
    clerks marking it at once issue it once."""
    row = session.execute(select(InvoiceRequest).where(InvoiceRequest.id == request_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one()
    if row.status != InvoiceStatus.OPEN:
        raise InvoiceRefused("already_issued")
    row.status, row.invoice_no, row.issued_by, row.issued_at = InvoiceStatus.ISSUED, invoice_no, actor, now or utcnow()
    session.flush()
    audit(session, actor, "invoice.issued", "invoice_request", row.id, site_id, invoice_no=invoice_no,
          amount_fen=row.amount_fen, title=row.title)
    return row


def requests_for_entries(session: Session, entry_ids: list[int]) -> dict[int, InvoiceRequest]:
    """The standing (open or issued) request of each of these payments that has one."""
    if not entry_ids:
        return {}
    rows = session.scalars(select(InvoiceRequest).where(InvoiceRequest.entry_id.in_(entry_ids),
                                                        InvoiceRequest.status.in_(ACTIVE)))
    return {r.entry_id: r for r in rows}


def request_for_month(session: Session, account_id: int, month: str) -> InvoiceRequest | None:
    """The standing request for a shop's month, if any."""
    return _active(session, InvoiceRequest.account_id == account_id, InvoiceRequest.month == month)
