"""Remaining days: the balance divided by the average daily charge of the last 30 days.

That average reads a month of 15-minute charges (thousands of rows, one heap page each), far too much
for a home page that must answer in 50 ms. So the page shows the estimate only from a per-process
cache; on a miss it renders a placeholder that fetches `/t/a/<id>/days` once, which computes the
average and caches it for a while. The balance in the division is always the current one.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import Account, LedgerEntry, utcnow
from portal.tenant.blueprint import bp, own_account
from portal.tenant.history import CHARGE_KINDS
from portal.web.htmx import render

AVERAGE_DAYS = 30
#: how long an account's average stays cached (seconds), and how many accounts are kept
CACHE_SECONDS = 900
CACHE_SIZE = 20_000
_cache: dict[tuple[int, datetime], tuple[float, int, int]] = {}


def recent_use(session: Session, account: Account, now: datetime | None = None) -> tuple[int, int]:
    """(fen charged, seconds) over the last 30 days, or since the account opened when it is younger."""
    now = now or utcnow()
    since = max(now - timedelta(days=AVERAGE_DAYS), account.created_at)
    charged = -int(session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
            LedgerEntry.account_id == account.id, LedgerEntry.created_at >= since,
            LedgerEntry.kind.in_(CHARGE_KINDS))))
    return charged, max(int((now - since).total_seconds()), 86_400)


def estimate(balance_fen: int, use: tuple[int, int]) -> int | None:
    """Whole days the balance lasts at that use; None without a balance or without use (integers only)."""
    charged, seconds = use
    if balance_fen <= 0 or charged <= 0:
        return None
    return balance_fen * seconds // (charged * 86_400)


def cached_use(account: Account) -> tuple[int, int] | None:
    """The cached average of this account, if fresh."""
    hit = _cache.get((account.id, account.created_at))
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1], hit[2]


def remember_use(session: Session, account: Account) -> tuple[int, int]:
    """Compute the average and keep it for CACHE_SECONDS."""
    use = recent_use(session, account)
    if len(_cache) >= CACHE_SIZE:
        _cache.clear()
    _cache[(account.id, account.created_at)] = (time.monotonic() + CACHE_SECONDS, *use)
    return use


def days_context(account: Account) -> dict:
    """For the status partial: the estimate when cached, else whether to fetch it lazily."""
    use = cached_use(account)
    if use is None:
        return {"remaining_days": None, "days_pending": account.balance_fen > 0}
    return {"remaining_days": estimate(account.balance_fen, use), "days_pending": False}


@bp.get("/a/<int:account_id>/days")
def days(account_id: int):
    """The remaining-days line, computed (and cached) on its own request."""
    acct = own_account(account_id)
    return render("tenant/_days.html", "tenant/_days.html",
                  remaining_days=estimate(acct.balance_fen, remember_use(db.session, acct)))
