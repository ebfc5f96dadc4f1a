"""What the recovery sweep, refunds and reconciliation call: query, close, refund, bill — v3 and v2."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.models import NotifyOutcome, OrderStatus
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.providers.wechat import provider as wechat
from portal.payments.providers.wechat import v2 as pay_v2
from portal.payments.providers.wechat import v3 as pay_v3
from portal.payments.providers.wechat.common import WeChatPayError, parse_bill, yuan_to_fen
from tests.payments.standin_wechat import BEIJING
from tests.payments.wechat_fixtures import (
    no_wechat,
    placed,
    wechat_keys,
    wechat_standin,
    wechat_v2,
    wechat_v3,
)


@pytest.fixture(params=["v3", "v2"])
def platform(request):
    """(stand-in, API module) for each API version, configured as an operator would."""
    standin = request.getfixturevalue(f"wechat_{request.param}")
    module = wechat.active_api()
    assert module is (pay_v3 if request.param == "v3" else pay_v2)
    return standin, module


def beijing_today():
    return datetime.now(BEIJING).date()


# --- query ------------------------------------------------------------------------------------------

def test_query_of_an_unpaid_order(platform, placed):
    standin, api = platform
    order, _ = placed(1500)
    result = api.query_order(order.out_trade_no)
    assert result["state"] == "NOTPAY"
    assert result["payment"].success is False and result["payment"].amount_fen == 1500
    assert standin.auth_failures == []


def test_query_of_a_paid_order_is_a_verified_payment_that_credits_it(platform, placed):
    standin, api = platform
    order, _ = placed(1500)
    trade = standin.pay(order.out_trade_no)
    result = api.query_order(order.out_trade_no)
    paid = result["payment"]
    assert result["state"] == "SUCCESS" and isinstance(paid, VerifiedPayment)
    assert (paid.source, paid.out_trade_no, paid.platform_trade_no, paid.amount_fen, paid.success) == (
        "query", order.out_trade_no, trade.transaction_id, 1500, True)
    assert paid.merchant_problem is None and paid.paid_at.tzinfo is not None
    assert abs(paid.paid_at - trade.paid_at) < timedelta(seconds=1)
    assert accept_payment(db.session, paid) == NotifyOutcome.ACCEPTED
    db.session.commit()
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 1500


def test_query_of_an_order_the_platform_does_not_know(platform):
    _, api = platform
    assert api.query_order("PF9999999999999999999") == {"state": "NOTEXIST", "payment": None}


# --- close ------------------------------------------------------------------------------------------

def test_close_of_an_unpaid_order(platform, placed):
    standin, api = platform
    order, _ = placed()
    assert api.close_order(order.out_trade_no) == {"closed": True}
    assert standin.trades[order.out_trade_no].state == "CLOSED"


def test_close_of_a_paid_order_is_refused_with_the_platforms_code(platform, placed):
    standin, api = platform
    order, _ = placed()
    standin.pay(order.out_trade_no)
    with pytest.raises(WeChatPayError) as refused:
        api.close_order(order.out_trade_no)
    assert refused.value.code == "ORDERPAID"


# --- refund -----------------------------------------------------------------------------------------

def test_refund_of_part_of_a_paid_order(platform, placed):
    standin, api = platform
    order, _ = placed(2000)
    standin.pay(order.out_trade_no)
    result = api.refund(order.out_trade_no, "RF-1", 500, 2000, reason="退电费")
    [entry] = standin.trades[order.out_trade_no].refunds
    assert result == {"out_refund_no": "RF-1", "refund_id": entry["refund_id"], "status": "PROCESSING",
                      "refund_fen": 500}


def test_refund_of_more_than_was_paid_is_refused(platform, placed):
    standin, api = platform
    order, _ = placed(2000)
    standin.pay(order.out_trade_no)
    with pytest.raises(WeChatPayError):
        api.refund(order.out_trade_no, "RF-2", 2500, 2000)


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", True])
def test_refund_amounts_are_positive_integer_fen(platform, amount):
    _, api = platform
    with pytest.raises(ValueError):
        api.refund("PF1", "RF-3", amount, 100)


def test_v2_refund_needs_the_merchant_certificate(wechat_v2, placed, monkeypatch, reload_settings):
    monkeypatch.delenv("WECHAT_MCH_CERT_FILE")
    reload_settings()
    with pytest.raises(WeChatPayError, match="WECHAT_MCH_CERT_FILE"):
        pay_v2.refund("PF1", "RF-4", 100, 100)


# --- daily bill -------------------------------------------------------------------------------------

def test_bill_download_gives_payment_and_refund_lines_in_fen(platform, placed):
    standin, api = platform
    first, _ = placed(1234)
    second, _ = placed(100_000)
    for order in (first, second):
        standin.pay(order.out_trade_no)
    api.refund(second.out_trade_no, "RF-5", 2501, 100_000)
    standin.refund_succeeds("RF-5")
    lines = api.download_bill(beijing_today())
    by_kind = sorted((ln["kind"], ln["out_trade_no"], ln["amount_fen"], ln["out_refund_no"]) for ln in lines)
    assert by_kind == sorted([("payment", first.out_trade_no, 1234, ""), ("payment", second.out_trade_no, 100_000, ""),
                              ("refund", second.out_trade_no, 2501, "RF-5")])
    line = next(ln for ln in lines if ln["out_trade_no"] == first.out_trade_no)
    assert line["platform_trade_no"] == standin.trades[first.out_trade_no].transaction_id
    assert line["source"] == "wechat" and line["bill_date"] == beijing_today()
    assert line["paid_at"].utcoffset() == timedelta(0)
    assert abs(line["paid_at"] - standin.trades[first.out_trade_no].paid_at) < timedelta(seconds=1)
    assert standin.auth_failures == []


def test_a_day_without_trades_has_an_empty_bill(platform):
    _, api = platform
    assert api.download_bill(beijing_today() - timedelta(days=3)) == []


def test_a_v3_bill_that_does_not_match_its_hash_is_refused(wechat_v3, placed):
    order, _ = placed(100)
    wechat_v3.pay(order.out_trade_no)
    wechat_v3.bill_hash_wrong = True
    with pytest.raises(WeChatPayError, match="SHA1"):
        pay_v3.download_bill(beijing_today())


def test_bill_parser_reads_commas_inside_values_and_stops_at_the_summary():
    text = ("\ufeff交易时间,微信订单号,商户订单号,交易状态,商品名称,订单金额\r\n"
            "`2026-01-02 03:04:05,`4200001,`PF1,`SUCCESS,`电费, 水费,`12.34\r\n"
            "`2026-01-02 03:05:05,`4200002,`PF2,`REVOKED,`x,`1.00\r\n"
            "总交易单数,订单总金额\r\n`2,`13.34\r\n")
    [line] = parse_bill(text, datetime(2026, 1, 2).date())
    assert (line["out_trade_no"], line["amount_fen"]) == ("PF1", 1234)
    assert line["paid_at"] == datetime(2026, 1, 1, 19, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("text, fen", [("0.01", 1), ("12.30", 1230), ("100000.00", 10_000_000), ("7", 700)])
def test_bill_amounts_are_exact_fen(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["0.001", "abc", "", "1,00", "NaN", "Infinity"])
def test_bill_amounts_that_are_not_fen_are_refused(text):
    with pytest.raises(WeChatPayError):
        yuan_to_fen(text)
