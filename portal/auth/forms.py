"""Login forms (Flask-WTF: CSRF on every form)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class StaffLoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class TenantDemoLoginForm(FlaskForm):
    account = StringField(_l("Shop account code"), validators=[DataRequired(), Length(max=32)])
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=32)])


class PasswordChangeForm(FlaskForm):
    """A staff user's own new password (the length rules are portal.staffing.users', checked there)."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    repeat = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))])
