"""Staff pages for API tokens: the list (prefix, user, created, last use, expiry, state), a new token shown
exactly once, and revoking one after a confirmation page.

Administrators only; an auditor reads the tokens of the people they may see (portal.staff.users). A token
is made and revoked by portal.staffing.tokens, which audits both.
"""
from __future__ import annotations

from flask import Response, abort, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from portal.extensions import db
from portal.models import ApiToken, StaffUser, utcnow
from portal.settings import current
from portal.staff.blueprint import bp
from portal.staff.user_forms import TokenForm, first_error
from portal.staff.users import visible_users
from portal.staffing.tokens import issue_token, revoke_token, token_state
from portal.staffing.users import StaffChangeRefused
from portal.web.access import require_area
from portal.web.htmx import answer_form, render
from portal.web.roles import may_change


def _visible_tokens():
    """The tokens of the users the current one may see, newest first."""
    users = visible_users().with_only_columns(StaffUser.id).subquery()
    return (select(ApiToken).where(ApiToken.user_id.in_(select(users.c.id)))
            .options(selectinload(ApiToken.user)).order_by(ApiToken.id.desc()))


def _token_or_404(token_id: int) -> ApiToken:
    token = db.session.execute(_visible_tokens().where(ApiToken.id == token_id)).scalar_one_or_none()
    if token is None:
        abort(404)
    return token


def _form(posted: bool = False) -> TokenForm:
    """The new-token form (the one posted, or a blank one), its users those who may get a token: the active."""
    form = TokenForm() if posted else TokenForm(formdata=None, days=current().auth.api_token_days)
    people = db.session.execute(visible_users().where(StaffUser.active.is_(True))
                                .order_by(StaffUser.username)).scalars()
    form.user.choices = [SelectChoice(user.id, user.username) for user in people]
    return form


def _context(form: TokenForm | None = None, **shown) -> dict:
    tokens = db.session.execute(_visible_tokens()).scalars().all()
    now = utcnow()
    return dict(tokens=tokens, states={t.id: token_state(t, now) for t in tokens}, form=form or _form(),
                may_change=may_change(current_user.role), errors={}, **shown)


@bp.get("/api-tokens")
@require_area("api_tokens")
def api_tokens():
    """Every token of the people the viewer may see."""
    return render("staff/api_tokens/page.html", "staff/api_tokens/_tokens.html", **_context())


@bp.post("/api-tokens")
@require_area("api_tokens")
def new_api_token():
    """A token for a user, shown in clear this once (only its hash is kept)."""
    form = _form(posted=True)
    error = None
    if form.validate():
        user = db.session.get(StaffUser, form.user.data)
        try:
            row, token = issue_token(db.session, current_user.actor, user, form.days.data)
        except StaffChangeRefused as refused:
            db.session.rollback()
            error = str(refused)
        else:
            db.session.commit()
            shown = _context(created=row, secret=token, message=_(
                "Token %(prefix)s for %(user)s. Copy it now: it is shown only this once.",
                prefix=row.prefix, user=user.username))
            response: Response = render("staff/api_tokens/page.html", "staff/api_tokens/_tokens.html", **shown)
            response.headers["Cache-Control"] = "no-store"
            return response
    context = _context(form)
    context["errors"] = {"create": error or first_error(form)}
    return render("staff/api_tokens/page.html", "staff/api_tokens/_tokens.html", refused=True, **context)


@bp.get("/api-tokens/<int:token_id>/revoke")
@require_area("api_tokens", to_change=True)
def confirm_revoke(token_id: int):
    """Ask before revoking: which token, whose, last used when."""
    token = _token_or_404(token_id)
    return render_template("staff/api_tokens/revoke.html", token=token, state=token_state(token))


@bp.post("/api-tokens/<int:token_id>/revoke")
@require_area("api_tokens")
def revoke_api_token(token_id: int):
    """Revoke a token for good: it is refused from its next call on."""
    token = _token_or_404(token_id)
    back = url_for("staff.api_tokens")
    if not revoke_token(db.session, current_user.actor, token):
        return answer_form("staff/api_tokens/_tokens.html", back, lambda: _with_error(token), error=_(
            "Token %(prefix)s was already revoked.", prefix=token.prefix))
    db.session.commit()
    message = _("Token %(prefix)s of %(user)s is revoked.", prefix=token.prefix, user=token.user.username)
    return answer_form("staff/api_tokens/_tokens.html", back, lambda: _context(message=message), message=message)


def _with_error(token: ApiToken) -> dict:
    context = _context()
    context["errors"] = {"revoke": _("Token %(prefix)s was already revoked.", prefix=token.prefix)}
    return context
