"""Sessions for two kinds of people: who a session belongs to, and where to send those without one."""
from __future__ import annotations

from flask import Flask, request, url_for

from portal.extensions import db, login_manager
from portal.models import StaffUser, TenantUser
from portal.web.htmx import go_to


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
    endpoint = "auth.tenant_login" if request.blueprint == "tenant" else "auth.staff_login"
    # htmx gets 401 with HX-Redirect: a plain redirect would swap the whole login page into the polled fragment
    return go_to(url_for(endpoint, next=request.full_path), code=302, htmx_status=401)


def init_app(app: Flask) -> None:
    """Nothing beyond the login manager yet; kept for symmetry with the other packages."""
    login_manager.session_protection = "strong"
