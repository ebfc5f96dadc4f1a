"""Counter operations (收费台): recharges, reversals (冲正) and transfers; closure (销户) is `closure`.

Every function works inside the caller's transaction and only flushes; the view commits. Money moves
only through `post_entry`, so each operation is exactly-once by its idempotency key, and corrections
are new entries: nothing here edits or deletes one. Refunds live in `portal.payments.refunds`; what needs
a manager's approval first is decided in `portal.approvals`, which then calls these.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.balance import enforce_balance
from portal.counter.closure import Closure, close_account, closure_payout
from portal.counter.guards import (
    METHODS,
    CounterError,
    business_day,
    check_amount,
    check_form_key,
    method_of,
    require_active,
    take_from_meter,
)
from portal.ledger.entries import DuplicateEntryMismatch, post_entry
from portal.models import (
    Account,
    CommandStatus,
    ControlCommand,
    EntryKind,
    LedgerEntry,
    Role,
    utcnow,
)
from portal.money import format_yuan
from portal.payments.credit import after_money_in, post_cash
from portal.payments.orders import AccountClosed, PaymentError, cap_room_fen

# --- recharge --------------------------------------------------------------------------------------------

def recharge_key(form_key: str) -> str:
    """The ledger key of a counter recharge: the form's key alone, whatever the method said."""
    return f"cash:counter:{form_key}"


def check_recharge(session: Session, account: Account, amount_fen: int, method: str, form_key: str) -> None:
    """Everything a counter recharge is refused for before it posts (a form sent again is not refused here)."""
    if method not in METHODS:
        raise CounterError(_l("Choose cash or bank transfer."))
    check_form_key(form_key)
    check_amount(amount_fen)
    sent = session.scalar(select(LedgerEntry).where(LedgerEntry.idempotency_key == recharge_key(form_key)))
    if sent is not None and (sent.account_id != account.id or sent.amount_fen != amount_fen):
        raise CounterError(_l("This form was already sent (receipt %(no)s); open a new one for another "
                              "recharge.", no=sent.receipt_no))
    if sent is None:
        require_active(account)


def counter_recharge(session: Session, account: Account, amount_fen: int, method: str, note: str, actor: str,
                     form_key: str) -> tuple[LedgerEntry, bool]:
    """A cash or bank-transfer recharge at the counter, once per form key; returns (entry, created now).

    The entry's key is the form's key alone, so a form sent twice at once — as cash and as transfer — is
    one entry by the ledger's unique key, whichever arrives second landing on the first one's receipt.
    """
    check_recharge(session, account, amount_fen, method, form_key)
    try:
        posted = post_cash(session, account, amount_fen, note[:200], actor, f"counter:{form_key}", method=method)
    except AccountClosed:
        raise CounterError(_l("Account %(code)s is closed: it takes no money.", code=account.code)) from None
    except PaymentError:
        raise CounterError(_l("This recharge would take the balance above the site's limit (囤积).")) from None
    except DuplicateEntryMismatch:  # the same form sent at the same moment with another amount
        raise CounterError(_l("This form was already sent; open a new one for another recharge.")) from None
    if posted.created:
        audit(session, actor, "counter.recharge", "ledger_entry", posted.entry.id, account.site_id,
              account=account.code, amount_fen=amount_fen, method=method)
    return posted.entry, posted.created


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
    if entry.approved_by:  # a manager approved it (above the site's limit): undoing it is a manager's too
        return False
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
    require_active(account)
    done = reversal_of(session, entry)
    if done is not None:
        raise CounterError(_l("Receipt %(no)s was already reversed by receipt %(by)s.", no=entry.receipt_no,
                              by=done.receipt_no))
    _cancel_unwritten_purchase(session, entry)
    posted = post_entry(session, account, -entry.amount_fen, EntryKind.REVERSAL, f"reversal:{entry.id}",
                        memo=reason[:200], actor=actor, reverses_id=entry.id)
    if not posted.created:  # a concurrent request reversed it a moment ago
        raise CounterError(_l("Receipt %(no)s was already reversed by receipt %(by)s.", no=entry.receipt_no,
                              by=posted.entry.receipt_no))
    enforce_balance(session, account, actor=actor)
    audit(session, actor, "counter.reversal", "ledger_entry", posted.entry.id, account.site_id,
          reverses=entry.id, amount_fen=-entry.amount_fen, reason=reason[:200])
    return posted.entry


