"""Who may see what in the staff area and the API: areas by role (the table is portal.web.roles) and site scope.

A staff user sees the rows of their own sites only (admins: every site); a row of another site gets the same
404 as a row that does not exist, so ids cannot be probed. (A tenant's accounts are the tenant blueprint's.)
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import Select

from portal.extensions import db
from portal.models import Role, Site, StaffUser
from portal.web.roles import may_change, may_open


def staff_site_ids(user: StaffUser) -> set[int] | None:
    """The sites a staff user may act on; None means every site (admins)."""
    if user.role == Role.ADMIN:
        return None
    return {site.id for site in user.sites}


def current_staff() -> StaffUser | None:
    """The staff user of this request: the bearer token's in the API, else the session's (None: not staff)."""
    # by blueprint, not by whether g.api_user is set: a test's requests share one app context, and so one g
    user = g.get("api_user") if request.blueprint == "api" else current_user
    return user if isinstance(user, StaffUser) else None


def site_ids() -> set[int] | None:
    """The current staff user's sites (None: every site)."""
    return staff_site_ids(current_staff())  # user.sites is loaded once per session: asking again is cheap


def scope_to_sites(query: Select, site_column, user: StaffUser) -> Select:
    """Restrict a query to the user's sites."""
    ids = staff_site_ids(user)
    return query if ids is None else query.where(site_column.in_(ids))


def scoped(query: Select, site_column) -> Select:
    """Restrict a query to the current staff user's sites."""
    ids = site_ids()
    return query if ids is None else query.where(site_column.in_(ids))


def in_scope(site_id: int) -> bool:
    """Whether the current staff user may see anything of this site."""
    ids = site_ids()
    return ids is None or site_id in ids


def _own_site(row) -> int:
    return row.id if isinstance(row, Site) else row.site_id  # a site is its own site


def scoped_or_404(model, row_id, site_of: Callable[[object], int] = _own_site):
    """The row with this id if it belongs to one of the user's sites; 404 alike for "not yours" and "no such row".

    `site_of(row)` names the row's site when it has no `site_id` of its own (`entry.account.site_id`...).
    """
    row = db.session.get(model, row_id)
    if row is None or not in_scope(site_of(row)):
        abort(404)
    return row


def require_area(area: str, *, to_change: bool = False):
    """View decorator: a staff user whose role may open `area` (portal.web.roles); 401 without one, else 403.

    `to_change`: a page that is only a step of a change (a confirmation form), refused to those who change
    nothing (auditors) even though they read the area.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_staff()
            if user is None:
                abort(401)
            if not may_open(user.role, area) or (to_change and not may_change(user.role)):
                abort(403)
            return view(*args, **kwargs)

        # read by the role walk (tests/web/test_role_walk.py)
        wrapped.staff_area, wrapped.staff_to_change = area, to_change
        return wrapped

    return decorate
