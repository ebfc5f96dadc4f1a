"""A signed-in tenant binds a shop: its account code, and either their own phone being the one on file or the
shop's binding code from its bill or meter-box sticker (portal.auth.binding).

Failed tries are limited per tenant user and per address (portal.auth.guards): with an account code read off a
door, the binding code is all a guesser lacks.
"""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.binding import bind_by_code, bind_by_phone, tidy_code
from portal.auth.blueprint import bp
from portal.auth.forms import BindForm
from portal.auth.guards import (
    BIND_PER_ADDRESS,
    BIND_PER_USER,
    PER_ADDRESS,
    failed,
    tenant_user,
    too_many_binding_tries,
)
from portal.auth.login_codes import masked
from portal.extensions import db, limiter
from portal.models import TenantUser
from portal.web.htmx import go_to, render


@bp.route("/tenant/bind", methods=["GET", "POST"])
@limiter.limit(PER_ADDRESS, methods=["POST"])
@limiter.limit(BIND_PER_USER, key_func=tenant_user, methods=["POST"], deduct_when=failed,
               error_message=too_many_binding_tries)
@limiter.limit(BIND_PER_ADDRESS, methods=["POST"], deduct_when=failed, error_message=too_many_binding_tries)
def tenant_bind():
    """The binding form; a shop bound, the tenant goes to it."""
    tenant = current_user._get_current_object()
    if not isinstance(tenant, TenantUser):
        return go_to(url_for("auth.tenant_login", next=request.full_path), code=302, htmx_status=401)
    form, error = BindForm(), None
    if form.validate_on_submit():
        account_code, typed = form.account.data.strip(), tidy_code(form.binding_code.data)
        shops = (bind_by_code(db.session, tenant, account_code, typed) if typed
                 else bind_by_phone(db.session, tenant, account_code))
        if shops:
            db.session.commit()
            for shop in shops:
                flash(_("%(name)s (%(code)s) is linked to you.", name=shop.name, code=shop.code), "info")
            return go_to(url_for("tenant.account", account_id=shops[0].id) if len(shops) == 1
                         else url_for("tenant.home"))
        db.session.rollback()
        error = (_("No shop has that account code and binding code. Check both on the bill or the meter-box "
                   "sticker.") if typed else
                 _("Your mobile number is not the one on file for that shop: enter its binding code too."))
    elif form.is_submitted():
        error = next(iter(form.errors.values()))[0]
    return render("auth/tenant_bind.html", "auth/_bind.html", refused=error is not None, form=form, error=error,
                  phone=masked(tenant.phone) if tenant.phone else "", has_shops=bool(tenant.accounts))
