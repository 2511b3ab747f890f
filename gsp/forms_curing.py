"""Forms for curing records, temperature/humidity readings and their measures. Numbers are taken as text and
checked by gsp.curing (one set of rules for forms and the API)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

CHECK_CHOICES = [("ok", _l("Passed")), ("problem", _l("Problem found"))]


class ReadingForm(FlaskForm):
    temperature = StringField(_l("Temperature (°C)"), validators=[InputRequired(), Length(max=16)])
    humidity = StringField(_l("Relative humidity (%)"), validators=[InputRequired(), Length(max=16)])


class MeasureForm(FlaskForm):
    measure = TextAreaField(_l("Measure taken"), validators=[InputRequired(), Length(max=2000)])


class CuringRecordForm(FlaskForm):
    appearance = SelectField(_l("Appearance"), choices=CHECK_CHOICES, validators=[InputRequired()])
    packaging = SelectField(_l("Packaging"), choices=CHECK_CHOICES, validators=[InputRequired()])
    storage = SelectField(_l("Storage conditions"), choices=CHECK_CHOICES, validators=[InputRequired()])
    result = SelectField(_l("Result"), choices=CHECK_CHOICES, validators=[InputRequired()])
    measures = TextAreaField(_l("Measures taken"), validators=[Length(max=2000)])
    note = StringField(_l("Note"), validators=[Length(max=2000)])
