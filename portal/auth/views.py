"""Login and logout for staff and tenants, and the language switch."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.auth import sessions
from portal.auth.blueprint import bp, safe_next
from portal.auth.forms import StaffLoginForm, TenantDemoLoginForm
from portal.auth.guards import (
    PER_ACCOUNT,
    PER_ACCOUNT_AND_ADDRESS,
    PER_ADDRESS,
    PER_PHONE,
    REPEATED_BACKOFF,
    account_and_address,
    failed,
    staff_account,
    tenant_phone,
    verify_password,
)
from portal.auth.sms import login_page_context
from portal.extensions import db, limiter
from portal.models import StaffUser, TenantUser
from portal.settings import current
from portal.web.i18n import LANGUAGES


@bp.route("/staff/login", methods=["GET", "POST"])
@limiter.limit(PER_ADDRESS, methods=["POST"])
@limiter.limit(PER_ACCOUNT_AND_ADDRESS, key_func=account_and_address, methods=["POST"], deduct_when=failed,
               meta_limits=[REPEATED_BACKOFF])
@limiter.limit(PER_ACCOUNT, key_func=staff_account, methods=["POST"], deduct_when=failed)
def staff_login():
    """Username and password for property staff; a missing user costs the same hash as a wrong password."""
    form = StaffLoginForm()
    if form.validate_on_submit():
        user = db.session.execute(
            select(StaffUser).where(StaffUser.username == form.username.data.strip())
        ).scalar_one_or_none()
        if verify_password(user, form.password.data) and user.active:
            sessions.begin(user)
            db.session.commit()
            if user.must_change_password:  # a password an admin set: theirs first, then the staff area
                return redirect(url_for("auth.staff_password"))
            return redirect(safe_next(url_for("staff.index")))
        flash(_("Wrong username or password."), "error")
    return render_template("auth/staff_login.html", form=form)


@bp.route("/tenant/login", methods=["GET", "POST"])
@limiter.limit(PER_ADDRESS, methods=["POST"])
@limiter.limit(PER_PHONE, key_func=tenant_phone, methods=["POST"], deduct_when=failed)
def tenant_login():
    """WeChat, or a mobile number and its SMS code (portal.auth.sms); in the embedded demo also a shop's account
    code and the phone on file, the page's first form there (`?by=sms` switches to the SMS code)."""
    demo = current().auth.tenant_demo_login
    form = TenantDemoLoginForm()
    if demo and form.validate_on_submit():
        phone, code = form.phone.data.strip(), form.account.data.strip()
        tenant = db.session.execute(select(TenantUser).where(TenantUser.phone == phone)).scalar_one_or_none()
        if tenant and any(a.code == code for a in tenant.accounts):
            sessions.begin(tenant)
            return redirect(safe_next(url_for("tenant.home")))
        flash(_("No shop with that account code and phone number."), "error")
    elif not demo and form.is_submitted():
        abort(404)  # account code + phone is not a way in here
    context = login_page_context()
    context["by_sms"] = not demo or request.args.get("by") == "sms"
    return render_template("auth/tenant_login.html", form=form, **context)


@bp.post("/logout")
def logout():
    """End this session and every other one of the same person (a POST, so it carries the CSRF token)."""
    was_staff = isinstance(current_user, StaffUser)
    if isinstance(current_user, StaffUser | TenantUser):
        sessions.end_all(current_user._get_current_object())
        db.session.commit()
    return redirect(url_for("auth.staff_login" if was_staff else "auth.tenant_login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the interface language for this session."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next("/"))


def landing():
    """`/`: people who are logged in go to their area; others choose one."""
    if isinstance(current_user, StaffUser):
        return redirect(url_for("staff.index"))
    if isinstance(current_user, TenantUser):
        return redirect(url_for("tenant.home"))
    return render_template("index.html")

