"""A tenant pays from WeChat's browser on a phone: chips, the sandbox cashier, progress up to credited and on.

Real headless Chromium (360x640 and 390x844, MicroMessenger user agent; axe-core finds nothing serious) against
the app served on loopback; the sandbox pay page sends an Alipay-format notify signed with the sandbox key to
PUBLIC_BASE_URL, so the payment goes through the real verification, the credit job and the balance rule.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import OrderStatus, PaymentOrder, Supply
from tests.browser import axe_violations, foreign_requests, log_in_tenant, wechat_phone

pytestmark = pytest.mark.browser
PAGE_WEIGHT_LIMIT = 150 * 1024


@pytest.fixture
def base_url(sandbox_server):
    """The served app, with PUBLIC_BASE_URL pointing at it and the payment sandbox switched on."""
    return sandbox_server


@pytest.fixture(params=[(360, 640), (390, 844)], ids=["360x640", "390x844"])
def phone(request, browser, base_url):
    """A phone inside WeChat (each size); `phone.finished` lists every request that completed."""
    width, height = request.param
    with wechat_phone(browser, base_url, width=width, height=height) as page:
        page.width = width
        yield page


def transferred(requests) -> int:
    """Bytes on the wire for these requests: headers and (encoded) bodies, both ways."""
    total = 0
    for r in requests:
        sizes = r.sizes()
        total += sizes["requestHeadersSize"] + sizes["requestBodySize"]
        total += sizes["responseHeadersSize"] + sizes["responseBodySize"]
    return total


@pytest.fixture
def shop_in_arrears(make_account, make_meter, make_tenant):
    """A shop at -¥5.00 whose meter was switched off for arrears, and its tenant."""
    shop = make_account(code="S801", name="兰州拉面 Noodle bar", balance_fen=-500)
    meter = make_meter(account=shop, code="E801", state=dict(online=True, supply_actual=Supply.OFF))
    meter.supply_desired, meter.desired_reason = Supply.OFF, "arrears"
    db.session.commit()
    return shop, meter, make_tenant([shop])


def test_tenant_pays_through_the_sandbox_and_watches_the_credit_arrive(phone, shop_in_arrears):
    shop, meter, tenant = shop_in_arrears
    log_in_tenant(phone, shop.code, tenant.phone)
    phone.wait_for_load_state("networkidle")

    # The first visit (login page and home, cold cache): light enough, no overflow, nothing from outside
    weight = transferred(phone.finished)
    print(f"tenant home: {len(phone.finished)} requests, {weight / 1024:.1f} KB transferred")
    assert weight < PAGE_WEIGHT_LIMIT, weight
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= phone.width
    assert foreign_requests([r.url for r in phone.finished]) == []
    # inside WeChat without a WeChat login only the sandbox can pay; Alipay is never offered here
    expect(phone.locator("#recharge [data-channel]")).to_have_count(1)
    assert axe_violations(phone) == []

    phone.locator(".chip-custom input[type=text]").fill("66.60")
    phone.locator("[data-channel=sandbox]").click()

    # the order page follows the sandbox cashier's link once; pay there
    phone.wait_for_url(re.compile(r"/pay/sandbox/PF\d+$"))
    out_trade_no = phone.url.rsplit("/", 1)[1]
    phone.screenshot(path="/tmp/payfirst-sandbox.png", full_page=True)
    phone.locator("#sandbox-pay button[type=submit]").click()
    phone.wait_for_url(re.compile(rf"/t/orders/{out_trade_no}$"))

    progress = phone.locator("#order-progress")
    expect(progress).to_have_attribute("data-state", "credited")  # polled into place by htmx
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= phone.width
    db.session.expire_all()
    order = db.session.query(PaymentOrder).filter_by(out_trade_no=out_trade_no).one()
    assert (order.status, order.amount_fen) == (OrderStatus.CREDITED, 6_660)
    assert db.session.get(type(meter), meter.id).supply_desired == Supply.ON  # the payment lifted the trip

    # the poller reads the relay closed: the partial shows it and stops polling
    meter = db.session.get(type(meter), meter.id)
    meter.state.supply_actual = Supply.ON
    db.session.commit()
    expect(progress).to_have_attribute("data-state", "restored")
    expect(progress).not_to_have_attribute("hx-trigger", re.compile("load"))
    assert axe_violations(phone) == []
    phone.screenshot(path=f"/tmp/payfirst-order-progress-{phone.width}.png", full_page=True)

    # back on the shop page the balance is ¥61.60 and the history lists the payment
    phone.goto(f"/t/a/{shop.id}")
    expect(phone.get_by_test_id("balance")).to_have_text("¥61.60")
    phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # the history loads when revealed
    expect(phone.locator("#history [data-kind=payment]")).to_have_count(1)
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= phone.width
    assert axe_violations(phone) == []
    phone.screenshot(path=f"/tmp/payfirst-tenant-pay-{phone.width}.png", full_page=True)
    assert foreign_requests([r.url for r in phone.finished]) == []


def test_a_nonsense_amount_is_refused_in_place(phone, shop_in_arrears):
    shop, _meter, tenant = shop_in_arrears
    log_in_tenant(phone, shop.code, tenant.phone)
    phone.locator(".chip-custom input[type=text]").fill("12,5")
    phone.locator("[data-channel=sandbox]").click()
    expect(phone.get_by_test_id("pay-error")).to_be_visible()
    assert phone.url.endswith(f"/t/a/{shop.id}")  # swapped in place by htmx, no navigation
    assert db.session.query(PaymentOrder).count() == 0
