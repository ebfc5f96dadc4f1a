"""In real Chromium at desktop size: the delivery log renders, a row opens on its message, the status filter swaps
the table and the address, the templates tab shows the sentences; a recipient refused shows its error on screen."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.models import DeliveryStatus, Role, utcnow
from tests.browser import browser_page, log_in_staff, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def log_in(page, user) -> None:
    log_in_staff(page, user.username, PASSWORD)


def test_the_log_renders_opens_a_message_and_filters(base_url, make_site, make_account, make_staff, make_delivery):
    site = make_site()
    shop = make_account(site=site, code="S001", phone="13900000001")
    now = utcnow()
    make_delivery(shop, created_at=now - timedelta(hours=2), text="S001 茶铺：余额 ¥9.50，已低于 ¥10.00。请及时充值。")
    failed = make_delivery(shop, event="supply_off", status=DeliveryStatus.FAILED, channel="modem",
                           error="+CMS ERROR: 38", created_at=now - timedelta(hours=1))
    manager = make_staff(role=Role.MANAGER, sites=[site])
    with browser_page(base_url, width=1366, height=900, locale="zh-CN") as page:
        log_in(page, manager)
        page.get_by_role("link", name="通知").first.click()
        page.wait_for_url(re.compile(r"/staff/notifications$"))
        rows = page.locator("#delivery-log tr[data-delivery]")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("+CMS ERROR: 38")
        expect(page.locator("table.deliveries")).to_be_visible()

        message = rows.nth(1).get_by_test_id("message-text")
        expect(message).to_be_hidden()
        rows.nth(1).locator("summary").click()
        expect(message).to_be_visible()
        expect(message).to_contain_text("余额 ¥9.50")

        page.get_by_test_id("log-status").select_option("failed")
        expect(rows).to_have_count(1)
        expect(page).to_have_url(re.compile(r"/staff/notifications\?.*status=failed"))
        expect(page.get_by_test_id(f"send-again-{failed.id}")).to_be_visible()
        screenshot(page, "notifications-log-1366")

        page.get_by_test_id("notify-nav").get_by_role("link", name="模板").click()
        expect(page.locator("tr[data-event=meter_offline] [data-testid=sentence-zh]")).to_contain_text("滨江广场")
        screenshot(page, "notifications-templates-1366")


def test_a_refused_recipient_shows_its_error_on_screen(base_url, make_site, make_staff):
    site = make_site()
    manager = make_staff(role=Role.MANAGER, sites=[site])
    with browser_page(base_url, width=1366, height=900, locale="zh-CN") as page:
        log_in(page, manager)
        page.goto("/staff/notifications/recipients")
        form = page.get_by_test_id("new-recipient")
        form.locator("input[name=name]").fill("王师傅")
        form.locator("input[name=phone]").fill("12345")
        form.get_by_role("button").click()
        expect(page.get_by_test_id("recipient-error")).to_contain_text("11 位中国大陆手机号")
        expect(page.locator("input[name=name]")).to_have_value("王师傅")
        screenshot(page, "notifications-recipient-refused-1366")
