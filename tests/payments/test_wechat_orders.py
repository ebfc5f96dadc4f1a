"""Starting WeChat payments: API v3 when configured (native QR, signed JSAPI params), else API v2."""
from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from portal.extensions import db
from portal.models import Channel, Role
from portal.payments.orders import PaymentError
from portal.payments.providers.registry import ChannelUnavailable, available, start_payment
from portal.payments.providers.wechat import provider as wechat
from portal.payments.providers.wechat import v2 as pay_v2
from portal.payments.providers.wechat import v3 as pay_v3
from portal.staffing.tokens import create_token
from tests.payments.standin_wechat import md5_sign
from tests.payments.wechat_fixtures import (
    API_KEY,
    APPID,
    V2_NOTIFY,
    V3_NOTIFY,
    no_wechat,
    placed,
    wechat_keys,
    wechat_standin,
    wechat_v2,
    wechat_v3,
)


@pytest.fixture
def api_post(client, make_staff):
    """api_post(account, body) POSTs /api/v1/orders as a cashier of the account's site."""

    def post(account, body: dict):
        token = create_token(make_staff(role=Role.CASHIER, sites=[account.site]))
        db.session.commit()
        return client.post("/api/v1/orders", json={"account": account.code, **body},
                           headers={"Authorization": f"Bearer {token}"})

    return post


def verify_pay_sign(public_key, params: dict) -> None:
    message = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    public_key.verify(base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())


# --- API v3 -----------------------------------------------------------------------------------------

