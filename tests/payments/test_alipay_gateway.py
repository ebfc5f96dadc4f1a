"""The real SDK against the stand-in gateway: starting payments, query, close, refund, daily bill, settings."""
from __future__ import annotations

import urllib.request
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.extensions import db
from portal.models import BillLine, Channel, PaymentOrder, Role
from portal.payments.providers.alipay import api as alipay
from portal.payments.providers.registry import ChannelUnavailable, start_payment
from portal.staffing.tokens import create_token
from tests.payments.conftest import APP_ID

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def post_order(client, make_staff, make_account):
    """post_order(channel, amount_fen) POSTs /api/v1/orders for a fresh account as an admin."""
    token = create_token(make_staff(role=Role.ADMIN))
    db.session.commit()

    def post(channel: str, amount_fen: int = 1234):
        account = make_account()
        return client.post("/api/v1/orders", json={"account": account.code, "amount_fen": amount_fen,
                                                   "channel": channel},
                           headers={"Authorization": f"Bearer {token}"})

    return post


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- money at the boundary ------------------------------------------------------------------------------

@given(st.integers(min_value=0, max_value=10**13 - 1))
def test_fen_survive_the_trip_through_a_yuan_string(fen):
    assert alipay.yuan_to_fen(alipay.fen_to_yuan(fen)) == fen


def test_yuan_strings_are_exact():
    assert alipay.fen_to_yuan(1234) == "12.34" and alipay.fen_to_yuan(5) == "0.05" and alipay.fen_to_yuan(100) == "1.00"
    assert alipay.yuan_to_fen("0.1") == 10 and alipay.yuan_to_fen("7") == 700
    assert alipay.yuan_to_fen("-0.01", signed=True) == -1


@pytest.mark.parametrize("bad", [12.34, -1, True, "1234"])
def test_only_non_negative_integer_fen_go_toward_alipay(bad):
    with pytest.raises(ValueError):
        alipay.fen_to_yuan(bad)


# --- starting payments through the API ------------------------------------------------------------------

def test_api_order_with_alipay_qr_returns_the_qr_code(alipay_env, post_order, app):
    response = post_order("alipay_qr", 1234)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["qr_code"].startswith("https://qr.alipay.com/")
    assert body["qr_svg"].startswith("<svg") and "</svg>" in body["qr_svg"]
    assert body["status"] == "created" and body["amount_fen"] == 1234
    [call] = alipay_env.calls
    assert call["method"] == "alipay.trade.precreate"
    assert call["biz"]["total_amount"] == "12.34" and call["biz"]["out_trade_no"] == body["out_trade_no"]
    assert call["notify_url"] == app.config["PUBLIC_BASE_URL"] + "/pay/alipay/notify"


def test_alipay_delivers_its_notify_to_the_url_the_order_gave_it(alipay_env, live_server, post_order):
    body = post_order("alipay_qr", 999).json
    trade = alipay_env.pay(body["out_trade_no"])
    assert trade.notify_url == live_server + "/pay/alipay/notify"
    assert alipay_env.post_notify(trade.notify_url, alipay_env.notify_fields(trade.out_trade_no)) == (200, "success")
    order = db.session.query(PaymentOrder).filter_by(out_trade_no=body["out_trade_no"]).one()
    assert order.status.value == "credited" and order.account.balance_fen == 999


def test_api_order_with_alipay_wap_returns_a_signed_gateway_url(alipay_env, post_order):
    body = post_order("alipay_wap", 5000).json
    url = body["pay_url"]
    assert url.startswith(alipay_env.url + "?")
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["method"] == "alipay.trade.wap.pay" and params["sign_type"] == "RSA2" and params["app_id"] == APP_ID
    assert params["return_url"].endswith(f"/t/orders/{body['out_trade_no']}")
    with urllib.request.urlopen(url, timeout=5) as page:  # the payer's browser opens it: signature checked
        assert page.status == 200 and "50.00" in page.read().decode()
    assert alipay_env.trades[body["out_trade_no"]].total_amount == "50.00"


