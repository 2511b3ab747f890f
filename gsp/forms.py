"""Quality forms. Choices are filled by the views; the services check everything again."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from gsp.models import FoundWhere
from gsp.quality import FOUND_WHERE_LABELS, LOCK_REASON_LABELS, MANUAL_LOCK_REASONS, RECALL_MEASURES


class FlagForm(FlaskForm):
    found_where = SelectField(_l("Found where"), choices=[(w.value, FOUND_WHERE_LABELS[w]) for w in FoundWhere],
                              validators=[DataRequired()])
    note = TextAreaField(_l("What is wrong"), validators=[DataRequired(), Length(max=2000)])


class LockForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=[(r.value, LOCK_REASON_LABELS[r]) for r in MANUAL_LOCK_REASONS],
                         validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class UnlockForm(FlaskForm):
    conclusion = TextAreaField(_l("Conclusion of the investigation"), validators=[DataRequired(), Length(max=2000)])


class NonconformingForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=[(r.value, LOCK_REASON_LABELS[r]) for r in LOCK_REASON_LABELS],
                         validators=[DataRequired()])
    note = TextAreaField(_l("Finding"), validators=[DataRequired(), Length(max=2000)])
    counterfeit = BooleanField(_l("Suspected counterfeit (report to the drug regulator)"))


class DestructionRequestForm(FlaskForm):
    quantity = IntegerField(_l("Quantity (smallest units)"), validators=[DataRequired(),
                                                                         NumberRange(min=1, max=1_000_000)])
    method = StringField(_l("Method"), validators=[DataRequired(), Length(max=120)])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class DestructionDecisionForm(FlaskForm):
    witness_id = SelectField(_l("Witness"), coerce=int, validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])
    decision = SelectField(_l("Decision"), choices=[("approve", _l("Approve and destroy")), ("reject", _l("Reject"))],
                           validators=[DataRequired()])


class SaleStopForm(FlaskForm):
    drug_code = StringField(_l("Drug code or barcode"), validators=[DataRequired(), Length(max=32)])
    lot_no = StringField(_l("Lot number (empty: every lot)"), validators=[Length(max=40)])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class NoteForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=2000)])


class RecallForm(FlaskForm):
    drug_code = StringField(_l("Drug code or barcode"), validators=[DataRequired(), Length(max=32)])
    lot_nos = StringField(_l("Lot numbers, comma-separated (empty: every lot)"), validators=[Length(max=1000)])
    level = SelectField(_l("Level"), coerce=int, choices=[(1, _l("Level 1 (most serious)")), (2, _l("Level 2")),
                                                          (3, _l("Level 3"))], validators=[DataRequired()])
    measure = SelectField(_l("Measure"), choices=list(RECALL_MEASURES.items()), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class RecoveryForm(FlaskForm):
    lot_id = SelectField(_l("Lot"), coerce=int, validators=[DataRequired()])
    sale_number = StringField(_l("Sale number"), validators=[Length(max=32)])
    quantity = IntegerField(_l("Quantity recovered (smallest units)"),
                            validators=[DataRequired(), NumberRange(min=1, max=1_000_000)])
    note = StringField(_l("Note"), validators=[Length(max=500)])