def _cancel_unwritten_purchase(session: Session, entry: LedgerEntry) -> None:
    # In a meter-mode shop the recharge became a purchase for its meter; once written, the money is in the
    # meter and a cashier's reversal is refused (a manager's adjustment, a debit deducted from the meter,
    # is the way back). Not yet written: the purchase is cancelled with the recharge.
    cmd = session.scalar(select(ControlCommand).where(
        ControlCommand.idempotency_key == f"purchase:{entry.idempotency_key}").with_for_update())
    if cmd is None:
        return
    if cmd.status == CommandStatus.APPLIED:
        raise CounterError(_l("This recharge is already written into meter-mode meter %(meter)s; it cannot be "
                              "reversed at the counter.", meter=cmd.meter.code))
    if cmd.status == CommandStatus.PENDING:
        cmd.status, cmd.error = CommandStatus.SUPERSEDED, "recharge reversed"


# --- transfer between accounts ------------------------------------------------------------------------------

def transferable_fen(account: Account) -> int:
    """What may leave an account by transfer: its balance less emergency credit owed and fee arrears."""
    return max(account.balance_fen - account.emergency_owed_fen - account.fee_arrears_fen, 0)


def check_transfer(session: Session, source: Account, target: Account, amount_fen: int, form_key: str) -> None:
    """Everything a transfer is refused for before it moves money (a form sent again is not refused here)."""
    check_amount(amount_fen)
    check_form_key(form_key)
    if source.id == target.id:
        raise CounterError(_l("Choose another account to transfer to."))
    if source.site_id != target.site_id:
        raise CounterError(_l("Transfers stay within one site."))
    if session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == f"transfer:{form_key}:out")):
        return  # done already: the second submit lands on its receipt
    require_active(source)
    require_active(target)
    if amount_fen > transferable_fen(source):
        raise CounterError(_l("Only ¥%(balance)s can be transferred (emergency credit owed and fee arrears stay).",
                              balance=format_yuan(transferable_fen(source))))
    room = cap_room_fen(session, target)
    if room is not None and amount_fen > room:
        raise CounterError(_l("This transfer would take %(code)s above the site's maximum balance (囤积).",
                              code=target.code))


def transfer_balance(session: Session, source: Account, target: Account, amount_fen: int, reason: str,
                     actor: str, form_key: str) -> tuple[LedgerEntry, LedgerEntry]:
    """Move money from one shop's account to another of the same site: a TRANSFER pair (out, in), once per key."""
    # Lock both rows in id order, so two transfers in opposite directions cannot deadlock.
    session.execute(select(Account.id).where(Account.id.in_((source.id, target.id))).order_by(Account.id)
                    .with_for_update())
    session.refresh(source, ["balance_fen", "status", "emergency_owed_fen", "fee_arrears_fen"])
    session.refresh(target, ["balance_fen", "status"])
    check_transfer(session, source, target, amount_fen, form_key)
    key = f"transfer:{form_key}"
    memo = f"{reason[:150]} → {target.code}" if reason else f"→ {target.code}"
    out = post_entry(session, source, -amount_fen, EntryKind.TRANSFER, f"{key}:out", memo=memo, actor=actor)
    into = post_entry(session, target, amount_fen, EntryKind.TRANSFER, f"{key}:in",
                      memo=f"{reason[:150]} ← {source.code}" if reason else f"← {source.code}", actor=actor)
    if into.created:
        take_from_meter(session, source, amount_fen, f"{key}:out", actor, memo)
        enforce_balance(session, source, actor=actor)
        after_money_in(session, target, amount_fen, f"{key}:in", actor)
        audit(session, actor, "counter.transfer", "ledger_entry", out.entry.id, source.site_id,
              source=source.code, target=target.code, amount_fen=amount_fen, reason=reason[:200])
    return out.entry, into.entry


__all__ = [
    "METHODS",
    "Closure",
    "CounterError",
    "business_day",
    "close_account",
    "closure_payout",
    "counter_recharge",
    "may_reverse",
    "method_of",
    "reverse_entry",
    "transfer_balance",
]