def test_api_order_on_an_unconfigured_channel_is_503_with_the_missing_variables(no_alipay, post_order):
    response = post_order("alipay_qr")
    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "channel_unavailable"
    assert "ALIPAY_APP_ID" in error["message"] and "ALIPAY_PUBLIC_KEY_FILE" in error["message"]
    assert db.session.query(PaymentOrder).count() == 0


def test_api_order_when_the_gateway_refuses_our_signature_is_503(alipay_env, alipay_keys, monkeypatch, post_order,
                                                                 reload_settings):
    monkeypatch.setenv("ALIPAY_APP_PRIVATE_KEY_FILE", str(alipay_keys.stranger_private_file))
    reload_settings()
    response = post_order("alipay_qr")
    assert response.status_code == 503
    assert "invalid-signature" in response.json["error"]["message"]
    assert db.session.query(PaymentOrder).count() == 0


def test_api_order_when_the_gateway_is_unreachable_is_503(alipay_env, monkeypatch, post_order, reload_settings):
    monkeypatch.setenv("ALIPAY_GATEWAY", f"http://127.0.0.1:{closed_port()}/gateway.do")
    reload_settings()
    response = post_order("alipay_qr")
    assert response.status_code == 503 and "unreachable" in response.json["error"]["message"]


def test_an_unreadable_key_file_is_a_clear_503_not_a_crash(alipay_env, monkeypatch, tmp_path, post_order,
                                                           reload_settings):
    monkeypatch.setenv("ALIPAY_APP_PRIVATE_KEY_FILE", str(tmp_path / "nope.pem"))
    reload_settings()
    response = post_order("alipay_wap")
    assert response.status_code == 503
    message = response.json["error"]["message"]
    assert "ALIPAY_APP_PRIVATE_KEY_FILE" in message and "nope.pem" in message


def test_a_public_key_given_as_the_private_key_is_named(alipay_env, alipay_keys):
    with pytest.raises(alipay.AlipayConfigError, match=r"ALIPAY_APP_PRIVATE_KEY_FILE.*public key"):
        alipay.read_key("ALIPAY_APP_PRIVATE_KEY_FILE", str(alipay_keys.platform_public_file), private=True)


def test_a_key_as_bare_base64_from_alipays_key_tool_is_accepted(alipay_keys, tmp_path):
    body = "".join(line for line in alipay_keys.platform_public_file.read_text().splitlines() if "-----" not in line)
    bare = tmp_path / "alipay_public.txt"
    bare.write_text(body)
    assert alipay.read_key("ALIPAY_PUBLIC_KEY_FILE", str(bare), private=False).startswith("-----BEGIN PUBLIC KEY")


def test_missing_lists_the_unset_variables(no_alipay, monkeypatch, reload_settings):
    monkeypatch.setenv("ALIPAY_APP_ID", APP_ID)
    reload_settings()
    assert alipay.missing() == ["ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE"]


def test_the_gateway_defaults_to_production(alipay_env, monkeypatch, reload_settings):
    monkeypatch.delenv("ALIPAY_GATEWAY")
    reload_settings()
    assert alipay.client()._gateway == alipay.PRODUCTION_GATEWAY == "https://openapi.alipay.com/gateway.do"


# --- query and close ----------------------------------------------------------------------------------

def test_query_of_a_trade_alipay_never_saw_is_none(alipay_env):
    assert alipay.query_trade("PF-unknown") is None


def test_query_reports_waiting_then_paid(alipay_env, make_order):
    order = make_order(1234, Channel.ALIPAY_QR)
    start_payment(order, {})
    waiting = alipay.query_trade(order.out_trade_no)
    assert waiting.success is False and waiting.amount_fen == 1234 and waiting.source == "query"
    trade = alipay_env.pay(order.out_trade_no)
    paid = alipay.query_trade(order.out_trade_no)
    assert (paid.success, paid.amount_fen, paid.platform_trade_no) == (True, 1234, trade.trade_no)
    assert paid.paid_at is not None and paid.paid_at.tzinfo is not None


def test_an_answer_signed_by_someone_else_is_refused(alipay_env, alipay_keys, monkeypatch, reload_settings):
    alipay_env.open_trade("PF-forged", "1.00")
    monkeypatch.setenv("ALIPAY_PUBLIC_KEY_FILE", str(alipay_keys.stranger_public_file))
    reload_settings()
    with pytest.raises(alipay.AlipayError, match="signature"):
        alipay.query_trade("PF-forged")


