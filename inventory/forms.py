"""Inventory forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange


class TransferForm(FlaskForm):
    lot_id = SelectField(_l("Lot"), coerce=int, validators=[DataRequired()])
    from_location_id = SelectField(_l("From"), coerce=int, validators=[DataRequired()])
    to_location_id = SelectField(_l("To"), coerce=int, validators=[DataRequired()])
    quantity = IntegerField(_l("Quantity (smallest units)"), validators=[DataRequired(), NumberRange(min=1, max=1_000_000)])
    reason = StringField(_l("Reason"), validators=[Length(max=200)])
    client_uuid = HiddenField()
