"""Login and logout for staff and tenants, and the language switch."""
from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from portal.auth.blueprint import bp, safe_next
from portal.auth.forms import StaffLoginForm, TenantDemoLoginForm
from portal.extensions import db, limiter
from portal.models import StaffUser, TenantUser
from portal.settings import current
from portal.web.i18n import LANGUAGES


@bp.route("/staff/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def staff_login():
    """Username and password for property staff."""
    form = StaffLoginForm()
    if form.validate_on_submit():
        user = db.session.execute(
            select(StaffUser).where(StaffUser.username == form.username.data.strip())
        ).scalar_one_or_none()
        if user and user.active and user.check_password(form.password.data):
            login_user(user)
            return redirect(safe_next(url_for("staff.index")))
        flash(_("Wrong username or password."), "error")
    return render_template("auth/staff_login.html", form=form)


@bp.route("/tenant/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def tenant_login():
    """Demo tenant login: a shop's account code and the phone on file (WeChat and SMS come later)."""
    form = TenantDemoLoginForm()
    if form.validate_on_submit():
        phone, code = form.phone.data.strip(), form.account.data.strip()
        tenant = db.session.execute(select(TenantUser).where(TenantUser.phone == phone)).scalar_one_or_none()
        if tenant and any(a.code == code for a in tenant.accounts):
            login_user(tenant)
            return redirect(safe_next(url_for("tenant.home")))
        flash(_("No shop with that account code and phone number."), "error")
    return render_template("auth/tenant_login.html", form=form, wechat_login=current().wechat.oauth_configured)


@bp.post("/logout")
def logout():
    """End the session (a POST, so it carries the CSRF token)."""
    was_staff = (session.get("_user_id") or "").startswith("staff:")
    logout_user()
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

