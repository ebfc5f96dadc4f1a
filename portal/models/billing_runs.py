"""What the monthly runs did: each shop's property fee per month, each group's allocation per period.

These rows are the runs' idempotency gates and their explanation: the ledger holds the money, these
hold why (the fee's basis, the part left as fee arrears, the common consumption, its price and each
shop's weight), so staff and tenants can see a split without parsing ledger memos.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin
from portal.models.ledger import LedgerEntry
from portal.models.meter import IntervalReading


class FeeCharge(CreatedMixin, Base):
    """One shop's property fee (物业费) for one month; the fee run inserts it once."""

    __tablename__ = "fee_charges"
    __table_args__ = (
        UniqueConstraint("account_id", "month"),
        CheckConstraint("fee_fen > 0", name="fee_pos"),
        CheckConstraint("posted_fen >= 0 AND arrears_fen >= 0", name="parts_nonneg"),
        CheckConstraint("posted_fen + arrears_fen = fee_fen", name="parts_sum"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    #: business-time-zone month, "YYYY-MM"
    month: Mapped[str] = mapped_column(String(7), index=True)
    fee_fen: Mapped[int]
    #: debited from the balance now (ledger key fee:<account>:<month>)
    posted_fen: Mapped[int]
    #: the rest, added to the account's fee arrears and repaid first from later payments
    arrears_fen: Mapped[int]
    #: how it was computed, e.g. "area 120.50 m² × 5.0000" or "fixed"
    basis: Mapped[str] = mapped_column(String(80), default="")
    actor: Mapped[str] = mapped_column(String(80), default="system")


class AllocationRun(CreatedMixin, Base):
    """One group's common consumption for one period, priced once and split over its members."""

    __tablename__ = "allocation_runs"
    __table_args__ = (
        UniqueConstraint("group_id", "period"),
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("allocation_groups.id"))
    #: "YYYY-MM" in the business time zone; readings closing in (period_start, period_end] belong to it
    period: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    #: fixed, area or consumption, as the group was configured at the run
    method: Mapped[str] = mapped_column(String(24))
    #: electric (0.01 kWh) or water (litres)
    kind: Mapped[str] = mapped_column(String(24))
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))
    #: flat price in force (0.0001 yuan per kWh / m³); the last one when the price changed mid-period
    unit_price_e4: Mapped[int]
    #: the common meters' consumption in the period
    consumption: Mapped[int]
    #: exact cost (0.00001 fen) plus the sub-fen remainder carried in from the group's previous run
    cost_e5: Mapped[int]
    carried_in_e5: Mapped[int] = mapped_column(default=0)
    #: whole fen split over the members, and the sub-fen rest carried to the next run
    total_fen: Mapped[int]
    remainder_e5: Mapped[int] = mapped_column(default=0)
    weight_total: Mapped[int]
    #: [{"meter_id", "code", "consumption"}] of the common meters
    sources: Mapped[list] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(80), default="system")

    group = relationship("AllocationGroup")
    lines: Mapped[list[AllocationLine]] = relationship(back_populates="run", order_by="AllocationLine.account_id")


class AllocationLine(Base):
    """One member's part of a run: its weight and the fen posted (ledger key alloc:<group>:<period>:<acct>)."""

    __tablename__ = "allocation_lines"

    run_id: Mapped[int] = mapped_column(ForeignKey("allocation_runs.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    #: fixed: the share; area: 0.01 m²; consumption: the shop's own consumption in the period
    weight: Mapped[int]
    amount_fen: Mapped[int]

    run: Mapped[AllocationRun] = relationship(back_populates="lines")


# Indexes the monthly runs and reports need on tables the poller and the ledger own. Both are partial,
# so they hold only rare rows and cost the hot inserts (a reading, an energy charge) nothing:
#: readings without a delta (first reading, reset, jump): portal.metering.consumption reads periods off registers
Index("ix_interval_readings_no_delta", IntervalReading.interval_start, IntervalReading.meter_id,
      postgresql_where=IntervalReading.delta.is_(None), sqlite_where=IntervalReading.delta.is_(None))
#: entries other than the dense energy and water charges: the monthly report sums these per kind
SPARSE_KINDS = text("kind NOT IN ('energy', 'water')")
Index("ix_ledger_entries_sparse_created", LedgerEntry.created_at,
      postgresql_where=SPARSE_KINDS, sqlite_where=SPARSE_KINDS)
#: water charges (fewer than energy's): the report tells water from electricity with these
Index("ix_ledger_entries_water_created", LedgerEntry.account_id, LedgerEntry.created_at,
      postgresql_where=text("kind = 'water'"), sqlite_where=text("kind = 'water'"))
