"""The shop page on phones inside WeChat (360x640 and 390x844): the usage chart draws, and emergency credit brings
the status along without a reload, up to the supply read back on; axe-core finds nothing serious."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.metering.daily import business_today
from portal.models import DailyUsage, Meter, Supply
from portal.payments.orders import create_order
from tests.browser import axe_violations, foreign_requests, log_in_tenant, screenshot, wechat_phone
from tests.tenant.test_recharge import credit
from tests.tenant.test_recharge_browser import PAGE_WEIGHT_LIMIT, transferred

pytestmark = pytest.mark.browser


@pytest.fixture(params=[(360, 640), (390, 844)], ids=["360x640", "390x844"])
def phone(request, browser, base_url):
    """A phone inside WeChat (each size) that accepts the confirmation emergency credit asks for."""
    width, height = request.param
    with wechat_phone(browser, base_url, width=width, height=height) as page:
        page.on("dialog", lambda dialog: dialog.accept())
        page.width = width
        yield page


@pytest.fixture
def tripped(make_site, make_account, make_meter, make_tenant, monkeypatch):
    """A shop at -¥5.00 off for arrears, with a month of use, at a site offering ¥50.00 emergency credit."""
    # the poll the switch asks for is the worker's: run inline here it would find no gateway and mark the meter
    # offline, where the page rightly stops looking every two seconds
    monkeypatch.setattr("portal.control.balance.request_poll", lambda session, gateway_id: None)
    site = make_site(emergency_credit_fen=5_000, protect_holidays=False, low_balance_levels_fen=[2_000])
    shop = make_account(site=site, code="S900", name="兰州拉面 Noodle bar", balance_fen=-500)
    meter = make_meter(account=shop, code="E900", state=dict(online=True, supply_actual=Supply.OFF,
                                                             energy_total=456_789, power_w=0))
    meter.supply_desired, meter.desired_reason = Supply.OFF, "arrears"
    for n in range(30):
        db.session.add(DailyUsage(meter_id=meter.id, day=business_today() - timedelta(days=n), account_id=shop.id,
                                  usage=1_000 + 37 * n, charged_fen=900 + 30 * n, readings=96))
    db.session.commit()
    return shop, meter, make_tenant([shop])


def test_the_chart_draws_and_emergency_credit_updates_the_status_without_a_reload(phone, tripped):
    shop, meter, tenant = tripped
    log_in_tenant(phone, shop.code, tenant.phone)
    phone.wait_for_load_state("networkidle")
    assert transferred(phone.finished) < PAGE_WEIGHT_LIMIT
    assert foreign_requests([r.url for r in phone.finished]) == []

    chart = phone.locator("#chart-electric-days")
    chart.scroll_into_view_if_needed()
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(30)
    box = chart.bounding_box()
    assert box["width"] > 250 and box["height"] > 80  # drawn at the page's width
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= phone.width
    assert axe_violations(phone) == []

    supply = phone.locator("#supply")
    expect(supply).to_have_attribute("data-state", "off")
    expect(supply).to_contain_text("已断电")
    phone.evaluate("window.__samePage = 1")  # gone if the page reloads

    phone.get_by_test_id("take-emergency").click()
    expect(supply).to_have_attribute("data-state", "restoring")
    expect(phone.get_by_test_id("balance")).to_have_text("¥45.00")
    expect(phone.locator("#status")).not_to_contain_text("已断电")

    on = db.session.get(Meter, meter.id)
    on.state.supply_actual = Supply.ON  # the poller reads the relay closed
    db.session.commit()
    expect(supply).to_have_attribute("data-state", "on")
    expect(supply).to_contain_text("供电中")
    expect(phone.locator("#recharge [data-testid=restore-chip]")).to_have_count(0)  # the chips followed
    assert phone.evaluate("window.__samePage") == 1
    assert axe_violations(phone) == []
    screenshot(phone, f"shop-after-emergency-{phone.width}")


def test_a_payment_credited_elsewhere_updates_the_shop_page_without_a_reload(phone, tripped):
    shop, _meter, tenant = tripped
    order = create_order(db.session, shop, 20_000, "alipay_qr", tenant.actor)  # paid by a QR code on another screen
    db.session.commit()
    log_in_tenant(phone, shop.code, tenant.phone)
    expect(phone.locator("#today-orders .today-order")).to_have_attribute("data-state", "waiting")
    phone.evaluate("window.__samePage = 1")

    credit(order)  # the platform's notify: paid, credited, the trip lifted
    expect(phone.locator("#today-orders .today-order")).to_have_attribute("data-state", re.compile("credited"))
    expect(phone.get_by_test_id("balance")).to_have_text("¥195.00")  # told by today's orders: shop-changed
    expect(phone.locator("#supply")).to_have_attribute("data-state", "restoring")
    assert phone.evaluate("window.__samePage") == 1
    assert axe_violations(phone) == []
    screenshot(phone, f"shop-after-payment-{phone.width}")
