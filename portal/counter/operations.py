"""Counter operations (收费台): recharges, reversals (冲正), account closure (销户), transfers and meter swaps (换表).

Every function works inside the caller's transaction and only flushes; the view commits. Money moves
only through `post_entry`, so each operation is exactly-once by its idempotency key, and corrections
are new entries: nothing here edits or deletes one. Refunds live in `portal.payments.refunds`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.balance import enforce_balance
from portal.control.commands import command_meter
from portal.ledger.entries import post_entry
from portal.models import (
    Account,
    AccountStatus,
    CommandStatus,
    ControlCommand,
    ControlMode,
    EntryKind,
    LedgerEntry,
    Meter,
    PaymentOrder,
    Refund,
    RefundStatus,
    Role,
    utcnow,
)
from portal.models.meter import SWITCHABLE_PROFILES
from portal.money import format_yuan
from portal.payments.credit import after_money_in, cash_recharge
from portal.payments.orders import PaymentError

#: how a counter recharge was paid; kept in the entry's key: cash:<method>:<form key>
METHODS = ("cash", "transfer")
#: one counter operation moves at most 100,000 yuan (the API's limit too)
MAX_COUNTER_FEN = 10_000_000
_YUAN = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?")
_FORM_KEY = re.compile(r"[0-9a-f]{32}")


class CounterError(Exception):
    """An operation the counter refuses; the message (translatable) is for the cashier."""


def business_day(at, tz: ZoneInfo):
    """The date in `tz` (the business time zone) of a UTC timestamp."""
    return at.astimezone(tz).date()


def method_of(entry: LedgerEntry) -> str:
    """cash, transfer, or api for a CASH entry (from its key), else the entry's kind."""
    parts = entry.idempotency_key.split(":")
    if entry.kind == EntryKind.CASH and len(parts) > 2 and parts[1] in (*METHODS, "api"):
        return parts[1]
    return entry.kind.value


def _require_active(account: Account) -> None:
    if account.status != AccountStatus.ACTIVE:
        raise CounterError(_l("Account %(code)s is closed.", code=account.code))


def _check_amount(amount_fen: int) -> None:
    if type(amount_fen) is not int or not 0 < amount_fen <= MAX_COUNTER_FEN:
        raise CounterError(_l("The amount must be between ¥0.01 and ¥100,000.00."))


# --- recharge --------------------------------------------------------------------------------------------

def counter_recharge(session: Session, account: Account, amount_fen: int, method: str, note: str, actor: str,
                     form_key: str) -> tuple[LedgerEntry, bool]:
    """A cash or bank-transfer recharge at the counter, once per form key; returns (entry, created now)."""
    if method not in METHODS:
        raise CounterError(_l("Choose cash or bank transfer."))
    if not _FORM_KEY.fullmatch(form_key or ""):
        raise CounterError(_l("This form has expired; open the counter page again."))
    _check_amount(amount_fen)
    # One form, one recharge: whichever method the first submit said, a second one lands on its receipt.
    existing = session.scalar(select(LedgerEntry).where(
        LedgerEntry.idempotency_key.in_([f"cash:{m}:{form_key}" for m in METHODS])))
    if existing is not None:
        if existing.account_id != account.id or existing.amount_fen != amount_fen:
            raise CounterError(_l("This form was already sent (receipt %(no)s); open a new one for another "
                                  "recharge.", no=existing.id))
        return existing, False
    _require_active(account)
    try:
        entry = cash_recharge(session, account, amount_fen, note[:200], actor, f"{method}:{form_key}")
    except PaymentError:
        raise CounterError(_l("This recharge would take the balance above the site's limit (囤积).")) from None
    audit(session, actor, "counter.recharge", "ledger_entry", entry.id, account.site_id,
          account=account.code, amount_fen=amount_fen, method=method)
    return entry, True


# --- reversal (冲正) ---------------------------------------------------------------------------------------

def may_reverse(role: Role, actor: str, entry: LedgerEntry, tz: ZoneInfo, now=None) -> bool:
    """Who may reverse a counter entry: a manager (or admin) any time; a cashier only their own, the same day.

    The same-day rule keeps a cashier's corrections inside the day they balance their drawer; anything
    older changes a closed day's report and needs a manager.
    """
    if entry.kind != EntryKind.CASH:
        return False
    if role in (Role.MANAGER, Role.ADMIN):
        return True
    now = now or utcnow()
    return role == Role.CASHIER and entry.actor == actor and business_day(entry.created_at, tz) == business_day(now, tz)


