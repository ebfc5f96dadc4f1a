"""Login forms (Flask-WTF: CSRF on every form)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class StaffLoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class TenantDemoLoginForm(FlaskForm):
    account = StringField(_l("Shop account code"), validators=[DataRequired(), Length(max=32)])
    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=32)])
