"""What payments tell: the shop each payment credited (once, however many notifies come), the staff a payment
anomaly, a refund waiting for approval and a day's reconciliation mismatches (one message per platform and day)."""
from __future__ import annotations

from datetime import datetime

from portal.counter import operations as ops
from portal.extensions import db
from portal.payments import refunds
from portal.payments.notify import VerifiedPayment, accept_payment
from tests.notify.told import on_duty, told, with_phone
from tests.payments.standin_alipay import BEIJING
from tests.payments.wechat_fixtures import no_wechat
from worker.jobs.payments import daily_reconciliation


def test_a_paid_order_is_told_to_its_shop_once_however_often_it_is_notified(paid_trade, notify):
    order, fields = paid_trade(5_000)
    shop = with_phone(order.account)

    for _ in range(3):
        assert notify(fields).get_data(as_text=True) == "success"

    [sms] = told("payment_credited", shop)
    assert sms.params == {"shop": shop.code, "shop_name": shop.name, "amount": "50.00", "channel": "支付宝",
                          "balance": "50.00"}
    assert "收到缴费 ¥50.00（支付宝）" in sms.text


def test_a_notify_whose_amount_differs_is_told_to_the_staff_as_a_payment_anomaly(make_order):
    order = make_order(2_000)
    on_duty(order.account.site)

    accept_payment(db.session, VerifiedPayment("alipay", order.out_trade_no, "T-1", 1_999, True))
    db.session.commit()

    [sms] = told("payment_anomaly")
    assert sms.params == {"site": order.account.site.code, "order": order.out_trade_no, "shop": order.account.code,
                          "detail": "amount 1999 fen differs from the order's 2000 fen"}
    assert told("payment_credited") == []


def test_a_payment_for_a_closed_shop_is_one_anomaly_and_a_refund_waiting_not_a_credit(paid_trade, notify):
    order, fields = paid_trade(5_000)
    shop = with_phone(order.account)
    on_duty(shop.site)
    ops.close_account(db.session, shop, "lease ended", "staff:c")
    db.session.commit()

    notify(fields)
    notify(fields)

    assert len(told("payment_anomaly")) == 1
    [waiting] = told("approval_waiting")
    assert waiting.params == {"site": shop.site.code, "what": f"{shop.code} 的退款 ¥50.00", "by": "系统"}
    assert told("payment_credited") == []


def test_a_refund_request_is_told_as_waiting_for_approval(paid_trade, notify):
    order, fields = paid_trade(5_000)
    on_duty(order.account.site)
    notify(fields)

    refund = refunds.request_refund(db.session, order, 1_000, "moved out", "staff:cashier1")
    db.session.commit()

    [sms] = told("approval_waiting")
    assert sms.dedupe_key.startswith(f"approval_waiting:refund:{refund.id}:")
    assert sms.params == {"site": order.account.site.code, "what": f"{order.account.code} 的退款 ¥10.00",
                          "by": "cashier1"}


def test_a_days_reconciliation_mismatches_are_told_once_per_platform_and_day(alipay_env, no_wechat, paid_trade):
    lost, _ = paid_trade(1500)  # paid, its notify lost
    other, _ = paid_trade(2500)
    on_duty(lost.account.site)
    on_duty(other.account.site, phone="13800000002")
    day = datetime.now(BEIJING).date().isoformat()

    daily_reconciliation(day)
    daily_reconciliation(day)  # a rerun

    mismatches = told("reconciliation_mismatch")
    sites = {lost.account.site_id: lost.account.site.code, other.account.site_id: other.account.site.code}
    assert sorted((d.recipient, d.params["site"], d.params["count"]) for d in mismatches) == sorted(
        (phone, sites[site_id], "1") for phone, site_id in (("13800000001", lost.account.site_id),
                                                             ("13800000002", other.account.site_id)))
    assert {(d.params["channel"], d.params["day"]) for d in mismatches} == {("支付宝", day)}
    assert told("payment_anomaly") == []  # each mismatch is an alarm on the page, not a message of its own