def reversal_of(session: Session, entry: LedgerEntry) -> LedgerEntry | None:
    """The entry that reversed this one, if any."""
    return session.scalar(select(LedgerEntry).where(LedgerEntry.reverses_id == entry.id))


def reverse_entry(session: Session, entry: LedgerEntry, reason: str, actor: str) -> LedgerEntry:
    """冲正: a new REVERSAL entry of the opposite amount pointing at the original (at most one, by a unique key)."""
    if entry.kind != EntryKind.CASH:
        raise CounterError(_l("Only counter recharges can be reversed here."))
    reason = (reason or "").strip()
    if not reason:
        raise CounterError(_l("Give the reason for the reversal."))
    account = session.get(Account, entry.account_id)
    _require_active(account)
    done = reversal_of(session, entry)
    if done is not None:
        raise CounterError(_l("Receipt %(no)s was already reversed by receipt %(by)s.", no=entry.id, by=done.id))
    _cancel_unwritten_purchase(session, entry)
    posted = post_entry(session, account, -entry.amount_fen, EntryKind.REVERSAL, f"reversal:{entry.id}",
                        memo=reason[:200], actor=actor, reverses_id=entry.id)
    if not posted.created:  # a concurrent request reversed it a moment ago
        raise CounterError(_l("Receipt %(no)s was already reversed by receipt %(by)s.", no=entry.id,
                              by=posted.entry.id))
    enforce_balance(session, account, actor=actor)
    audit(session, actor, "counter.reversal", "ledger_entry", posted.entry.id, account.site_id,
          reverses=entry.id, amount_fen=-entry.amount_fen, reason=reason[:200])
    return posted.entry


def _cancel_unwritten_purchase(session: Session, entry: LedgerEntry) -> None:
    # In a meter-mode shop the recharge became a purchase for its meter; once written, the money is in the
    # meter and a ledger reversal alone would be a lie, so that is refused. Not yet written: cancelled.
    cmd = session.scalar(select(ControlCommand).where(
        ControlCommand.idempotency_key == f"purchase:{entry.idempotency_key}").with_for_update())
    if cmd is None:
        return
    if cmd.status == CommandStatus.APPLIED:
        raise CounterError(_l("This recharge is already written into meter-mode meter %(meter)s; it cannot be "
                              "reversed at the counter.", meter=cmd.meter.code))
    if cmd.status == CommandStatus.PENDING:
        cmd.status, cmd.error = CommandStatus.SUPERSEDED, "recharge reversed"


# --- closure (销户) -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Closure:
    """What closing an account did: the cash paid out (its receipt) and the meters tripped."""

    settlement: LedgerEntry | None
    payout_fen: int
    tripped: list[str]


