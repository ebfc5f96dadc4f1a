"""The tenant's way in and around, on a phone in WeChat (360×640 and 390×844): the login's empty submit, the shop
switcher and logout, the alerts page, and the error pages, each with axe-core finding nothing serious."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import NotifyPreference
from tests.browser import axe_violations, log_in_tenant, screenshot, small_targets, wechat_phone

pytestmark = pytest.mark.browser

SIZES = pytest.mark.parametrize("width, height", [(360, 640), (390, 844)], ids=["360x640", "390x844"])


@pytest.fixture
def phone_at(browser, base_url, csrf_on):
    """phone_at(width, height): a phone in WeChat of that size, Chinese preferred, signed in nowhere."""
    pages = []

    def make(width: int, height: int):
        manager = wechat_phone(browser, base_url, width=width, height=height)
        pages.append(manager)
        return manager.__enter__()

    yield make
    for manager in pages:
        manager.__exit__(None, None, None)


@pytest.fixture
def two_shops(make_site, make_account, make_tenant, make_delivery):
    site = make_site()
    tea = make_account(site=site, code="S901", name="茶铺 Tea house", balance_fen=5_000, phone="13900000901")
    noodles = make_account(site=site, code="S902", name="兰州拉面", balance_fen=8_000)
    tenant = make_tenant([tea, noodles], phone="13700000901")
    make_delivery(tea, event="payment_credited", text="S901 茶铺: ¥50.00 已到账。", recipient="13700000901")
    return tea, noodles, tenant


def fits(page, width: int) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


@SIZES
def test_an_empty_login_submit_says_what_is_missing(phone_at, width, height):
    phone = phone_at(width, height)
    phone.goto("/auth/tenant/login")
    phone.click("button[type=submit]")
    expect(phone.get_by_test_id("login-error").first).to_be_visible()
    assert phone.get_by_test_id("login-error").all_inner_texts() == ["请输入商铺的户号。", "请输入登记的手机号。"]
    fits(phone, width)
    assert axe_violations(phone) == []
    assert small_targets(phone, ".tenant-bar, .login-form") == []
    screenshot(phone, f"login-empty-{width}")


@SIZES
def test_an_empty_sms_number_says_so_in_place(phone_at, width, height):
    phone = phone_at(width, height)
    phone.goto("/auth/tenant/login?by=sms")
    phone.get_by_test_id("sms-send").click()
    expect(phone.get_by_test_id("sms-error")).to_have_text("请输入手机号。")
    assert axe_violations(phone) == []


@SIZES
def test_the_switcher_jumps_between_own_shops_and_logout_ends_the_session(phone_at, two_shops, width, height):
    tea, noodles, tenant = two_shops
    phone = phone_at(width, height)
    log_in_tenant(phone, tea.code, tenant.phone)
    phone.goto(f"/t/a/{tea.id}/alerts")
    switcher = phone.locator("#shop-switcher")
    switcher.locator("summary").click()
    expect(switcher.get_by_role("link")).to_have_count(2)
    assert axe_violations(phone) == []
    assert small_targets(phone, ".tenant-bar") == []
    screenshot(phone, f"switcher-open-{width}")
    switcher.get_by_role("link", name=re.compile("兰州拉面")).click()
    phone.wait_for_url(re.compile(rf"/t/a/{noodles.id}/alerts$"))  # the same page, of the other shop
    fits(phone, width)
    phone.locator("#logout button").click()
    phone.wait_for_url(re.compile(r"/auth/tenant/login"))
    phone.goto(f"/t/a/{tea.id}")
    phone.wait_for_url(re.compile(r"/auth/tenant/login"))


@SIZES
def test_the_alerts_page_saves_a_choice_and_lists_the_last_messages(phone_at, two_shops, width, height):
    tea, _noodles, tenant = two_shops
    phone = phone_at(width, height)
    log_in_tenant(phone, tea.code, tenant.phone)
    phone.goto(f"/t/a/{tea.id}")
    phone.get_by_test_id("alerts-link").click()
    phone.wait_for_url(re.compile(rf"/t/a/{tea.id}/alerts$"))
    expect(phone.get_by_test_id("message")).to_have_count(1)
    assert "137****0901" in phone.get_by_test_id("message").inner_text()
    assert axe_violations(phone) == []
    assert small_targets(phone, ".tenant-bar, .back, #alerts") == []
    fits(phone, width)
    screenshot(phone, f"alerts-{width}")
    phone.locator("label[for=event-low_balance_1]").click()
    phone.fill("#quiet-start", "21:00")
    phone.fill("#quiet-end", "07:30")
    phone.get_by_test_id("save-alerts").click()
    expect(phone.get_by_test_id("alerts-saved")).to_be_visible()
    assert axe_violations(phone) == []
    db.session.expire_all()
    row = db.session.get(NotifyPreference, tea.id)
    assert row.muted == ["low_balance_1"] and row.quiet_start.strftime("%H:%M") == "21:00"
    phone.fill("#quiet-end", "")
    phone.get_by_test_id("save-alerts").click()
    expect(phone.get_by_test_id("alerts-error")).to_contain_text("开始和结束")


@SIZES
def test_error_pages_are_in_the_tenant_layout_and_chinese(phone_at, two_shops, width, height):
    tea, _noodles, tenant = two_shops
    phone = phone_at(width, height)
    answer = phone.goto("/r/no-such-sticker")
    assert answer.status == 404
    expect(phone.locator(".weui-msg__title")).to_have_text("页面不存在")
    assert axe_violations(phone) == []
    assert small_targets(phone, ".tenant-bar, .weui-msg") == []
    screenshot(phone, f"error-404-sticker-{width}")
    log_in_tenant(phone, tea.code, tenant.phone)
    answer = phone.goto("/t/no-such-page")
    assert answer.status == 404
    expect(phone.locator("#logout")).to_be_visible()
    assert axe_violations(phone) == []
    fits(phone, width)


@SIZES
def test_signing_in_by_sms_then_binding_a_shop_by_its_sticker_code(phone_at, make_account, width, height):
    """A number on no file signs in by SMS, then binds a shop with the code printed on its sticker; an empty bind
    says what is missing. Every step in the tenant layout, nothing serious for axe, and a logout offered."""
    from portal.auth.binding import hash_binding_code
    from tests.auth.conftest import sent_codes

    shop = make_account(code="S950", name="花店", binding_code_hash=hash_binding_code("K7QM4XR2"))
    phone = phone_at(width, height)
    phone.goto("/auth/tenant/login?by=sms")
    phone.fill("input[name=phone]", "13700000950")
    phone.get_by_test_id("sms-send").click()
    expect(phone.get_by_test_id("sms-sent")).to_be_visible()
    assert axe_violations(phone) == []
    phone.fill("input[name=code]", sent_codes("13700000950")[-1])
    phone.get_by_test_id("sms-verify").click()
    phone.wait_for_url(re.compile(r"/auth/tenant/bind$"))
    expect(phone.locator("#logout")).to_be_visible()
    phone.get_by_test_id("bind-submit").click()
    expect(phone.get_by_test_id("bind-error")).to_be_visible()
    assert axe_violations(phone) == []
    assert small_targets(phone, ".tenant-bar, #bind") == []
    screenshot(phone, f"bind-empty-{width}")
    phone.fill("input[name=account]", "S950")
    phone.fill("input[name=binding_code]", "k7qm-4xr2")
    phone.get_by_test_id("bind-submit").click()
    phone.wait_for_url(re.compile(rf"/t/a/{shop.id}$"))
