"""Billing hook of the poll cycle: price validated interval deltas and post them to the ledger.

Each delta is priced by the tariff version in force when its consumption began (so a price change
never re-prices the past): flat, time-of-use (from the meter's own TOU registers where it has them,
otherwise from when the interval ran, never from when the reading arrived) or tiered over the month's
running total. Sub-fen remainders carry forward per meter; every posting has an idempotency key and
every priced reading is marked billed in the same transaction, so a rerun posts nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from portal.control import apply_balance_rule
from portal.ledger import post_entry
from portal.metering import Delta
from portal.models import (
    Account, ControlMode, EntryKind, IntervalReading, Meter, MeterKind, Site, TariffVersion,
)
from portal.tariffs import PERIODS, Version, cost_e5, month_start, split_by_period, to_fen


def business_tz() -> ZoneInfo:
    """The business time zone (days, months, time-of-use periods)."""
    return ZoneInfo(current_app.config["TZ_BUSINESS"] if has_app_context() else "Asia/Shanghai")


def _as_version(row: TariffVersion) -> Version:
    return Version(
        kind=row.tariff.kind.value, unit_price_e4=row.unit_price_e4,
        periods=tuple((p["start"], p["end"], p["period"]) for p in row.periods or ()),
        period_prices_e4=row.period_prices_e4,
        tiers=tuple((t.get("upto"), t["price_e4"]) for t in row.tiers or ()),
    )


class Versions:
    """Every version of the tariffs a billing run needs, loaded once, looked up by time."""

    def __init__(self, session: Session, tariff_ids: set[int]):
        self.by_tariff: dict[int, list[tuple]] = {}
        rows = session.execute(
            select(TariffVersion).options(joinedload(TariffVersion.tariff))
            .where(TariffVersion.tariff_id.in_(tariff_ids)).order_by(TariffVersion.effective_from)
        ).scalars() if tariff_ids else []
        for row in rows:
            self.by_tariff.setdefault(row.tariff_id, []).append((row.effective_from, _as_version(row)))

    def at(self, tariff_id: int | None, at) -> Version | None:
        """The version in force at `at`; None when the tariff has none yet."""
        found = None
        for effective, version in self.by_tariff.get(tariff_id, ()):
            if effective > at:
                break
            found = version
        return found


def version_at(session: Session, tariff_id: int | None, at) -> Version | None:
    """The tariff version in force at `at`, as plain data; None when the tariff has none yet."""
    return Versions(session, {tariff_id} if tariff_id else set()).at(tariff_id, at)


def price_delta(session: Session, meter: Meter, version: Version, d: Delta, tz: ZoneInfo) -> int:
    """The exact cost of one delta in 0.00001 fen."""
    kind = meter.kind.value
    if version.kind == "tou":
        if d.energy_tou is not None and sum(d.energy_tou) == d.amount:
            by_period = dict(zip(PERIODS, d.energy_tou))  # the meter's own registers: exact
        else:
            by_period = split_by_period(version, d.since or d.interval_start, d.interval_start, d.amount, tz)
        return cost_e5(version, kind, d.amount, by_period=by_period)
    if version.kind == "tiered":
        begun = month_start(d.since or d.interval_start, tz)
        before = session.execute(
            select(func.coalesce(func.sum(IntervalReading.delta), 0)).where(
                IntervalReading.meter_id == meter.id, IntervalReading.billed.is_(True),
                IntervalReading.interval_start > begun, IntervalReading.interval_start < d.interval_start)
        ).scalar_one()
        return cost_e5(version, kind, d.amount, month_before=int(before))
    return cost_e5(version, kind, d.amount)


def bill_deltas(session: Session, deltas: Iterable[Delta]) -> list[Account]:
    """Charge each platform-mode shop meter for its delta, once; returns the accounts charged."""
    deltas = [d for d in deltas if d.account_id is not None and d.amount > 0]
    if not deltas:
        return []
    tz = business_tz()
    meters = {m.id: m for m in session.execute(
        select(Meter).where(Meter.id.in_({d.meter_id for d in deltas}))
        .options(joinedload(Meter.account).joinedload(Account.site))
    ).scalars()}
    versions = Versions(session, {m.tariff_id or m.account.site.default_tariff_id for m in meters.values()} - {None})
    charged: dict[int, Account] = {}
    for d in sorted(deltas, key=lambda d: (d.meter_id, d.interval_start)):
        meter = meters[d.meter_id]
        if meter.control_mode != ControlMode.PLATFORM:
            continue  # a meter-mode meter charges itself
        site: Site = meter.account.site
        version = versions.at(meter.tariff_id or site.default_tariff_id, d.since or d.interval_start)
        if version is None:
            continue  # no tariff yet: the reading stays unbilled until one exists
        fen, meter.charge_remainder_e5 = to_fen(price_delta(session, meter, version, d, tz), meter.charge_remainder_e5)
        if fen:
            kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
            post_entry(session, meter.account_id, -fen, kind,
                       f"{kind.value}:{meter.id}:{d.interval_start.isoformat()}",
                       memo=f"{meter.code} {d.amount}", meter_id=meter.id)
        session.execute(update(IntervalReading).where(
            IntervalReading.meter_id == meter.id, IntervalReading.interval_start == d.interval_start
        ).values(billed=True))
        charged[meter.account_id] = meter.account
    for account in charged.values():
        session.refresh(account, ["balance_fen"])
        apply_balance_rule(session, account, actor="system:billing")
    return list(charged.values())
