"""A tenant signs in outside WeChat: a mobile number, then the 6-digit code sent to it by SMS.

The login page (portal.auth.views.tenant_login) shows the first step; each step answers htmx with the sign-in
partial (`auth/_sms_login.html`) and a plain browser with the whole page. The answer to a number is the same for
every number, on some shop's file or not (portal.auth.login_codes). A right code signs in as the number's tenant
user, made on the spot when there is none: with the shops that have the number on file bound, or none, and then
the tenant binds one (portal.auth.bind).
"""
from __future__ import annotations

from flask import g, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.auth import sessions
from portal.auth.binding import tenant_for_phone
from portal.auth.blueprint import bp, safe_next
from portal.auth.forms import SmsCodeForm, SmsPhoneForm
from portal.auth.guards import (
    CODES_PER_ADDRESS,
    CODES_PER_PHONE,
    PER_ADDRESS,
    PER_PHONE,
    code_sent,
    failed,
    sms_phone,
    too_many_codes_for_phone,
    too_many_codes_from_here,
    too_many_wrong_codes,
)
from portal.auth.login_codes import (
    MAX_TRIES,
    Checked,
    PhoneInvalid,
    check_login_code,
    issue_login_code,
    masked,
    normalise_phone,
)
from portal.extensions import db, limiter
from portal.settings import current
from portal.web.htmx import go_to, render

PAGE, PARTIAL = "auth/tenant_login.html", "auth/_sms_login.html"


def login_page_context(**sms) -> dict:
    """What the login page shows around the SMS sign-in (the demo's form, the WeChat button)."""
    settings = current()
    return dict(demo_login=settings.auth.tenant_demo_login, wechat_login=settings.wechat.oauth_configured,
                by_sms=True, **sms_context(**sms))


def sms_context(step: str = "phone", phone: str = "", typed: str = "", error: str | None = None,
                message: str | None = None) -> dict:
    """The sign-in partial's names: the step (phone or code), the number, and what to say."""
    return dict(sms_step=step, sms_phone=phone, sms_masked=masked(phone) if phone else "", sms_typed=typed[:32],
                sms_error=error, sms_message=message)


def _answer(*, refused: bool = False, **sms):
    return render(PAGE, PARTIAL, refused=refused, page_only=login_page_context, **sms_context(**sms))


def _phone(raw: str | None) -> str | None:
    try:
        return normalise_phone(raw)
    except PhoneInvalid:
        return None


@bp.post("/tenant/login/code")
@limiter.limit(PER_ADDRESS)
@limiter.limit(CODES_PER_PHONE, key_func=sms_phone, deduct_when=code_sent, error_message=too_many_codes_for_phone)
@limiter.limit(CODES_PER_ADDRESS, deduct_when=code_sent, error_message=too_many_codes_from_here)
def sms_send():
    """Step one (and "send a new code"): queue a code to the number, then ask for it."""
    form = SmsPhoneForm()
    typed = request.form.get("phone") or ""
    if not form.validate_on_submit():
        return _answer(refused=True, typed=typed, error=next(iter(form.errors.values()))[0])
    phone = _phone(form.phone.data)
    if phone is None:
        return _answer(refused=True, typed=typed, error=_("Enter an 11-digit mobile number, e.g. 139 0000 0001."))
    issued = issue_login_code(db.session, phone, request.remote_addr or "")
    db.session.commit()
    g.login_code_sent = issued.sent  # only a code that went out counts against the limits (guards.code_sent)
    message = None if issued.sent else ngettext(
        "A code was sent a moment ago. You can ask for a new one in %(num)d second.",
        "A code was sent a moment ago. You can ask for a new one in %(num)d seconds.", issued.wait)
    return _answer(step="code", phone=phone, message=message)


@bp.post("/tenant/login/verify")
@limiter.limit(PER_ADDRESS)
@limiter.limit(PER_PHONE, key_func=sms_phone, deduct_when=failed, error_message=too_many_wrong_codes)
def sms_verify():
    """Step two: the code. Right, the tenant is signed in and goes to their shop (or binds one first)."""
    form = SmsCodeForm()
    phone = _phone(form.phone.data)
    if phone is None:
        return _answer(refused=True, error=_("Enter your mobile number again."))
    if not form.validate_on_submit():
        return _answer(refused=True, step="code", phone=phone, error=next(iter(form.errors.values()))[0])
    checked = check_login_code(db.session, phone, form.code.data)
    if checked is not Checked.RIGHT:
        db.session.commit()  # the wrong try counts
        error = (_("Wrong code. Check the SMS and try again.") if checked is Checked.WRONG else
                 _("This code has expired or was tried too often (%(tries)d times). Ask for a new code.",
                   tries=MAX_TRIES))
        return _answer(refused=True, step="code", phone=phone, error=error)
    tenant = tenant_for_phone(db.session, phone)
    sessions.begin(tenant)
    db.session.commit()
    if not tenant.accounts:
        return go_to(url_for("auth.tenant_bind"))
    return go_to(safe_next(url_for("tenant.home")))
