"""Fixtures for the monthly runs: a site with a flat tariff, shops, common meters and their readings."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.metering.daily import roll_up_readings
from portal.models import (
    AllocationGroup,
    AllocationMember,
    AllocationMethod,
    IntervalReading,
    Meter,
    Site,
    Tariff,
    TariffKind,
    TariffVersion,
)

SH = ZoneInfo("Asia/Shanghai")
#: the site's flat tariff: 1.0000 yuan per kWh
PRICE_E4 = 10_000
#: a moment well after the months the tests bill
LATER = datetime(2030, 1, 1, tzinfo=UTC)
#: how far the register of a reading that failed validation jumps
JUMP = 7_777
_seq = itertools.count(1)


@pytest.fixture
def make_tariff():
    """make_tariff(site, price_e4, kind="flat", since=...) -> Tariff with one version."""
    def make(site: Site, price_e4: int = PRICE_E4, kind: TariffKind = TariffKind.FLAT, code: str | None = None,
             since: datetime = datetime(2020, 1, 1, tzinfo=UTC), **version) -> Tariff:
        tariff = Tariff(site_id=site.id, code=code or f"T{next(_seq)}", name="tariff", kind=kind)
        db.session.add(tariff)
        db.session.flush()
        db.session.add(TariffVersion(tariff_id=tariff.id, effective_from=since, unit_price_e4=price_e4, **version))
        db.session.commit()
        return tariff

    return make


@pytest.fixture
def billing_site(make_site, make_tariff):
    """make_billing_site(**site fields) -> a site whose default tariff is flat at 1.0000 yuan/kWh."""
    def make(**kw) -> Site:
        kw.setdefault("protect_holidays", False)  # trips must not depend on today's calendar
        site = make_site(**kw)
        site.default_tariff_id = make_tariff(site).id
        db.session.commit()
        return site

    return make


def add_readings(meter: Meter, deltas: list[int | None], start: datetime,
                 step: timedelta = timedelta(minutes=15)) -> None:
    """Readings closing at start + step, start + 2 step... as the poller writes them: each register is the
    previous one plus the delta; None is a reading that failed validation (the register jumps, no delta).
    A meter never read before first gets a baseline reading (no delta) at `start`. Add them in time order.
    Their days are rolled up in the same transaction, as the poll cycle does (portal.metering.daily).
    """
    previous = db.session.execute(
        select(IntervalReading.energy_total).where(IntervalReading.meter_id == meter.id)
        .order_by(IntervalReading.interval_start.desc()).limit(1)).scalar_one_or_none()
    rows = []
    if previous is None:
        rows.append(dict(meter_id=meter.id, interval_start=start, energy_total=0, delta=None, billed=False))
    total = previous or 0
    for i, delta in enumerate(deltas, start=1):
        total += JUMP if delta is None else delta
        rows.append(dict(meter_id=meter.id, interval_start=start + i * step, energy_total=total, delta=delta,
                         billed=False))
    db.session.add_all(IntervalReading(**row) for row in rows)
    roll_up_readings(db.session, rows, {meter.id: meter.account_id})
    db.session.commit()


def month_start(year: int, month: int) -> datetime:
    """The UTC instant a Shanghai month begins."""
    return datetime(year, month, 1, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def make_group():
    """make_group(site, method, sources=[meters], members={account: share}, tariff=None) -> AllocationGroup."""
    def make(site: Site, method: AllocationMethod, sources: list[Meter], members: dict, code: str = "LIGHTS",
             tariff: Tariff | None = None) -> AllocationGroup:
        group = AllocationGroup(site_id=site.id, code=code, name=f"{code} common", method=method,
                                tariff_id=tariff.id if tariff else None)
        group.sources = list(sources)
        db.session.add(group)
        db.session.flush()
        for account, share in members.items():
            db.session.add(AllocationMember(group_id=group.id, account_id=account.id, share=share))
        db.session.commit()
        return group

    return make
