"""The embedded demo runs on SQLite: the bulk paths fall back to portable statements there."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.ledger.entries import ledger_mismatches, post_entry
from portal.models import (
    Account,
    AllocationGroup,
    AllocationMember,
    AllocationMethod,
    EntryKind,
    Gateway,
    IntervalReading,
    LedgerEntry,
    Meter,
    MeterKind,
    Protocol,
    Site,
    Tariff,
    TariffVersion,
)
from portal.monthly.allocation import allocate
from portal.monthly.fees import run_fees
from portal.monthly.reports import line_loss, monthly_report
from tests.monthly.conftest import LATER, month_start

pytestmark = pytest.mark.no_db
MARCH, APRIL = month_start(2025, 3), month_start(2025, 4)


@pytest.fixture
def session(tmp_path, app):
    """A session on an SQLite file built by the migrations, as `make demo` builds it."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    demo = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.db'}",
                       "SQLALCHEMY_ENGINE_OPTIONS": {}})
    with demo.app_context():
        upgrade()
        with Session(db.engine) as s:
            yield s
        db.engine.dispose()


def test_fees_allocation_and_reports_on_sqlite(session):
    site = Site(code="DEMO", name="demo", fee_rate_e4_per_m2=50_000, protect_holidays=False)
    session.add(site)
    session.flush()
    tariff = Tariff(site_id=site.id, code="FLAT", name="flat")
    session.add(tariff)
    session.flush()
    session.add(TariffVersion(tariff_id=tariff.id, unit_price_e4=10_000,
                              effective_from=datetime(2020, 1, 1, tzinfo=UTC)))
    site.default_tariff_id = tariff.id
    gw = Gateway(site_id=site.id, code="GW", name="gw", host="h", port=1, protocol=Protocol.MODBUS_TCP)
    session.add(gw)
    session.flush()
    shops = [Account(site_id=site.id, code=f"S{i}", name="shop", area_m2=Decimal("10.00"),
                     created_at=datetime(2024, 1, 1, tzinfo=UTC)) for i in range(3)]
    session.add_all(shops)
    session.flush()
    for shop, balance in zip(shops, (100_000, 3_000, 0)):
        if balance:
            post_entry(session, shop, balance, EntryKind.OPENING, f"open:{shop.id}")
    common = Meter(site_id=site.id, code="C", name="common", kind=MeterKind.ELECTRIC, profile="chint-dtsu666",
                   gateway_id=gw.id, unit_id=1)
    session.add(common)
    session.flush()
    sub = Meter(site_id=site.id, code="C2", name="sub", kind=MeterKind.ELECTRIC, profile="chint-dtsu666",
                gateway_id=gw.id, unit_id=2, parent_meter_id=common.id)
    session.add(sub)
    session.flush()
    # written raw, without their roll-ups (as before the roll-ups existed): the allocation run catches the site's
    # days up (portal.metering.consumption.catch_up), and line loss below reads them
    for meter, used in ((common, 300), (sub, 250)):
        session.add(IntervalReading(meter_id=meter.id, interval_start=MARCH, energy_total=0, delta=None))
        session.add(IntervalReading(meter_id=meter.id, interval_start=MARCH + timedelta(hours=1), energy_total=used,
                                    delta=used))
    group = AllocationGroup(site_id=site.id, code="G", name="g", method=AllocationMethod.FIXED)
    group.sources = [common]
    session.add(group)
    session.flush()
    session.add_all([AllocationMember(group_id=group.id, account_id=s.id, share=1) for s in shops])
    session.commit()

    [fees] = run_fees(session, "2025-03", now=LATER)
    outcomes = allocate(session, "2025-03", now=LATER)
    session.commit()
    assert (fees.charged, fees.posted_fen, fees.arrears_fen) == (3, 5_000 + 2_999, 2_001 + 5_000)
    assert [(o.status, o.total_fen) for o in outcomes] == [("posted", 300)]
    assert run_fees(session, "2025-03", now=LATER)[0].charged == 0
    assert allocate(session, "2025-03", now=LATER)[0].status == "already"
    assert session.scalar(select(func.count()).where(LedgerEntry.kind == EntryKind.ALLOCATION)) == 3
    assert ledger_mismatches(session) == []
    now = datetime.now(UTC)
    rows = monthly_report(session, site.id, f"{now:%Y-%m}", now - timedelta(days=40), now + timedelta(days=1))
    assert sum(r.closing_fen for r in rows) == session.scalar(select(func.sum(Account.balance_fen)))
    [loss] = line_loss(session, site.id, MARCH, APRIL)
    assert (loss.used, loss.subs_used, loss.loss) == (300, 250, 50)


def test_each_meters_newest_reading_on_sqlite(session):
    from portal.metering.rows import last_intervals

    site = Site(code="DEMO", name="demo")
    session.add(site)
    session.flush()
    gw = Gateway(site_id=site.id, code="GW", name="gw", host="h", port=1, protocol=Protocol.MODBUS_TCP)
    session.add(gw)
    session.flush()
    meters = [Meter(site_id=site.id, code=f"M{i}", name="m", kind=MeterKind.ELECTRIC, profile="chint-dtsu666",
                    gateway_id=gw.id, unit_id=i + 1) for i in range(3)]
    session.add_all(meters)
    session.flush()
    for i, meter in enumerate(meters[:2]):
        for n in range(5 + i):
            session.add(IntervalReading(meter_id=meter.id, interval_start=MARCH + timedelta(minutes=15 * n),
                                        energy_total=100 * n + i, delta=100 if n else None))
    session.commit()
    found = last_intervals(session, [m.id for m in meters])
    assert {k: (v.interval_start.replace(tzinfo=UTC), v.energy_total) for k, v in found.items()} == {
        meters[0].id: (MARCH + timedelta(minutes=60), 400), meters[1].id: (MARCH + timedelta(minutes=75), 501)}
