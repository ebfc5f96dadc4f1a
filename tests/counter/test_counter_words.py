"""Counter pages name channels and people in words: no `alipay_wap`, no `2088…` buyer id, no `staff:` prefix."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Role
from portal.web.labels import who
from tests.counter.test_counter import credited_order, recharge

EN = {"Accept-Language": "en"}
BUYER = "2088102146225135"


@pytest.fixture
def cashier(make_site, make_account, make_staff, login):
    site = make_site("mall")
    shop = make_account(site=site, code="A101", name="Bakery", balance_fen=10_000)
    user = make_staff(role=Role.CASHIER, sites=[site], username="li")
    login.staff(user)
    return shop


def paid_by_alipay_buyer(shop):
    order = credited_order(shop, 5_000)
    order.payer = BUYER
    db.session.commit()
    return order


def test_the_daily_report_names_the_payer_by_platform_not_by_buyer_id(client, cashier):
    paid_by_alipay_buyer(cashier)
    html = client.get("/staff/counter/report", headers=EN).get_data(as_text=True)
    assert "Alipay payer" in html and BUYER not in html


def test_the_daily_report_in_chinese_names_the_channel(client, cashier):
    paid_by_alipay_buyer(cashier)
    html = client.get("/staff/counter/report").get_data(as_text=True)
    assert "支付宝付款人" in html and "<td>支付宝</td>" in html


def test_the_account_page_shows_the_channel_in_words(client, cashier):
    paid_by_alipay_buyer(cashier)
    html = client.get(f"/staff/counter/a/{cashier.id}", headers=EN).get_data(as_text=True)
    assert "Alipay ·" in html and "alipay_wap ·" not in html


def test_a_receipt_names_the_cashier_without_the_actor_prefix(client, cashier):
    res = recharge(client, cashier)
    html = client.get(res.headers["Location"], headers=EN).get_data(as_text=True)
    assert 'data-testid="receipt-cashier">li<' in html and "staff:li" not in html


def test_the_counter_lists_channels_in_words(client, cashier):
    html = client.get("/staff/counter/", headers=EN).get_data(as_text=True)
    assert '<tr data-channel="wechat_jsapi"><td>WeChat Pay</td>' in html


@pytest.mark.parametrize(("actor", "channel", "words"), [
    ("staff:li", None, "li"),
    ("api:erp", None, "erp (API)"),
    ("system:billing", None, "billing run"),
    ("system:something-new", None, "the system"),
    ("tenant:7", None, "tenant"),
    (BUYER, "alipay_qr", "Alipay payer"),
    ("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "wechat_jsapi", "WeChat payer"),
    ("", None, "—"),
])
def test_who_puts_an_actor_code_into_words(app, actor, channel, words):
    with app.test_request_context(headers=EN):
        assert who(actor, channel) == words
