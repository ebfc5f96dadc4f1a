"""Money that arrived where it may not stay: a payment for a closed account, or one above the site's maximum.

Money already paid is never refused. It is credited like any other payment (the ledger keeps every fen the
platforms took), flagged with a payment-anomaly alarm, and a refund of what may not stay is proposed for a
manager to approve in the queue of `portal.payments.refunds` (the `/staff/approvals` page lists it). A closed
account's payment goes no further: no purchase for its meters, no supply restored.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.alarms import raise_alarm
from portal.audit import audit
from portal.models import Account, AccountStatus, AlarmKind, ControlMode, PaymentOrder, Refund, utcnow
from portal.money import format_yuan
from portal.notify.alarms import tell_raised
from portal.notify.approvals import tell_waiting

#: who asks for a refund the platform proposes itself
HELD_ACTOR = "system:held"


def new_out_refund_no() -> str:
    """A refund request number: RF + UTC time + 10 random digits (both platforms accept up to 64)."""
    return "RF" + utcnow().strftime("%y%m%d%H%M") + f"{secrets.randbelow(10**10):010d}"


def above_cap_fen(account: Account) -> int:
    """How far the balance is above the site's maximum (囤积), 0 when it is not (or there is none)."""
    cap = account.site.max_balance_fen
    return 0 if cap is None else max(account.balance_fen - cap, 0)


def hold_for_refund(session: Session, order: PaymentOrder, account: Account, amount_fen: int,
                    why: str) -> Refund | None:
    """Flag a credited payment that may not stay (an alarm) and propose sending `amount_fen` of it back.

    At most one proposal per order. A meter-mode shop that is still open keeps its money in its meter,
    which a platform refund cannot reach: the alarm says so and nothing is proposed.
    """
    meter_mode = any(m.control_mode == ControlMode.METER for m in account.meters)
    refundable = account.status != AccountStatus.ACTIVE or not meter_mode
    opened = raise_alarm(
        session, AlarmKind.PAYMENT_ANOMALY, f"order:{order.id}", account.site_id,
        f"{order.out_trade_no} for {account.code}: {why}; "
        + (f"refund of ¥{format_yuan(amount_fen)} proposed" if refundable else "settle it at closure"),
        data=dict(what="payment_held", order=order.out_trade_no, account=account.code, why=why,
                  refund_fen=amount_fen if refundable else None),
        account_id=account.id)
    tell_raised(session, [opened])
    audit(session, HELD_ACTOR, "payment.held", "payment_order", order.id, account.site_id,
          amount_fen=amount_fen, why=why)
    if not refundable or amount_fen <= 0:
        return None
    if session.scalar(select(Refund.id).where(Refund.order_id == order.id, Refund.requested_by == HELD_ACTOR)):
        return None  # proposed already (a rerun of the credit job)
    refund = Refund(order_id=order.id, out_refund_no=new_out_refund_no(), amount_fen=amount_fen,
                    reason=why[:200], requested_by=HELD_ACTOR)
    session.add(refund)
    session.flush()
    audit(session, HELD_ACTOR, "refund.requested", "refund", refund.id, account.site_id,
          out_trade_no=order.out_trade_no, amount_fen=amount_fen, reason=why[:200])
    tell_waiting(session, account.site_id, "refund", f"refund:{refund.id}", shop=account.code,
                 amount_fen=amount_fen, actor=HELD_ACTOR, account_id=account.id)
    return refund
