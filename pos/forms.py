"""Counter forms. They only parse and check the shape of what was typed; every rule lives in pos.services.

CSRF: the app-wide CSRFProtect checks every POST (the form's csrf_token field, or the X-CSRFToken header that
static/js/pos.js adds to htmx requests), so these forms do not carry a token field of their own.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from core.errors import InvalidInput
from core.money import yuan_to_fen

MAX_YUAN_FEN = 100_000_000  # one million yuan: anything larger is a typing or scanning mistake


class YuanField(StringField):
    """An amount typed in yuan ("28.5", "100"); `data` is integer fen, or None when left empty."""

    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip().replace("￥", "").replace("¥", "").replace(",", "")
        if not raw:
            return
        try:
            fen = yuan_to_fen(raw)
        except (ValueError, TypeError):
            raise ValueError(_l("%(value)s is not an amount in yuan (for example 28.50).", value=raw[:20]))
        if not 0 <= fen <= MAX_YUAN_FEN:
            raise ValueError(_l("The amount must be between 0 and 1,000,000 yuan."))
        self.data = fen

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data / 100:.2f}"


class WholeNumberField(IntegerField):
    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        try:
            self.data = int(raw)
        except ValueError:
            raise ValueError(_l("%(value)s is not a whole number.", value=raw[:20]))


class DayField(DateField):
    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        try:
            super().process_formdata([raw])
        except ValueError:
            self.data = None
            raise ValueError(_l("Dates are written as YYYY-MM-DD."))


REQUIRED = _l("This field is required.")


def required():
    return InputRequired(message=REQUIRED)


def filled():
    return DataRequired(message=REQUIRED)


def at_most(n: int):
    return Length(max=n, message=_l("At most %(max)d characters."))


def packs_range():
    return NumberRange(min=1, max=999, message=_l("Enter a whole number from 1 to 999."))


class PosForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect checks every POST already (see the module docstring)

    def checked(self) -> "PosForm":
        """Validate, or raise InvalidInput (422) naming the first field that is wrong."""
        if not self.validate():
            name, errors = next(iter(self.errors.items()))
            label = self[name].label.text if name in self._fields else name
            raise InvalidInput(_l("%(field)s: %(error)s", field=label, error=errors[0]), code="invalid_field",
                               details={"field": name})
        return self


class OpenShiftForm(PosForm):
    opening_float = YuanField(_l("Cash float (yuan)"), validators=[required()])


class CloseShiftForm(PosForm):
    counted_cash = YuanField(_l("Counted cash (yuan)"), validators=[required()])


class QuantityForm(PosForm):
    packs = WholeNumberField(_l("Quantity"), validators=[required(), packs_range()])


class AddForm(PosForm):
    drug_id = WholeNumberField(_l("Drug"), validators=[required()])
    packs = WholeNumberField(_l("Quantity"), default=1, validators=[Optional(), packs_range()])
    split_pack = BooleanField(_l("Split pack"))


class LotForm(PosForm):
    lot_id = WholeNumberField(_l("Lot"), validators=[required()])


class PriceForm(PosForm):
    price = YuanField(_l("New unit price (yuan)"), validators=[required()])
    reason = StringField(_l("Reason"), validators=[filled(), at_most(200)])


class BuyerForm(PosForm):
    name = StringField(_l("Buyer's name"), validators=[filled(), at_most(64)])
    id_number = StringField(_l("ID number"), validators=[filled(), at_most(18)])


class PrescriptionForm(PosForm):
    number = StringField(_l("Prescription number"), validators=[filled(), at_most(40)])
    prescriber = StringField(_l("Prescriber"), validators=[filled(), at_most(64)])
    institution = StringField(_l("Institution"), validators=[filled(), at_most(120)])
    issued_on = DayField(_l("Issued on"), validators=[required()])
    diagnosis = StringField(_l("Diagnosis"), validators=[filled(), at_most(200)])


class ReviewForm(PosForm):
    username = StringField(_l("Pharmacist user name"), validators=[filled(), at_most(64)])
    password = PasswordField(_l("Password"), validators=[filled(), at_most(256)])
    decision = StringField(_l("Decision"), validators=[filled(), AnyOf(("approve", "reject"),
                                                                         message=_l("Approve or reject."))])
    note = StringField(_l("Note"), validators=[at_most(500)])


class PaymentForm(PosForm):
    cash = YuanField(_l("Cash"))
    card = YuanField(_l("Bank card"))
    card_ref = StringField(_l("Card slip number"), validators=[at_most(64)])
    wechat = YuanField(_l("WeChat Pay"))
    wechat_ref = StringField(_l("WeChat transaction number"), validators=[at_most(64)])
    alipay = YuanField(_l("Alipay"))
    alipay_ref = StringField(_l("Alipay transaction number"), validators=[at_most(64)])
    client_uuid = HiddenField()

    def tenders(self) -> list[tuple[str, int, str]]:
        """(tender, amount in fen, reference) for every amount typed; zero amounts are left out."""
        out = []
        for tender, amount, ref in (("cash", self.cash, None), ("card", self.card, self.card_ref),
                                    ("wechat", self.wechat, self.wechat_ref),
                                    ("alipay", self.alipay, self.alipay_ref)):
            if amount.data:
                out.append((tender, amount.data, (ref.data or "").strip() if ref is not None else ""))
        return out


class ReturnForm(PosForm):
    number = StringField(_l("Sale number"), validators=[filled(), at_most(40)])
    reason = StringField(_l("Reason"), validators=[filled(), at_most(40)])  # checked against the store policy
    note = StringField(_l("Note"), validators=[at_most(200)])
    approver = StringField(_l("Approver user name"), validators=[filled(), at_most(64)])
    approver_password = PasswordField(_l("Approver password"), validators=[filled(), at_most(256)])
    client_uuid = HiddenField()
