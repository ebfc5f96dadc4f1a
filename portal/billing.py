"""Billing hook of the poll cycle: price validated interval deltas and post them to the ledger.

This is the flat-price default (the tariff's price in force at the interval's start). Time-of-use and
tiered pricing replace `price_delta` without changing the hook. Sub-fen remainders carry forward per
meter, so many small intervals cost exactly what the total would.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from portal.control import apply_balance_rule
from portal.ledger import post_entry
from portal.metering import Delta
from portal.models import (
    Account, ControlMode, EntryKind, IntervalReading, Meter, MeterKind, Site, TariffVersion,
)

#: fen per priced unit: 0.01 kWh x 0.0001 yuan = 10 x 0.00001 fen; a litre x 0.0001 yuan/m³ = 1 x 0.00001 fen
SCALE_E5 = {MeterKind.ELECTRIC: 10, MeterKind.WATER: 1}


def price_e4_at(session: Session, tariff_id: int | None, at) -> int | None:
    """The flat price in force at `at` for a tariff, in 0.0001 yuan per kWh / m³."""
    if tariff_id is None:
        return None
    return session.execute(
        select(TariffVersion.unit_price_e4).where(TariffVersion.tariff_id == tariff_id,
                                                  TariffVersion.effective_from <= at)
        .order_by(TariffVersion.effective_from.desc()).limit(1)
    ).scalar_one_or_none()


def bill_deltas(session: Session, deltas: Iterable[Delta]) -> list[Account]:
    """Charge each platform-mode shop meter for its delta, once; returns the accounts charged."""
    deltas = [d for d in deltas if d.account_id is not None and d.amount > 0]
    if not deltas:
        return []
    meters = {m.id: m for m in session.execute(
        select(Meter).where(Meter.id.in_({d.meter_id for d in deltas}))
        .options(joinedload(Meter.account).joinedload(Account.site))
    ).scalars()}
    charged: dict[int, Account] = {}
    for d in deltas:
        meter = meters[d.meter_id]
        if meter.control_mode != ControlMode.PLATFORM:
            continue  # a meter-mode meter charges itself
        site: Site = meter.account.site
        price = price_e4_at(session, meter.tariff_id or site.default_tariff_id, d.interval_start)
        if price is None:
            continue  # no tariff yet: the reading stays unbilled until one exists
        total = d.amount * price * SCALE_E5[meter.kind] + meter.charge_remainder_e5
        fen, meter.charge_remainder_e5 = divmod(total, 100_000)
        if fen:
            kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
            post_entry(session, meter.account_id, -fen, kind,
                       f"{kind.value}:{meter.id}:{d.interval_start.isoformat()}",
                       memo=f"{meter.code} {d.amount} @ {price}", meter_id=meter.id)
        session.execute(update(IntervalReading).where(
            IntervalReading.meter_id == meter.id, IntervalReading.interval_start == d.interval_start
        ).values(billed=True))
        charged[meter.account_id] = meter.account
    for account in charged.values():
        session.refresh(account, ["balance_fen"])
        apply_balance_rule(session, account, actor="system:billing")
    return list(charged.values())
