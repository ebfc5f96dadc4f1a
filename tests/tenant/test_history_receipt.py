"""A payment's e-receipt: what it says, that it prints, and that nobody else's receipt can be opened."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.models import EntryKind
from tests.tenant.history_books import at, books, last_month

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop(books, client, login):
    login.tenant(books.tenant, books.account)
    return books


def field(html: str, testid: str) -> str:
    return re.sub(r"\s+", " ", re.search(rf'data-testid="{testid}">(.*?)</dd>', html, re.S).group(1)).strip()


def test_a_platform_payments_receipt_says_shop_site_amount_channel_trade_no_time_and_balance(client, shop):
    shop.cash(1_000, at(last_month(), 8))
    entry = shop.payment(20_000, at(last_month().replace(day=15), 9, 30), trade_no="4200000099202611150012345678")
    res = client.get(f"/t/a/{shop.account.id}/receipts/{entry.id}")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert field(html, "receipt-shop") == "Tea house (H100)"
    assert re.search(r'data-testid="receipt-site">Test mall<', html)
    assert field(html, "receipt-amount") == "¥200.00"
    assert field(html, "receipt-channel") == "微信支付"
    assert field(html, "receipt-trade-no") == "4200000099202611150012345678"
    assert field(html, "receipt-time") == f"{last_month():%Y-%m}-15 09:30:00"
    assert field(html, "receipt-balance") == "¥210.00"
    assert "贰佰元整" in html


def test_a_counter_recharges_receipt_gives_the_counter_receipt_number(client, shop):
    entry = shop.cash(5_000, at(last_month(), 10))
    html = client.get(f"/t/a/{shop.account.id}/receipts/{entry.id}").get_data(as_text=True)
    assert field(html, "receipt-channel") == "柜台现金"
    assert re.fullmatch(r"\d{4}-\d{6}", field(html, "receipt-no"))


def test_the_receipt_has_a_print_button_and_a_print_stylesheet(client, shop):
    entry = shop.payment(1_000, at(last_month(), 9))
    html = client.get(f"/t/a/{shop.account.id}/receipts/{entry.id}").get_data(as_text=True)
    assert "data-print" in html and "/static/js/print.js" in html
    css = (ROOT / "static" / "css" / "history.css").read_text()
    assert "@media print" in css and ".no-print" in css


def test_another_tenants_receipt_is_404(client, shop, make_account, make_tenant):
    from tests.tenant.history_books import Books  # here: a second shop's books, for this test only

    other = make_account(code="H300")
    make_tenant([other])
    theirs = Books(other, None, None).payment(9_900, at(last_month(), 9))
    assert client.get(f"/t/a/{other.id}/receipts/{theirs.id}").status_code == 404
    # nor through the tenant's own shop
    assert client.get(f"/t/a/{shop.account.id}/receipts/{theirs.id}").status_code == 404


def test_an_entry_that_is_not_a_payment_has_no_receipt(client, shop):
    fee = shop.post(EntryKind.FEE, -3_000, at(last_month(), 1))
    assert client.get(f"/t/a/{shop.account.id}/receipts/{fee.id}").status_code == 404
    assert client.get(f"/t/a/{shop.account.id}/receipts/99999999").status_code == 404


def test_staff_cannot_open_a_tenants_receipt(client, login, make_staff, shop):
    entry = shop.payment(1_000, at(last_month(), 9))
    client.post("/auth/logout")
    login.staff(make_staff())
    assert client.get(f"/t/a/{shop.account.id}/receipts/{entry.id}").status_code in (302, 403)


def test_the_receipt_is_in_english_on_request(client, shop):
    entry = shop.payment(1_000, at(last_month(), 9))
    html = client.get(f"/t/a/{shop.account.id}/receipts/{entry.id}",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Payment receipt" in html and field(html, "receipt-channel") == "WeChat Pay"
