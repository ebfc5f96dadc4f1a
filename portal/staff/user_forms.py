"""The forms of the users and API-token pages (Flask-WTF: CSRF on every one); the rules behind them are
portal.staffing's, these only say what shape the input has."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.extensions import db
from portal.models import Role, Site
from portal.staffing.tokens import MAX_DAYS
from portal.staffing.users import MAX_PASSWORD
from portal.web.labels import label


class AccessForm(FlaskForm):
    """A role and the sites it acts on."""

    role = SelectField(_l("Role"), validators=[DataRequired()], invalid_choice_message=_l("Choose a role of the list."))
    sites = SelectMultipleField(_l("Sites"), coerce=int, invalid_value_message=_l("Choose sites of the list."),
                                invalid_choice_message=_l("Choose sites of the list."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = [SelectChoice(role.value, label(role)) for role in Role]
        self.sites.choices = [SelectChoice(site.id, f"{site.code} · {site.name}") for site in all_sites()]

    def chosen_sites(self) -> list[Site]:
        """The sites ticked, as rows (the choices were checked against the sites that exist)."""
        ids = set(self.sites.data or ())
        return [site for site in all_sites() if site.id in ids]


class NewUserForm(AccessForm):
    """A new user: name, role, sites, and a temporary password (blank: a random one)."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = StringField(_l("Temporary password"), validators=[Optional(), Length(max=MAX_PASSWORD)])


class ResetForm(FlaskForm):
    """A temporary password typed by the admin (blank: a random one)."""

    password = StringField(_l("Temporary password"), validators=[Optional(), Length(max=MAX_PASSWORD)])


class ActiveForm(FlaskForm):
    """Switch a user on (1) or off (0)."""

    active = SelectField(choices=[SelectChoice("1"), SelectChoice("0")], validators=[DataRequired()],
                         invalid_choice_message=_l("Switch on (1) or off (0)."))


class TokenForm(FlaskForm):
    """A token for a user, valid so many days (0: no end)."""

    user = SelectField(_l("User"), coerce=int, validators=[InputRequired()],
                       invalid_value_message=_l("Choose an active user of the list."),
                       invalid_choice_message=_l("Choose an active user of the list."))
    days = IntegerField(_l("Days until it expires (0: never)"),
                        validators=[InputRequired(), NumberRange(min=0, max=MAX_DAYS)])


def all_sites() -> list[Site]:
    """Every site, by code (admins give any of them)."""
    return list(db.session.execute(select(Site).order_by(Site.code)).scalars())


def first_error(form: FlaskForm) -> str | None:
    """The first error of a form that failed validation, with the field's name in front."""
    for name, errors in form.errors.items():
        field = getattr(form, name, None)
        title = field.label.text if field is not None and field.label.text else None
        return f"{title}: {errors[0]}" if title else str(errors[0])
    return None
