"""Who may see what: staff roles and site scope, tenants and their bound accounts."""
from __future__ import annotations

import functools

from flask import abort, g
from flask_login import current_user
from sqlalchemy import Select

from portal.models import Account, Role, Site, StaffUser, TenantUser


def staff_site_ids(user: StaffUser) -> set[int] | None:
    """The sites a staff user may act on; None means every site (admins)."""
    if user.role == Role.ADMIN:
        return None
    return {site.id for site in user.sites}


def scope_to_sites(query: Select, site_column, user: StaffUser) -> Select:
    """Restrict a query to the user's sites."""
    ids = staff_site_ids(user)
    return query if ids is None else query.where(site_column.in_(ids))


def can_see_site(user: StaffUser, site_id: int) -> bool:
    """Whether the staff user may see anything of this site."""
    ids = staff_site_ids(user)
    return ids is None or site_id in ids


def require_role(*roles: Role):
    """View decorator: a logged-in staff user with one of `roles` (admins always pass)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = getattr(g, "api_user", None) or current_user
            if not isinstance(user, StaffUser):
                abort(401)
            if user.role != Role.ADMIN and roles and user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def tenant_accounts(user: TenantUser) -> list[Account]:
    """The accounts a tenant user is bound to."""
    return list(user.accounts)


def tenant_can_see(user: TenantUser, account: Account) -> bool:
    """Whether a tenant user may see and pay for this account."""
    return any(a.id == account.id for a in user.accounts)


__all__ = ["Site", "can_see_site", "require_role", "scope_to_sites", "staff_site_ids", "tenant_can_see"]
