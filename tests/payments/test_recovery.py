"""The recovery sweep: lost notifies found by querying the platform, expired orders closed, errors contained."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, NotifyOutcome, OrderStatus, PaymentNotification, utcnow
from portal.payments.providers.alipay import api as alipay
from portal.settings import PaymentSettings
from tests.payments.wechat_fixtures import (
    no_wechat,
    placed,
    wechat_keys,
    wechat_standin,
    wechat_v2,
    wechat_v3,
)
from worker.jobs.payments import sweep_open_orders

PAY_QUERY_AFTER_MINUTES = PaymentSettings().query_after_minutes
ORDER_TTL_MINUTES = PaymentSettings().order_ttl_minutes


def later(minutes: float):
    return utcnow() + timedelta(minutes=minutes)


def notes_of(order) -> list[tuple[str, NotifyOutcome]]:
    rows = db.session.execute(select(PaymentNotification.source, PaymentNotification.outcome)
                              .where(PaymentNotification.order_id == order.id)).all()
    return [tuple(r) for r in rows]


def test_a_lost_alipay_notify_is_found_by_the_sweep_and_credited_once(paid_trade, books):
    order, _fields = paid_trade(1500)  # paid at Alipay; the notify never arrives
    assert sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES - 1))["queried"] == 0  # too young to ask about

    result = sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 1))
    assert (result["queried"], result["credited"], result["errors"]) == (1, 1, [])
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 1500
    assert order.platform_trade_no and notes_of(order) == [("query", NotifyOutcome.ACCEPTED)]

    before = books()
    again = sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 2))
    assert (again["queried"], again["credited"]) == (0, 0)
    assert books() == before


def test_the_late_notify_after_a_sweep_credit_is_a_duplicate(paid_trade, notify, books):
    order, fields = paid_trade(800)
    sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 1))
    before = books()
    assert notify(fields).status_code == 200
    after = books()
    assert after["entries"] == before["entries"] and after["notifications"] == before["notifications"] + 1
    db.session.expire_all()
    assert order.account.balance_fen == 800


def test_a_paid_order_past_its_expiry_is_credited_not_closed(paid_trade, alipay_env):
    order, _ = paid_trade(1234)
    result = sweep_open_orders(now=later(ORDER_TTL_MINUTES + 30))
    assert (result["credited"], result["closed"]) == (1, 0)
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED
    assert alipay_env.trades[order.out_trade_no].status == "TRADE_SUCCESS"


def test_an_expired_unpaid_order_is_closed_at_alipay_and_here(alipay_env, make_order):
    opened = make_order(1000)  # the payer opened the cashier page and left
    alipay_env.open_trade(opened.out_trade_no, "10.00")
    never_seen = make_order(2000)  # Alipay never saw it (the payer never got that far)
    young = make_order(3000)
    alipay_env.open_trade(young.out_trade_no, "30.00")

    # Before expiry: queried, unpaid, left open.
    result = sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 1))
    assert (result["queried"], result["closed"], result["waiting"]) == (3, 0, 3)

    young.created_at = young.expires_at = utcnow() + timedelta(minutes=60)
    db.session.commit()
    result = sweep_open_orders(now=later(ORDER_TTL_MINUTES + 1))
    assert (result["closed"], result["errors"]) == (2, [])
    db.session.expire_all()
    assert opened.status == never_seen.status == OrderStatus.CLOSED and opened.closed_at is not None
    assert alipay_env.trades[opened.out_trade_no].status == "TRADE_CLOSED"
    assert young.status == OrderStatus.CREATED
    assert alipay_env.trades[young.out_trade_no].status == "WAIT_BUYER_PAY"


def test_an_order_already_closed_at_alipay_is_closed_here(alipay_env, make_order):
    order = make_order(1000)
    alipay_env.open_trade(order.out_trade_no, "10.00").status = "TRADE_CLOSED"  # Alipay's own timeout
    result = sweep_open_orders(now=later(ORDER_TTL_MINUTES + 1))
    assert (result["closed"], result["errors"]) == (1, [])
    db.session.expire_all()
    assert order.status == OrderStatus.CLOSED


def test_a_platform_error_on_one_order_does_not_stop_the_others(paid_trade, make_order, no_wechat, monkeypatch):
    wechat_order = make_order(500, Channel.WECHAT_NATIVE)  # WeChat Pay not configured here: its query fails
    broken, _ = paid_trade(600)
    fine, _ = paid_trade(700)
    real_query = alipay.query_trade

    def flaky(out_trade_no):
        if out_trade_no == broken.out_trade_no:
            raise alipay.AlipayError("the Alipay gateway is unreachable: timed out")
        return real_query(out_trade_no)

    monkeypatch.setattr(alipay, "query_trade", flaky)
    result = sweep_open_orders(now=later(ORDER_TTL_MINUTES + 1))
    assert result["credited"] == 1 and len(result["errors"]) == 2
    assert any(str(broken.id) in e and "unreachable" in e for e in result["errors"])
    db.session.expire_all()
    assert fine.status == OrderStatus.CREDITED
    assert broken.status == wechat_order.status == OrderStatus.CREATED  # tried again next minute

    monkeypatch.setattr(alipay, "query_trade", real_query)
    assert sweep_open_orders(now=later(ORDER_TTL_MINUTES + 2))["credited"] == 1
    db.session.expire_all()
    assert broken.status == OrderStatus.CREDITED


def test_an_amount_anomaly_from_a_query_is_recorded_once(paid_trade, alipay_env, books):
    order, _ = paid_trade(1000)
    alipay_env.trades[order.out_trade_no].total_amount = "9.00"
    sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 1))
    first = books()
    sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 2))
    assert books() == first and first["alarms"] == 1
    db.session.expire_all()
    assert order.status == OrderStatus.CREATED and notes_of(order) == [("query", NotifyOutcome.ANOMALY)]


def test_sandbox_orders_are_not_queried_and_expire_here(make_order, no_alipay):
    order = make_order(1000, Channel.SANDBOX)
    assert sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 1))["queried"] == 0
    assert sweep_open_orders(now=later(ORDER_TTL_MINUTES + 1))["closed"] == 1
    db.session.expire_all()
    assert order.status == OrderStatus.CLOSED


# --- WeChat Pay (v3 and v2 through active_api) --------------------------------------------------------

def test_a_lost_wechat_notify_is_found_by_the_sweep(wechat_v3, placed):
    order, _ = placed(1500)
    wechat_v3.pay(order.out_trade_no)
    result = sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 1))
    assert (result["credited"], result["errors"]) == (1, [])
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and order.account.balance_fen == 1500
    assert sweep_open_orders(now=later(PAY_QUERY_AFTER_MINUTES + 2))["credited"] == 0


def test_an_expired_wechat_order_is_closed_on_v2(wechat_v2, placed):
    order, _ = placed(900)
    result = sweep_open_orders(now=later(ORDER_TTL_MINUTES + 1))
    assert (result["closed"], result["errors"]) == (1, [])
    db.session.expire_all()
    assert order.status == OrderStatus.CLOSED
    assert wechat_v2.trades[order.out_trade_no].state == "CLOSED"


def test_sweep_command(paid_trade, runner, monkeypatch, app):
    order, _ = paid_trade(1500)
    settings = app.config["SETTINGS"]  # the order was made a moment ago: query it at once
    monkeypatch.setitem(app.config, "SETTINGS", replace(settings, payments=replace(settings.payments,
                                                                                   query_after_minutes=-1)))
    out = runner.invoke(args=["payments", "sweep"])
    assert out.exit_code == 0, out.output
    assert "1 credited" in out.output
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED
