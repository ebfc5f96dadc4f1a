"""Login forms (Flask-WTF: CSRF on every form)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class StaffLoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class TenantDemoLoginForm(FlaskForm):
    """The embedded demo's sign-in: each field says what is missing, so an empty submit is never silent."""

    account = StringField(_l("Shop account code"), validators=[DataRequired(_l("Enter the shop's account code.")),
                                                               Length(max=32)])
    phone = StringField(_l("Phone number"), validators=[DataRequired(_l("Enter the phone number on file.")),
                                                        Length(max=32)])


class WechatBindForm(FlaskForm):
    """Binding a WeChat to a shop: its account code, and the phone on file or the shop's binding code."""

    account = StringField(_l("Shop account code"), validators=[DataRequired(_l("Enter the shop's account code.")),
                                                               Length(max=32)])
    phone = StringField(_l("Phone number"), validators=[Length(max=32)])
    binding_code = StringField(_l("Binding code"), validators=[Length(max=20)])

    def validate(self, extra_validators=None) -> bool:
        """One of the two proofs is needed."""
        if not super().validate(extra_validators):
            return False
        if not (self.phone.data or "").strip() and not (self.binding_code.data or "").strip():
            self.phone.errors.append(_l("Enter the phone number on file for the shop, or its binding code."))
            return False
        return True


class SmsPhoneForm(FlaskForm):
    """Step one of the SMS sign-in: the mobile number a code goes to (portal.auth.login_codes checks it)."""

    phone = StringField(_l("Mobile number"), validators=[DataRequired(_l("Enter your mobile number.")),
                                                          Length(max=32)])


class SmsCodeForm(FlaskForm):
    """Step two: the number again (a hidden field) and the code it received."""

    phone = HiddenField(validators=[DataRequired(), Length(max=32)])
    code = StringField(_l("SMS code"), validators=[DataRequired(_l("Enter the 6-digit code from the SMS.")),
                                                   Length(max=12)])


class BindForm(FlaskForm):
    """A shop to bind: its account code, and its binding code unless the tenant's phone is the one on file."""

    account = StringField(_l("Shop account code"), validators=[DataRequired(_l("Enter the shop's account code.")),
                                                               Length(max=32)])
    binding_code = StringField(_l("Binding code"), validators=[Length(max=20)])


class PasswordChangeForm(FlaskForm):
    """A staff user's own new password (the length rules are portal.staffing.users', checked there)."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    repeat = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))])
