"""Sites (a mall, an office park) and their gateways (RS485 communication managers)."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum


class Protocol(str, enum.Enum):
    MODBUS_TCP = "modbus-tcp"
    RTU_OVER_TCP = "rtu-over-tcp"


class Site(CreatedMixin, Base):
    """One property (mall, office park); staff are scoped to sites."""

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint("overdraft_limit_fen >= 0", name="overdraft_nonneg"),
        CheckConstraint("restore_min_fen >= 0", name="restore_min_nonneg"),
        CheckConstraint("max_balance_fen IS NULL OR max_balance_fen > 0", name="max_balance_pos"),
        CheckConstraint("counter_limit_fen IS NULL OR counter_limit_fen > 0", name="counter_limit_pos"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    #: supply goes off at balance <= -overdraft_limit_fen (透支门限); 0 = at zero
    overdraft_limit_fen: Mapped[int] = mapped_column(default=0)
    #: balance needed before supply is restored (合闸允许金额)
    restore_min_fen: Mapped[int] = mapped_column(default=0)
    #: payments may not lift a balance above this (囤积 limit); None = no limit
    max_balance_fen: Mapped[int | None]
    #: a counter recharge above this needs a manager's approval (maker-checker); None = none does
    counter_limit_fen: Mapped[int | None]
    #: three low-balance alarm levels, highest first, in fen
    low_balance_levels_fen: Mapped[list[int]] = mapped_column(JSON, default=lambda: [5000, 2000, 500])
    default_tariff_id: Mapped[int | None] = mapped_column(
        ForeignKey("tariffs.id", use_alter=True, name="fk_sites_default_tariff")
    )
    #: minutes between the arrears warning and the trip; 0 = trip at once
    warning_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: no trips for money on Chinese public holidays (make-up workdays count as workdays)
    protect_holidays: Mapped[bool] = mapped_column(default=True)
    #: a fixed advance a tenant may take once until repaid; 0 = not offered
    emergency_credit_fen: Mapped[int] = mapped_column(default=0)
    #: 物业费 per month: per m² of floor area (0.0001 yuan) and/or fixed per shop (fen)
    fee_rate_e4_per_m2: Mapped[int] = mapped_column(default=0)
    fee_fixed_fen: Mapped[int] = mapped_column(default=0)
    #: the reference product's policy of tripping for an unpaid fee; off by default (Civil Code Art. 944)
    fee_trip_enabled: Mapped[bool] = mapped_column(default=False)
    #: the property office's phone: a shop whose supply staff switched off is told to call it
    contact_phone: Mapped[str | None] = mapped_column(String(32))

    gateways: Mapped[list[Gateway]] = relationship(back_populates="site", order_by="Gateway.code")


class NoTripWindow(Base):
    """A weekly window in which nobody is cut off for money (nights, weekends...), per site."""

    __tablename__ = "no_trip_windows"
    __table_args__ = (CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    #: 0 = Monday (business time zone)
    weekday: Mapped[int] = mapped_column(Integer)
    #: "HH:MM", local; end "24:00" allowed; start < end
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))


class CalendarDay(Base):
    """A site's own exception to the national calendar: an extra holiday, or a working day."""

    __tablename__ = "calendar_days"
    __table_args__ = (UniqueConstraint("site_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    day: Mapped[date]
    holiday: Mapped[bool]
    note: Mapped[str] = mapped_column(String(120), default="")


class Gateway(CreatedMixin, Base):
    """A TCP-to-RS485 gateway; every meter on one bus is polled through it, one request at a time."""

    __tablename__ = "gateways"
    __table_args__ = (
        UniqueConstraint("site_id", "code"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    protocol: Mapped[Protocol] = mapped_column(str_enum(Protocol, "gateway_protocol"))
    #: written by the poller: did the last cycle reach the gateway at all
    online: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[datetime | None]
    #: consecutive poll cycles in which the gateway was unreachable
    missed_cycles: Mapped[int] = mapped_column(Integer, default=0)

    site: Mapped[Site] = relationship(back_populates="gateways")
    meters: Mapped[list[Meter]] = relationship(order_by="Meter.unit_id", viewonly=True)  # noqa: F821
