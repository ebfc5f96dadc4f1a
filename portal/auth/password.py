"""A staff user's own password: chosen at the first login after an admin set one, or changed at will.

While `must_change_password` is set the staff blueprint opens nothing but this page (portal.staff.blueprint).
The new password ends every other session of the user; this one carries on, renewed.
"""
from __future__ import annotations

from flask import flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth import sessions
from portal.auth.blueprint import bp
from portal.auth.forms import PasswordChangeForm
from portal.auth.guards import PER_ADDRESS
from portal.extensions import db, limiter
from portal.models import StaffUser
from portal.staffing.users import MIN_PASSWORD, StaffChangeRefused, change_own_password
from portal.web.htmx import PAGE_REFUSED, go_to


@bp.route("/staff/password", methods=["GET", "POST"])
@login_required
@limiter.limit(PER_ADDRESS, methods=["POST"])
def staff_password():
    """Choose a new password, proving the current one (the temporary one an admin gave, after a reset)."""
    user = current_user._get_current_object()
    if not isinstance(user, StaffUser):
        return go_to(url_for("tenant.home"), code=302)
    form, error = PasswordChangeForm(), None
    if form.validate_on_submit():
        try:
            change_own_password(db.session, user, form.current.data, form.new.data)
        except StaffChangeRefused as refused:
            db.session.rollback()
            error = str(refused)
        else:
            db.session.commit()
            sessions.renew(user)
            flash(_("Your new password is set: your other sessions have ended."), "info")
            return go_to(url_for("staff.index"))
    elif form.is_submitted():
        error = next(iter(form.errors.values()))[0]
    page = render_template("auth/staff_password.html", form=form, error=error, min_length=MIN_PASSWORD,
                           forced=user.must_change_password)
    return (page, PAGE_REFUSED) if error else page
