"""`/r/<token>`, the sticker's QR code: anyone may pay into the shop, only its bound tenants see its details, and
a token nobody issued is a friendly 404 on the tenant layout."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AccountStatus, PaymentOrder
from tests.tenant.test_recharge import PHONE_UA, fake_channels

HX = {"HX-Request": "true"}
TOKEN = "kX3_tP9-sticker-token1"


@pytest.fixture
def shop(make_account, make_meter):
    """A shop with a sticker token, ¥123.45 on it and a meter."""
    account = make_account(code="S100", name="兰州拉面 Noodle bar", balance_fen=12_345, sticker_token=TOKEN)
    make_meter(account=account, code="E100")
    return account


def pay(client, amount="10000", channel="alipay_wap", custom="", token=TOKEN, **headers):
    return client.post(f"/r/{token}/pay", data={"amount": amount, "custom": custom, "channel": channel},
                       headers={"User-Agent": PHONE_UA, **headers})


def orders() -> list[PaymentOrder]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentOrder)))


def test_anyone_sees_the_shop_and_the_recharge_form_but_not_its_balance(client, shop, fake_channels):
    page = client.get(f"/r/{TOKEN}", headers={"User-Agent": PHONE_UA})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "兰州拉面 Noodle bar" in html and "S100" in html
    assert f'action="/r/{TOKEN}/pay"' in html and 'data-channel="alipay_wap"' in html
    assert "123.45" not in html and "E100" not in html and 'id="history"' not in html
    assert "充值" in html  # Chinese by default


def test_the_page_is_in_english_for_a_browser_that_prefers_it(client, shop):
    html = client.get(f"/r/{TOKEN}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Recharge for the shop" in html


def test_an_unknown_token_is_a_friendly_404_in_the_tenant_layout(client, shop):
    answer = client.get("/r/no-such-token")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 404
    assert 'class="tenant-bar"' in html and 'class="weui-msg"' in html
    assert "无法识别此贴纸的二维码" in html


def test_a_tenant_bound_to_the_shop_goes_to_its_own_page(client, login, shop, make_tenant):
    login.tenant(make_tenant([shop]), shop)
    answer = client.get(f"/r/{TOKEN}")
    assert answer.status_code == 302 and answer.headers["Location"] == f"/t/a/{shop.id}"


def test_a_tenant_of_another_shop_sees_the_public_page(client, login, shop, make_account, make_tenant):
    theirs = make_account(code="S200")
    login.tenant(make_tenant([theirs]), theirs)
    html = client.get(f"/r/{TOKEN}").get_data(as_text=True)
    assert "S100" in html and "123.45" not in html


def test_paying_starts_an_order_for_the_stickers_shop_in_the_visitors_name(client, shop, fake_channels):
    answer = pay(client, "custom", custom="88.50")
    [order] = orders()
    assert (order.account_id, order.amount_fen, order.channel.value) == (shop.id, 8_850, "alipay_wap")
    assert re.fullmatch(r"visitor:[0-9a-f]{16}", order.created_by)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/r/{TOKEN}/orders/{order.out_trade_no}"
    [(_channel, out_trade_no, context)] = fake_channels.calls
    assert context["return_url"].endswith(f"/r/{TOKEN}/orders/{out_trade_no}")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "https://pay.example.test/cashier" in page and 'id="order-progress"' in page
    assert f'hx-get="/r/{TOKEN}/orders/{out_trade_no}"' in page and "123.45" not in page


def test_htmx_is_sent_on_to_the_order_page(client, shop, fake_channels):
    answer = pay(client, **HX)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"].startswith(f"/r/{TOKEN}/orders/")


def test_only_the_session_that_paid_sees_the_order(app, client, shop, fake_channels, make_account):
    location = pay(client).headers["Location"]
    assert client.get(location).status_code == 200
    assert app.test_client().get(location).status_code == 404
    make_account(site=shop.site, code="S300", sticker_token="another-token")
    assert client.get(location.replace(TOKEN, "another-token")).status_code == 404  # under another sticker


@pytest.mark.parametrize("headers, status", [({}, 422), (HX, 200)])
def test_a_nonsense_amount_is_refused_on_the_page(client, shop, fake_channels, headers, status):
    answer = pay(client, "custom", custom="lots", **headers)
    html = answer.get_data(as_text=True)
    assert answer.status_code == status and 'data-testid="pay-error"' in html and f"/r/{TOKEN}/pay" in html
    assert "123.45" not in html and orders() == []


def test_a_closed_shop_takes_no_payment(client, shop, fake_channels):
    shop.status = AccountStatus.CLOSED
    db.session.commit()
    html = client.get(f"/r/{TOKEN}").get_data(as_text=True)
    assert 'data-testid="sticker-closed"' in html and 'id="recharge"' not in html
    assert pay(client).status_code == 422 and orders() == []


def test_the_visitors_sandbox_cashier_is_theirs_alone(client, app, shop, monkeypatch, reload_settings,
                                                      tmp_path_factory):
    from portal.payments.providers.sandbox import ensure_demo_keys

    keys = tmp_path_factory.getbasetemp() / "sticker-sandbox-keys"
    ensure_demo_keys(keys)
    monkeypatch.setenv("PAYFIRST_SANDBOX", "1")
    reload_settings()
    monkeypatch.setitem(app.config, "ALIPAY_SANDBOX_KEY_DIR", str(keys))
    location = pay(client, channel="sandbox").headers["Location"]
    [order] = orders()
    assert client.get(f"/pay/sandbox/{order.out_trade_no}").status_code == 200
    assert app.test_client().get(f"/pay/sandbox/{order.out_trade_no}").status_code == 404
    assert location.endswith(order.out_trade_no)
