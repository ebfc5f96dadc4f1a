"""Sessions for two kinds of people: staff (password) and tenants (demo now; WeChat and SMS later)."""
from __future__ import annotations

from flask import Flask, redirect, request, url_for

from portal.extensions import db, login_manager
from portal.models import StaffUser, TenantUser


@login_manager.user_loader
def load_user(user_id: str):
    """Flask-Login ids carry their kind: staff:<id> or tenant:<id>."""
    kind, _, raw = user_id.partition(":")
    if not raw.isdigit():
        return None
    model = {"staff": StaffUser, "tenant": TenantUser}.get(kind)
    return db.session.get(model, int(raw)) if model else None


@login_manager.unauthorized_handler
def unauthorized():
    """Send people to the login page of their area."""
    if request.blueprint == "tenant":
        return redirect(url_for("auth.tenant_login", next=request.full_path))
    return redirect(url_for("auth.staff_login", next=request.full_path))


def init_app(app: Flask) -> None:
    """Nothing beyond the login manager yet; kept for symmetry with the other packages."""
    login_manager.session_protection = "strong"
