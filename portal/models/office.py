"""The property office's own records: receipt numbers per site, notes on an account, and site imports."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import BIGINT_PK, Base, CreatedMixin, str_enum


class ReceiptSequence(Base):
    """The last receipt number given out at a site in a year; bumped under its row lock."""

    __tablename__ = "receipt_sequences"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Receipt(Base):
    """The printed number of a counter ledger entry: per site and year, gapless, never reused (2026-000123)."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    number: Mapped[str] = mapped_column(String(24))


class AccountNote(CreatedMixin, Base):
    """A free-text note staff keep on an account (a phone call, a promise to pay, a key left at the desk)."""

    __tablename__ = "account_notes"
    __table_args__ = (Index("ix_account_notes_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    #: staff:<name>, as on the ledger
    author: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)


class ImportStatus(str, enum.Enum):
    INVALID = "invalid"        # checked: errors by sheet/row/column, nothing can be written
    READY = "ready"            # checked: a preview of what would change, waiting for the commit
    QUEUED = "queued"          # the commit job is queued
    RUNNING = "running"        # the commit job is writing
    DONE = "done"              # committed
    FAILED = "failed"          # the commit job failed; nothing was written


class SiteImport(CreatedMixin, Base):
    """An uploaded site workbook on its way through the import page: checked, previewed, committed by a job.

    The file itself is kept here, so the job reads it on whichever machine runs it.
    """

    __tablename__ = "site_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the site it imports into, by code (a new code creates the site)
    site_code: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus, "import_status"))
    #: errors by sheet/row/column (INVALID), or the failure of the job (FAILED)
    errors: Mapped[list | None] = mapped_column(JSON)
    #: per sheet: new / changed / unchanged, with examples of each (READY and after)
    preview: Mapped[dict | None] = mapped_column(JSON)
    #: the job's progress: rows written of rows to write
    done_rows: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]

    created_by = relationship("StaffUser")
