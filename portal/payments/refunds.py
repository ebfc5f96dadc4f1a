"""Refunds of platform payments: a cashier asks, a manager approves, the platform pays back, the ledger follows.

States (portal.models.Refund): requested → rejected | approved → succeeded | failed. Approving is its
own transaction; the platform call comes after that commit (`send_refund`), and its answer is
recorded in a third. The platform refunds one out_refund_no at most once, and the ledger entry's key
is refund:<out_refund_no>, so sending again after a lost answer is always safe.

This is maker-checker like the proposals of portal.approvals (and listed on the same /staff/approvals page):
the manager who approves is never the one who asked. What may be refunded is the balance less the emergency
credit still owed and the fee arrears (`refundable_balance_fen`): a refund never pays out money the shop owes.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.balance import enforce_balance
from portal.ledger.entries import post_entry
from portal.models import (
    Account,
    AccountStatus,
    ControlMode,
    EntryKind,
    LedgerEntry,
    NotifyOutcome,
    OrderStatus,
    PaymentNotification,
    PaymentOrder,
    Refund,
    RefundStatus,
    utcnow,
)
from portal.money import format_yuan
from portal.notify.approvals import tell_waiting
from portal.payments.held import new_out_refund_no
from portal.payments.providers.base import RefundAnswer, RefundNotice
from portal.payments.providers.registry import ChannelUnavailable, can_refund, configured
from portal.payments.states import move

OPEN = (RefundStatus.REQUESTED, RefundStatus.APPROVED)
#: why a payment of a channel without refunds (the demo sandbox) is never refunded
#: how a refund's recorded error begins when its channel is not set up in this installation (it names settings)
NOT_SET_UP = "channel unavailable"
NO_REFUNDS = _l("This payment's channel cannot send money back (the demo's payment sandbox moved no money), so it "
                "cannot be refunded.")


class RefundRefused(Exception):
    """A refund request, decision or send that is refused; the message (translatable) is for the staff member."""


def refundable_fen(session: Session, order: PaymentOrder) -> int:
    """What may still be asked back on an order: its amount less refunded and open requests."""
    open_sum = session.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0))
                              .where(Refund.order_id == order.id, Refund.status.in_(OPEN)))
    return order.amount_fen - order.refunded_fen - int(open_sum)


def _account_open_sum(session: Session, account_id: int, but: int | None = None) -> int:
    q = (select(func.coalesce(func.sum(Refund.amount_fen), 0)).join(PaymentOrder)
         .where(PaymentOrder.account_id == account_id, Refund.status.in_(OPEN)))
    if but is not None:
        q = q.where(Refund.id != but)
    return int(session.scalar(q))


def refundable_balance_fen(session: Session, account: Account, but: int | None = None) -> int:
    """What the account's balance can still give back: balance − emergency credit owed − fee arrears − open
    requests (but the refund `but`); never below zero."""
    session.refresh(account, ["balance_fen", "emergency_owed_fen", "fee_arrears_fen"])
    left = (account.balance_fen - account.emergency_owed_fen - account.fee_arrears_fen
            - _account_open_sum(session, account.id, but=but))
    return max(left, 0)


def _check(session: Session, order: PaymentOrder, amount_fen: int, refund_id: int | None = None) -> None:
    account: Account = order.account
    if not can_refund(order.channel):
        raise RefundRefused(NO_REFUNDS)
    if order.status != OrderStatus.CREDITED:
        raise RefundRefused(_l("Only a credited payment can be refunded (this one is %(status)s).",
                              status=order.status.value))
    # once closed, the meter no longer holds the shop's money: a payment held since goes back by the platform
    if account.status == AccountStatus.ACTIVE and any(m.control_mode == ControlMode.METER for m in account.meters):
        raise RefundRefused(_l("This shop's money is in its meter-mode meter; it is settled at closure, not "
                              "refunded."))
    if type(amount_fen) is not int or amount_fen <= 0:
        raise RefundRefused(_l("The amount must be more than zero."))
    left = order.amount_fen - order.refunded_fen - int(session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0))
        .where(Refund.order_id == order.id, Refund.status.in_(OPEN), Refund.id != (refund_id or 0))))
    if amount_fen > left:
        raise RefundRefused(_l("At most ¥%(left)s of this payment can still be refunded.", left=format_yuan(left)))
    available = refundable_balance_fen(session, account, but=refund_id)
    if amount_fen > available:
        raise RefundRefused(_l("The balance covers only ¥%(left)s of refunds (emergency credit owed and fee "
                              "arrears are not refunded).", left=format_yuan(available)))


def request_refund(session: Session, order: PaymentOrder, amount_fen: int, reason: str, actor: str) -> Refund:
    """A cashier asks to send part or all of a credited payment back (a manager decides, the staff are told)."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundRefused(_l("Give the reason for the refund."))
    session.execute(select(PaymentOrder.id).where(PaymentOrder.id == order.id).with_for_update())
    session.refresh(order)
    _check(session, order, amount_fen)
    refund = Refund(order_id=order.id, out_refund_no=new_out_refund_no(), amount_fen=amount_fen,
                    reason=reason[:200], requested_by=actor)
    session.add(refund)
    session.flush()
    audit(session, actor, "refund.requested", "refund", refund.id, order.account.site_id,
          out_trade_no=order.out_trade_no, amount_fen=amount_fen, reason=reason[:200])
    tell_waiting(session, order.account.site_id, "refund", f"refund:{refund.id}", shop=order.account.code,
                 amount_fen=amount_fen, actor=actor, account_id=order.account_id)
    return refund


