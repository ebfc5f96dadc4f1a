"""A tenant's shops: the list, and one shop's page (balance, days left, supply and why, use, the recharge form).

The page is parts that keep themselves current (htmx): the status (`#status`: balance, days left, supply and its
reason, meters) polls slowly, and every two seconds while the supply is on its way back; today's orders
(`#today-orders`, portal.tenant.recharge) poll while one is under way and announce `shop-changed` when one moves
on, which the status and the recharge form listen to. Emergency credit answers with the new status and announces
`emergency-taken`, on which the recharge form (its chips) fetches itself again.
"""
from __future__ import annotations

from flask import redirect, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Account
from portal.tenant.blueprint import bp
from portal.tenant.charts import shop_usage
from portal.tenant.recharge import recharge_context, shop_suggestions, today_orders_context
from portal.tenant.status import load_shop, status_context
from portal.web.htmx import render


def page_context(acct: Account, status: dict) -> dict:
    """What only the whole page shows: use and its charts, the recharge form (its chips from that use), today's
    orders."""
    usage = shop_usage(db.session, acct)
    return {"usage": usage, **today_orders_context(acct),
            **recharge_context(acct, **shop_suggestions(acct, usage, status["supply"].restore_fen))}


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
    """One shop: balance, remaining days, supply, use, the state of its meters, and the recharge form."""
    acct = load_shop(account_id)
    status = status_context(acct)
    return render("tenant/account.html", "tenant/_status.html", page_only=lambda: page_context(acct, status),
                  **status)
