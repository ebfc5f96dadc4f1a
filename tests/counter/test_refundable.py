"""What a refund may send back: the balance less the emergency credit still owed and the fee arrears, shown in the
refund form and enforced on request and on approval."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, PaymentOrder, Refund, Role
from portal.payments import refunds
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import create_order


@pytest.fixture
def shop(make_site, make_account):
    """A shop with ¥100.00 that paid ¥50.00 by Alipay: ¥150.00."""
    acct = make_account(site=make_site("mall"), code="A101", balance_fen=10_000)
    order = create_order(db.session, acct, 5_000, "alipay_wap", "tenant:1")
    db.session.commit()
    accept_payment(db.session, VerifiedPayment("test", order.out_trade_no, "T1", 5_000, True))
    db.session.commit()
    return acct


def owes(account: Account, emergency_fen: int = 0, fees_fen: int = 0) -> None:
    account.emergency_owed_fen, account.fee_arrears_fen = emergency_fen, fees_fen
    db.session.commit()


def order_of(account: Account) -> PaymentOrder:
    return db.session.scalars(select(PaymentOrder).where(PaymentOrder.account_id == account.id)).one()


def test_a_refund_never_pays_out_emergency_credit_still_owed(shop):
    """The review asked for a refund while emergency credit was owed: both checks passed."""
    owes(shop, emergency_fen=12_000)  # of the ¥150.00, ¥120.00 is an advance still owed
    with pytest.raises(refunds.RefundRefused):
        refunds.request_refund(db.session, order_of(shop), 5_000, "moved out", "staff:c")
    db.session.rollback()
    refunds.request_refund(db.session, order_of(shop), 3_000, "moved out", "staff:c")


def test_fee_arrears_are_not_refunded_either(shop):
    owes(shop, emergency_fen=2_000, fees_fen=11_000)
    assert refunds.refundable_balance_fen(db.session, shop) == 2_000
    with pytest.raises(refunds.RefundRefused):
        refunds.request_refund(db.session, order_of(shop), 2_001, "moved out", "staff:c")


def test_approval_checks_the_debts_again(shop):
    refund = refunds.request_refund(db.session, order_of(shop), 5_000, "moved out", "staff:c")
    db.session.commit()
    owes(shop, emergency_fen=12_000)
    with pytest.raises(refunds.RefundRefused):
        refunds.approve_refund(db.session, refund, "staff:m")


def test_the_manager_who_asked_does_not_approve_the_refund(shop):
    refund = refunds.request_refund(db.session, order_of(shop), 1_000, "moved out", "staff:mary")
    db.session.commit()
    with pytest.raises(refunds.RefundRefused):
        refunds.approve_refund(db.session, refund, "staff:mary")
    refunds.approve_refund(db.session, refund, "staff:mike")


def test_the_refund_form_shows_what_may_be_refunded(shop, client, login, make_staff):
    owes(shop, emergency_fen=12_000)
    login.staff(make_staff(role=Role.CASHIER, sites=[shop.site]))
    client.get("/auth/lang/en")
    html = client.get(f"/staff/counter/a/{shop.id}").get_data(as_text=True)
    assert 'data-testid="refundable-balance">Refundable from the balance: ¥30.00' in html
    assert 'name="amount" size="8" inputmode="decimal" required value="30.00"' in html
    client.post(f"/staff/counter/orders/{order_of(shop).id}/refund", data={"amount": "30.01", "reason": "r"})
    assert db.session.scalars(select(Refund)).all() == []
