"""The recipients tab's forms (Flask-WTF: CSRF on every one); what a recipient may be is
portal.notify.recipients', these only check the shape of what was typed."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal.notify.events import EVENTS
from portal.notify.recipients import OPENID, STAFF_EVENTS, RecipientFields, normal_phone


class RecipientForm(FlaskForm):
    """A staff recipient: name, mobile number, WeChat openid, the events taken (none: all), duty hours."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=32)])
    wechat_openid = StringField(_l("WeChat openid"), validators=[
        Optional(), Regexp(f"^{OPENID.pattern}$", message=_l("An openid is 16 to 64 letters, digits, - or _."))])
    events = SelectMultipleField(_l("Events"), invalid_choice_message=_l("Choose events of the list."))
    duty_start = TimeField(_l("On duty from"), validators=[Optional()])
    duty_end = TimeField(_l("until"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events.choices = [SelectChoice(name, str(EVENTS[name].label)) for name in STAFF_EVENTS]

    def validate_phone(self, field) -> None:
        """A mainland mobile number (spaces, dashes and +86 allowed)."""
        if normal_phone(field.data) is None:
            raise ValidationError(_l("A mainland mobile number of 11 digits, such as 13900000001."))

    def validate(self, extra_validators=None) -> bool:
        """The fields, then the duty hours together: both or neither (always on duty), and not the same time.

        Here and not in a field's validator: an empty time field stops its own validators (Optional).
        """
        valid = super().validate(extra_validators)
        start, end = self.duty_start.data, self.duty_end.data
        if self.duty_start.errors or self.duty_end.errors:
            return False
        if (start is None) != (end is None):
            self.duty_end.errors = [_l("Give both duty times, or neither for always on duty.")]
            return False
        if start is not None and start == end:
            self.duty_end.errors = [_l("The duty hours start and end at the same time: leave both empty for "
                                       "always.")]
            return False
        return valid

    def fields(self) -> RecipientFields:
        """What was typed, as the recipients' verbs take it."""
        return RecipientFields(name=self.name.data.strip(), phone=normal_phone(self.phone.data) or "",
                               wechat_openid=(self.wechat_openid.data or "").strip() or None,
                               events=tuple(n for n in STAFF_EVENTS if n in (self.events.data or ())),
                               duty_start=self.duty_start.data, duty_end=self.duty_end.data)


class ActiveForm(FlaskForm):
    """Switch a recipient on (1) or off (0)."""

    active = SelectField(choices=[SelectChoice("1"), SelectChoice("0")], validators=[DataRequired()],
                         invalid_choice_message=_l("Switch on (1) or off (0)."))
