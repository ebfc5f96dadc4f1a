"""In real Chromium on a phone: the tenant's 404 is a WeUI message page in Chinese, and an htmx request that fails
shows its message in the flash area instead of nothing; no CSP violation either way."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import WECHAT_UA, chromium, log_in_tenant, screenshot, watch_csp

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(base_url):
    """A 390x844 phone inside WeChat, Chinese preferred; `phone.violations` lists CSP reports."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=WECHAT_UA,
                                      locale="zh-CN", base_url=base_url, is_mobile=True, has_touch=True)
        context.set_default_timeout(15_000)
        violations = watch_csp(context)
        page = context.new_page()
        page.violations = violations
        yield page
        context.close()


def test_the_tenant_404_is_a_weui_page_in_chinese_on_a_phone(phone, make_account, make_tenant):
    shop = make_account(code="S404")
    log_in_tenant(phone, shop.code, make_tenant([shop]).phone)
    response = phone.goto("/t/orders/PF404")
    assert response.status == 404
    expect(phone.locator(".weui-msg__title")).to_have_text("页面不存在")
    expect(phone.locator(".weui-icon-warn")).to_be_visible()  # WeUI's stylesheet drew its icon
    expect(phone.locator(".tenant-bar")).to_be_visible()
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(phone, "tenant-404")
    phone.locator(".weui-msg .weui-btn_primary").click()
    expect(phone.get_by_test_id("balance")).to_be_visible()  # back to the shop
    assert phone.violations == []


def test_a_failed_htmx_request_shows_its_message_in_the_flash_area(phone, make_account, make_tenant):
    shop = make_account(code="S400")
    log_in_tenant(phone, shop.code, make_tenant([shop]).phone)
    phone.wait_for_load_state("networkidle")  # the history has loaded (revealed): nothing else is in flight
    phone.evaluate("""id => htmx.ajax('GET', `/t/a/${id}/history?month=2024-13`,
                                      {target: '#history', swap: 'outerHTML'})""", shop.id)
    expect(phone.locator("#flash .flash-error")).to_contain_text("请求有误")
    assert phone.url.endswith(f"/t/a/{shop.id}")  # the page stays; only the flash area changed
    assert phone.violations == []
