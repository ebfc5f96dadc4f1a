"""A payment whose channel cannot send money back (the demo sandbox) is offered no refund, and any refund of one
is refused in the staff member's language, never with a platform's raw English."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Refund, RefundStatus, Role
from portal.payments import refunds
from portal.payments.providers.registry import can_refund
from tests.counter.test_counter import credited_order

NO_REFUND_ZH = "无法退回"


@pytest.fixture
def shop(make_site, make_account):
    return make_account(site=make_site("mall"), code="A101", name="Bakery", balance_fen=10_000)


@pytest.fixture
def as_role(shop, make_staff, login):
    def log_in(role: Role, username: str):
        login.staff(make_staff(role=role, sites=[shop.site], username=username))

    return log_in


@pytest.mark.parametrize(("channel", "refunds_there"), [("alipay_wap", True), ("alipay_qr", True),
                                                        ("wechat_native", True), ("wechat_jsapi", True),
                                                        ("sandbox", False), ("nonsense", False)])
def test_which_channels_can_send_money_back(channel, refunds_there):
    assert can_refund(channel) is refunds_there


def test_the_account_page_offers_no_refund_for_a_sandbox_payment(client, shop, as_role):
    sandbox, alipay = credited_order(shop, 2_000, "sandbox"), credited_order(shop, 3_000, "alipay_wap")
    as_role(Role.CASHIER, "c")
    html = client.get(f"/staff/counter/a/{shop.id}").get_data(as_text=True)
    assert f"/staff/counter/orders/{alipay.id}/refund" in html
    assert f"/staff/counter/orders/{sandbox.id}/refund" not in html
    assert 'data-testid="no-refund"' in html


def test_asking_to_refund_a_sandbox_payment_is_refused_in_words(client, shop, as_role):
    order = credited_order(shop, 2_000, "sandbox")
    as_role(Role.CASHIER, "c")
    res = client.post(f"/staff/counter/orders/{order.id}/refund", data={"amount": "20", "reason": "r"},
                      follow_redirects=True)
    assert NO_REFUND_ZH in res.get_data(as_text=True)
    assert db.session.query(Refund).count() == 0


def test_approving_an_old_sandbox_refund_fails_with_a_translated_message(client, shop, as_role):
    """A request made before the button was hidden: the approval says why in Chinese and changes nothing."""
    order = credited_order(shop, 2_000, "sandbox")
    refund = Refund(order_id=order.id, out_refund_no="RF-OLD", amount_fen=2_000, reason="r", requested_by="staff:c")
    db.session.add(refund)
    db.session.commit()
    as_role(Role.MANAGER, "m")
    html = client.post(f"/staff/counter/refunds/{refund.id}/approve",
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert NO_REFUND_ZH in html and "sandbox cannot refund" not in html
    db.session.expire_all()
    assert db.session.get(Refund, refund.id).status == RefundStatus.REQUESTED


def test_sending_a_sandbox_refund_again_is_refused(shop):
    order = credited_order(shop, 2_000, "sandbox")
    refund = Refund(order_id=order.id, out_refund_no="RF-OLD", amount_fen=2_000, reason="r", requested_by="staff:c",
                    status=RefundStatus.FAILED, error="the sandbox cannot refund")
    db.session.add(refund)
    db.session.commit()
    with pytest.raises(refunds.RefundRefused):
        refunds.send_refund(db.session, refund, "staff:m")
