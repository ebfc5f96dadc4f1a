"""The forms of a shop's staff page (/staff/accounts/<code>): its own property fee, emergency credit for a tenant
who calls the office, revoking a tenant's binding, a new binding code, and notes.

Each form answers htmx with its section (a refusal with the reason in it, and 200 so that htmx shows it) and a plain
browser post with a flash and the page again. The rules are the domain's: portal.monthly.fee_overrides,
portal.control.emergency (the same verb as the tenant's own button), portal.sites.shop_records, and
portal.auth.binding (the same verb as `accounts binding-codes`).
"""
from __future__ import annotations

from flask import abort, flash, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.binding import issue_binding_codes, printed
from portal.control.emergency import EmergencyRefused, take_emergency_credit
from portal.extensions import db
from portal.models import AccountStatus
from portal.money import format_yuan, parse_units
from portal.monthly.fee_overrides import OverrideRefused, set_fee_override
from portal.sites.shop_records import NOTE_MAX, BindingMissing, NoteRefused, add_note, revoke_binding
from portal.staff.accounts import (
    EMERGENCY_REFUSED,
    account_or_404,
    account_url,
    bindings_context,
    emergency_context,
    fee_context,
    notes_context,
    sticker_context,
)
from portal.staff.blueprint import bp
from portal.web.access import require_area
from portal.web.htmx import answer_form, go_to


@bp.post("/accounts/<code>/fee")
@require_area("account_fees")
def account_fee(code: str):
    """Give the shop its own rate per m² or fixed amount, or the site's again (managers; audited)."""
    account = account_or_404(code)
    basis = request.form.get("basis", "")
    error = message = None
    try:
        rate = parse_units(request.form.get("rate"), 4, digits=7) if basis == "rate" else None
        fixed = parse_units(request.form.get("fixed"), 2) if basis == "fixed" else None
        changed = set_fee_override(db.session, account, current_user.actor, basis, rate_e4=rate, fixed_fen=fixed)
    except (ValueError, OverrideRefused) as exc:
        db.session.rollback()
        if getattr(exc, "code", "") == "basis":
            error = _("Choose how this shop's fee is made: the site's, its own rate, or its own fixed amount.")
        else:
            error = _("Enter the rate per m² in yuan with at most four decimals (0 to 1,000), or the fixed amount "
                      "in yuan with at most two decimals (0.01 to 100,000).")
    else:
        db.session.commit()
        message = _("The shop's property fee is saved: the next fee run charges it.") if changed else _(
            "Nothing changed.")
    return answer_form("staff/accounts/_fee.html", account_url(account),
                       lambda: fee_context(account, error, message, request.form if error else None),
                       error=error, message=message, redirect_code=303)


@bp.post("/accounts/<code>/emergency")
@require_area("account_emergency")
def account_emergency(code: str):
    """Give the site's emergency credit to a tenant who called, as their own button would (restores supply)."""
    account = account_or_404(code)
    try:
        entry = take_emergency_credit(db.session, account, current_user.actor)
    except EmergencyRefused as exc:
        db.session.rollback()
        error = str(EMERGENCY_REFUSED[exc.reason])
        return answer_form("staff/accounts/_emergency.html", account_url(account),
                           lambda: emergency_context(account_or_404(code), error), error=error, redirect_code=303)
    db.session.commit()
    # the balance, the ledger and the supply all moved: the whole page again
    flash(_("Emergency credit of ¥%(amount)s given: it is repaid first from the next payment.",
            amount=format_yuan(entry.amount_fen)), "info")
    return go_to(account_url(account))


@bp.post("/accounts/<code>/bindings/<int:tenant_user_id>/revoke")
@require_area("account_bindings")
def account_revoke_binding(code: str, tenant_user_id: int):
    """Take the shop away from one tenant user (managers; audited): their next request for it is refused."""
    account = account_or_404(code)
    try:
        tenant = revoke_binding(db.session, account, tenant_user_id, current_user.actor)
    except BindingMissing:
        db.session.rollback()
        abort(404)
    db.session.commit()
    message = _("%(who)s no longer sees this shop.", who=tenant.name or tenant.phone or _("The tenant"))
    return answer_form("staff/accounts/_bindings.html", account_url(account),
                       lambda: bindings_context(account, message=message), message=message, redirect_code=303)


@bp.post("/accounts/<code>/binding-code")
@require_area("account_binding_codes", to_change=True)
def account_binding_code(code: str):
    """Issue the shop a new binding code (managers; audited): the one printed on its bills and sticker stops
    working, the sticker's QR code stays good; the new code is shown this once."""
    account = account_or_404(code)
    error = new = None
    if account.status != AccountStatus.ACTIVE:
        error = _("The account is closed: nobody can bind it, so it takes no binding code.")
    else:
        [(_account, issued)] = issue_binding_codes(db.session, [account], current_user.actor, reissue=True)
        db.session.commit()
        new = printed(issued)
    message = None if error else _("The new binding code is %(code)s. Write it down now: it is not shown again. The "
                                   "code printed before no longer works.", code=new)
    return answer_form("staff/accounts/_sticker.html", account_url(account),
                       lambda: sticker_context(account, error, new), error=error, message=message, redirect_code=303)


@bp.post("/accounts/<code>/notes")
@require_area("accounts")
def account_note(code: str):
    """Keep a note on the shop (every role that may change anything); newest first, signed."""
    account = account_or_404(code)
    body = request.form.get("body", "")
    error = None
    try:
        add_note(db.session, account, current_user.actor, body)
    except NoteRefused as exc:
        db.session.rollback()
        error = (_("The note is empty.") if exc.code == "empty"
                 else _("A note is at most %(max)s characters; this one has %(n)s.", max=NOTE_MAX, n=len(body.strip())))
    else:
        db.session.commit()
    return answer_form("staff/accounts/_notes.html", account_url(account),
                       lambda: notes_context(account, error, body if error else ""), error=error,
                       message=None if error else _("Note kept."), redirect_code=303)