def _lock(session: Session, refund: Refund) -> Refund:
    session.execute(select(Refund.id).where(Refund.id == refund.id).with_for_update())
    session.refresh(refund)
    return refund


def reject_refund(session: Session, refund: Refund, note: str, actor: str) -> Refund:
    """A manager says no; the note is kept on the request."""
    _lock(session, refund)
    if refund.status != RefundStatus.REQUESTED:
        raise RefundRefused(_l("This refund was already decided."))
    refund.status, refund.decided_by, refund.decided_at = RefundStatus.REJECTED, actor, utcnow()
    refund.error = f"rejected: {note.strip()}"[:300] if note and note.strip() else "rejected"
    audit(session, actor, "refund.rejected", "refund", refund.id, refund.order.account.site_id, note=note[:200])
    return refund


def approve_refund(session: Session, refund: Refund, actor: str) -> Refund:
    """A manager says yes (limits checked again: the balance may have moved); commit, then `send_refund`."""
    _lock(session, refund)
    if refund.status != RefundStatus.REQUESTED:
        raise RefundRefused(_l("This refund was already decided."))
    if refund.requested_by == actor:
        raise RefundRefused(_l("You asked for this refund: another manager approves it."))
    order = refund.order
    session.execute(select(PaymentOrder.id).where(PaymentOrder.id == order.id).with_for_update())
    session.refresh(order)
    _check(session, order, refund.amount_fen, refund_id=refund.id)
    refund.status, refund.decided_by, refund.decided_at = RefundStatus.APPROVED, actor, utcnow()
    audit(session, actor, "refund.approved", "refund", refund.id, order.account.site_id, amount_fen=refund.amount_fen)
    return refund


def send_refund(session: Session, refund: Refund, actor: str) -> Refund:
    """Ask the platform to pay an approved (or failed) refund back and record its answer.

    Refused → failed, with the platform's words. No answer at all (network) → stays approved with the
    error noted: the platform may have done it, and sending the same request again is safe.
    """
    if refund.status == RefundStatus.FAILED:
        refund.status = RefundStatus.APPROVED  # a manager's retry of the same request number
    if refund.status != RefundStatus.APPROVED:
        raise RefundRefused(_l("Only an approved refund can be sent."))
    order = refund.order
    if not can_refund(order.channel):
        raise RefundRefused(NO_REFUNDS)
    try:
        answer = platform_refund(order, refund.out_refund_no, refund.amount_fen, refund.reason)
    except ChannelUnavailable as exc:
        answer = RefundAnswer(False, f"{NOT_SET_UP}: {exc}")
    except Exception as exc:  # transport trouble: the outcome is unknown, keep it sendable
        _lock(session, refund)
        refund.error = f"no answer from the platform ({type(exc).__name__}: {exc}); send again"[:300]
        audit(session, actor, "refund.unanswered", "refund", refund.id, order.account.site_id, error=refund.error)
        return refund
    _lock(session, refund)
    if refund.status == RefundStatus.SUCCEEDED:
        return refund  # someone else recorded it meanwhile
    if answer.ok:
        return complete_refund(session, refund, actor)
    refund.status, refund.error = RefundStatus.FAILED, (answer.error or "refused by the platform")[:300]
    audit(session, actor, "refund.failed", "refund", refund.id, order.account.site_id, error=refund.error)
    return refund


