"""The embedded demo sends on SQLite: the claims' statements and the sender's single thread work there too."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import Account, Delivery, DeliveryStatus, Site, utcnow
from portal.notify import registry
from portal.notify.channels.base import Result
from portal.notify.route import tell_shop
from portal.notify.send import NOTIFY_CHANNELS, send_due

pytestmark = pytest.mark.no_db


@pytest.fixture
def demo(sqlite_app):
    """The embedded demo's session, its jobs run inline after each commit."""
    from portal.extensions import db

    sqlite_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 30}}, JOBS_INLINE=True)
    return db.session


def test_a_demo_shop_is_told_on_commit_and_a_retry_waits_on_sqlite(demo, monkeypatch):
    site = Site(code="DEMO", name="demo")
    demo.add(site)
    demo.flush()
    shop = Account(site_id=site.id, code="A-1", name="茶铺", phone="13900000001")
    demo.add(shop)
    demo.commit()

    tell_shop(demo, shop.id, "supply_off", "entry:1", {"shop": "A-1"})
    demo.commit()  # the sender runs inline after the commit
    [row] = demo.execute(select(Delivery)).scalars().all()
    assert (row.status, row.channel, row.attempts) == (DeliveryStatus.SENT, "log", 1)

    class Busy:
        name = "log"

        def send(self, message):
            return Result.retry("busy")

    monkeypatch.setattr(registry, "channel", lambda name: Busy())
    tell_shop(demo, shop.id, "fee_posted", "fee:1", {"amount": "80.00"})
    demo.commit()
    demo.expire_all()
    retried = demo.execute(select(Delivery).where(Delivery.event == "fee_posted")).scalar_one()
    assert (retried.status, retried.attempts) == (DeliveryStatus.PENDING, 1)
    assert send_due(NOTIFY_CHANNELS, now=utcnow() + timedelta(seconds=30))["claimed"] == 0  # waits its minute
