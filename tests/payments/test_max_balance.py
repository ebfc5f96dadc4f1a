"""The maximum balance (囤积) counts the orders still open when one is made, and is checked again when money
arrives: money already paid is never refused, but credited, flagged and offered back."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alarm, AlarmKind, OrderStatus, Refund, RefundStatus, Role
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import PaymentError, create_order


def pay(order) -> None:
    accept_payment(db.session, VerifiedPayment("test", order.out_trade_no, f"T{order.id}", order.amount_fen, True))
    db.session.commit()


@pytest.fixture
def capped(make_site, make_account):
    """A shop with ¥100.00 at a site whose maximum balance is ¥200.00."""
    return make_account(site=make_site(max_balance_fen=20_000), balance_fen=10_000)


def test_open_orders_count_against_the_maximum_balance(capped):
    """The review opened three orders under the cap, paid them together, and went ¥717 over it."""
    first = create_order(db.session, capped, 4_000, "alipay_wap", "tenant:1")
    second = create_order(db.session, capped, 4_000, "alipay_wap", "tenant:1")
    db.session.commit()
    with pytest.raises(PaymentError, match="limit"):
        create_order(db.session, capped, 4_000, "alipay_wap", "tenant:1")
    db.session.rollback()
    create_order(db.session, capped, 2_000, "alipay_wap", "tenant:1")  # exactly up to the cap
    db.session.commit()
    pay(first)
    pay(second)
    db.session.expire_all()
    assert capped.balance_fen == 18_000


def test_money_above_the_maximum_is_credited_flagged_and_offered_back(capped):
    order = create_order(db.session, capped, 8_000, "alipay_wap", "tenant:1")
    db.session.commit()
    capped.site.max_balance_fen = 15_000  # the manager lowered the cap while the payer was paying
    db.session.commit()
    pay(order)
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED and capped.balance_fen == 18_000  # never refused
    [refund] = db.session.scalars(select(Refund)).all()
    assert (refund.order_id, refund.amount_fen, refund.status) == (order.id, 3_000, RefundStatus.REQUESTED)
    alarm = db.session.scalars(select(Alarm).where(Alarm.subject == f"order:{order.id}")).one()
    assert alarm.kind == AlarmKind.PAYMENT_ANOMALY and "maximum balance" in alarm.message


def test_money_within_the_maximum_is_not_flagged(capped):
    pay(create_order(db.session, capped, 10_000, "alipay_wap", "tenant:1"))
    assert db.session.scalars(select(Refund)).all() == [] and db.session.scalars(select(Alarm)).all() == []


def test_a_counter_recharge_counts_open_orders_too(capped, client, login, make_staff):
    create_order(db.session, capped, 8_000, "alipay_wap", "tenant:1")
    db.session.commit()
    login.staff(make_staff(role=Role.CASHIER, sites=[capped.site]))
    client.post(f"/staff/counter/a/{capped.id}/recharge",
                data={"amount": "50", "method": "cash", "key": "a" * 32})
    db.session.expire_all()
    assert capped.balance_fen == 10_000
