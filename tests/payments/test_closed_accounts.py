"""A closed account accepts no money: its open orders are closed, a payment that still arrives is an anomaly, held
and offered back for a manager to approve; nothing reaches its meters."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.counter import operations as ops
from portal.extensions import db
from portal.models import (
    Account,
    AccountStatus,
    Alarm,
    AlarmKind,
    ControlCommand,
    EntryKind,
    LedgerEntry,
    NotifyOutcome,
    OrderStatus,
    PaymentNotification,
    Refund,
    RefundStatus,
    Role,
    Supply,
)
from portal.payments import refunds
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import PaymentError, create_order
from portal.payments.refunds import RefundAnswer


def close(account: Account):
    done = ops.close_account(db.session, account, "lease ended", "staff:c")
    db.session.commit()
    return done


def notes_of(order) -> list[NotifyOutcome]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentNotification.outcome).where(PaymentNotification.order_id == order.id)
                                   .order_by(PaymentNotification.id)))


def test_closing_an_account_closes_its_open_orders(make_account, make_order):
    account = make_account(balance_fen=1_000)
    order = make_order(2_000, account=account)
    close(account)
    db.session.expire_all()
    assert order.status == OrderStatus.CLOSED and order.closed_at is not None


def test_a_notify_for_a_closed_accounts_order_is_an_anomaly_and_held_for_a_refund(paid_trade, notify, make_meter):
    """The review paid an order after its account was closed: the closed account was credited like any other."""
    order, fields = paid_trade(5_000)
    account = order.account
    meter = make_meter(account=account, code="E9")
    close(account)

    assert notify(fields).get_data(as_text=True) == "success"  # acknowledged: the platform must stop retrying
    assert notify(fields).get_data(as_text=True) == "success"
    assert notes_of(order) == [NotifyOutcome.ANOMALY, NotifyOutcome.DUPLICATE]
    db.session.expire_all()
    assert order.status == OrderStatus.CREDITED  # the money is on the books, owed back to the payer
    assert db.session.get(Account, account.id).status == AccountStatus.CLOSED
    [refund] = db.session.scalars(select(Refund)).all()
    assert (refund.order_id, refund.amount_fen, refund.status, refund.requested_by) == (
        order.id, 5_000, RefundStatus.REQUESTED, "system:held")
    [alarm] = db.session.scalars(select(Alarm).where(Alarm.kind == AlarmKind.PAYMENT_ANOMALY)).all()
    assert alarm.subject == f"order:{order.id}" and alarm.account_id == account.id
    assert db.session.get(type(meter), meter.id).supply_desired == Supply.OFF  # nothing comes back on
    assert db.session.scalars(select(ControlCommand).where(ControlCommand.action == "close")).all() == []


def test_the_held_payment_goes_back_once_a_manager_approves(paid_trade, notify, monkeypatch):
    order, fields = paid_trade(5_000)
    close(order.account)
    notify(fields)
    monkeypatch.setattr(refunds, "platform_refund", lambda *args: RefundAnswer(True))
    refund = db.session.scalars(select(Refund)).one()
    refunds.approve_refund(db.session, refund, "staff:m")
    db.session.commit()
    refunds.send_refund(db.session, refund, "staff:m")
    db.session.commit()
    db.session.expire_all()
    assert (refund.status, order.status, order.account.balance_fen) == (
        RefundStatus.SUCCEEDED, OrderStatus.REFUNDED, 0)
    kinds = [e.kind for e in db.session.scalars(select(LedgerEntry).where(LedgerEntry.order_id == order.id)
                                               .order_by(LedgerEntry.id))]
    assert kinds == [EntryKind.PAYMENT, EntryKind.REFUND]


def test_the_approvals_page_lists_the_held_refund(paid_trade, notify, client, login, make_staff):
    order, fields = paid_trade(5_000)
    close(order.account)
    notify(fields)
    login.staff(make_staff(role=Role.MANAGER, sites=[order.account.site]))
    client.get("/auth/lang/en")
    html = client.get("/staff/approvals").get_data(as_text=True)
    refund = db.session.scalars(select(Refund)).one()
    assert f'data-refund="{refund.out_refund_no}"' in html and "act-approve" in html
    assert "paid after the account was closed" in html


def test_a_closed_account_is_refused_a_new_order(make_account):
    account = make_account()
    close(account)
    with pytest.raises(PaymentError, match="closed"):
        create_order(db.session, account, 1_000, "alipay_wap", "tenant:1")


def test_a_payment_credited_after_closure_by_a_verified_query_is_held_too(make_account, make_order):
    account = make_account()
    order = make_order(1_500, account=account)
    close(account)
    outcome = accept_payment(db.session, VerifiedPayment("query", order.out_trade_no, "T-late", 1_500, True))
    db.session.commit()
    assert outcome == NotifyOutcome.ANOMALY
    db.session.expire_all()
    assert db.session.get(Account, account.id).balance_fen == 1_500
    assert db.session.scalars(select(Refund.requested_by)).all() == ["system:held"]


def test_the_counter_says_a_closed_account_takes_no_money(client, login, make_staff, make_account):
    account = make_account(balance_fen=1_000)
    close(account)
    login.staff(make_staff(role=Role.CASHIER, sites=[account.site]))
    client.get("/auth/lang/en")
    page = client.get(f"/staff/counter/a/{account.id}").get_data(as_text=True)
    assert 'id="recharge"' not in page and "it takes no money" in page
    res = client.post(f"/staff/counter/a/{account.id}/recharge", data={"amount": "10", "method": "cash",
                                                                       "key": "b" * 32})
    assert "it takes no money" in client.get(res.headers["Location"]).get_data(as_text=True)
    assert db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CASH)).all() == []


def test_a_closure_repays_what_the_shop_owes_before_paying_out(make_account):
    account = make_account(balance_fen=10_000)
    account.emergency_owed_fen, account.fee_arrears_fen = 2_000, 500
    db.session.commit()
    done = close(account)
    db.session.expire_all()
    assert done.payout_fen == 7_500 and done.settlement.amount_fen == -7_500
    assert (account.balance_fen, account.emergency_owed_fen, account.fee_arrears_fen) == (0, 0, 0)
    kinds = [(e.kind, e.amount_fen) for e in db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id))]
    assert kinds == [(EntryKind.OPENING, 10_000), (EntryKind.EMERGENCY, -2_000), (EntryKind.FEE, -500),
                     (EntryKind.SETTLEMENT, -7_500)]


def test_a_closure_the_balance_cannot_cover_the_debts_of_is_refused(make_account):
    account = make_account(balance_fen=1_000)
    account.emergency_owed_fen = 2_000
    db.session.commit()
    with pytest.raises(ops.CounterError):
        close(account)