def test_native_order_through_v3_returns_the_code_url_and_its_qr(app, wechat_v3, placed):
    order, data = placed(2500)
    trade = wechat_v3.trades[order.out_trade_no]
    assert (trade.api, trade.trade_type, trade.total) == ("v3", "NATIVE", 2500)
    assert data["code_url"] == trade.code_url and data["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert data["qr_svg"].startswith("<svg") and "<path" in data["qr_svg"]
    assert trade.notify_url == app.config["PUBLIC_BASE_URL"] + V3_NOTIFY
    assert trade.description == f"先付充值 {order.account.code}"
    assert wechat_v3.auth_failures == []  # the merchant's Authorization verified at the stand-in


def test_jsapi_order_through_v3_returns_bridge_params_signed_by_the_merchant(wechat_v3, wechat_keys, placed):
    order, data = placed(1800, "wechat_jsapi", openid="o-tenant-7")
    params = data["jsapi_params"]
    trade = wechat_v3.trades[order.out_trade_no]
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert (params["appId"], params["signType"], params["package"]) == (APPID, "RSA", f"prepay_id={trade.prepay_id}")
    assert trade.openid == "o-tenant-7" and trade.trade_type == "JSAPI"
    verify_pay_sign(wechat_keys.merchant.public_key(), params)
    with pytest.raises(InvalidSignature):
        verify_pay_sign(wechat_keys.merchant.public_key(), {**params, "package": "prepay_id=other"})


def test_jsapi_without_an_openid_is_refused_before_calling_the_platform(wechat_v3, make_order):
    order = make_order(1000, Channel.WECHAT_JSAPI)
    with pytest.raises(PaymentError, match="openid"):
        start_payment(order, {"client_ip": "10.0.0.1", "openid": ""})
    assert wechat_v3.calls == []


def test_orders_api_returns_code_url_for_wechat_native(wechat_v3, make_account, api_post):
    account = make_account()
    response = api_post(account, {"amount_fen": 3000, "channel": "wechat_native"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "created" and body["amount_fen"] == 3000
    assert body["code_url"] == wechat_v3.trades[body["out_trade_no"]].code_url


def test_orders_api_returns_jsapi_params_for_the_given_openid(wechat_v3, make_account, api_post):
    response = api_post(make_account(), {"amount_fen": 3000, "channel": "wechat_jsapi", "openid": "o-api-1"})
    assert response.status_code == 201
    assert response.get_json()["jsapi_params"]["signType"] == "RSA"
    assert wechat_v3.trades[response.get_json()["out_trade_no"]].openid == "o-api-1"


def test_a_request_the_platform_cannot_authenticate_makes_the_channel_unavailable(
        wechat_v3, make_account, api_post, monkeypatch, reload_settings):
    monkeypatch.setenv("WECHAT_MCH_CERT_SERIAL", "0123456789ABCDEF")  # not the certificate the platform holds
    reload_settings()
    response = api_post(make_account(), {"amount_fen": 3000, "channel": "wechat_native"})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "channel_unavailable"
    assert "serial_no is not the merchant certificate's" in response.get_json()["error"]["message"]
    assert len(wechat_v3.auth_failures) == 1


def test_an_answer_not_signed_by_our_platform_key_is_refused(wechat_v3, wechat_keys, make_order, monkeypatch,
                                                             reload_settings):
    monkeypatch.setenv("WECHAT_PAY_PUBLIC_KEY_FILE", str(wechat_keys.stranger_public_file))
    reload_settings()
    order = make_order(1000, Channel.WECHAT_NATIVE)
    with pytest.raises(ChannelUnavailable, match="signature"):
        start_payment(order, {"client_ip": "10.0.0.1"})


def test_a_private_key_file_that_does_not_load_makes_the_channel_unavailable(wechat_v3, make_order, tmp_path,
                                                                             monkeypatch, reload_settings):
    bad = tmp_path / "broken.pem"
    bad.write_text("not a key")
    monkeypatch.setenv("WECHAT_MCH_PRIVATE_KEY_FILE", str(bad))
    reload_settings()
    with pytest.raises(ChannelUnavailable, match="keys do not load"):
        start_payment(make_order(1000, Channel.WECHAT_NATIVE), {"client_ip": "10.0.0.1"})


# --- API v2 fallback --------------------------------------------------------------------------------

def test_native_order_falls_back_to_v2_when_only_v2_is_configured(app, wechat_v2, placed):
    order, data = placed(2500)
    trade = wechat_v2.trades[order.out_trade_no]
    assert (trade.api, trade.trade_type, trade.total) == ("v2", "NATIVE", 2500)
    assert data["code_url"] == trade.code_url and data["qr_svg"].startswith("<svg")
    assert trade.notify_url == app.config["PUBLIC_BASE_URL"] + V2_NOTIFY
    assert wechat_v2.auth_failures == []


def test_jsapi_order_through_v2_returns_md5_signed_bridge_params(wechat_v2, placed):
    order, data = placed(1800, "wechat_jsapi", openid="o-tenant-8")
    params = data["jsapi_params"]
    trade = wechat_v2.trades[order.out_trade_no]
    assert (params["appId"], params["signType"], params["package"]) == (APPID, "MD5", f"prepay_id={trade.prepay_id}")
    assert params["paySign"] == md5_sign({k: v for k, v in params.items() if k != "paySign"}, API_KEY)
    assert trade.openid == "o-tenant-8"


def test_a_v2_answer_signed_with_another_key_is_refused(wechat_v2, make_order):
    wechat_v2.v2_answer_key = "q" * 32
    with pytest.raises(ChannelUnavailable, match="not signed"):
        start_payment(make_order(1000, Channel.WECHAT_NATIVE), {"client_ip": "10.0.0.1"})


def test_a_wrong_v2_api_key_is_refused_by_the_platform(wechat_v2, make_order, monkeypatch, reload_settings):
    monkeypatch.setenv("WECHAT_API_KEY", "w" * 32)
    reload_settings()
    with pytest.raises(ChannelUnavailable, match="签名错误"):
        start_payment(make_order(1000, Channel.WECHAT_NATIVE), {"client_ip": "10.0.0.1"})


# --- configuration ----------------------------------------------------------------------------------

def test_without_settings_the_channels_say_what_to_set(no_wechat, make_account, api_post):
    assert "WECHAT_APIV3_KEY" in available()["wechat_native"]
    response = api_post(make_account(), {"amount_fen": 3000, "channel": "wechat_native"})
    assert response.status_code == 503
    message = response.get_json()["error"]["message"]
    assert "WECHAT_PAY_PUBLIC_KEY_ID" in message and "API v2: WECHAT_APP_ID, WECHAT_MCH_ID, WECHAT_API_KEY" in message


def test_either_api_makes_the_channels_available(wechat_v2):
    assert available()["wechat_native"] == [] and available()["wechat_jsapi"] == []
    assert wechat.active_api() is pay_v2


def test_a_complete_v3_configuration_is_the_api_in_use(wechat_v3):
    assert wechat.active_api() is pay_v3


def test_unusable_v3_values_are_named(wechat_v3, monkeypatch, tmp_path, reload_settings):
    monkeypatch.setenv("WECHAT_APIV3_KEY", "short")
    monkeypatch.setenv("WECHAT_PAY_PUBLIC_KEY_FILE", str(tmp_path / "absent.pem"))
    reload_settings()
    assert pay_v3.missing() == ["WECHAT_APIV3_KEY (it must be 32 characters)",
                                   f"WECHAT_PAY_PUBLIC_KEY_FILE (no file at {tmp_path / 'absent.pem'})"]
    assert wechat.active_api() is pay_v2  # v2 is still complete


def test_the_api_base_defaults_to_production(wechat_v3, monkeypatch, reload_settings):
    monkeypatch.delenv("WECHAT_PAY_API_BASE")
    reload_settings()
    assert pay_v3.settings().api_base == "https://api.mch.weixin.qq.com"
    assert pay_v3.client(pay_v3.settings())._core._gate_way == "https://api.mch.weixin.qq.com"
    assert pay_v2.client(pay_v2.settings()).API_BASE_URL == "https://api.mch.weixin.qq.com/"
