"""Emergency credit (应急透支) and what money coming in repays first.

A site may offer a fixed advance, taken once until repaid: it restores supply at once. Money that comes in
later (a payment, a counter recharge) repays the emergency credit first, then property-fee arrears; only
the rest is the shop's. Every repayment is a ledger entry keyed by the money's cause. The shop is told when it
takes the credit and when the credit is repaid in full (once per advance).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.balance import enforce_balance, low_levels, restore_level
from portal.ledger.entries import post_entry
from portal.models import Account, AccountStatus, ControlMode, EntryKind, LedgerEntry, Site
from portal.notify.params import money, shops
from portal.notify.route import tell_shop


def repay_first(session: Session, account: Account, amount_fen: int, cause: str, actor: str) -> int:
    """Repay emergency credit, then fee arrears, out of money that just came in; returns the part left.

    Each repayment is a ledger entry keyed by the money's cause, so running this twice repays once.
    """
    session.flush()  # pending changes of the caller first: the refresh must not discard them
    session.refresh(account, ["emergency_owed_fen", "fee_arrears_fen"])
    debts = ((EntryKind.EMERGENCY, "emergency_owed_fen", f"emergency-repay:{cause}"),
             (EntryKind.FEE, "fee_arrears_fen", f"fee-repay:{cause}"))
    done = dict(session.execute(select(LedgerEntry.idempotency_key, LedgerEntry.amount_fen)
                                .where(LedgerEntry.idempotency_key.in_([key for _, _, key in debts]))).all())
    left, repaid = amount_fen, False
    for kind, column, key in debts:
        if key in done:  # a rerun: this money already repaid (and lowered) the debt
            left += done[key]  # a repayment is negative
            continue
        owed = getattr(account, column)
        part = min(left, owed)
        if part <= 0:
            continue
        post_entry(session, account, -part, kind, key, memo=f"repaid first from {cause}"[:200], actor=actor)
        session.execute(update(Account).where(Account.id == account.id)
                        .values({column: getattr(Account, column) - part}))
        session.expire(account, [column])
        audit(session, actor, f"account.{column.removesuffix('_fen')}_repaid", "account", account.id,
              account.site_id, amount_fen=part, still_owed_fen=owed - part, cause=cause)
        left -= part
        repaid = repaid or (kind == EntryKind.EMERGENCY and part == owed)
    if repaid:
        _tell_repaid(session, account)
    return left


def _tell_repaid(session: Session, account: Account) -> None:
    """Tell the shop its emergency credit is repaid in full: once per advance, the advance's amount."""
    advance = session.execute(select(LedgerEntry.id, LedgerEntry.amount_fen).where(
        LedgerEntry.account_id == account.id, LedgerEntry.kind == EntryKind.EMERGENCY, LedgerEntry.amount_fen > 0,
    ).order_by(LedgerEntry.id.desc()).limit(1)).one_or_none()
    if advance is None:  # a debt set without an advance (data from before advances were entries)
        return
    shop = shops(session, [account.id])[account.id]
    tell_shop(session, account.id, "emergency_repaid", f"emergency:{advance.id}", {
        **shop.params(), "amount": money(advance.amount_fen), "balance": money(shop.balance_fen)})


class EmergencyRefused(Exception):
    """Emergency credit is not available to this shop now; `reason` is one of REFUSALS."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


REFUSALS = ("not_offered", "closed", "meter_mode", "owed", "balance_high", "above_cap")


def emergency_refusal(account: Account) -> str | None:
    """Why the shop may not take emergency credit now (one of REFUSALS), or None when it may."""
    site = account.site
    amount = site.emergency_credit_fen
    if amount <= 0:
        return "not_offered"
    if account.status != AccountStatus.ACTIVE:
        return "closed"
    if any(m.control_mode == ControlMode.METER for m in account.meters):
        return "meter_mode"  # its money lives in the meter, which keeps its own rules
    if account.emergency_owed_fen > 0:
        return "owed"
    if account.balance_fen >= emergency_limit(site):
        return "balance_high"
    if site.max_balance_fen is not None and account.balance_fen + amount > site.max_balance_fen:
        return "above_cap"
    return None


def emergency_limit(site: Site) -> int:
    """Emergency credit is offered only below this balance: the first low level (else the restore level)."""
    levels = low_levels(site)
    return levels[0] if levels else restore_level(site)


def take_emergency_credit(session: Session, account: Account, actor: str,
                          now: datetime | None = None) -> LedgerEntry:
    """Advance the site's fixed emergency credit to the shop, once until repaid, and restore supply."""
    locked = session.execute(select(Account).where(Account.id == account.id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one()
    reason = emergency_refusal(locked)
    if reason is not None:
        raise EmergencyRefused(reason)
    amount = locked.site.emergency_credit_fen
    taken = session.execute(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.account_id == locked.id, LedgerEntry.kind == EntryKind.EMERGENCY, LedgerEntry.amount_fen > 0,
    )).scalar_one()  # advances so far: the n of the key emergency:<account>:<n>
    posted = post_entry(session, locked, amount, EntryKind.EMERGENCY, f"emergency:{locked.id}:{taken + 1}",
                        memo="emergency credit", actor=actor)
    locked.emergency_owed_fen = amount
    audit(session, actor, "account.emergency_credit", "account", locked.id, locked.site_id, amount_fen=amount)
    enforce_balance(session, locked, actor=actor, now=now)
    shop = shops(session, [locked.id])[locked.id]
    tell_shop(session, locked.id, "emergency_taken", f"entry:{posted.entry.id}", {
        **shop.params(), "amount": money(amount), "balance": money(shop.balance_fen)})
    return posted.entry
