"""The staff blueprint: checks the staff session once for every route, and gives every page its navigation."""
from __future__ import annotations

from flask import Blueprint, abort, request, url_for
from flask_login import current_user, login_required

from portal.models import StaffUser
from portal.web.htmx import go_to
from portal.web.roles import may_send, navigation

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
@login_required
def require_staff():
    """Only staff users who have chosen their own password, and from an auditor only reads (what each may see and
    open is portal.web.access's)."""
    if not isinstance(current_user, StaffUser) or not may_send(current_user.role, request.method):
        abort(403)
    if current_user.must_change_password:
        # a password an admin set (a new user's, a reset) opens nothing until the user has chosen their own
        return go_to(url_for("auth.staff_password"), code=302)
    return None


@bp.context_processor
def staff_navigation() -> dict:
    """The areas of the role table this user may open, for the navigation bar of every staff page."""
    return {"staff_nav": navigation(current_user.role)}