def test_close_a_waiting_trade(alipay_env):
    alipay_env.open_trade("PF-close", "1.00")
    assert alipay.close_trade("PF-close") is True
    assert alipay_env.trades["PF-close"].status == "TRADE_CLOSED"


def test_close_a_paid_trade_is_refused(alipay_env):
    alipay_env.open_trade("PF-paid", "1.00")
    alipay_env.pay("PF-paid")
    assert alipay.close_trade("PF-paid") is False


def test_close_a_trade_alipay_never_opened_counts_as_closed(alipay_env):
    assert alipay.close_trade("PF-never") is True


# --- refunds ----------------------------------------------------------------------------------------

def test_partial_refund_then_a_repeat_of_the_same_request_moves_money_once(alipay_env):
    alipay_env.open_trade("PF-refund", "12.34")
    alipay_env.pay("PF-refund")
    first = alipay.refund("PF-refund", "RF-1", 500, "meter removed")
    assert (first.ok, first.refunded_fen, first.fund_change) == (True, 500, True)
    again = alipay.refund("PF-refund", "RF-1", 500, "meter removed")
    assert (again.ok, again.refunded_fen, again.fund_change) == (True, 500, False)
    assert alipay_env.calls[0]["biz"]["refund_amount"] == "5.00"
    assert alipay.query_refund("PF-refund", "RF-1") is True
    assert alipay.query_refund("PF-refund", "RF-unknown") is False


def test_refund_beyond_the_payment_is_refused_by_alipay(alipay_env):
    alipay_env.open_trade("PF-over", "1.00")
    alipay_env.pay("PF-over")
    result = alipay.refund("PF-over", "RF-2", 101, "too much")
    assert result.ok is False and result.error_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


# --- daily bill -------------------------------------------------------------------------------------

def test_bill_download_reads_payments_and_refunds(alipay_env):
    for no, amount in (("PF-bill-1", "12.34"), ("PF-bill-2", "0.05")):
        alipay_env.open_trade(no, amount, "先付充值 S001")
        alipay_env.pay(no)
    assert alipay.refund("PF-bill-1", "RF-bill", 234, "test").ok
    today = datetime.now(BEIJING).date()
    lines = alipay.download_bill(today)
    got = sorted((line["kind"], line["out_trade_no"], line["amount_fen"], line["out_refund_no"]) for line in lines)
    assert got == [("payment", "PF-bill-1", 1234, ""), ("payment", "PF-bill-2", 5, ""),
                   ("refund", "PF-bill-1", 234, "RF-bill")]
    first = next(line for line in lines if line["out_trade_no"] == "PF-bill-1")
    assert first["platform_trade_no"] == alipay_env.trades["PF-bill-1"].trade_no
    assert first["paid_at"].tzinfo is not None and first["bill_date"] == today
    db.session.add_all(BillLine(**line) for line in lines)  # the shape BillLine takes
    db.session.commit()
    assert db.session.query(BillLine).count() == 3


def test_bill_of_a_day_without_trades_is_empty(alipay_env):
    assert alipay.download_bill(date(2020, 1, 1)) == []


def test_bill_parser_reads_refund_amounts_written_negative():
    header = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
              "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
              "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")
    row = "2026030122001\t,PF1\t,退款\t,x\t,2026-03-01 10:00:00\t,2026-03-01 10:05:00\t,,,,,a\t,-3.50\t,-3.50\t," \
          "0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,,0.00\t,0.00\t,RF9\t,0.00\t,0.00\t,"
    text = "\n".join(["#支付宝业务明细查询", header, row, "#交易合计：0笔"]).encode("gbk")
    [line] = alipay.parse_bill(text, date(2026, 3, 1))
    assert (line["kind"], line["amount_fen"], line["out_refund_no"]) == ("refund", 350, "RF9")


def test_channels_without_settings_raise_channel_unavailable(no_alipay, make_order):
    with pytest.raises(ChannelUnavailable, match="ALIPAY_APP_ID"):
        start_payment(make_order(channel=Channel.ALIPAY_WAP), {})
