"""Creating and closing payment orders; amounts are integer fen and checked before anything is sent."""
from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Account, AccountStatus, Channel, OrderStatus, PaymentOrder, utcnow
from portal.payments.states import move
from portal.settings import current


class PaymentError(Exception):
    """A payment request that cannot go ahead; the message is for the person paying."""


class AccountClosed(PaymentError):
    """The account is closed: it accepts no money."""


#: orders whose money is on its way: not yet paid, or paid and not yet credited
OPEN_STATUSES = (OrderStatus.CREATED, OrderStatus.PAID)


def open_orders_fen(session: Session, account_id: int) -> int:
    """The sum of the account's orders still open (created, or paid and not yet credited)."""
    return int(session.scalar(select(func.coalesce(func.sum(PaymentOrder.amount_fen), 0)).where(
        PaymentOrder.account_id == account_id, PaymentOrder.status.in_(OPEN_STATUSES))))


def cap_room_fen(session: Session, account: Account) -> int | None:
    """How much more may come in under the site's maximum balance (囤积), counting open orders; None: no cap."""
    cap = account.site.max_balance_fen
    if cap is None:
        return None
    return cap - account.balance_fen - open_orders_fen(session, account.id)


def new_out_trade_no() -> str:
    """A merchant order number: PF + UTC time + 10 random digits (22 characters, both platforms accept it)."""
    return "PF" + utcnow().strftime("%y%m%d%H%M") + f"{secrets.randbelow(10**10):010d}"


def check_amount(account: Account, amount_fen, open_fen: int = 0) -> int:
    """Refuse non-integers, amounts outside the limits, closed accounts, and payments above the site's balance
    cap (囤积) counted over the balance and the `open_fen` of orders still open."""
    if type(amount_fen) is not int:
        raise PaymentError("amount_fen must be an integer number of fen")
    limits = current().payments
    if not limits.min_fen <= amount_fen <= limits.max_fen:
        raise PaymentError(f"amount must be between {limits.min_fen} and {limits.max_fen} fen")
    if account.status != AccountStatus.ACTIVE:
        raise AccountClosed(f"account {account.code} is closed")
    cap = account.site.max_balance_fen
    if cap is not None and account.balance_fen + open_fen + amount_fen > cap:
        raise PaymentError(f"this payment would take the balance above the site's limit of {cap} fen"
                           + (" (orders still open count)" if open_fen else ""))
    return amount_fen


def create_order(session: Session, account: Account, amount_fen, channel: Channel | str, actor: str,
                 payer: str = "") -> PaymentOrder:
    """A new order in state `created`; the channel module then asks the platform for pay data."""
    # Hold the account row: two orders made at once must each count the other against the cap.
    session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    session.refresh(account, ["balance_fen", "status"])
    check_amount(account, amount_fen, open_orders_fen(session, account.id))
    order = PaymentOrder(out_trade_no=new_out_trade_no(), account_id=account.id, amount_fen=amount_fen,
                         channel=Channel(channel), created_by=actor, payer=payer,
                         expires_at=utcnow() + timedelta(minutes=current().payments.order_ttl_minutes))
    session.add(order)
    session.flush()
    audit(session, actor, "order.created", "payment_order", order.id, account.site_id,
          amount_fen=amount_fen, channel=order.channel.value)
    return order


def close_order(session: Session, order: PaymentOrder, actor: str = "system:expiry") -> bool:
    """Mark an unpaid order closed (after the platform closed it); False when it was paid meanwhile."""
    done = move(session, order.id, OrderStatus.CLOSED, closed_at=utcnow())  # keeps `order` in step
    if done:
        # the site, so the site's staff find it in the audit log (the account is usually in the identity map)
        audit(session, actor, "order.closed", "payment_order", order.id, session.get(Account, order.account_id).site_id)
    return done
