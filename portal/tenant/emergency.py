"""Emergency credit on the tenant's shop page: the site's fixed advance, taken once until repaid."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.control.emergency import EmergencyRefused, take_emergency_credit
from portal.extensions import db
from portal.money import format_yuan
from portal.tenant.blueprint import bp
from portal.tenant.status import load_shop, status_context
from portal.web.htmx import answer_form

#: the event the emergency answer announces: the status comes back in it, the recharge chips fetch themselves
TAKEN = "emergency-taken"

#: what the tenant is told when the rules refuse (balance_high is worded with the limit in the partial)
REFUSED = {
    "not_offered": _l("Emergency credit is not offered at this site."),
    "closed": _l("This account is closed."),
    "meter_mode": _l("This shop's meter keeps its own credit: please recharge it."),
    "owed": _l("Emergency credit is already in use: it is repaid from your next payment, then offered again."),
    "balance_high": _l("Emergency credit is only available when your balance is low."),
    "above_cap": _l("Emergency credit would take the balance above the site's limit."),
}


@bp.post("/a/<int:account_id>/emergency")
def take_emergency(account_id: int):
    """Take the emergency credit (CSRF-checked POST); htmx gets the shop's status back, a form a redirect."""
    account = load_shop(account_id)
    try:
        entry = take_emergency_credit(db.session, account, current_user.actor)
    except EmergencyRefused as exc:
        db.session.rollback()
        error, message = str(REFUSED[exc.reason]), None
    else:
        db.session.commit()
        error, message = None, _("Emergency credit of ¥%(amount)s added: it is repaid first from your next payment.",
                                 amount=format_yuan(entry.amount_fen))
    response = answer_form("tenant/_status.html", url_for("tenant.account", account_id=account_id),
                           lambda: status_context(load_shop(account_id), emergency_error=error,
                                                  emergency_message=message),
                           error=error, message=message)
    if error is None:  # the status comes back in the answer; the rest of the page (the chips) looks again
        response.headers["HX-Trigger"] = TAKEN
    return response
