"""Real headless Chromium on a phone-sized screen, against the app served on loopback."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.models import Role, Supply
from tests.browser import WECHAT_UA, foreign_requests, log_in_tenant
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser, base_url):
    """A 390x844 phone in WeChat, Chinese preferred; `phone.requested` lists every request made."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        user_agent=WECHAT_UA,
        locale="zh-CN",
        base_url=base_url,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.requested = []
    page.on("request", lambda request: page.requested.append(request))
    yield page
    context.close()


def test_tenant_logs_in_on_a_phone_and_reads_the_balance(
    phone, csrf_on, make_account, make_meter, make_tenant
):
    shop = make_account(code="S001", name="兰州拉面 Noodle bar", balance_fen=12_345)
    make_meter(account=shop, code="E001", state={"online": True, "supply_actual": Supply.ON})
    tenant = make_tenant([shop])

    log_in_tenant(phone, "S001", tenant.phone)
    assert phone.url.endswith(f"/t/a/{shop.id}")

    expect(phone.get_by_test_id("balance")).to_have_text("¥123.45")
    expect(phone.locator(".balance-card .label")).to_have_text("余额")
    expect(phone.locator("[data-meter=E001] .tag.on")).to_have_text("供电中")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
    phone.screenshot(path="/tmp/payfirst-tenant.png", full_page=True)
    assert foreign_requests([r.url for r in phone.requested]) == []


def test_tenant_switches_the_page_to_english(phone, make_account, make_tenant):
    shop = make_account(code="S002", balance_fen=2_000)
    log_in_tenant(phone, "S002", make_tenant([shop]).phone)
    expect(phone.locator(".balance-card .label")).to_have_text("余额")

    phone.click("#lang a")
    expect(phone.locator(".balance-card .label")).to_have_text("Balance")
    expect(phone.locator(".tenant-bar .brand")).to_have_text("PayFirst · 先付")
    phone.wait_for_load_state("load")
    assert phone.url.endswith(f"/t/a/{shop.id}")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390


def test_a_balance_in_arrears_is_readable_on_its_red_card(phone, make_account, make_tenant):
    shop = make_account(code="S003", balance_fen=-500)
    log_in_tenant(phone, "S003", make_tenant([shop]).phone)
    expect(phone.get_by_test_id("balance")).to_have_text("¥-5.00")
    expect(phone.locator(".balance-card")).to_have_css("background-color", "rgb(198, 40, 40)")  # 5.6:1 under white
    expect(phone.get_by_test_id("balance")).to_have_css("color", "rgb(255, 255, 255)")


def test_a_tenant_whose_session_ended_is_taken_to_the_login_page(phone, make_account, make_tenant):
    shop = make_account(code="S004", balance_fen=100)
    log_in_tenant(phone, "S004", make_tenant([shop]).phone)
    phone.context.clear_cookies()
    # what the 30-second refresh of the status does
    phone.evaluate("htmx.ajax('GET', location.pathname, {target: '#status', swap: 'outerHTML'})")
    phone.wait_for_url(re.compile(r"/auth/tenant/login\?next="))
    expect(phone.locator("input[name=account]")).to_be_visible()
    assert phone.locator(".tenant-bar").count() == 1


def test_staff_search_filters_the_meter_table_with_htmx(
    phone, csrf_on, make_site, make_account, make_meter, make_staff
):
    site = make_site("mall")
    for n in range(1, 6):
        make_meter(
            account=make_account(site=site, code=f"A10{n}", name=f"Shop {n}"), code=f"E10{n}"
        )
    make_meter(account=make_account(site=site, code="A201", name="Tea house"), code="W201")
    user = make_staff(role=Role.OPERATOR, sites=[site])

    phone.goto("/auth/staff/login")
    phone.fill("input[name=username]", user.username)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("form:not(.inline) button[type=submit]")
    phone.wait_for_url(re.compile(r"/staff/$"))
    phone.goto("/staff/meters")  # loaded: htmx is running
    rows = phone.locator("#meter-table tbody tr")
    expect(rows).to_have_count(6)

    before = len(phone.requested)
    phone.locator("input[name=q]").press_sequentially("tea", delay=30)
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-meter", "W201")
    # the table was swapped in place by htmx: no page load, a background request with the query
    searches = phone.requested[before:]
    assert [r.resource_type for r in searches if r.resource_type == "document"] == []
    assert any(
        r.url.endswith("/staff/meters?q=tea") and r.headers.get("hx-request") == "true" for r in searches
    )
    assert foreign_requests([r.url for r in phone.requested]) == []
