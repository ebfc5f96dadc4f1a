"""Closing an account (销户): the final settlement, paid out in cash, and everything that stops with it.

The debts come first (emergency credit, fee arrears), the rest of the balance is paid out, the meters are
tripped, the orders still open are closed, and the account takes no more money. It runs inside the caller's
transaction; at the counter it needs a manager's approval (portal.approvals).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.commands import command_meter
from portal.control.emergency import repay_first
from portal.counter.guards import CounterError, require_active, take_from_meter
from portal.ledger.entries import post_entry
from portal.metering.swap import books_at
from portal.models import (
    Account,
    AccountStatus,
    CommandStatus,
    ControlCommand,
    ControlMode,
    EntryKind,
    LedgerEntry,
    Meter,
    OrderStatus,
    PaymentOrder,
    Refund,
    RefundStatus,
    utcnow,
)
from portal.models.meter import SWITCHABLE_PROFILES
from portal.money import format_yuan
from portal.payments.orders import close_order


@dataclass(frozen=True)
class Closure:
    """What closing an account did: the cash paid out (its receipt), the meters tripped, the orders closed."""

    settlement: LedgerEntry | None
    payout_fen: int
    tripped: list[str]
    #: orders still open, closed here; `portal.payments.recovery.close_at_platforms` closes them there after commit
    closed_orders: list[int] = field(default_factory=list)


def closure_payout(session: Session, account: Account, meter_remaining_fen: int | None = None) -> int:
    """What closing the account would pay out now, refused as the closure itself would be; changes nothing."""
    require_active(account)
    if session.scalar(select(func.count()).select_from(Refund).join(PaymentOrder).where(
            Refund.status.in_((RefundStatus.REQUESTED, RefundStatus.APPROVED)), PaymentOrder.account_id == account.id)):
        raise CounterError(_l("Finish the open refund requests of this account first."))
    if session.scalar(select(PaymentOrder.id).where(PaymentOrder.account_id == account.id,
                                                    PaymentOrder.status == OrderStatus.PAID).limit(1)):
        raise CounterError(_l("A payment of this account is being credited; try again in a minute."))
    meter_mode = [m for m in account.meters if m.control_mode == ControlMode.METER]
    gross = account.balance_fen
    if meter_mode:
        if meter_remaining_fen is None or meter_remaining_fen < 0:
            raise CounterError(_l("Enter the remaining amount read off the meter."))
        gross = min(gross, meter_remaining_fen + _unwritten(session, meter_mode))
    if gross < 0:
        raise CounterError(_l("The balance is ¥%(owed)s in arrears: collect it with a recharge before closing.",
                              owed=format_yuan(-gross)))
    owed = account.emergency_owed_fen + account.fee_arrears_fen
    if gross < owed:  # the payout never hands out emergency credit or leaves a fee unpaid
        raise CounterError(_l("The shop still owes ¥%(owed)s of emergency credit and property fees: collect it "
                              "with a recharge before closing.", owed=format_yuan(owed - gross)))
    return gross - owed


def close_account(session: Session, account: Account, reason: str, actor: str,
                  meter_remaining_fen: int | None = None) -> Closure:
    """Final settlement: repay what the shop owes, pay the rest out in cash (SETTLEMENT to zero), trip the
    meters, close the orders still open, close the account.

    A meter-mode shop's money is in its meter: the cashier reads the remaining amount off the meter
    (`meter_remaining_fen`); purchases the platform never wrote are added, the rest of the balance was
    consumed in the meter and is recorded as such before the payout. Emergency credit still owed and fee
    arrears are repaid from the balance first, as from any money in.
    """
    # Hold the account row: a payment credited meanwhile must not slip past the settlement.
    session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    session.refresh(account, ["balance_fen", "status", "emergency_owed_fen", "fee_arrears_fen"])
    payout = closure_payout(session, account, meter_remaining_fen)
    meter_mode = [m for m in account.meters if m.control_mode == ControlMode.METER]
    gross = account.balance_fen
    if meter_mode:
        gross = min(gross, meter_remaining_fen + _supersede_purchases(session, meter_mode))
        consumed = account.balance_fen - gross
        if consumed:
            post_entry(session, account, -consumed, EntryKind.ADJUSTMENT, f"closure-consumed:{account.id}",
                       memo="consumed in the meter (meter mode), by its final reading", actor=actor)
    if gross > payout:
        repay_first(session, account, gross, f"closure:{account.id}", actor)
    settlement = None
    if payout:
        settlement = post_entry(session, account, -payout, EntryKind.SETTLEMENT, f"settlement:{account.id}",
                                memo=(reason or "closure")[:200], actor=actor).entry
    if meter_mode:
        # the books stand at what the cashier read off the meter (what it used since was posted just above),
        # and the money paid out leaves the meter too: the meter and the ledger both end at zero
        books_at(meter_mode[0], meter_remaining_fen, utcnow())
        take_from_meter(session, account, meter_remaining_fen, f"closure:{account.id}", actor, "closure")
    tripped = []
    for meter in account.meters:
        if meter.profile not in SWITCHABLE_PROFILES:
            continue
        if meter.keep_power:
            command_meter(session, meter, "keep_power_off", actor, "closure")
        command_meter(session, meter, "trip", actor, "closure")
        meter.desired_reason = "closure"
        tripped.append(meter.code)
    # A closed account accepts no money: its orders still open are closed here, then at their platforms.
    closed = [o.id for o in session.scalars(select(PaymentOrder).where(
        PaymentOrder.account_id == account.id, PaymentOrder.status == OrderStatus.CREATED))
        if close_order(session, o, actor)]
    account.status, account.closed_at = AccountStatus.CLOSED, utcnow()
    audit(session, actor, "counter.closure", "account", account.id, account.site_id,
          payout_fen=payout, tripped=tripped, closed_orders=closed, reason=(reason or "")[:200])
    return Closure(settlement, payout, tripped, closed)


def _unwritten(session: Session, meters: list[Meter]) -> int:
    """The sum of purchases not yet written into these meters (money the meter never got)."""
    return sum(payload["amount_fen"] for payload in session.scalars(select(ControlCommand.payload).where(
        ControlCommand.meter_id.in_([m.id for m in meters]), ControlCommand.action == "purchase",
        ControlCommand.status == CommandStatus.PENDING)))


def _supersede_purchases(session: Session, meters: list[Meter]) -> int:
    """Cancel purchases not yet written into the meters; returns their sum (money the meter never got)."""
    total = 0
    for cmd in session.scalars(select(ControlCommand).where(
            ControlCommand.meter_id.in_([m.id for m in meters]), ControlCommand.action == "purchase",
            ControlCommand.status == CommandStatus.PENDING).with_for_update()):
        total += cmd.payload["amount_fen"]
        cmd.status, cmd.error = CommandStatus.SUPERSEDED, "account closed"
    return total


