"""Tariffs and their versions: a price change is a new version, so the past is never re-priced."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum


class TariffKind(str, enum.Enum):
    FLAT = "flat"
    TOU = "tou"
    TIERED = "tiered"


class Tariff(CreatedMixin, Base):
    """A named price plan of one site (per kWh for electricity, per m³ for water)."""

    __tablename__ = "tariffs"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[TariffKind] = mapped_column(str_enum(TariffKind, "tariff_kind"), default=TariffKind.FLAT)

    versions: Mapped[list[TariffVersion]] = relationship(
        back_populates="tariff", order_by="TariffVersion.effective_from"
    )


class TariffVersion(CreatedMixin, Base):
    """Prices in force from `effective_from` (UTC) until the next version."""

    __tablename__ = "tariff_versions"
    __table_args__ = (
        UniqueConstraint("tariff_id", "effective_from"),
        CheckConstraint("unit_price_e4 >= 0", name="price_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id"), index=True)
    effective_from: Mapped[datetime]
    #: flat price, or the base price of a tiered tariff: 0.0001 yuan per kWh / m³ (integer)
    unit_price_e4: Mapped[int]
    #: time-of-use: [{"start": "08:00", "end": "11:00", "period": "peak"}, ...] and
    #: {"sharp": e4, "peak": e4, "flat": e4, "valley": e4}; tiered: [{"upto": kwh, "price_e4": e4}, ...]
    periods: Mapped[list | None] = mapped_column(JSON)
    period_prices_e4: Mapped[dict | None] = mapped_column(JSON)
    tiers: Mapped[list | None] = mapped_column(JSON)

    tariff: Mapped[Tariff] = relationship(back_populates="versions")
