"""The tenant blueprint: every page needs a tenant session, and shows only the tenant's own shops."""
from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, TenantUser

bp = Blueprint("tenant", __name__, url_prefix="/t")


@bp.before_request
@login_required
def require_tenant():
    """Every tenant page needs a tenant session (a staff session is not one)."""
    if not isinstance(current_user, TenantUser):
        abort(403)


def is_own(account_id: int) -> bool:
    """Whether the logged-in tenant is bound to this account."""
    return account_id in {a.id for a in current_user.accounts}


def own_account(account_id: int, *options) -> Account:
    """The tenant's account; 404 alike for "not yours" and "does not exist"."""
    acct = db.session.execute(select(Account).where(Account.id == account_id).options(*options)).scalar_one_or_none()
    if acct is None or not is_own(acct.id):
        abort(404)
    return acct
