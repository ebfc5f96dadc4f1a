"""Crediting: a paid order becomes one ledger entry, then money reaches the meters and supply returns.

Money already paid is never refused: a payment for a closed account, or one that lifts the balance above the
site's maximum, is credited all the same and held for a refund (`portal.payments.held`). An open shop is told
of each payment and counter recharge credited (once per ledger entry).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.control.balance import enforce_balance
from portal.control.commands import queue_money
from portal.control.emergency import repay_first
from portal.ledger.entries import Posted, post_entry
from portal.models import Account, AccountStatus, ControlMode, EntryKind, LedgerEntry, OrderStatus, PaymentOrder, utcnow
from portal.notify.params import money, word
from portal.notify.route import tell_shop
from portal.payments.held import above_cap_fen, hold_for_refund
from portal.payments.orders import AccountClosed, PaymentError, cap_room_fen
from portal.payments.states import move

#: the reasons a payment is held, as the refund proposal and the alarm say them
CLOSED_REASON = "paid after the account was closed"
ABOVE_CAP_REASON = "above the site's maximum balance"


def credit_paid_order(session: Session, order_id: int) -> bool:
    """Credit a paid order exactly once (safe to run any number of times, concurrently too)."""
    order = session.execute(select(PaymentOrder).where(PaymentOrder.id == order_id).with_for_update()
                            ).scalar_one_or_none()
    if order is None or order.status != OrderStatus.PAID:
        return False
    key, account = f"payment:{order.out_trade_no}", order.account
    posted = post_entry(session, order.account_id, order.amount_fen, EntryKind.PAYMENT, key,
                        memo=f"{order.channel.value} {order.platform_trade_no or ''}",
                        actor=f"pay:{order.channel.value}", order_id=order.id)
    # Locked above and seen paid, so this move cannot lose; only paid -> credited counts as a credit.
    move(session, order.id, OrderStatus.CREDITED, allowed_from=(OrderStatus.PAID,), credited_at=utcnow())
    session.refresh(account, ["balance_fen", "status"])
    if account.status != AccountStatus.ACTIVE:
        # A closed account accepts no money: nothing reaches its meters, supply stays off; it waits for its refund.
        hold_for_refund(session, order, account, order.amount_fen, CLOSED_REASON)
        return True
    after_money_in(session, account, order.amount_fen, key, actor=f"pay:{order.channel.value}")
    over = above_cap_fen(account)  # open orders paid together can pass the cap that each one respected
    if over:
        hold_for_refund(session, order, account, min(over, order.amount_fen), ABOVE_CAP_REASON)
    tell_credited(session, account, posted.entry, order.channel.value)
    return True


def tell_credited(session: Session, account: Account, entry: LedgerEntry, channel: str) -> None:
    """Tell the shop that money it paid is on its account (once per entry), with the balance it has now."""
    tell_shop(session, account.id, "payment_credited", f"entry:{entry.id}", {
        "shop": account.code, "shop_name": account.name, "amount": money(entry.amount_fen),
        "channel": word("paid", channel), "balance": money(account.balance_fen)})


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


def post_cash(session: Session, account: Account, amount_fen: int, note: str, actor: str, key: str,
              method: str | None = None) -> Posted:
    """A counter recharge (cash, transfer, or by API), once per key cash:<key>; the account must be open and the
    site's balance cap (counting orders still open) must hold. A repeat of the key gets the entry it made."""
    first_time = session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"cash:{key}")) is None
    if first_time:
        if account.status != AccountStatus.ACTIVE:
            raise AccountClosed(f"account {account.code} is closed")
        room = cap_room_fen(session, account)
        if room is not None and amount_fen > room:
            raise PaymentError(f"this recharge would take the balance above the site's limit of "
                               f"{account.site.max_balance_fen} fen (orders still open count)")
    posted = post_entry(session, account, amount_fen, EntryKind.CASH, f"cash:{key}", memo=note, actor=actor,
                        method=method)
    if posted.created:
        after_money_in(session, account, amount_fen, f"cash:{key}", actor)
        tell_credited(session, account, posted.entry, method or "cash")
    return posted


def cash_recharge(session: Session, account: Account, amount_fen: int, note: str, actor: str, key: str,
                  method: str | None = None) -> LedgerEntry:
    """A counter recharge by a cashier, once per key (see `post_cash`); its entry."""
    return post_cash(session, account, amount_fen, note, actor, key, method).entry
