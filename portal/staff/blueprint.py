"""The staff blueprint: checks the staff session once for every route."""
from __future__ import annotations

from flask import Blueprint, abort, g
from flask_login import current_user, login_required

from portal.models import StaffUser
from portal.web.access import staff_site_ids

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
@login_required
def require_staff():
    """Only staff users; their site scope is computed once per request."""
    if not isinstance(current_user, StaffUser):
        abort(403)
    g.site_ids = staff_site_ids(current_user)
