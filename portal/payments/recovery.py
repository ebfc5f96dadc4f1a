"""Recovery sweep: ask the platform about orders still open a few minutes on, credit or close them.

A tenant may close the page and a notify may be lost. Every minute the sweep asks the order's provider
about orders still `created` after PAY_QUERY_AFTER_MINUTES: a paid one goes through `accept_payment`
(source "query"), exactly like a notify — so a notify arriving at the same moment still credits once. An
order past its `expires_at` that the platform says is unpaid is closed at the platform, then here. A
provider with no platform to ask (the sandbox) answers None: its orders simply expire here.

Each order is handled and committed on its own: a platform error (or a database error) on one order is
logged and the sweep goes on with the next. Nothing here holds a row lock across an HTTP call; every state
change is a conditional move of the state machine (created → paid / created → closed), so two sweeps or a
sweep and a notify racing each other end in the same single outcome.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import NotifyOutcome, OrderStatus, PaymentNotification, PaymentOrder
from portal.payments.credit import credit_paid_order
from portal.payments.notify import VerifiedPayment, accept_payment
from portal.payments.orders import close_order
from portal.payments.providers.registry import provider_for
from portal.queue.names import CREDIT_ORDER
from portal.queue.outbox import enqueue
from portal.settings import current

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """What one sweep did (returned by the job, printed by `payments sweep`)."""

    queried: int = 0
    #: paid orders whose credit job was lost (a worker killed mid-job) and was queued again
    requeued: int = 0
    credited: int = 0
    closed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def open_orders(session: Session, now: datetime, limit: int | None = None) -> list[int]:
    """Ids of orders still created PAY_QUERY_AFTER_MINUTES after they were made, newest first.

    At most PAY_SWEEP_BATCH of them: the newest first, so a stuck backlog never delays fresh payments.
    """
    limits = current().payments
    cutoff = now - timedelta(minutes=limits.query_after_minutes)
    return list(session.execute(
        select(PaymentOrder.id).where(PaymentOrder.status == OrderStatus.CREATED, PaymentOrder.created_at <= cutoff)
        .order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc()).limit(limit or limits.sweep_batch)
    ).scalars())


def sweep_open_orders(session: Session, now: datetime) -> dict:
    """Query, credit or close every order left open; one order's failure never stops the others.

    Commits once per order (and once for the requeued credits), so one order's failure undoes nothing else.
    """
    result = SweepResult()
    result.requeued = requeue_stuck_credits(session, now)
    session.commit()
    for order_id in open_orders(session, now):
        try:
            outcome = recover_order(session, order_id, now)
            session.commit()
        except Exception as exc:  # a platform or database error: this order waits for the next sweep
            session.rollback()
            log.warning("recovery of order %s failed: %s", order_id, exc, exc_info=True)
            result.errors.append(f"order {order_id}: {exc}"[:300])
            continue
        if outcome is None:
            continue
        result.queried += outcome != "skipped"
        if outcome == "credited":
            result.credited += 1
        elif outcome == "closed":
            result.closed += 1
        elif outcome in ("waiting", "skipped"):
            result.waiting += 1
    if result.credited or result.closed or result.errors:
        log.info("payment sweep: %s", result.as_dict())
    return result.as_dict()


def requeue_stuck_credits(session: Session, now: datetime) -> int:
    """Queue the credit job again for orders paid but not credited for a while; returns how many.

    A worker killed in the middle of the credit job rolls its transaction back and RQ does not retry the
    job; the order stays `paid`. The credit job is idempotent, so queueing it again is always safe.
    """
    limits = current().payments  # stuck: not credited PAY_CREDIT_STUCK_SECONDS on (the job takes milliseconds)
    stuck = session.execute(
        select(PaymentOrder.id).where(PaymentOrder.status == OrderStatus.PAID,
                                      PaymentOrder.paid_at < now - timedelta(seconds=limits.credit_stuck_seconds))
        .order_by(PaymentOrder.id).limit(limits.sweep_batch)
    ).scalars().all()
    for order_id in stuck:
        enqueue(session, CREDIT_ORDER, order_id, dedupe_key=f"credit:{order_id}")
    if stuck:
        log.warning("queued the credit of %d paid orders again: %s", len(stuck), stuck)
    return len(stuck)


def recover_order(session: Session, order_id: int, now: datetime) -> str | None:
    """Settle one open order: "credited", "closed", "waiting" (open, not yet expired), "skipped", or None."""
    order = session.get(PaymentOrder, order_id)
    if order is None or order.status != OrderStatus.CREATED:
        return None  # a notify settled it since the list was read
    expired = now > order.expires_at
    provider = provider_for(order.channel)
    view = provider.query(order.out_trade_no)
    if view is None:  # no platform to ask (the sandbox); its notify may still come and is accepted after closing
        if expired and close_order(session, order):
            return "closed"
        return "skipped"
    if view.payment is not None and view.payment.success:
        return _accept(session, order, view.payment)
    if not expired or view.busy:
        return "waiting"
    if not view.dead and not provider.close(order.out_trade_no):
        # The platform refused to close: paid meanwhile, or already closed there. Ask once more.
        view = provider.query(order.out_trade_no)
        if view.payment is not None and view.payment.success:
            return _accept(session, order, view.payment)
        if view.busy:
            return "waiting"
    if close_order(session, order):
        return "closed"
    return None


def _accept(session: Session, order: PaymentOrder, payment: VerifiedPayment) -> str:
    """Credit through the notify path; an anomaly (amount, merchant) is recorded once, not every minute."""
    seen = session.execute(
        select(PaymentNotification.id).where(PaymentNotification.order_id == order.id,
                                             PaymentNotification.source == "query",
                                             PaymentNotification.outcome == NotifyOutcome.ANOMALY).limit(1)
    ).scalar_one_or_none()
    if seen is not None:
        return "waiting"
    if payment.source != "query":
        payment = VerifiedPayment(**{**asdict(payment), "source": "query"})
    outcome = accept_payment(session, payment)
    if outcome == NotifyOutcome.ACCEPTED:
        return "credited"
    if outcome == NotifyOutcome.ANOMALY:
        log.warning("order %s: the platform's answer is an anomaly (see its payment notification)", order.out_trade_no)
    return "waiting"


def settle_from_bill(session: Session, order_id: int) -> str:
    """A payment a platform's bill shows but we have not credited, settled on a manager's word through the paths
    the notify and the sweep use, so it is credited once however often it is asked for:

    - "credited": the order was paid and its credit had not run (a lost job): credited now (`credit_paid_order`);
    - "queued": open or closed here, and the platform confirms the payment: accepted as a query (the sweep's way),
      its credit queued;
    - "already": credited meanwhile (or by a concurrent request); "unpaid": the platform says it is not paid;
      "unasked": no platform to ask (the sandbox); "anomaly": the platform's answer does not match the order.
    """
    order = session.get(PaymentOrder, order_id)
    if order is None or order.status in (OrderStatus.CREDITED, OrderStatus.REFUNDED):
        return "already"
    if order.status == OrderStatus.PAID:
        return "credited" if credit_paid_order(session, order_id) else "already"
    view = provider_for(order.channel).query(order.out_trade_no)
    if view is None:
        return "unasked"
    if view.payment is None or not view.payment.success:
        return "unpaid"
    if _accept(session, order, view.payment) == "credited":
        return "queued"
    session.refresh(order, ["status"])  # a notify or another request may have moved it meanwhile
    return "already" if order.status != OrderStatus.CREATED and order.status != OrderStatus.CLOSED else "anomaly"


def close_at_platforms(session: Session, order_ids: list[int]) -> list[str]:
    """Close at their platforms orders closed here (an account's closure did), after that commit; one by one.

    The payer may still be on the pay page: a platform that refuses to close was paid meanwhile, and is asked
    once, so the payment goes through `accept_payment` now (held for a refund, the account being closed)
    rather than wait for a notify that may be lost. A platform that cannot be reached is logged and left: its
    late notify is still accepted and held. Commits once per order, as the sweep does; returns the errors.
    """
    errors = []
    for order_id in order_ids:
        order = session.get(PaymentOrder, order_id)
        if order is None or order.status != OrderStatus.CLOSED:
            continue
        try:
            provider = provider_for(order.channel)
            if not provider.close(order.out_trade_no):
                view = provider.query(order.out_trade_no)
                if view is not None and view.payment is not None and view.payment.success:
                    _accept(session, order, view.payment)
            session.commit()
        except Exception as exc:  # a platform or database error: the late notify path still holds the money
            session.rollback()
            log.warning("closing order %s at its platform failed: %s", order.out_trade_no, exc, exc_info=True)
            errors.append(f"{order.out_trade_no}: {exc}"[:300])
    return errors
