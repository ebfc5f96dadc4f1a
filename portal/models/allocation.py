"""Common-area allocation (公摊): which common meters are shared over which shops, and how."""
from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum


class AllocationMethod(str, enum.Enum):
    FIXED = "fixed"              # fixed shares (weights) per shop
    AREA = "area"                # by floor area
    CONSUMPTION = "consumption"  # by each shop's own consumption in the period


allocation_sources = Table(
    "allocation_sources",
    Base.metadata,
    Column("group_id", ForeignKey("allocation_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("meter_id", ForeignKey("meters.id"), primary_key=True),
)


class AllocationGroup(CreatedMixin, Base):
    """Common meters priced and split over member shops, once per period (monthly by default)."""

    __tablename__ = "allocation_groups"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    method: Mapped[AllocationMethod] = mapped_column(str_enum(AllocationMethod, "allocation_method"))
    #: None = the site's default tariff
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))

    sources = relationship("Meter", secondary=allocation_sources)
    members: Mapped[list[AllocationMember]] = relationship(back_populates="group")


class AllocationMember(Base):
    """A shop taking part in a group; `share` is its weight for the fixed method."""

    __tablename__ = "allocation_members"
    __table_args__ = (CheckConstraint("share >= 0", name="share_nonneg"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("allocation_groups.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    share: Mapped[int] = mapped_column(Integer, default=1)

    group: Mapped[AllocationGroup] = relationship(back_populates="members")
