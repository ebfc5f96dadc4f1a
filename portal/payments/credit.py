"""Crediting: a paid order becomes one ledger entry, then money reaches the meters and supply returns."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.control.balance import enforce_balance
from portal.control.commands import queue_money
from portal.control.emergency import repay_first
from portal.ledger.entries import post_entry
from portal.models import Account, ControlMode, EntryKind, LedgerEntry, OrderStatus, PaymentOrder, utcnow
from portal.payments.orders import PaymentError
from portal.payments.states import move


def credit_paid_order(session: Session, order_id: int) -> bool:
    """Credit a paid order exactly once (safe to run any number of times, concurrently too)."""
    order = session.execute(select(PaymentOrder).where(PaymentOrder.id == order_id).with_for_update()
                            ).scalar_one_or_none()
    if order is None or order.status != OrderStatus.PAID:
        return False
    key = f"payment:{order.out_trade_no}"
    post_entry(session, order.account_id, order.amount_fen, EntryKind.PAYMENT, key,
               memo=f"{order.channel.value} {order.platform_trade_no or ''}", actor=f"pay:{order.channel.value}",
               order_id=order.id)
    # Locked above and seen paid, so this move cannot lose; only paid -> credited counts as a credit.
    move(session, order.id, OrderStatus.CREDITED, allowed_from=(OrderStatus.PAID,), credited_at=utcnow())
    after_money_in(session, order.account, order.amount_fen, key, actor=f"pay:{order.channel.value}")
    return True


def after_money_in(session: Session, account: Account, amount_fen: int, cause: str, actor: str) -> None:
    """Money arrived: write it into a meter-mode meter, and restore supply tripped for arrears."""
    session.refresh(account, ["balance_fen"])
    amount_fen = repay_first(session, account, amount_fen, cause, actor)  # emergency credit, fee arrears first
    meter_mode = [m for m in account.meters if m.control_mode == ControlMode.METER]
    if meter_mode and amount_fen > 0:
        # The shop's money lives in its (first) meter-mode meter, which trips and restores itself; an amount
        # above what one purchase carries (¥100,000) goes in as several.
        queue_money(session, meter_mode[0], amount_fen, f"purchase:{cause}", actor, "purchase")
    enforce_balance(session, account, actor=actor)


def cash_recharge(session: Session, account: Account, amount_fen: int, note: str, actor: str, key: str) -> LedgerEntry:
    """A counter recharge (cash or transfer) by a cashier, once per key; the site's balance cap holds."""
    first_time = session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"cash:{key}")) is None
    cap = account.site.max_balance_fen
    if first_time and cap is not None and account.balance_fen + amount_fen > cap:
        raise PaymentError(f"this recharge would take the balance above the site's limit of {cap} fen")
    posted = post_entry(session, account, amount_fen, EntryKind.CASH, f"cash:{key}", memo=note, actor=actor)
    if posted.created:
        after_money_in(session, account, amount_fen, f"cash:{key}", actor)
    return posted.entry
