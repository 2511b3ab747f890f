"""Inventory forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class TransferForm(FlaskForm):
    lot_id = SelectField(_l("Lot"), coerce=int, validators=[DataRequired()])
    from_location_id = SelectField(_l("From"), coerce=int, validators=[DataRequired()])
    to_location_id = SelectField(_l("To"), coerce=int, validators=[DataRequired()])
    quantity = IntegerField(_l("Quantity (smallest units)"), validators=[DataRequired(), NumberRange(min=1, max=1_000_000)])
    reason = StringField(_l("Reason"), validators=[Length(max=200)])
    client_uuid = HiddenField()


# --- stocktake (盘点) ---

class StartStocktakeForm(FlaskForm):
    kind = SelectField(_l("Kind"), validators=[DataRequired()])  # choices: inventory.stocktake.KIND_LABELS
    location_id = SelectField(_l("Location"), coerce=int, default=0)  # 0: every location
    note = StringField(_l("Note"), validators=[Length(max=500)])


class StocktakeScanForm(FlaskForm):
    code = StringField(_l("Scan or type a barcode"), validators=[DataRequired(), Length(max=200)])
    packs = IntegerField(_l("Packs"), default=1, validators=[DataRequired(), NumberRange(min=1, max=10_000)])
    location_id = SelectField(_l("Location"), coerce=int, default=0)


class StocktakeCountForm(FlaskForm):
    """CSRF only: the typed counts arrive as qty-<line id> fields, checked by the view and the service."""


class StocktakeNoteForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Length(max=500)])


class StocktakeReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


# --- stock check: reorder levels ---

class StockLevelForm(FlaskForm):
    drug_code = StringField(_l("Drug code or barcode"), validators=[DataRequired(), Length(max=32)])
    reorder_point = IntegerField(_l("Reorder point"), validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    max_level = IntegerField(_l("Maximum level"), validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    reorder_qty = IntegerField(_l("Order quantity"), validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    reason = StringField(_l("Reason"), validators=[Length(max=200)])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        point, maximum = self.reorder_point.data, self.max_level.data
        if point is not None and maximum is not None and maximum < point:
            self.max_level.errors.append(_l("The maximum level cannot be below the reorder point."))
            return False
        return True
