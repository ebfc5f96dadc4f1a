"""Alarms: raised once per crossing, cleared on recovery."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow


class AlarmKind(str, enum.Enum):
    LOW_BALANCE_1 = "low_balance_1"
    LOW_BALANCE_2 = "low_balance_2"
    LOW_BALANCE_3 = "low_balance_3"
    ARREARS = "arrears"
    #: a meter's supply (relay or valve) read off, whatever switched it; cleared when read on (portal.metering.cycle)
    SUPPLY_OFF = "supply_off"
    OVER_POWER = "over_power"
    METER_OFFLINE = "meter_offline"
    GATEWAY_OFFLINE = "gateway_offline"
    TAMPER = "tamper"
    PAYMENT_ANOMALY = "payment_anomaly"
    #: a meter-mode shop's ledger balance differs from what its meters hold (portal.metering.books)
    BOOKS_MISMATCH = "books_mismatch"


class Alarm(Base):
    """One alarm episode; at most one active per (kind, subject)."""

    __tablename__ = "alarms"
    __table_args__ = (
        # The database, not the caller, guarantees "raised once per crossing".
        Index(
            "uq_alarms_active_subject",
            "kind",
            "subject",
            unique=True,
            postgresql_where=text("cleared_at IS NULL"),
            sqlite_where=text("cleared_at IS NULL"),
        ),
        Index("ix_alarms_site_raised", "site_id", "raised_at"),
        Index("ix_alarms_site_open", "site_id", "cleared_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[AlarmKind] = mapped_column(str_enum(AlarmKind, "alarm_kind"))
    #: what it is about: meter:<id>, gateway:<id>, account:<id>, order:<id>
    subject: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    gateway_id: Mapped[int | None] = mapped_column(ForeignKey("gateways.id"))
    #: the sentence for logs and the command line (English); pages render `data` in the reader's language
    message: Mapped[str] = mapped_column(String(300))
    #: what it is about, for the pages: {"what": <message id>, ...its values} (portal.web.alarm_text)
    data: Mapped[dict | None] = mapped_column(JSON)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    acknowledged_at: Mapped[datetime | None]
    ack_note: Mapped[str | None] = mapped_column(String(200))

    account = relationship("Account")
    meter = relationship("Meter")
    gateway = relationship("Gateway")
