"""A tenant's shops: the list, and one shop's page (balance, days left, meters, the recharge form)."""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.models import Account, Meter
from portal.tenant.blueprint import bp, own_account
from portal.tenant.days import days_context
from portal.tenant.recharge import recharge_context
from portal.web.templating import render_page_or_partial


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
    acct = own_account(account_id, selectinload(Account.meters).selectinload(Meter.state))
    context = {} if request.headers.get("HX-Request") == "true" else recharge_context(acct)
    return render_page_or_partial("tenant/account.html", "tenant/_status.html", account=acct,
                                  **days_context(acct), **context)
