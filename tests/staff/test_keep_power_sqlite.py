"""The embedded demo (SQLite) runs the same arrears job: an expired keep-power ends there too, set-wise."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Account,
    AuditEntry,
    Gateway,
    Meter,
    MeterKind,
    Protocol,
    Site,
    Supply,
    utcnow,
)

pytestmark = pytest.mark.no_db


@pytest.fixture
def demo(sqlite_app, monkeypatch):
    """The embedded demo's app; the polls that commands ask for are recorded, not run."""
    demo = sqlite_app(JOBS_INLINE=True)
    monkeypatch.setattr(demo.extensions["payfirst.dispatcher"].runner, "submit", lambda func, args: None)
    return demo


def test_an_expired_keep_power_ends_and_the_shop_in_arrears_goes_off_on_sqlite(demo):
    from portal.ledger.entries import post_entry
    from portal.models import EntryKind
    from worker.jobs.control import enforce_arrears

    site = Site(code="demo", name="Demo")
    db.session.add(site)
    db.session.flush()
    gateway = Gateway(site_id=site.id, code="GW1", name="bus", host="127.0.0.1", port=1502,
                      protocol=Protocol.MODBUS_TCP)
    shop = Account(site_id=site.id, code="S1", name="Shop")
    db.session.add_all([gateway, shop])
    db.session.flush()
    post_entry(db.session, shop, -300, EntryKind.OPENING, "opening:test")
    now = utcnow()
    meter = Meter(site_id=site.id, code="E1", name="m", kind=MeterKind.ELECTRIC, profile="payfirst-prepaid-v1",
                  gateway_id=gateway.id, unit_id=1, account_id=shop.id, keep_power=True,
                  keep_power_until=now - timedelta(minutes=1), keep_power_reason="freezer")
    db.session.add(meter)
    db.session.commit()

    enforce_arrears(now)

    db.session.expire_all()
    meter = db.session.get(Meter, meter.id)
    assert (meter.keep_power, meter.keep_power_until) == (False, None)
    assert (meter.supply_desired, meter.desired_reason) == (Supply.OFF, "arrears")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "meter.keep_power_expired")).one()
    assert entry.detail["reason"] == "freezer"
