"""Accepting a verified payment notification: business checks, one state transition, an outbox row.

Signature verification happens in the providers (by the SDKs); they hand over a `VerifiedPayment`.
Everything here runs in one transaction: the order moves from created (or closed) to paid at most once
(`states.move`), and the credit job is written to the outbox in the same commit — so Redis being down
neither loses nor blocks a credit, and any number of duplicate or concurrent notifies credit once.

A payment for an account closed meanwhile is real money all the same: it moves to paid and is credited, but
the notify is recorded as an anomaly (a staff alarm), and the credit holds it for a refund (`held`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.alarms import raise_alarm
from portal.bulk import postgresql
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
from portal.payments.states import keep_in_step, move, move_by_trade, sources_sql
from portal.pool import alone as statement_alone
from portal.queue.names import CREDIT_ORDER
from portal.queue.outbox import committed_alone, enqueue, insert_for_each

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

    The usual notify, a first success for an order of that amount, is one statement on PostgreSQL, committed on
    its own (`_accept_at_once`); a platform's repeat of it is one more (`_repeat_at_once`). Any other (a wrong
    amount or trade, no such order, a failed status, a repeat racing the first) writes nothing there and is decided
    here step by step, in Core statements; an order already loaded in the session is kept in step with what the
    database now holds.
    """
    if paid.success and not paid.merchant_problem and postgresql(session):
        outcome = _accept_at_once(session, paid, raw, headers) or _repeat_at_once(session, paid, raw, headers)
        if outcome is not None:
            return outcome
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
        _alarm(session, paid, reason, note_id, order.id if order else None, order.account_id if order else None)
    return outcome


#: the columns a notify's one statement writes of its notification (`_NOTE`, `_REPEAT`)
_NOTE_COLUMNS = ("source, received_at, outcome, reason, out_trade_no, platform_trade_no, amount_fen, order_id, raw, "
                 "headers")
#: the notification the usual notify writes with its move to paid, in the same statement (accepted, or an anomaly when
#: the shop was closed meanwhile); the credit job's outbox row goes with it (`outbox.insert_for_each`)
_NOTE = (f"INSERT INTO payment_notifications ({_NOTE_COLUMNS}) SELECT %(source)s, %(now)s, CASE WHEN moved.active THEN "
         f"'{NotifyOutcome.ACCEPTED.value}' ELSE '{NotifyOutcome.ANOMALY.value}' END, CASE WHEN moved.active THEN '' "
         "ELSE %(closed)s END, %(out_trade_no)s, %(trade_no)s, %(amount_fen)s, moved.id, %(raw)s, "
         "CAST(%(headers)s AS json) FROM moved RETURNING id")


def _accept_at_once(session: Session, paid: VerifiedPayment, raw: str, headers: dict | None) -> NotifyOutcome | None:
    """The usual notify in one round trip, committed as it returns (a statement of its own: no BEGIN, no COMMIT),
    its credit job handed over at once; None when it moved nothing (the caller decides why)."""
    now = utcnow()
    trade_no = paid.platform_trade_no[:64]
    box, box_params = insert_for_each("moved", CREDIT_ORDER, "json_build_array(moved.id)")
    row = move_by_trade(
        session, paid.out_trade_no, OrderStatus.PAID, amount_fen=paid.amount_fen,
        values=dict(paid_at=paid.paid_at or now, platform_trade_no=trade_no, payer=paid.payer[:64] or None),
        then={"box": box, "note": _NOTE}, params=dict(
            box_params, outbox_created_at=now, now=now, source=paid.source, closed=CLOSED,
            out_trade_no=paid.out_trade_no[:64], trade_no=trade_no, amount_fen=paid.amount_fen, raw=raw[:RAW_LIMIT],
            headers=None if headers is None else json.dumps(headers)), alone=True)
    if row is None:
        return None
    committed_alone(row.box, CREDIT_ORDER, [row.id])
    if row.active:
        return NotifyOutcome.ACCEPTED
    # paid and credited all the same: the credit holds it for a refund
    _alarm(session, paid, CLOSED, row.note, row.id, row.account_id)
    return NotifyOutcome.ANOMALY


#: the notification of a repeat: written only for an order this trade (or a query that recorded no trade) already
#: moved past paid, for the same amount; `_decide`'s duplicate, in one statement
_REPEAT = (f"INSERT INTO payment_notifications ({_NOTE_COLUMNS}) "
           f"SELECT %(source)s, %(now)s, '{NotifyOutcome.DUPLICATE.value}', "
           "'order already ' || CAST(o.status AS text), %(note_out_trade_no)s, %(note_trade_no)s, %(amount_fen)s, "
           "o.id, %(raw)s, CAST(%(headers)s AS json) FROM payment_orders AS o WHERE o.out_trade_no = %(out_trade_no)s "
           f"AND o.amount_fen = %(amount_fen)s AND o.status NOT IN ({sources_sql(OrderStatus.PAID)}) "
           "AND (o.platform_trade_no IS NULL OR o.platform_trade_no = %(platform_trade_no)s) RETURNING order_id")


def _repeat_at_once(session: Session, paid: VerifiedPayment, raw: str, headers: dict | None) -> NotifyOutcome | None:
    """A notify repeated after its order moved on, recorded in one statement committed as it returns (nothing is
    moved, nothing handed over; an order loaded in the session is expired, as `_decide`'s move does); None when
    the order is not such a one. A repeat racing the first notify reads the order as it was before that one
    committed, writes nothing here and is decided by `_decide`."""
    row = statement_alone(session, _REPEAT, dict(
        source=paid.source, now=utcnow(), note_out_trade_no=paid.out_trade_no[:64],
        note_trade_no=paid.platform_trade_no[:64], amount_fen=paid.amount_fen, raw=raw[:RAW_LIMIT],
        headers=None if headers is None else json.dumps(headers), out_trade_no=paid.out_trade_no,
        platform_trade_no=paid.platform_trade_no))
    if row is None:
        return None
    keep_in_step(session, row.order_id)
    return NotifyOutcome.DUPLICATE


def _alarm(session: Session, paid: VerifiedPayment, reason: str, note_id: int, order_id: int | None,
           account_id: int | None) -> None:
    """The staff alarm of an anomalous notify: one per order whose money is held (the credit job raises the same
    one), else one per notify."""
    site_id = (session.scalar(select(Account.site_id).where(Account.id == account_id)) if account_id
               else _any_site(session))
    subject = f"order:{order_id}" if reason == CLOSED else f"notify:{note_id}"
    if site_id is not None:
        opened = raise_alarm(
            session, AlarmKind.PAYMENT_ANOMALY, subject, site_id,
            f"{paid.source} notify for {paid.out_trade_no}: {reason}",
            data=dict(what="notify_anomaly", source=paid.source, order=paid.out_trade_no, why=reason),
            account_id=account_id)
        tell_raised(session, [opened])  # anomalies are rare: an accepted notify writes nothing more


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
