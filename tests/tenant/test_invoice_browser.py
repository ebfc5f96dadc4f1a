"""A shop owner in WeChat's browser on a phone (360x640 and 390x844) goes from the history to a payment's
e-receipt and asks for an invoice: a wrong tax id is refused beside its field with everything typed kept, the right
one is taken, and the history then shows the request; axe-core finds nothing serious on any of the pages. Real
headless Chromium against the app served on loopback."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import InvoiceRequest
from tests.browser import axe_violations, foreign_requests, log_in_tenant, screenshot, watch_csp, wechat_phone
from tests.tenant.history_books import at, books, last_month

pytestmark = pytest.mark.browser


@pytest.fixture(params=[(360, 640), (390, 844)], ids=["360x640", "390x844"])
def phone(request, browser, base_url):
    width, height = request.param
    with wechat_phone(browser, base_url, width=width, height=height) as page:
        page.csp, page.width = watch_csp(page.context), width
        yield page


@pytest.fixture
def month_of_books(books):
    month = last_month()
    books.payment(20_000, at(month.replace(day=12), 9, 30), trade_no="4200000099202611120012345678")
    books.fee(30_000, f"{month:%Y-%m}", at(month, 1))
    books.allocation(24_100, f"{month:%Y-%m}", at(month, 2))
    books.used(month.replace(day=5), usage=1_234, charged_fen=987)
    return books


def test_from_the_history_to_the_receipt_to_an_invoice_request(phone, month_of_books):
    shop, month = month_of_books, f"{last_month():%Y-%m}"
    log_in_tenant(phone, shop.account.code, shop.tenant.phone)
    phone.goto(f"/t/a/{shop.account.id}/history?month={month}")

    history = phone.locator(f"#history-{month}")
    expect(history.locator("[data-kind=payment] [data-testid=amount]")).to_have_text("+¥200.00")
    expect(history.locator("[data-kind=fee] [data-testid=amount]")).to_have_text("¥-300.00")
    expect(history.locator("[data-kind=energy] [data-testid=usage]")).to_have_text("12.34 kWh")
    history.locator(".allocation-breakdown summary").click()  # the 公示 opens in place
    expect(history.locator("[data-testid=source]").first).to_contain_text("C-LIFT")
    assert phone.evaluate("document.scrollingElement.scrollWidth") <= phone.width
    assert axe_violations(phone) == []
    screenshot(phone, f"history-{phone.width}")

    # only the payments of that month
    phone.select_option("select[name=kind]", "payments")
    phone.locator("#history-filter button[type=submit]").click()
    expect(phone.locator(".entry[data-kind=fee]")).to_have_count(0)
    expect(phone.locator(".entry[data-kind=payment]")).to_have_count(1)

    phone.get_by_role("link", name="收据").click()
    expect(phone.locator("[data-testid=receipt-amount]")).to_have_text("¥200.00")
    expect(phone.locator("[data-testid=receipt-trade-no]")).to_have_text("4200000099202611120012345678")
    expect(phone.locator("[data-testid=receipt-channel]")).to_have_text("微信支付")
    assert axe_violations(phone) == []
    screenshot(phone, f"receipt-{phone.width}")

    phone.get_by_role("link", name="申请发票").click()
    phone.fill("#invoice-title", "上海茶舍餐饮有限公司")
    phone.fill("#invoice-tax-id", "91310000ma1fl8xq3")  # a digit short, in lower case
    phone.fill("#invoice-email", "finance@example.com")
    phone.get_by_role("button", name="提交发票申请").click()
    expect(phone.locator("#tax-id-error")).to_contain_text("17 位")
    expect(phone.locator("#invoice-title")).to_have_value("上海茶舍餐饮有限公司")
    expect(phone.locator("#invoice-email")).to_have_value("finance@example.com")
    assert axe_violations(phone) == []
    screenshot(phone, f"invoice-error-{phone.width}")

    phone.fill("#invoice-tax-id", "91310000ma1fl8xq3b")
    phone.get_by_role("button", name="提交发票申请").click()
    phone.wait_for_url(f"**/t/a/{shop.account.id}/invoices")
    expect(phone.locator("#invoices [data-invoice=open]")).to_have_count(1)
    expect(phone.locator("#invoices")).to_contain_text("91310000MA1FL8XQ3B")

    phone.goto(f"/t/a/{shop.account.id}/history?month={month}")
    expect(phone.locator(".entry[data-kind=payment] [data-invoice=open]")).to_have_text("已申请发票")
    screenshot(phone, f"history-invoice-{phone.width}")
    (row,) = db.session.scalars(select(InvoiceRequest)).all()
    assert (row.tax_id, row.amount_fen) == ("91310000MA1FL8XQ3B", 20_000)
    assert phone.csp == []
    assert foreign_requests([r.url for r in phone.requested]) == []
