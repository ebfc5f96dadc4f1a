"""Daily roll-ups: each meter's business day in one row, kept by the poll cycle (portal.metering.daily)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class DailyUsage(Base):
    """One meter's business day: its readings' first and last register, their deltas, the money charged.

    On PostgreSQL the table has fillfactor 70 (migration 0015): today's rows are updated every quarter hour.

    A reading belongs to the business day its interval closes in, (00:00, 24:00] business time, as the
    monthly consumption counts them (portal.metering.consumption); money to the day its ledger entry was
    posted, as statements count it. Units are the readings' (0.01 kWh, water litres).
    """

    __tablename__ = "daily_usage"
    __table_args__ = (
        Index("ix_daily_usage_account_day", "account_id", "day"),
        # a site's month in one range (the month's reports): migration 0016
        Index("ix_daily_usage_day", "day"),
        CheckConstraint("readings >= 0", name="readings_pos"),
    )

    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    #: business day (TZ_BUSINESS)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    #: the shop the meter belonged to when the day was recorded (None: a common-area meter)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    #: the register before the day's first delta, and at its last reading (None: only money that day)
    opening_reading: Mapped[int | None]
    closing_reading: Mapped[int | None]
    #: when those two readings were taken (their interval_start): a late reading moves them only if outside
    first_at: Mapped[datetime | None]
    last_at: Mapped[datetime | None]
    #: the sum of the day's validated deltas (a reset or a swap's baseline adds nothing)
    usage: Mapped[int] = mapped_column(default=0)
    #: the day's ENERGY or WATER ledger entries of this meter, as a positive number of fen
    charged_fen: Mapped[int] = mapped_column(default=0)
    #: interval readings recorded for the day
    readings: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
