"""What every counter operation checks first, and how the counter says no.

A counter operation refuses with `CounterError`, whose message (translatable) is for the cashier: a closed
account, an amount outside the counter's limits, a form whose key is missing or odd. Recharges, closure,
transfers and adjustments (and the proposals of portal.approvals that stand for them) share these checks.
"""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.control.commands import queue_money
from portal.models import Account, AccountStatus, ControlMode, EntryKind, LedgerEntry

#: how a counter recharge was paid; kept in the entry's `method` (entries before it have it in their key)
METHODS = ("cash", "transfer")
#: one counter operation moves at most 100,000 yuan (the API's limit too)
MAX_COUNTER_FEN = 10_000_000
_FORM_KEY = re.compile(r"[0-9a-f]{32}")


class CounterError(Exception):
    """An operation the counter refuses; the message (translatable) is for the cashier."""


def business_day(at, tz: ZoneInfo):
    """The date in `tz` (the business time zone) of a UTC timestamp."""
    return at.astimezone(tz).date()


def method_of(entry: LedgerEntry) -> str:
    """cash, transfer, or api for a CASH entry, else the entry's kind."""
    if entry.kind != EntryKind.CASH:
        return entry.kind.value
    if entry.method:
        return entry.method
    parts = entry.idempotency_key.split(":")  # posted before the method had a column: cash:<method>:<key>
    if len(parts) > 2 and parts[1] in (*METHODS, "api"):
        return parts[1]
    return entry.kind.value


def require_active(account: Account) -> None:
    """A closed account takes no money and no operation: CounterError, with a message for the cashier."""
    if account.status != AccountStatus.ACTIVE:
        raise CounterError(_l("Account %(code)s is closed: it takes no money.", code=account.code))


def check_amount(amount_fen: int) -> None:
    """One counter operation moves between ¥0.01 and ¥100,000.00."""
    if type(amount_fen) is not int or not 0 < amount_fen <= MAX_COUNTER_FEN:
        raise CounterError(_l("The amount must be between ¥0.01 and ¥100,000.00."))


def check_form_key(form_key: str) -> None:
    """Every counter form carries a fresh key (one form, one operation); a missing or odd one is refused."""
    if not _FORM_KEY.fullmatch(form_key or ""):
        raise CounterError(_l("This form has expired; open the counter page again."))


def take_from_meter(session: Session, account: Account, amount_fen: int, key: str, actor: str, reason: str) -> None:
    """Money that leaves a meter-mode shop at the counter leaves its meter too: a deduction, once per key.

    The ledger mirrors the meter (one set of books), so a debit posted here without a deduction would leave
    the meter holding money the books no longer give the shop. Purchases go into the shop's first meter-mode
    meter (payments.credit), and so do these deductions; a platform-mode shop has nothing to write.
    """
    meters = [m for m in account.meters if m.control_mode == ControlMode.METER]
    if meters and amount_fen > 0:
        queue_money(session, meters[0], -amount_fen, f"deduction:{key}", actor, reason[:200] or "counter")
