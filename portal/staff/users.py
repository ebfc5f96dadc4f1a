"""Staff pages for users: the list, a new user, and one user's role, sites, activity and password.

Administrators only; an auditor reads the list and a user's page, of the people of their sites (and the
administrators, who reach every site). A password set here is temporary and shown once: the user chooses
their own at their next login. Every change ends the user's sessions and is audited (portal.staffing.users).
The answers that show a password are never cached.
"""
from __future__ import annotations

from flask import Response, abort
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Role, Site, StaffUser
from portal.staff.blueprint import bp
from portal.staff.user_forms import AccessForm, ActiveForm, NewUserForm, ResetForm, first_error
from portal.staffing.users import (
    MIN_PASSWORD,
    StaffChangeRefused,
    change_access,
    create_user,
    reset_password,
    set_active,
    temporary_password,
)
from portal.web.access import require_area, staff_site_ids
from portal.web.htmx import render
from portal.web.roles import may_change


def visible_users() -> Select:
    """The staff users the current one may see: everyone for an admin; for an auditor the people of their
    sites and the administrators."""
    query = select(StaffUser).options(selectinload(StaffUser.sites))
    ids = staff_site_ids(current_user)
    if ids is None:
        return query
    return query.where(or_(StaffUser.role == Role.ADMIN, StaffUser.sites.any(Site.id.in_(ids))))


def _user_or_404(user_id: int) -> StaffUser:
    user = db.session.execute(visible_users().where(StaffUser.id == user_id)).scalar_one_or_none()
    if user is None:
        abort(404)
    return user


def _never_cached(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the list and a new user ---------------------------------------------------------------------------------

def _list(form: NewUserForm | None = None, **shown) -> dict:
    users = db.session.execute(visible_users().order_by(StaffUser.username)).scalars().all()
    return dict(users=users, form=form or NewUserForm(formdata=None), may_change=may_change(current_user.role),
                min_length=MIN_PASSWORD, errors={}, **shown)


@bp.get("/users")
@require_area("users")
def users():
    """Every staff user (of the viewer's sites): role, sites, active, last login, whether a password is due."""
    return render("staff/users/page.html", "staff/users/_users.html", **_list())


@bp.post("/users")
@require_area("users")
def new_user():
    """Create a user with a temporary password, typed or made up here, shown once."""
    form = NewUserForm()
    error = None
    if form.validate():
        password = form.password.data or temporary_password()
        try:
            user = create_user(db.session, current_user, form.username.data, Role(form.role.data),
                               form.chosen_sites(), password)
        except StaffChangeRefused as refused:
            db.session.rollback()
            error = str(refused)
        else:
            db.session.commit()
            shown = _list(created=user, secret=password,
                          message=_("%(user)s created. Hand them this password: it is shown only now.",
                                    user=user.username))
            return _never_cached(render("staff/users/page.html", "staff/users/_users.html", **shown))
    context = _list(form)
    context["errors"] = {"create": error or first_error(form)}
    return render("staff/users/page.html", "staff/users/_users.html", refused=True, **context)


# --- one user ------------------------------------------------------------------------------------------------

def _one(user: StaffUser, access: AccessForm | None = None, **shown) -> dict:
    if access is None:
        access = AccessForm(formdata=None, role=user.role.value, sites=[site.id for site in user.sites])
    return dict(user=user, access=access, reset=ResetForm(formdata=None), active_form=ActiveForm(formdata=None),
                may_change=may_change(current_user.role), is_me=user.id == current_user.id,
                min_length=MIN_PASSWORD, errors={}, **shown)


def _answer(user: StaffUser, key: str, *, error: str | None = None, message: str | None = None,
            access: AccessForm | None = None, secret: str | None = None) -> Response:
    """The user's section with the error or message in it: the partial for htmx, else the page."""
    context = _one(user, access if error else None, message=None if error else message, secret=secret)
    context["errors"] = {key: error} if error else {}
    response = render("staff/users/user.html", "staff/users/_user.html", refused=bool(error), **context)
    return _never_cached(response) if secret else response


@bp.get("/users/<int:user_id>")
@require_area("users")
def user_page(user_id: int):
    """One user: their role and sites, whether active, and the password reset."""
    user = _user_or_404(user_id)
    return render("staff/users/user.html", "staff/users/_user.html", **_one(user))


@bp.post("/users/<int:user_id>/access")
@require_area("users")
def user_access(user_id: int):
    """Give a user another role or other sites (their sessions end)."""
    user = _user_or_404(user_id)
    form = AccessForm()
    if not form.validate():
        return _answer(user, "access", error=first_error(form), access=form)
    try:
        changed = change_access(db.session, current_user, user, Role(form.role.data), form.chosen_sites())
    except StaffChangeRefused as refused:
        db.session.rollback()
        return _answer(user, "access", error=str(refused), access=form)
    db.session.commit()
    return _answer(user, "access", message=_("%(user)s: role and sites saved; their sessions have ended.",
                                             user=user.username) if changed else _("Nothing changed."))


@bp.post("/users/<int:user_id>/active")
@require_area("users")
def user_active(user_id: int):
    """Switch a user off (sessions end, logins and tokens refused) or on again."""
    user = _user_or_404(user_id)
    form = ActiveForm()
    if not form.validate():
        return _answer(user, "active", error=first_error(form))
    active = form.active.data == "1"
    try:
        changed = set_active(db.session, current_user, user, active)
    except StaffChangeRefused as refused:
        db.session.rollback()
        return _answer(user, "active", error=str(refused))
    db.session.commit()
    if not changed:
        message = _("Nothing changed.")
    elif active:
        message = _("%(user)s may log in again.", user=user.username)
    else:
        message = _("%(user)s is switched off: their sessions have ended; logins and tokens are refused.",
                    user=user.username)
    return _answer(user, "active", message=message)


@bp.post("/users/<int:user_id>/password")
@require_area("users")
def user_password(user_id: int):
    """Give a user a temporary password (typed, or made up here) shown once; they choose their own next."""
    user = _user_or_404(user_id)
    form = ResetForm()
    if not form.validate():
        return _answer(user, "reset", error=first_error(form))
    try:
        password = reset_password(db.session, current_user, user, form.password.data or None)
    except StaffChangeRefused as refused:
        db.session.rollback()
        return _answer(user, "reset", error=str(refused))
    db.session.commit()
    return _answer(user, "reset", secret=password, message=_(
        "New temporary password for %(user)s, shown only now. Their sessions have ended; they choose their own "
        "password at their next login.", user=user.username))
