"""Proposals (maker-checker, 两人复核): big money asked for by one person and carried out on another's approval."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum


class ProposalKind(str, enum.Enum):
    RECHARGE = "recharge"        # a counter recharge above the site's limit
    CLOSURE = "closure"          # 销户 with its pay-out
    TRANSFER = "transfer"        # balance moved to another account
    ADJUSTMENT = "adjustment"    # a manual credit or debit, with a reason
    METER_SWAP = "meter_swap"    # 换表: the final reading and the money carried into the new meter
    KEEP_POWER = "keep_power"    # 保电 asked by an electrician, with a reason and an end


class ProposalStatus(str, enum.Enum):
    PROPOSED = "proposed"        # waiting for a manager
    APPROVED = "approved"        # approved, and carried out in the approver's transaction
    REJECTED = "rejected"        # by a manager, with a note
    WITHDRAWN = "withdrawn"      # by the person who proposed it, before a decision


class Proposal(CreatedMixin, Base):
    """An operation one staff member asked for; it runs only when another one, a manager, approves it."""

    __tablename__ = "proposals"
    __table_args__ = (
        # the database, not only the page, keeps the two people apart
        CheckConstraint("decided_by IS NULL OR decided_by <> proposed_by", name="two_people"),
        Index("ix_proposals_site_status", "site_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[ProposalKind] = mapped_column(str_enum(ProposalKind, "proposal_kind"))
    status: Mapped[ProposalStatus] = mapped_column(str_enum(ProposalStatus, "proposal_status"),
                                                   default=ProposalStatus.PROPOSED)
    #: the form's key (recharge:<key>, closure:<key>...): a double submit proposes once
    key: Mapped[str] = mapped_column(String(160), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    #: the money it moves, signed where it matters (an adjustment's debit is negative); None: none known yet
    amount_fen: Mapped[int | None]
    #: what the operation needs to run, as the form gave it (method, target, readings...)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(200), default="")
    proposed_by: Mapped[str] = mapped_column(String(80))
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None]
    #: the manager's note on a decision
    note: Mapped[str] = mapped_column(String(200), default="")
    #: why the last attempt to approve it was refused (the balance moved...); cleared when it runs
    error: Mapped[str] = mapped_column(String(300), default="")
    #: what it did once approved: the ledger entry to print as its receipt, and the like
    result: Mapped[dict | None] = mapped_column(JSON)

    account = relationship("Account")
    meter = relationship("Meter")
