"""Accounts (one per shop): the money side of a tenant, with a cached balance."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum


class AccountStatus(str, enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"


class Account(CreatedMixin, Base):
    """A shop's prepaid account; `balance_fen` always equals the sum of its ledger entries."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("site_id", "code"),
        CheckConstraint("area_m2 IS NULL OR area_m2 >= 0", name="area_nonneg"),
        CheckConstraint("fee_arrears_fen >= 0", name="fee_arrears_nonneg"),
        CheckConstraint("emergency_owed_fen >= 0", name="emergency_owed_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    tenant_name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    area_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    status: Mapped[AccountStatus] = mapped_column(
        str_enum(AccountStatus, "account_status"), default=AccountStatus.ACTIVE
    )
    #: cache of sum(ledger_entries.amount_fen), updated in the same transaction as each entry
    balance_fen: Mapped[int] = mapped_column(default=0)
    #: exempt from arrears trips (cold storage...)
    exempt: Mapped[bool] = mapped_column(default=False)
    #: property fee not yet collected (the balance could not cover it); repaid first from payments
    fee_arrears_fen: Mapped[int] = mapped_column(default=0)
    #: emergency credit advanced and not yet repaid
    emergency_owed_fen: Mapped[int] = mapped_column(default=0)
    #: when the shop was warned that supply will go off (the warning period runs from here)
    arrears_warned_at: Mapped[datetime | None]
    #: per-shop overrides of the site's property fee
    fee_rate_e4_per_m2: Mapped[int | None]
    fee_fixed_fen: Mapped[int | None]
    closed_at: Mapped[datetime | None]
    #: the binding code printed on the shop's bills and meter-box sticker, hashed (portal.auth.binding): with
    #: the account code it binds a tenant who is not the phone on file
    binding_code_hash: Mapped[str | None] = mapped_column(String(128))
    #: the sticker's QR token: /r/<token> opens the shop's recharge page (anyone may pay in)
    sticker_token: Mapped[str | None] = mapped_column(String(32), unique=True)

    site = relationship("Site")
    meters: Mapped[list[Meter]] = relationship(back_populates="account", order_by="Meter.code")  # noqa: F821
