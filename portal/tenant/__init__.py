"""Tenant pages: a shop's balance and meters, on the phone, inside WeChat."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Account, Meter, TenantUser
from portal.templating import render_page_or_partial

bp = Blueprint("tenant", __name__, url_prefix="/t")


@bp.before_request
@login_required
def require_tenant():
    """Every tenant page needs a tenant session (a staff session is not one)."""
    if not isinstance(current_user, TenantUser):
        abort(403)


def is_own(account_id: int) -> bool:
    """Whether the logged-in tenant is bound to this account."""
    return account_id in {a.id for a in current_user.accounts}


def own_account(account_id: int, *options) -> Account:
    """The tenant's account; 404 alike for "not yours" and "does not exist"."""
    acct = db.session.execute(select(Account).where(Account.id == account_id).options(*options)).scalar_one_or_none()
    if acct is None or not is_own(acct.id):
        abort(404)
    return acct


@bp.get("/")
def home():
    """The tenant's shops; one shop goes straight to its page."""
    accounts = current_user.accounts
    if len(accounts) == 1:
        return redirect(url_for("tenant.account", account_id=accounts[0].id))
    return render_page_or_partial("tenant/home.html", "tenant/_accounts.html", accounts=accounts)


@bp.get("/a/<int:account_id>")
def account(account_id: int):
    """One shop: balance, remaining days, the state of its meters, and the recharge form."""
    from portal.tenant.days import days_context
    from portal.tenant.pay import recharge_context

    acct = own_account(account_id, selectinload(Account.meters).selectinload(Meter.state))
    context = {} if request.headers.get("HX-Request") == "true" else recharge_context(acct)
    return render_page_or_partial("tenant/account.html", "tenant/_status.html", account=acct,
                                  **days_context(acct), **context)


from portal.tenant import days, history, pay  # noqa: E402,F401  (routes register on bp)
from portal.tenant import emergency  # noqa: E402,F401  (emergency credit: take it once until repaid)
