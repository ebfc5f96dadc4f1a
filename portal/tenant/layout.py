"""What base_tenant.html shows around every tenant page: the signed-in tenant's shops for the switcher, and the
logout.

The tenant layout is drawn for more than the tenant blueprint (the sign-in and binding pages, the sticker's
`/r/<token>`, the error pages), so this is an app-wide template global read only by that layout: a staff page
never calls it. A visitor who is no tenant (a sticker's payer, a staff session on a tenant error page) gets
neither switcher nor logout.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import request, url_for
from flask_login import current_user

from portal.models import Account, TenantUser
from portal.tenant.blueprint import bp


@dataclass(frozen=True)
class Layout:
    """The tenant's place in the layout: signed in or not, their shops, and the one on screen."""

    signed_in: bool = False
    shops: list[Account] = field(default_factory=list)
    current_id: int | None = None

    def link(self, account: Account) -> str:
        """Where the switcher takes this shop: the same page of it when that page is a shop's (its alerts, its
        history), else the shop's own page."""
        args = request.view_args or {}
        same_page = (request.method == "GET" and (request.endpoint or "").startswith("tenant.")
                     and set(args) == {"account_id"} and self.current_id is not None)
        return url_for(request.endpoint if same_page else "tenant.account", account_id=account.id)


def tenant_layout() -> Layout:
    """The layout's view of the visitor (called by base_tenant.html only)."""
    user = current_user._get_current_object() if current_user else None
    if not isinstance(user, TenantUser):
        return Layout()
    shown = (request.view_args or {}).get("account_id")
    shops = list(user.accounts)
    return Layout(True, shops, shown if shown in {a.id for a in shops} else None)


@bp.app_context_processor
def layout_global() -> dict:
    """Offer `tenant_layout()` to every template (only the tenant layout calls it)."""
    return {"tenant_layout": tenant_layout}
