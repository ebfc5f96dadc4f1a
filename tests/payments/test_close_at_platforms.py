"""After an account's closure commits, its orders are closed at their platforms; one paid meanwhile is found."""
from __future__ import annotations

from sqlalchemy import select

from portal.counter import operations as ops
from portal.extensions import db
from portal.models import NotifyOutcome, OrderStatus, PaymentNotification, Refund
from portal.payments.recovery import close_at_platforms


def close(account):
    done = ops.close_account(db.session, account, "lease ended", "staff:c")
    db.session.commit()
    return done


def notes_of(order) -> list[NotifyOutcome]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentNotification.outcome).where(PaymentNotification.order_id == order.id)))


def test_closing_closes_the_order_at_alipay_too(alipay_env, make_order, make_account):
    order = make_order(2_000, account=make_account())
    alipay_env.open_trade(order.out_trade_no, "20.00")
    done = close(order.account)
    assert done.closed_orders == [order.id]
    assert close_at_platforms(db.session, done.closed_orders) == []
    assert alipay_env.trades[order.out_trade_no].status == "TRADE_CLOSED"


def test_an_order_paid_while_the_account_closed_is_found_when_alipay_refuses_to_close_it(paid_trade):
    order, _fields = paid_trade(3_000)  # paid at Alipay; its notify is lost
    done = close(order.account)
    close_at_platforms(db.session, done.closed_orders)
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and notes_of(order) == [NotifyOutcome.ANOMALY]
    assert db.session.scalars(select(Refund.amount_fen)).all() == [3_000]
