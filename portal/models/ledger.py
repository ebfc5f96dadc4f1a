"""The ledger: append-only money movements; the only way an account's balance changes."""
from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import BIGINT_PK, Base, CreatedMixin, str_enum


class EntryKind(str, enum.Enum):
    OPENING = "opening"            # balance carried over from another system at import
    PAYMENT = "payment"            # WeChat Pay / Alipay order credited
    CASH = "cash"                  # counter recharge, cash or transfer
    REVERSAL = "reversal"          # 冲正 of an earlier entry
    REFUND = "refund"              # money returned through the payment platform
    ENERGY = "energy"              # electricity charge of a platform-mode meter
    WATER = "water"                # water charge
    FEE = "fee"                    # 物业费
    ALLOCATION = "allocation"      # 公摊
    EMERGENCY = "emergency"        # emergency credit advance (+) and its repayment (-)
    TRANSFER = "transfer"          # balance moved between accounts (换表)
    SETTLEMENT = "settlement"      # final settlement at closure (销户)
    ADJUSTMENT = "adjustment"      # manual correction by a manager


class LedgerEntry(CreatedMixin, Base):
    """One signed movement of money; never updated or deleted, corrections are new entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
        Index("ix_ledger_entries_account_created", "account_id", "created_at"),
        #: the opening balances, one per shop among a year of charges: a site's import reads them (0022)
        Index("ix_ledger_entries_opening", "account_id", postgresql_where=text("kind = 'opening'"),
              sqlite_where=text("kind = 'opening'")),
    )

    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    #: positive credits the account, negative debits it; integer fen
    amount_fen: Mapped[int]
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, "entry_kind"))
    #: what caused it (payment:<no>, energy:<meter>:<interval>, fee:<acct>:<month>...); unique
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    #: the account's balance right after this entry
    balance_after_fen: Mapped[int]
    memo: Mapped[str] = mapped_column(String(200), default="")
    #: staff:<name>, api:<name>, system:<job>, tenant:<id>; under an approval, the person who asked
    actor: Mapped[str] = mapped_column(String(80), default="system")
    #: the manager who approved it (portal.approvals), when it needed two people; else None
    approved_by: Mapped[str | None] = mapped_column(String(80))
    #: how counter money was paid (cash, transfer, api) on a CASH entry; kept apart from the key, which is the
    #: form's alone so that one form is one entry whatever the method said
    method: Mapped[str | None] = mapped_column(String(16))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("payment_orders.id"), index=True)
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)

    account = relationship("Account")
    #: its printed number (portal.ledger.receipts), on the kinds the counter prints
    receipt = relationship("Receipt", uselist=False, viewonly=True)

    @property
    def receipt_no(self) -> str | None:
        """The receipt number printed for this entry: per site and year (None: not a receipt's entry)."""
        return self.receipt.number if self.receipt is not None else None
