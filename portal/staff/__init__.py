"""Staff area: checks the staff session once for every route of the blueprint."""
from __future__ import annotations

from flask import Blueprint, abort, g
from flask_login import current_user, login_required

from portal.access import staff_site_ids
from portal.models import StaffUser

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
@login_required
def require_staff():
    """Only staff users; their site scope is computed once per request."""
    if not isinstance(current_user, StaffUser):
        abort(403)
    g.site_ids = staff_site_ids(current_user)


from portal.staff import rules, views  # noqa: E402,F401  (routes register on bp)
from portal.staff import counter  # noqa: E402,F401  (the cashier counter: recharges, receipts, refunds, report)
from portal.staff import billing  # noqa: E402,F401  (fees, allocation, line loss, monthly report)
from portal.staff import tariffs  # noqa: E402,F401  (tariffs, price versions, per-meter overrides)
