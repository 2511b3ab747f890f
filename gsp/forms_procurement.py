"""Forms for qualification and purchasing pages. Values are checked again by gsp.qualification and gsp.purchasing
(one set of rules for forms and the API); these forms carry CSRF and the lengths a browser should enforce."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from gsp.qualification import LICENCE_LABELS, SCOPE_ITEMS, SUPPLIER_KINDS


class ScopeField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def scope_choices():
    return [(item, item) for item in SCOPE_ITEMS]


class SupplierForm(FlaskForm):
    code = StringField(_l("Supplier code"), validators=[InputRequired(), Length(max=32)])
    name = StringField(_l("Supplier name"), validators=[InputRequired(), Length(max=160)])
    credit_code = StringField(_l("Unified social credit code"), validators=[InputRequired(), Length(max=18)])
    kind = SelectField(_l("Kind"), choices=list(SUPPLIER_KINDS.items()))
    address = StringField(_l("Address"), validators=[Length(max=255)])
    contact = StringField(_l("Contact"), validators=[Length(max=120)])
    business_scope = ScopeField(_l("Business scope"), choices=scope_choices())
    licence_number = StringField(_l("Drug trade or manufacturing licence no."), validators=[InputRequired(),
                                                                                           Length(max=64)])
    licence_until = DateField(_l("Licence valid until"), validators=[InputRequired()])
    business_number = StringField(_l("Business licence no."), validators=[InputRequired(), Length(max=64)])
    business_until = DateField(_l("Business licence valid until (empty: no end date)"), validators=[Optional()])
    agreement_number = StringField(_l("Quality agreement no."), validators=[Length(max=64)])
    agreement_until = DateField(_l("Quality agreement valid until"), validators=[Optional()])
    rep_name = StringField(_l("Sales representative"), validators=[Length(max=64)])
    rep_id_number = StringField(_l("Representative's ID number"), validators=[Length(max=18)])
    rep_authorisation_no = StringField(_l("Authorisation number"), validators=[Length(max=64)])
    rep_until = DateField(_l("Authorisation valid until"), validators=[Optional()])


class StoreLicenceForm(FlaskForm):
    drug_trade_licence_no = StringField(_l("Drug trade licence no."), validators=[InputRequired(), Length(max=64)])
    valid_until = DateField(_l("Valid until"), validators=[InputRequired()])
    business_licence_no = StringField(_l("Business licence no."), validators=[Length(max=64)])
    business_scope = ScopeField(_l("Business scope"), choices=scope_choices())


class DecisionForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[("approve", _l("Approve")), ("reject", _l("Reject"))])
    note = TextAreaField(_l("Note (required to reject)"), validators=[Length(max=2000)])


class LicenceForm(FlaskForm):
    kind = SelectField(_l("Licence"), choices=list(LICENCE_LABELS.items()))
    number = StringField(_l("Number"), validators=[InputRequired(), Length(max=64)])
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_until = DateField(_l("Valid until"), validators=[Optional()])
    scope = ScopeField(_l("Scope on the licence"), choices=scope_choices(),
                       description=_l("A trade or manufacturing licence's scope becomes the supplier's business "
                                      "scope; leave it empty to keep the scope on file."))


class RepForm(FlaskForm):
    name = StringField(_l("Sales representative"), validators=[InputRequired(), Length(max=64)])
    id_number = StringField(_l("ID number"), validators=[InputRequired(), Length(max=18)])
    authorisation_no = StringField(_l("Authorisation number"), validators=[Length(max=64)])
    valid_until = DateField(_l("Authorisation valid until"), validators=[InputRequired()])


class NewDrugForm(FlaskForm):
    code = StringField(_l("Internal code"), validators=[InputRequired(), Length(max=32)])
    generic_name = StringField(_l("Generic name"), validators=[InputRequired(), Length(max=120)])
    trade_name = StringField(_l("Trade name"), validators=[Length(max=120)])
    dosage_form = StringField(_l("Dosage form"), validators=[Length(max=40)])
    specification = StringField(_l("Specification"), validators=[Length(max=120)])
    package_unit = StringField(_l("Package unit"), default="盒", validators=[InputRequired(), Length(max=16)])
    smallest_unit = StringField(_l("Smallest unit"), default="盒", validators=[InputRequired(), Length(max=16)])
    units_per_package = IntegerField(_l("Smallest units per package"), default=1,
                                     validators=[InputRequired(), NumberRange(1, 10000)])
    manufacturer = StringField(_l("Manufacturer"), validators=[InputRequired(), Length(max=160)])
    approval_no = StringField(_l("Approval number (批准文号)"), validators=[InputRequired(), Length(max=64)])
    barcode = StringField(_l("Barcode (EAN-13)"), validators=[Length(max=14)])
    category = SelectField(_l("Category"))
    rx_class = SelectField(_l("Prescription class"))
    storage_class = SelectField(_l("Storage"))
    scope_item = SelectField(_l("Business scope item"))
    retail_price = StringField(_l("Retail price (yuan)"), validators=[InputRequired(), Length(max=12)])
    documents = TextAreaField(_l("Documents on file"), validators=[InputRequired(), Length(max=2000)])


class DrugChangeForm(FlaskForm):
    field = SelectField(_l("Field"))
    value = StringField(_l("New value"), validators=[InputRequired(), Length(max=160)])
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=2000)])
    documents = TextAreaField(_l("Documents on file"), validators=[Length(max=2000)])


class OrderForm(FlaskForm):
    supplier_id = SelectField(_l("Supplier"), coerce=int)
    rep_id = SelectField(_l("Sales representative"), coerce=int)
    note = StringField(_l("Note"), validators=[Length(max=2000)])
    from_reorder = BooleanField(_l("Start from the stock check's reorder suggestions"))


class OrderLineForm(FlaskForm):
    drug = StringField(_l("Drug code or barcode"), validators=[InputRequired(), Length(max=32)])
    packages = IntegerField(_l("Packages"), validators=[InputRequired(), NumberRange(1, 100000)])
    unit_cost = StringField(_l("Cost per package (yuan)"), validators=[Length(max=12)])


class NoteForm(FlaskForm):
    note = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=2000)])


class InspectionForm(FlaskForm):
    sampled = IntegerField(_l("Packs sampled"), validators=[InputRequired(), NumberRange(0, 100000)])
    abnormal = BooleanField(_l("Seal, label, weight or look abnormal (sample doubled)"))
    appearance_ok = BooleanField(_l("Appearance"))
    packaging_ok = BooleanField(_l("Packaging"))
    label_ok = BooleanField(_l("Label and leaflet"))
    report_ok = BooleanField(_l("Test report for the lot"))
    accepted = IntegerField(_l("Accepted (packages)"), validators=[InputRequired(), NumberRange(0, 100000)])
    rejected = IntegerField(_l("Rejected (packages)"), default=0, validators=[InputRequired(),
                                                                           NumberRange(0, 100000)])
    reject_reason = StringField(_l("Reason for rejecting"), validators=[Length(max=2000)])
    location_id = SelectField(_l("Put accepted goods in"), coerce=int)
    note = StringField(_l("Note"), validators=[Length(max=2000)])


class ReturnForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the return"), validators=[InputRequired(), Length(max=2000)])
