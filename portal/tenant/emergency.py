"""Emergency credit on the tenant's shop page: the site's fixed advance, taken once until repaid."""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.control.emergency import EmergencyRefused, emergency_limit, emergency_refusal, take_emergency_credit
from portal.extensions import db
from portal.models import Account
from portal.money import format_yuan
from portal.tenant.blueprint import bp
from portal.tenant.shop import account as show_account
from portal.web.access import tenant_can_see

#: what the tenant is told when the rules refuse (balance_high is worded with the limit in the partial)
REFUSED = {
    "not_offered": _l("Emergency credit is not offered at this site."),
    "closed": _l("This account is closed."),
    "meter_mode": _l("This shop's meter keeps its own credit: please recharge it."),
    "owed": _l("Emergency credit is already in use: it is repaid from your next payment, then offered again."),
    "balance_high": _l("Emergency credit is only available when your balance is low."),
    "above_cap": _l("Emergency credit would take the balance above the site's limit."),
}


@bp.app_context_processor
def emergency_helpers() -> dict:
    """Let templates ask whether a shop may take emergency credit, and below which balance."""
    return {"emergency_refusal": emergency_refusal, "emergency_limit": emergency_limit}


@bp.post("/a/<int:account_id>/emergency")
def take_emergency(account_id: int):
    """Take the emergency credit (CSRF-checked POST); htmx gets the shop's status back, a form a redirect."""
    account = db.session.get(Account, account_id)
    if account is None or not tenant_can_see(current_user, account):
        abort(404)  # the same answer for "not yours" and "does not exist"
    try:
        entry = take_emergency_credit(db.session, account, current_user.actor)
    except EmergencyRefused as exc:
        db.session.rollback()
        message, category = str(REFUSED[exc.reason]), "error"
    else:
        db.session.commit()
        message = _("Emergency credit of ¥%(amount)s added: it is repaid first from your next payment.",
                    amount=format_yuan(entry.amount_fen))
        category = "info"
    if request.headers.get("HX-Request") == "true":
        g.emergency_message, g.emergency_category = message, category
        return show_account(account_id)
    flash(message, category)
    return redirect(url_for("tenant.account", account_id=account_id))
