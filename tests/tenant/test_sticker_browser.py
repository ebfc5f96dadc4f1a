"""Someone scans a shop's meter-box sticker in WeChat and pays into it without signing in: the sticker's page, the
sandbox cashier, and the order's progress up to credited, never the shop's balance.

Real headless Chromium (360x640 and 390x844, WeChat's user agent; axe-core finds nothing serious) against the app
served on loopback with the payment sandbox on: its notify goes through the real verification and crediting.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import OrderStatus, PaymentOrder
from tests.browser import axe_violations, foreign_requests, screenshot, wechat_phone

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(sandbox_server):
    """The served app, with PUBLIC_BASE_URL pointing at it and the payment sandbox switched on."""
    return sandbox_server


@pytest.fixture(params=[(360, 640), (390, 844)], ids=["360x640", "390x844"])
def phone(request, browser, base_url, csrf_on):
    """A phone in WeChat (each size), Chinese preferred, signed in nowhere."""
    width, height = request.param
    with wechat_phone(browser, base_url, width=width, height=height) as page:
        page.width = width
        yield page


def test_a_passer_by_pays_into_the_shop_from_its_sticker(phone, make_account):
    shop = make_account(code="S801", name="兰州拉面 Noodle bar", balance_fen=12_345, sticker_token="sticker-S801")

    phone.goto("/r/sticker-S801")
    expect(phone.get_by_test_id("sticker-shop-name")).to_have_text("兰州拉面 Noodle bar")
    assert "123.45" not in phone.content()
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= phone.width
    assert axe_violations(phone) == []
    screenshot(phone, f"sticker-page-{phone.width}")

    phone.locator(".chip-custom input[type=text]").fill("66.60")
    phone.locator("[data-channel=sandbox]").click()
    phone.wait_for_url(re.compile(r"/pay/sandbox/PF\d+$"))
    out_trade_no = phone.url.rsplit("/", 1)[1]
    phone.locator("#sandbox-pay button[type=submit]").click()
    phone.wait_for_url(re.compile(rf"/r/sticker-S801/orders/{out_trade_no}$"))

    expect(phone.locator("#order-progress")).to_have_attribute("data-state", re.compile("credited|restored"))
    assert "123.45" not in phone.content() and "189.05" not in phone.content()
    assert axe_violations(phone) == []
    screenshot(phone, f"sticker-order-credited-{phone.width}")
    db.session.expire_all()
    order = db.session.query(PaymentOrder).filter_by(out_trade_no=out_trade_no).one()
    assert (order.status, order.account_id, order.amount_fen) == (OrderStatus.CREDITED, shop.id, 6_660)
    assert db.session.get(type(shop), shop.id).balance_fen == 12_345 + 6_660
    assert foreign_requests([r.url for r in phone.requested]) == []
