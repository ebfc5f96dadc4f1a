"""In real Chromium, on a desk and on an electrician's phone: the dashboard's cards, and their own refresh."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.alarms import raise_alarm
from portal.extensions import db
from portal.models import AlarmKind, Role, Supply
from tests.browser import browser_page, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width, height", [(1366, 900), (390, 844)])
def test_the_dashboard_shows_its_cards_and_refreshes_itself(base_url, make_staff, make_site, make_gateway,
                                                            make_account, make_meter, width, height):
    site = make_site()
    gateway = make_gateway(site=site, code="GW1", online=True)
    meter = make_meter(account=make_account(site=site), gateway=gateway, state={"online": True},
                       supply_desired=Supply.OFF, desired_reason="remote")
    manager = make_staff(role=Role.MANAGER, sites=[site])
    with browser_page(base_url, width=width, height=height, locale="zh-CN") as page:
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", manager.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form:not(.inline) button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))
        expect(page.locator("[data-off=remote]")).to_have_text("1")
        expect(page.get_by_test_id("no-alarm")).to_be_visible()
        gateways, alarms = page.locator("#dash-gateways").bounding_box(), page.locator("#dash-alarms").bounding_box()
        if width < 700:  # one card under the other, each as wide as the phone allows
            assert alarms["y"] >= gateways["y"] + gateways["height"] and gateways["width"] <= width
        else:
            assert alarms["y"] == gateways["y"] and alarms["x"] > gateways["x"]

        raise_alarm(db.session, AlarmKind.METER_OFFLINE, f"meter:{meter.id}", site.id, "x", meter_id=meter.id)
        db.session.commit()

        # no reload: the cards ask again every 15 s and swap themselves
        expect(page.locator("[data-alarm=meter_offline]")).to_have_text("1", timeout=30_000)
        expect(page.locator("#dash-alarms a", has_text="电表离线")).to_have_attribute(
            "href", "/staff/alarms?kind=meter_offline")
        screenshot(page, f"dashboard-{width}")
