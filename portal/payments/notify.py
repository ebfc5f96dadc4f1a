"""Accepting a verified payment notification: business checks, one state transition, an outbox row.

Signature verification happens in the providers (by the SDKs); they hand over a `VerifiedPayment`.
Everything here runs in one transaction: the order moves from created (or closed) to paid at most once
(`states.move`), and the credit job is written to the outbox in the same commit — so Redis being down
neither loses nor blocks a credit, and any number of duplicate or concurrent notifies credit once.

A payment for an account closed meanwhile is real money all the same: it moves to paid and is credited, but
the notify is recorded as an anomaly (a staff alarm), and the credit holds it for a refund (`held`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.alarms import raise_alarm
from portal.models import (
    Account,
    AccountStatus,
    AlarmKind,
    NotifyOutcome,
    OrderStatus,
    PaymentNotification,
    PaymentOrder,
    Site,
    utcnow,
)
from portal.notify.alarms import tell_raised
from portal.payments.states import move
from portal.queue.names import CREDIT_ORDER
from portal.queue.outbox import enqueue

RAW_LIMIT = 65_536
#: the anomaly of a payment for a closed account
CLOSED = "the account is closed: the payment is held for a refund"


@dataclass(frozen=True)
class VerifiedPayment:
    """What a correctly signed notify (or a platform query) says about one trade."""

    source: str  # alipay, wechat_v2, wechat_v3, query
    out_trade_no: str
    platform_trade_no: str
    amount_fen: int
    success: bool  # a success status (TRADE_SUCCESS / TRADE_FINISHED / SUCCESS)
    payer: str = ""
    paid_at: datetime | None = None
    #: why the notify does not belong to us (app id, merchant id, seller); None when it does
    merchant_problem: str | None = None


def accept_payment(session: Session, paid: VerifiedPayment, raw: str = "",
                   headers: dict | None = None) -> NotifyOutcome:
    """Record the notify and, when it checks out, move the order to paid and queue its credit.

    Core statements throughout (this runs for every notify; the ORM's bookkeeping was most of its cost); an
    order already loaded in the session is kept in step with what the database now holds.
    """
    orders, accounts = PaymentOrder.__table__, Account.__table__
    order = session.execute(select(  # the account's status in the same statement: no extra round trip
        orders.c.id, orders.c.amount_fen, orders.c.account_id, orders.c.payer,
        accounts.c.status.label("account_status"),
    ).join_from(orders, accounts, accounts.c.id == orders.c.account_id)
        .where(orders.c.out_trade_no == paid.out_trade_no)).one_or_none()
    outcome, reason = _decide(session, order, paid)
    table = PaymentNotification.__table__
    note_id = session.execute(insert(table).values(
        source=paid.source, outcome=outcome, reason=reason[:300], out_trade_no=paid.out_trade_no[:64],
        platform_trade_no=paid.platform_trade_no[:64], amount_fen=paid.amount_fen,
        order_id=order.id if order else None, raw=raw[:RAW_LIMIT], headers=headers,
    ).returning(table.c.id)).scalar_one()
    if outcome == NotifyOutcome.ANOMALY:
        site_id = (session.scalar(select(Account.site_id).where(Account.id == order.account_id)) if order
                   else _any_site(session))
        # one alarm per order whose money is held (the credit job raises the same one), else one per notify
        subject = f"order:{order.id}" if reason == CLOSED else f"notify:{note_id}"
        if site_id is not None:
            opened = raise_alarm(
                session, AlarmKind.PAYMENT_ANOMALY, subject, site_id,
                f"{paid.source} notify for {paid.out_trade_no}: {reason}",
                data=dict(what="notify_anomaly", source=paid.source, order=paid.out_trade_no, why=reason),
                account_id=order.account_id if order else None)
            tell_raised(session, [opened])  # anomalies are rare: an accepted notify writes nothing more
    return outcome


def _decide(session: Session, order, paid: VerifiedPayment) -> tuple[NotifyOutcome, str]:
    if paid.merchant_problem:
        return NotifyOutcome.ANOMALY, paid.merchant_problem
    if order is None:
        return NotifyOutcome.ANOMALY, "no such order"
    if not paid.success:
        return NotifyOutcome.IGNORED, "not a success status"
    if paid.amount_fen != order.amount_fen:
        return NotifyOutcome.ANOMALY, f"amount {paid.amount_fen} fen differs from the order's {order.amount_fen} fen"
    # The one transition of a notify (created or closed -> paid); a loaded order is kept in step by `move`.
    if not move(session, order.id, OrderStatus.PAID, paid_at=paid.paid_at or utcnow(),
                platform_trade_no=paid.platform_trade_no, payer=paid.payer[:64] or order.payer):
        orders = PaymentOrder.__table__
        status, trade_no = session.execute(select(orders.c.status, orders.c.platform_trade_no)
                                           .where(orders.c.id == order.id)).one()
        if trade_no not in (None, paid.platform_trade_no):
            return NotifyOutcome.ANOMALY, f"order already paid by trade {trade_no}"
        return NotifyOutcome.DUPLICATE, f"order already {status.value}"
    enqueue(session, CREDIT_ORDER, order.id)
    if order.account_status != AccountStatus.ACTIVE:
        return NotifyOutcome.ANOMALY, CLOSED  # paid and credited all the same: the credit holds it for a refund
    return NotifyOutcome.ACCEPTED, ""


def _any_site(session: Session) -> int | None:
    return session.execute(select(Site.id).order_by(Site.id).limit(1)).scalar_one_or_none()
