"""Invoice requests (发票): a tenant asks for a fapiao for one payment or for a month's payments; staff issue it."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import BIGINT_PK, Base, CreatedMixin, str_enum


class InvoiceStatus(str, enum.Enum):
    OPEN = "open"        # asked for, not yet issued
    ISSUED = "issued"    # staff issued it (the invoice number is on the row)


class InvoiceTitle(str, enum.Enum):
    COMPANY = "company"    # 企业: a title and a tax id
    PERSONAL = "personal"  # 个人: a name, no tax id


_OPEN = text("status = 'open'")


class InvoiceRequest(CreatedMixin, Base):
    """One request for an invoice, for a payment (a ledger entry) or for a month; at most one open of each."""

    __tablename__ = "invoice_requests"
    __table_args__ = (
        CheckConstraint("(entry_id IS NULL) <> (month IS NULL)", name="payment_or_month"),
        CheckConstraint("amount_fen > 0", name="amount_pos"),
        CheckConstraint("title_kind = 'company' OR tax_id IS NULL", name="personal_no_tax_id"),
        CheckConstraint("status = 'open' OR invoice_no IS NOT NULL", name="issued_has_number"),
        # the duplicates a tenant could ask for twice (a double tap, two phones): refused by the database too
        Index("uq_invoice_requests_open_entry", "entry_id", unique=True,
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("uq_invoice_requests_open_month", "account_id", "month", unique=True,
              postgresql_where=_OPEN, sqlite_where=_OPEN),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    #: the payment (a PAYMENT or CASH ledger entry) invoiced; None for a month
    entry_id: Mapped[int | None] = mapped_column(BIGINT_PK, ForeignKey("ledger_entries.id"))
    #: "YYYY-MM" (business time zone) whose payments are invoiced together; None for one payment
    month: Mapped[str | None] = mapped_column(String(7))
    #: what the invoice is for when asked, in fen (a month: its payments net of refunds and reversals)
    amount_fen: Mapped[int]
    title_kind: Mapped[InvoiceTitle] = mapped_column(str_enum(InvoiceTitle, "invoice_title"))
    #: 抬头: the company's or the person's name
    title: Mapped[str] = mapped_column(String(100))
    #: 税号: the unified social credit code (15, 18 or 20 digits and capitals); None on a personal invoice
    tax_id: Mapped[str | None] = mapped_column(String(20))
    #: where to send the electronic invoice ("" : not given)
    email: Mapped[str] = mapped_column(String(254), default="")
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus, "invoice_status"),
                                                  default=InvoiceStatus.OPEN, index=True)
    #: tenant:<id> who asked
    requested_by: Mapped[str] = mapped_column(String(80))
    #: the number of the invoice issued, who issued it and when
    invoice_no: Mapped[str | None] = mapped_column(String(40))
    issued_by: Mapped[str | None] = mapped_column(String(80))
    issued_at: Mapped[datetime | None]

    account = relationship("Account")
    entry = relationship("LedgerEntry")
