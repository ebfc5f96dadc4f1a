"""Meters, their latest state, interval readings and the commands sent to them."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, CreatedMixin, str_enum, utcnow

#: register maps of METERS.md (the drivers in worker/meters implement exactly these)
PROFILES = frozenset({"acrel-ddsy1352", "payfirst-prepaid-v1", "payfirst-water-v1", "chint-dtsu666"})
#: profiles with a prepaid block, the only ones that can run in meter mode
PROFILES_WITH_PREPAID = frozenset({"payfirst-prepaid-v1", "payfirst-water-v1"})
#: profiles with a relay or valve the platform can switch
SWITCHABLE_PROFILES = frozenset({"acrel-ddsy1352", "payfirst-prepaid-v1", "payfirst-water-v1"})
#: profiles with a meter-side keep-power flag (elsewhere keep-power is the platform's alone)
KEEP_POWER_PROFILES = frozenset({"payfirst-prepaid-v1", "payfirst-water-v1"})
#: profiles that measure water (litres) rather than electricity
WATER_PROFILES = frozenset({"payfirst-water-v1"})
#: profiles whose power limit the platform writes into the meter (0130H, 0.01 kW steps)
POWER_LIMIT_PROFILES = frozenset({"payfirst-prepaid-v1"})

# What the meters accept and can show (METERS.md), checked when a value is asked for, before it is queued:
# a value a register cannot hold must be refused with a message then, not fail a poll later.
#: one purchase (0110H) or deduction (0114H): 1 fen to 10,000,000 fen (¥100,000)
WRITE_MIN_FEN, WRITE_MAX_FEN = 1, 10_000_000
#: the power limit register (0130H): UINT16 in 0.01 kW
POWER_LIMIT_STEP_W, POWER_LIMIT_MAX_W = 10, 0xFFFF * 10
#: a meter-mode price (0140H) in 0.0001 yuan per kWh or m³; the import's own limit, ¥1,000
PRICE_MAX_E4 = 10_000_000
#: the remaining amount a meter can show (0100H), fen; beyond it a driver reads garbage
REMAINING_MIN_FEN, REMAINING_MAX_FEN = -1_000_000_000, 1_000_000_000
#: the energy register a meter can show: eight digits of 0.01 kWh, nine of litres
ENERGY_MAX = {"electric": 99_999_999, "water": 999_999_999}


class MeterKind(str, enum.Enum):
    ELECTRIC = "electric"
    WATER = "water"


class ControlMode(str, enum.Enum):
    #: 外控: the platform prices readings and keeps the balance
    PLATFORM = "platform"
    #: 内控: the meter keeps its own remaining amount; the platform writes purchases
    METER = "meter"


class Supply(str, enum.Enum):
    """Relay closed / valve open = on."""

    ON = "on"
    OFF = "off"


class Meter(CreatedMixin, Base):
    """One meter on one gateway; `supply_desired` is the level the poller reconciles to."""

    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("site_id", "code"),
        # Deferrable (PostgreSQL) so that one import can swap two meters' unit ids.
        UniqueConstraint("gateway_id", "unit_id", deferrable=True, initially="IMMEDIATE"),
        CheckConstraint("unit_id BETWEEN 1 AND 247", name="unit_id_range"),
        CheckConstraint("power_limit_w IS NULL OR power_limit_w > 0", name="power_limit_pos"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[MeterKind] = mapped_column(str_enum(MeterKind, "meter_kind"))
    #: register map name from METERS.md
    profile: Mapped[str] = mapped_column(String(40))
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateways.id"), index=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    #: None for a common-area meter
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    control_mode: Mapped[ControlMode] = mapped_column(
        str_enum(ControlMode, "control_mode"), default=ControlMode.PLATFORM
    )
    #: None = the site's default tariff
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))
    power_limit_w: Mapped[int | None] = mapped_column(Integer)
    #: a master meter whose consumption should equal its sub-meters' (line-loss report)
    parent_meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    supply_desired: Mapped[Supply] = mapped_column(str_enum(Supply, "supply_desired"), default=Supply.ON)
    #: why the desired state is what it is: arrears, remote, over_power, restored...
    desired_reason: Mapped[str] = mapped_column(String(24), default="")
    #: 保电: approved by a manager; wins over arrears
    keep_power: Mapped[bool] = mapped_column(default=False)
    #: when keep-power ends by itself (None: until someone ends it), and why it was granted
    keep_power_until: Mapped[datetime | None]
    keep_power_reason: Mapped[str | None] = mapped_column(String(200))
    #: meter mode: writes the meter acknowledged, purchases and deductions alike (the meter's one count
    #: sequence, the anti-cheat count), the purchases' sum (as 0103H) and the deductions' sum
    purchase_count: Mapped[int] = mapped_column(Integer, default=0)
    purchase_total_fen: Mapped[int] = mapped_column(default=0)
    deduction_total_fen: Mapped[int] = mapped_column(default=0)
    #: meter mode, the books (portal.metering.books): the meter's remaining amount and write count as of
    #: the last read the ledger has accounted for, the net of the writes acknowledged up to that count
    #: (purchases − deductions), and when that read was taken; None until the first read
    books_remaining_fen: Mapped[int | None]
    books_count: Mapped[int | None] = mapped_column(Integer)
    books_net_fen: Mapped[int | None]
    books_read_at: Mapped[datetime | None]
    #: platform mode: the sub-fen part of charges not yet posted, in 0.00001 fen
    charge_remainder_e5: Mapped[int] = mapped_column(default=0)

    account = relationship("Account", back_populates="meters")
    gateway = relationship("Gateway")
    state: Mapped[MeterState | None] = relationship(back_populates="meter", uselist=False)
    #: commands not yet acknowledged by the meter, oldest first
    pending_commands: Mapped[list[ControlCommand]] = relationship(
        primaryjoin="and_(ControlCommand.meter_id == Meter.id, ControlCommand.status == 'pending')",
        order_by="ControlCommand.id", viewonly=True)


class MeterState(Base):
    """The latest reading of a meter, one row per meter, written by the poller only."""

    __tablename__ = "meter_states"

    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    online: Mapped[bool] = mapped_column(default=False)
    #: None = never read; inferred = from the last acknowledged command (no readable relay)
    supply_actual: Mapped[Supply | None] = mapped_column(str_enum(Supply, "supply_actual"))
    supply_inferred: Mapped[bool] = mapped_column(default=False)
    #: 0.01 kWh (water: litres)
    energy_total: Mapped[int | None]
    energy_tou: Mapped[list[int] | None] = mapped_column(JSON)
    power_w: Mapped[int | None] = mapped_column(Integer)
    voltage_dv: Mapped[int | None] = mapped_column(Integer)
    current_ca: Mapped[int | None] = mapped_column(Integer)
    pf_milli: Mapped[int | None] = mapped_column(Integer)
    trip_reason: Mapped[str | None] = mapped_column(String(16))
    remaining_fen: Mapped[int | None]
    purchase_count: Mapped[int | None] = mapped_column(Integer)
    purchase_total_fen: Mapped[int | None]
    keep_power_actual: Mapped[bool | None]
    #: consecutive polls the meter did not answer
    missed_polls: Mapped[int] = mapped_column(Integer, default=0)
    #: consecutive reads above the shop's power limit
    over_limit_reads: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    meter: Mapped[Meter] = relationship(back_populates="state")


class IntervalReading(Base):
    """The energy register at a 15-minute boundary; billing prices the deltas between them."""

    __tablename__ = "interval_readings"

    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    #: UTC start of the 15-minute interval this reading closes
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    energy_total: Mapped[int]
    energy_tou: Mapped[list[int] | None] = mapped_column(JSON)
    #: energy since the previous reading, validated; None when the pair failed validation
    delta: Mapped[int | None]
    billed: Mapped[bool] = mapped_column(default=False)


class CommandStatus(str, enum.Enum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class ControlCommand(CreatedMixin, Base):
    """A request to change a meter (trip, close, keep-power, purchase, limit), kept as audit."""

    __tablename__ = "control_commands"
    __table_args__ = (Index("ix_control_commands_pending", "meter_id", "status"),)

    #: purchases and deductions carry their cause (the payment, the fee...), so one is never queued twice
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    #: trip, close, keep_power_on, keep_power_off, purchase, deduction, power_limit
    action: Mapped[str] = mapped_column(String(24))
    #: staff:<name>, api:<name>, system:<job>
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[CommandStatus] = mapped_column(
        str_enum(CommandStatus, "command_status"), default=CommandStatus.PENDING
    )
    applied_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(String(200), default="")

    meter = relationship("Meter")
