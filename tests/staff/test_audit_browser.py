"""In real Chromium, desktop and phone: the audit log's action filter updates the table and the address."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.audit import audit
from portal.extensions import db
from portal.models import Role
from tests.browser import browser_page, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width, height", [(1366, 900), (390, 844)])
def test_filtering_by_action_updates_the_table(base_url, make_staff, make_site, width, height):
    site = make_site()
    manager = make_staff(role=Role.MANAGER, sites=[site])
    audit(db.session, "staff:carol", "meter.trip", "meter", 1, site.id, reason="inspection")
    audit(db.session, "staff:carol", "site.counter_limit", "site", site.id, site.id,
          changed={"counter_limit_fen": [None, 200000]})
    db.session.commit()
    with browser_page(base_url, width=width, height=height, locale="zh-CN") as page:
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", manager.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/"))
        page.goto("/staff/audit")
        expect(page.locator("#audit-table tr[data-entry]")).to_have_count(2)

        page.get_by_test_id("audit-action").select_option("meter.trip")

        expect(page.locator("#audit-table tr[data-entry]")).to_have_count(1)
        expect(page.locator("#audit-table tr[data-entry]")).to_contain_text("远程断电")
        expect(page).to_have_url(re.compile(r"/staff/audit\?.*action=meter\.trip"))
        screenshot(page, f"audit-filtered-{width}")