def complete_refund(session: Session, refund: Refund, actor: str) -> Refund:
    """The platform paid it back: one REFUND entry, the order's refunded sum, the refund succeeded."""
    order = refund.order
    posted = post_entry(session, order.account_id, -refund.amount_fen, EntryKind.REFUND,
                        f"refund:{refund.out_refund_no}", memo=f"{order.out_trade_no} {refund.reason}"[:200],
                        actor=actor, order_id=order.id)
    if posted.created:
        total = PaymentOrder.refunded_fen + refund.amount_fen
        move(session, order.id, OrderStatus.REFUNDED, when=total >= PaymentOrder.amount_fen, refunded_fen=total)
        enforce_balance(session, order.account, actor=actor)
    refund.status, refund.completed_at, refund.error = RefundStatus.SUCCEEDED, utcnow(), ""
    audit(session, actor, "refund.succeeded", "refund", refund.id, order.account.site_id,
          entry_id=posted.entry.id, amount_fen=refund.amount_fen)
    return refund


# --- the platform call --------------------------------------------------------------------------------------

def platform_refund(order: PaymentOrder, out_refund_no: str, amount_fen: int, reason: str) -> RefundAnswer:
    """Send one refund to the platform the order was paid on (tests replace this function)."""
    return configured(order.channel).refund(order, out_refund_no, amount_fen, reason)


def refund_notified(session: Session, notice: RefundNotice, note: PaymentNotification) -> None:
    """A verified refund notify (WeChat): settle the refund it names, once.

    SUCCESS completes a refund still waiting for its answer. A refund the platform later reports as
    failed or closed after it was booked on a PROCESSING answer gets a REVERSAL entry giving the money
    back to the shop, and becomes failed; nothing is ever edited.
    """
    refund = session.execute(select(Refund).where(Refund.out_refund_no == notice.out_refund_no)).scalar_one_or_none()
    if refund is None or refund.amount_fen != notice.refund_fen:
        note.outcome = NotifyOutcome.ANOMALY
        note.reason = (f"refund notify for {'an unknown refund' if refund is None else 'another amount'} "
                       f"{notice.out_refund_no} ({notice.refund_fen} fen)")[:300]
        return
    _lock(session, refund)
    actor = f"pay:{notice.source}"
    if notice.success:
        if refund.status != RefundStatus.SUCCEEDED:
            complete_refund(session, refund, actor)
        note.outcome, note.reason = NotifyOutcome.ACCEPTED, f"refund {refund.out_refund_no} succeeded"
        return
    note.outcome, note.reason = NotifyOutcome.ACCEPTED, f"refund {refund.out_refund_no} {notice.status}"
    if refund.status == RefundStatus.SUCCEEDED:
        _undo_refund(session, refund, actor, notice.status)
    elif refund.status == RefundStatus.APPROVED:
        refund.status, refund.error = RefundStatus.FAILED, f"the platform reported {notice.status}"[:300]
        audit(session, actor, "refund.failed", "refund", refund.id, refund.order.account.site_id, error=refund.error)


def _undo_refund(session: Session, refund: Refund, actor: str, status: str) -> None:
    """The platform did not pay back a refund booked as paid: return the money to the shop, once."""
    order = refund.order
    booked = session.execute(select(LedgerEntry).where(LedgerEntry.idempotency_key == f"refund:{refund.out_refund_no}")
                             ).scalar_one_or_none()
    if booked is not None:
        post_entry(session, order.account_id, refund.amount_fen, EntryKind.REVERSAL,
                   f"refund-failed:{refund.out_refund_no}", memo=f"refund {refund.out_refund_no} {status}"[:200],
                   actor=actor, order_id=order.id, reverses_id=booked.id)
        total = PaymentOrder.refunded_fen - refund.amount_fen
        move(session, order.id, OrderStatus.CREDITED, when=total < PaymentOrder.amount_fen, refunded_fen=total)
    refund.status, refund.error = RefundStatus.FAILED, f"the platform reported {status} after accepting it"[:300]
    audit(session, actor, "refund.reversed", "refund", refund.id, order.account.site_id, status=status)
