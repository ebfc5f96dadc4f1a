"""In real Chromium, with CSRF on: the tenant's emergency-credit button and the manager's window form (htmx)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import NoTripWindow, Role
from tests.browser import browser_page
from tests.control.conftest import entries, polls, shop
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def page(base_url, csrf_on):
    """A Chinese-speaking phone-sized page; dialogs (hx-confirm) are accepted."""
    with browser_page(base_url, width=390, height=844, locale="zh-CN", accept_dialogs=True) as page:
        yield page


def test_tenant_takes_emergency_credit_on_the_phone(page, shop, make_tenant):
    account = shop(balance_fen=100, emergency_credit_fen=2_000)
    tenant = make_tenant([account])
    page.goto("/auth/tenant/login")
    page.fill("input[name=account]", account.code)
    page.fill("input[name=phone]", tenant.phone)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/t/a/\d+$"))

    page.get_by_test_id("take-emergency").click()

    expect(page.get_by_test_id("emergency-owed")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_contain_text("21.00")
    assert entries(account)[-1] == ("emergency", 2_000, 2_100)


def test_manager_adds_a_window_across_midnight_with_htmx(page, shop, make_staff):
    site = shop().site
    manager = make_staff(role=Role.MANAGER, sites=[site])
    page.goto("/auth/staff/login")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/"))
    page.goto(f"/staff/sites/{site.id}/rules")

    windows = page.locator("#windows")
    windows.locator("select[name=weekday]").select_option("4")
    windows.locator("input[name=start]").fill("22:00")
    windows.locator("input[name=end]").fill("06:00")
    windows.locator("form:has(select[name=weekday]) button[type=submit]").click()

    expect(page.locator("#windows tr[data-window]")).to_have_count(2)
    assert db.session.query(NoTripWindow).count() == 2
