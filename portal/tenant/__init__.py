"""Tenant pages: a shop's balance and meters, on the phone, inside WeChat."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
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


@bp.get("/")
def home():
    """The tenant's shops; one shop goes straight to its page."""
    accounts = current_user.accounts
    if len(accounts) == 1:
        return redirect(url_for("tenant.account", account_id=accounts[0].id))
    return render_page_or_partial("tenant/home.html", "tenant/_accounts.html", accounts=accounts)


@bp.get("/a/<int:account_id>")
def account(account_id: int):
    """One shop: balance and the state of its meters."""
    acct = db.session.execute(
        select(Account).where(Account.id == account_id)
        .options(selectinload(Account.meters).selectinload(Meter.state))
    ).scalar_one_or_none()
    if acct is None or acct.id not in {a.id for a in current_user.accounts}:
        abort(404)  # the same answer for "not yours" and "does not exist"
    return render_page_or_partial("tenant/account.html", "tenant/_status.html", account=acct)