def close_account(session: Session, account: Account, reason: str, actor: str,
                  meter_remaining_fen: int | None = None) -> Closure:
    """Final settlement: pay the remaining balance out in cash (SETTLEMENT to zero), trip the meters, close.

    A meter-mode shop's money is in its meter: the cashier reads the remaining amount off the meter
    (`meter_remaining_fen`); purchases the platform never wrote are added, the rest of the balance was
    consumed in the meter and is recorded as such before the payout.
    """
    # Hold the account row: a payment credited meanwhile must not slip past the settlement.
    session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    session.refresh(account, ["balance_fen", "status"])
    _require_active(account)
    if session.scalar(select(func.count()).select_from(Refund).join(PaymentOrder).where(
            Refund.status.in_((RefundStatus.REQUESTED, RefundStatus.APPROVED)), PaymentOrder.account_id == account.id)):
        raise CounterError(_l("Finish the open refund requests of this account first."))
    meter_mode = [m for m in account.meters if m.control_mode == ControlMode.METER]
    payout = account.balance_fen
    if meter_mode:
        if meter_remaining_fen is None or meter_remaining_fen < 0:
            raise CounterError(_l("Enter the remaining amount read off the meter."))
        unwritten = _supersede_purchases(session, meter_mode)
        payout = min(account.balance_fen, meter_remaining_fen + unwritten)
        consumed = account.balance_fen - payout
        if consumed:
            post_entry(session, account, -consumed, EntryKind.ADJUSTMENT, f"closure-consumed:{account.id}",
                       memo="consumed in the meter (meter mode), by its final reading", actor=actor)
    if payout < 0:
        raise CounterError(_l("The balance is ¥%(owed)s in arrears: collect it with a recharge before closing.",
                              owed=format_yuan(-payout)))
    settlement = None
    if payout:
        settlement = post_entry(session, account, -payout, EntryKind.SETTLEMENT, f"settlement:{account.id}",
                                memo=(reason or "closure")[:200], actor=actor).entry
    tripped = []
    for meter in account.meters:
        if meter.profile not in SWITCHABLE_PROFILES:
            continue
        if meter.keep_power:
            command_meter(session, meter, "keep_power_off", actor, "closure")
        command_meter(session, meter, "trip", actor, "closure")
        meter.desired_reason = "closure"
        tripped.append(meter.code)
    account.status, account.closed_at = AccountStatus.CLOSED, utcnow()
    audit(session, actor, "counter.closure", "account", account.id, account.site_id,
          payout_fen=payout, tripped=tripped, reason=(reason or "")[:200])
    return Closure(settlement, payout, tripped)


def _supersede_purchases(session: Session, meters: list[Meter]) -> int:
    """Cancel purchases not yet written into the meters; returns their sum (money the meter never got)."""
    total = 0
    for cmd in session.scalars(select(ControlCommand).where(
            ControlCommand.meter_id.in_([m.id for m in meters]), ControlCommand.action == "purchase",
            ControlCommand.status == CommandStatus.PENDING).with_for_update()):
        total += cmd.payload["amount_fen"]
        cmd.status, cmd.error = CommandStatus.SUPERSEDED, "account closed"
    return total


# --- transfer between accounts ------------------------------------------------------------------------------

def transfer_balance(session: Session, source: Account, target: Account, amount_fen: int, reason: str,
                     actor: str, form_key: str) -> tuple[LedgerEntry, LedgerEntry]:
    """Move money from one shop's account to another of the same site: a TRANSFER pair (out, in), once per key."""
    _check_amount(amount_fen)
    if not _FORM_KEY.fullmatch(form_key or ""):
        raise CounterError(_l("This form has expired; open the counter page again."))
    if source.id == target.id:
        raise CounterError(_l("Choose another account to transfer to."))
    if source.site_id != target.site_id:
        raise CounterError(_l("Transfers stay within one site."))
    _require_active(target)
    # Lock both rows in id order, so two transfers in opposite directions cannot deadlock.
    session.execute(select(Account.id).where(Account.id.in_((source.id, target.id))).order_by(Account.id)
                    .with_for_update())
    session.refresh(source, ["balance_fen"])
    key = f"transfer:{form_key}"
    done = session.scalar(select(LedgerEntry).where(LedgerEntry.idempotency_key == f"{key}:out"))
    if done is None and amount_fen > source.balance_fen:
        raise CounterError(_l("Only ¥%(balance)s can be transferred.",
                              balance=format_yuan(max(source.balance_fen, 0))))
    memo = f"{reason[:150]} → {target.code}" if reason else f"→ {target.code}"
    out = post_entry(session, source, -amount_fen, EntryKind.TRANSFER, f"{key}:out", memo=memo, actor=actor)
    into = post_entry(session, target, amount_fen, EntryKind.TRANSFER, f"{key}:in",
                      memo=f"{reason[:150]} ← {source.code}" if reason else f"← {source.code}", actor=actor)
    if into.created:
        enforce_balance(session, source, actor=actor)
        after_money_in(session, target, amount_fen, f"{key}:in", actor)
        audit(session, actor, "counter.transfer", "ledger_entry", out.entry.id, source.site_id,
              source=source.code, target=target.code, amount_fen=amount_fen, reason=reason[:200])
    return out.entry, into.entry


__all__ = [
    "METHODS",
    "CounterError",
    "close_account",
    "counter_recharge",
    "may_reverse",
    "reverse_entry",
    "transfer_balance",
]
