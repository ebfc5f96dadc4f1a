"""A tenant's shops: the list, and one shop's page (balance, days left, meters, the recharge form)."""
from __future__ import annotations

from flask import redirect, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.control.emergency import emergency_limit, emergency_refusal
from portal.extensions import db
from portal.models import Account, Meter
from portal.monthly.allocation import breakdown
from portal.tenant.blueprint import bp, own_account
from portal.tenant.days import days_context
from portal.tenant.recharge import recharge_context
from portal.web.htmx import render


def status_context(acct: Account, emergency_error: str | None = None) -> dict:
    """What the shop's status shows: balance, days left, emergency credit, meters, the common-area split."""
    return dict(account=acct, **days_context(acct), emergency_refusal=emergency_refusal(acct),
                emergency_limit_fen=emergency_limit(acct.site), emergency_error=emergency_error,
                allocation=breakdown(db.session, acct.id))


def load_shop(account_id: int) -> Account:
    """The tenant's account with its meters and their state (404 when not theirs)."""
    return own_account(account_id, selectinload(Account.meters).selectinload(Meter.state))


@bp.get("/")
def home():
    """The tenant's shops; one shop goes straight to its page, none to linking one."""
    accounts = current_user.accounts
    if len(accounts) == 1:
        return redirect(url_for("tenant.account", account_id=accounts[0].id))
    if not accounts:
        return redirect(url_for("auth.tenant_bind"))
    return render("tenant/home.html", "tenant/_accounts.html", accounts=accounts)


@bp.get("/a/<int:account_id>")
def account(account_id: int):
    """One shop: balance, remaining days, the state of its meters, and the recharge form."""
    acct = load_shop(account_id)
    return render("tenant/account.html", "tenant/_status.html", page_only=lambda: recharge_context(acct),
                  **status_context(acct))
