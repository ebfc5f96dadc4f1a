"""Manual adjustments (调账): a credit or a debit with a reason, for what no other operation covers.

A meter billed twice after a fault, a fee charged to the wrong shop: the correction is a new ADJUSTMENT
entry, never an edit. It runs inside the caller's transaction; at the counter it needs a manager's approval
(portal.approvals), so an adjustment always names two people.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.control.balance import enforce_balance
from portal.counter.guards import CounterError, check_amount, check_form_key, require_active, take_from_meter
from portal.ledger.entries import post_entry
from portal.models import Account, EntryKind, LedgerEntry
from portal.payments.credit import after_money_in
from portal.payments.orders import cap_room_fen


def adjustment_key(form_key: str) -> str:
    """The ledger key of an adjustment: its form's key."""
    return f"adjustment:{form_key}"


def check_adjustment(session: Session, account: Account, amount_fen: int, reason: str, form_key: str) -> None:
    """Everything an adjustment is refused for before it posts (a form sent again is not refused here)."""
    check_form_key(form_key)
    if type(amount_fen) is not int:
        raise CounterError(_l("The amount must be between ¥0.01 and ¥100,000.00."))
    check_amount(abs(amount_fen))
    if not (reason or "").strip():
        raise CounterError(_l("Give the reason for the adjustment."))
    if session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == adjustment_key(form_key))):
        return
    require_active(account)
    room = cap_room_fen(session, account)
    if amount_fen > 0 and room is not None and amount_fen > room:
        raise CounterError(_l("This credit would take the balance above the site's limit (囤积)."))


def adjust_balance(session: Session, account: Account, amount_fen: int, reason: str, actor: str,
                   form_key: str) -> LedgerEntry:
    """Credit (amount > 0) or debit (amount < 0) an account by hand, once per form key; the balance rules follow.

    A credit is money in like any other: it repays emergency credit and fee arrears first, and reaches a
    meter-mode meter as a purchase. A debit may take the balance into arrears, and supply off with it.
    """
    session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    session.refresh(account, ["balance_fen", "status"])
    check_adjustment(session, account, amount_fen, reason, form_key)
    key = adjustment_key(form_key)
    posted = post_entry(session, account, amount_fen, EntryKind.ADJUSTMENT, key, memo=reason.strip()[:200],
                        actor=actor)
    if posted.created:
        if amount_fen > 0:
            after_money_in(session, account, amount_fen, key, actor)
        else:
            take_from_meter(session, account, -amount_fen, key, actor, reason.strip())
            enforce_balance(session, account, actor=actor)
        audit(session, actor, "counter.adjustment", "ledger_entry", posted.entry.id, account.site_id,
              account=account.code, amount_fen=amount_fen, reason=reason.strip()[:200])
    return posted.entry
