"""A tenant on a phone, in WeChat's browser, without WeChat's login: mobile number, SMS code, their shop.

Real headless Chromium at 390x844 with WeChat's user agent, against the app served on loopback with CSRF on and the
demo's account-code login off (the production page). The code is read from its queued SMS, as the sender would.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.auth.binding import hash_binding_code
from portal.extensions import db
from portal.models import Supply
from tests.auth.conftest import sent_codes
from tests.browser import foreign_requests, screenshot, wechat_phone

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser, base_url, csrf_on, monkeypatch, reload_settings):
    """A 390x844 phone in WeChat, Chinese preferred, on the production login page; `phone.requested` lists every
    request made."""
    monkeypatch.setenv("TENANT_DEMO_LOGIN", "0")
    reload_settings()
    with wechat_phone(browser, base_url) as page:
        yield page


def ask_for_a_code(page, number: str) -> None:
    page.goto("/auth/tenant/login")
    screenshot(page, "sms-phone-step")
    page.fill("#sms-login input[name=phone]", number)
    page.get_by_test_id("sms-send").click()
    expect(page.locator("#sms-login")).to_have_attribute("data-step", "code")  # swapped in place by htmx


def test_a_tenant_signs_in_with_the_sms_code_and_reaches_their_shop(phone, make_account, make_meter):
    shop = make_account(code="S001", name="兰州拉面 Noodle bar", balance_fen=12_345, phone="13912345678")
    make_meter(account=shop, code="E001", state={"online": True, "supply_actual": Supply.ON})

    ask_for_a_code(phone, "139 1234 5678")
    assert phone.url.endswith("/auth/tenant/login")  # no navigation: the step came in place
    expect(phone.get_by_test_id("sms-sent")).to_contain_text("139****5678")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(phone, "sms-code-step")

    code = sent_codes("13912345678")[-1]
    phone.fill("#sms-login input[name=code]", f"{(int(code) + 1) % 1_000_000:06d}")
    phone.get_by_test_id("sms-verify").click()
    expect(phone.get_by_test_id("sms-error")).to_contain_text("验证码错误")
    assert phone.url.endswith("/auth/tenant/login")

    phone.fill("#sms-login input[name=code]", code)
    phone.get_by_test_id("sms-verify").click()
    phone.wait_for_url(re.compile(rf"/t/a/{shop.id}$"))
    expect(phone.get_by_test_id("balance")).to_have_text("¥123.45")
    expect(phone.locator("[data-meter=E001] .tag.on")).to_be_visible()
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(phone, "sms-signed-in-shop")
    assert foreign_requests([r.url for r in phone.requested]) == []


def test_a_number_on_no_file_links_its_shop_with_the_binding_code(phone, make_account):
    shop = make_account(code="S002", name="便利店 Corner shop", balance_fen=5_000, phone="13700000000")
    shop.binding_code_hash = hash_binding_code("K7QM4XR2")
    db.session.commit()

    ask_for_a_code(phone, "13912345678")
    phone.fill("#sms-login input[name=code]", sent_codes("13912345678")[-1])
    phone.get_by_test_id("sms-verify").click()
    phone.wait_for_url(re.compile(r"/auth/tenant/bind$"))

    phone.fill("#bind input[name=account]", "S002")
    phone.get_by_test_id("bind-submit").click()  # the phone is not the one on file: the code is needed
    expect(phone.get_by_test_id("bind-error")).to_be_visible()
    screenshot(phone, "sms-bind-refused")
    phone.fill("#bind input[name=binding_code]", "k7qm-4xr2")
    phone.get_by_test_id("bind-submit").click()
    phone.wait_for_url(re.compile(rf"/t/a/{shop.id}$"))
    expect(phone.get_by_test_id("balance")).to_have_text("¥50.00")
    expect(phone.locator("#flash")).to_contain_text("S002")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(phone, "sms-bound-shop")
    assert foreign_requests([r.url for r in phone.requested]) == []
