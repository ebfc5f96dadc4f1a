"""The embedded demo (SQLite, SMS_BACKEND=log): what the routing queued on the log channel is on the demo tab, read
from the table, paged the same way as on PostgreSQL (a fee run's messages share one time: pages go by id)."""
from __future__ import annotations

import re

import pytest

from portal.models import Account, Role, Site, StaffUser
from tests.factories import PASSWORD

pytestmark = pytest.mark.no_db


@pytest.fixture
def demo(sqlite_app):
    """The embedded demo's app with an administrator."""
    return sqlite_app(admin=True, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)


def test_the_demo_tab_pages_through_what_the_routing_queued_on_the_log(demo):
    from portal.extensions import db
    from portal.notify.route import ShopEvent, tell_phone, tell_shops

    site = Site(code="demo", name="Demo")
    db.session.add(site)
    db.session.flush()
    shops = [Account(site_id=site.id, code=f"S{n:03d}", name="Shop", phone=f"139{n:08d}") for n in range(1, 61)]
    db.session.add_all(shops)
    db.session.flush()
    assert demo.config["SETTINGS"].sms.backends == ("log",)
    tell_shops(db.session, [ShopEvent(s.id, "fee_posted", "fees:2026-11", {"shop": s.code, "amount": "300.00"})
                            for s in shops])
    tell_phone(db.session, "13600000006", "login_code", "login:1", {"code": "246810"})
    db.session.commit()
    client = demo.test_client()
    client.post("/auth/staff/login", data={"username": "boss", "password": PASSWORD})

    first = client.get("/staff/notifications/demo", headers={"Accept-Language": "en"}).get_data(as_text=True)

    ids = [int(i) for i in re.findall(r'data-delivery="(\d+)"', first)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    assert "246810" in first  # nothing leaves the demo: its sign-in codes are read here
    cursor = re.search(r'data-testid="demo-older" href="[^"]*before=(\d+)', first).group(1)
    second = client.get(f"/staff/notifications/demo?before={cursor}").get_data(as_text=True)
    rest = [int(i) for i in re.findall(r'data-delivery="(\d+)"', second)]
    assert len(rest) == 11 and set(rest).isdisjoint(ids) and max(rest) < min(ids)
    assert "S060" in first and "300.00" in second
