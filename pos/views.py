"""POS pages: registers and shifts, the counter screen (htmx partials), receipts, returns, day close, the journal.

The counter is one page, /pos/<code>: a scan field outside the swapped area (so it keeps focus) and the
"workspace" partial (cart, totals, payment, prescription, buyer, held carts, printer). Every counter action is a
POST that answers with a fresh workspace — with the service's message and its 4xx status when something is refused
(static/js/pos.js lets htmx swap 4xx answers). Every rule is enforced in pos.services; the views only parse input.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlmodel import func, select

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput, NotFound, YaofangError
from core.models import User
from core.permissions import Perm
from core.services import get_store
from inventory import services as inv
from inventory.models import Drug, Location, LocationKind, Lot, RxClass, SpecialClass
from pos import services as pos
from pos.forms import (AddForm, BuyerForm, CloseShiftForm, LotForm, OpenShiftForm, PaymentForm, PrescriptionForm,
                       PriceForm, QuantityForm, ReturnForm, ReviewForm)
from pos.models import DayClose, Register, Sale, Shift

bp = Blueprint("pos", __name__)

RETURN_REASON_LABELS = {
    "quality_problem": _l("Quality problem"),
    "wrong_dispensing": _l("Wrong drug or quantity dispensed"),
    "adverse_reaction": _l("Adverse reaction"),
    "recall": _l("Recall"),
    "customer_changed_mind": _l("Customer changed their mind"),
    "other": _l("Other"),
}


@bp.route("/registers")
@requires(Perm.STORE_READ)
def registers():
    rows = get_session().exec(select(Register).where(Register.store_id == current_actor().store_id)
                              .order_by(Register.code)).all()
    return render_template("pos/registers.html", registers=rows)


# --- helpers ----------------------------------------------------------------------------------------------------------

def _register(code: str) -> Register:
    return pos.get_register(get_session(), current_actor().store_id, code)


def _settings() -> pos.PosSettings:
    return pos.PosSettings.from_config(current_app.config)


def _money(fen: int) -> str:
    from core.money import format_fen

    return format_fen(fen)


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _names(db, ids) -> dict[int, str]:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    return dict(db.exec(select(User.id, User.display_name).where(User.id.in_(ids))).all())


# --- registers and shifts ---------------------------------------------------------------------------------------------

def _home(message: str | None = None, status: int = 200, form_code: str | None = None, form=None):
    db = get_session()
    actor = current_actor()
    rows = []
    for register in pos.store_registers(db, actor.store_id):
        shift = pos.open_shift_of(db, register.id)
        rows.append((register, shift))
    names = _names(db, [s.cashier_id for _r, s in rows if s])
    return render_template("pos/home.html", rows=rows, names=names, message=message, form_code=form_code,
                           form=form or OpenShiftForm(formdata=None)), status


@bp.route("/pos")
@requires(Perm.POS_SELL)
def counter_home():
    return _home()


@bp.route("/pos/<code>/shift/open", methods=["POST"])
@requires(Perm.POS_SELL)
def shift_open(code: str):
    db = get_session()
    register = _register(code)
    form = OpenShiftForm()
    try:
        form.checked()
        pos.open_shift(db, current_actor(), register, form.opening_float.data)
    except YaofangError as exc:
        db.rollback()
        return _home(str(exc.message), exc.status, form_code=register.code, form=form)
    flash(_("Shift opened on %(code)s with a float of %(amount)s.", code=register.code,
            amount=_money(form.opening_float.data)), "success")
    return redirect(url_for("pos.counter", code=register.code))


def _shift_page(register: Register, *, report=None, shift=None, message=None, level="info", status=200,
                form=None, just_closed=False):
    db = get_session()
    if shift is None:
        shift = pos.open_shift_of(db, register.id) or db.exec(
            select(Shift).where(Shift.register_id == register.id).order_by(Shift.id.desc())).first()
    if report is None and shift is not None:
        report = pos.shift_report(db, shift)
    names = _names(db, [shift.cashier_id, shift.closed_by_id] if shift else [])
    return render_template("pos/shift.html", register=register, shift=shift, report=report, names=names,
                           message=message, level=level, form=form or CloseShiftForm(formdata=None),
                           just_closed=just_closed), status


@bp.route("/pos/<code>/shift")
@requires(Perm.POS_SELL)
def shift_report(code: str):
    return _shift_page(_register(code))


@bp.route("/pos/<code>/shift/close", methods=["POST"])
@requires(Perm.POS_SELL)
def shift_close(code: str):
    db = get_session()
    register = _register(code)
    form = CloseShiftForm()
    shift = pos.open_shift_of(db, register.id)
    try:
        form.checked()
        report = pos.close_shift(db, current_actor(), register, form.counted_cash.data)
    except YaofangError as exc:
        db.rollback()
        return _shift_page(register, message=str(exc.message), level="error", status=exc.status, form=form)
    db.refresh(shift)
    return _shift_page(register, report=report, shift=shift, just_closed=True)


# --- the counter ------------------------------------------------------------------------------------------------------

@dataclass
class LineView:
    line: object
    drug: Drug
    lot: Lot
    unit: str
    amount_fen: int
    days_left: int | None
    near_expiry: bool


def workspace_context(register: Register, **extra) -> dict:
    """Everything the workspace partial shows, read fresh from the database."""
    db = get_session()
    actor = current_actor()
    settings = _settings()
    store = get_store(db, register.store_id)
    today = inv.store_today(store)
    shift = pos.open_shift_of(db, register.id)
    cart = pos.current_cart(db, register)
    lines = []
    for line, drug, lot in (pos.cart_lines(db, cart.id) if cart else []):
        days = (lot.expiry_date - today).days if lot.expiry_date else None
        lines.append(LineView(line, drug, lot, drug.smallest_unit if line.split_pack else drug.package_unit,
                              line.unit_price_fen * line.pack_quantity, days,
                              days is not None and days <= settings.near_expiry_warn_days))
    has_rx = any(v.drug.rx_class == RxClass.RX for v in lines)
    has_ephedrine = any(v.drug.special_class == SpecialClass.EPHEDRINE_COMBINATION for v in lines)
    prescription = pos.cart_prescription(db, cart) if cart and has_rx else None
    held = []
    for held_cart in pos.held_carts(db, register):
        rows = pos.cart_lines(db, held_cart.id)
        held.append((held_cart, len(rows), sum(l.unit_price_fen * l.pack_quantity for l, _d, _lot in rows),
                     ", ".join(d.generic_name for _l, d, _lot in rows[:3])))
    printer = pos.printer_state(db, register)
    last_sale = db.exec(select(Sale).where(Sale.register_id == register.id).order_by(Sale.seq.desc())).first()
    signature = json.dumps([shift.id if shift else None, cart.id if cart else None,
                            [(v.line.id, v.line.pack_quantity, v.line.lot_id, v.line.unit_price_fen,
                              v.line.trace_code) for v in lines],
                            (cart.buyer_name, cart.buyer_id_number) if cart else None,
                            (prescription.id, prescription.decision) if prescription else None,
                            [h[0].id for h in held], last_sale.id if last_sale else None], default=str)
    version = hashlib.sha1(signature.encode()).hexdigest()[:16]
    payment = extra.pop("payment_form", None) or PaymentForm(formdata=None)
    payment.client_uuid.data = ""  # filled in the page (crypto.randomUUID) for each new attempt
    ctx = dict(register=register, store=store, shift=shift, cart=cart, lines=lines,
               total_fen=sum(v.amount_fen for v in lines), packs=sum(v.line.pack_quantity for v in lines),
               has_rx=has_rx, has_ephedrine=has_ephedrine, prescription=prescription, held=held, printer=printer,
               last_sale=last_sale, version=version, settings=settings, today=today,
               can_choose_lot=actor.can(Perm.POS_CHOOSE_LOT), can_override=actor.can(Perm.POS_PRICE_OVERRIDE),
               payment=payment, rx_form=extra.pop("rx_form", None) or PrescriptionForm(formdata=None),
               review_form=extra.pop("review_form", None) or ReviewForm(formdata=None),
               buyer_form=extra.pop("buyer_form", None) or BuyerForm(formdata=None),
               message=None, level="info", notices=[], sale=None, search=None, search_q="", lot_choice=None,
               return_number=None)
    ctx.update(extra)
    return ctx


def _workspace(register: Register, status: int = 200, **extra):
    ctx = workspace_context(register, **extra)
    template = "pos/_workspace.html" if _htmx() else "pos/counter.html"
    return render_template(template, **ctx), status


def _act(code: str, action):
    """Run one counter action; answer with the workspace, carrying the refusal and its status if it fails."""
    db = get_session()
    register = _register(code)
    try:
        extra = action(db, current_actor(), register) or {}
    except YaofangError as exc:
        db.rollback()
        return _workspace(register, exc.status, message=str(exc.message), level="error",
                          **getattr(exc, "workspace_extra", {}))
    return _workspace(register, extra.pop("status", 200), **extra)


def _refuse(exc: YaofangError, **workspace_extra) -> YaofangError:
    """Attach workspace context (e.g. the form as typed) to a refusal raised inside an action."""
    exc.workspace_extra = workspace_extra
    return exc


@bp.route("/pos/<code>")
@requires(Perm.POS_SELL)
def counter(code: str):
    register = _register(code)
    if pos.open_shift_of(get_session(), register.id) is None:
        flash(_("No open shift on %(code)s: open a shift with a cash float first.", code=register.code), "warning")
        return redirect(url_for("pos.counter_home"))
    ctx = workspace_context(register)
    return render_template("pos/counter.html", **ctx)


@bp.route("/pos/<code>/cart")
@requires(Perm.POS_SELL)
def cart_partial(code: str):
    """The workspace, polled by the page every 2 s: 204 (nothing to swap) while nothing changed, so scans that
    arrive through the API appear without disturbing what the cashier is typing."""
    db = get_session()
    register = _register(code)
    extra = {}
    shown = request.args.get("sale", type=int)
    if shown:  # keep the sale just made (and its change) on screen until the next action
        last = db.exec(select(Sale).where(Sale.register_id == register.id).order_by(Sale.seq.desc())).first()
        if last is not None and last.id == shown:
            extra = dict(sale=last, sale_payments=pos.sale_detail(db, last.id, last.store_id)[2])
    ctx = workspace_context(register, **extra)
    if request.args.get("v") == ctx["version"]:
        return "", 204
    return render_template("pos/_workspace.html", **ctx)


@bp.route("/pos/<code>/printer")
@requires(Perm.POS_SELL)
def printer_partial(code: str):
    register = _register(code)
    return render_template("pos/_printer.html", register=register,
                           printer=pos.printer_state(get_session(), register))


def _looks_like_text(raw: str) -> bool:
    """Typed words (a name or pinyin initials) rather than a code: no digits at all."""
    stripped = raw.strip()
    return bool(stripped) and not any(ch.isdigit() for ch in stripped)


@bp.route("/pos/<code>/scan", methods=["POST"])
@requires(Perm.POS_SELL)
def scan(code: str):
    raw = request.form.get("raw", "")
    if _looks_like_text(raw):  # typed by hand: search the drug by name or pinyin initials
        return search(code, raw)

    def action(db, actor, register):
        separators = "\x1d" + current_app.config.get("SCANNER_SEPARATOR_CHARS", "")
        try:
            outcome = pos.scan_into_cart(db, actor, register, raw, separator_chars=separators,
                                         settings=_settings())
        except NotFound as exc:
            # Unknown barcode, lot or sale: say so and offer the search by name or pinyin initials.
            raise _refuse(exc, search=[], search_q="", show_search=True)
        except InvalidInput as exc:
            raise _refuse(exc, search=[], search_q="", show_search=True)
        if outcome.kind == "added":
            drug = inv.get_drug(db, outcome.line.drug_id)
            return dict(message=_("Added %(drug)s.", drug=drug.display_name), level="success",
                        notices=outcome.notices, added_line_id=outcome.line.id)
        if outcome.kind == "sale_number":
            return dict(message=outcome.message, level="info", return_number=outcome.sale_number)
        return dict(message=outcome.message, level="success", added_line_id=outcome.line.id if outcome.line else None)

    return _act(code, action)


@bp.route("/pos/<code>/search")
@requires(Perm.POS_SELL)
def search_view(code: str):
    return search(code, request.args.get("q", ""))


def search(code: str, q: str):
    q = (q or "").strip()[:60]

    def action(db, actor, register):
        results = inv.search_drugs(db, q, limit=12) if q else []
        message = None if results or not q else _("No drug matches “%(q)s”.", q=q)
        return dict(search=results, search_q=q, show_search=True, message=message,
                    level="warning" if message else "info", status=200 if results or not q else 404)

    return _act(code, action)


@bp.route("/pos/<code>/add", methods=["POST"])
@requires(Perm.POS_SELL)
def add(code: str):
    def action(db, actor, register):
        form = AddForm().checked()
        line, notices = pos.add_item(db, actor, register, drug_id=form.drug_id.data, packs=form.packs.data or 1,
                                     split_pack=bool(form.split_pack.data), settings=_settings())
        drug = inv.get_drug(db, line.drug_id)
        return dict(message=_("Added %(drug)s.", drug=drug.display_name), level="success", notices=notices,
                    added_line_id=line.id)

    return _act(code, action)


@bp.route("/pos/<code>/lines/<int:line_id>/quantity", methods=["POST"])
@requires(Perm.POS_SELL)
def line_quantity(code: str, line_id: int):
    def action(db, actor, register):
        form = QuantityForm().checked()
        pos.set_line_quantity(db, actor, register, line_id, form.packs.data)
        return dict(message=_("Quantity changed to %(n)d.", n=form.packs.data), level="success")

    return _act(code, action)


@bp.route("/pos/<code>/lines/<int:line_id>/remove", methods=["POST"])
@requires(Perm.POS_SELL)
def line_remove(code: str, line_id: int):
    def action(db, actor, register):
        pos.remove_line(db, actor, register, line_id)
        return dict(message=_("Line removed."), level="info")

    return _act(code, action)


@bp.route("/pos/<code>/lines/<int:line_id>/lot", methods=["GET", "POST"])
@requires(Perm.POS_CHOOSE_LOT)
def line_lot(code: str, line_id: int):
    def choices(db, register):
        cart = pos.current_cart(db, register)
        row = next(((l, d, lot) for l, d, lot in (pos.cart_lines(db, cart.id) if cart else []) if l.id == line_id),
                   None)
        if row is None:
            raise NotFound(_l("That line is not in this register's open cart."), code="no_line")
        line, drug, lot = row
        store = get_store(db, register.store_id)
        allocation = inv.allocate_fefo(db, store, drug.id, inv.MAX_MOVEMENT_QUANTITY)
        locations = {l.id: l for l in inv.store_locations(db, store.id)}
        picks = [p for p in allocation.picks]
        skipped = [s for s in allocation.skipped if s.lot_id]
        return dict(lot_choice=dict(line=line, drug=drug, lot=lot, picks=picks, skipped=skipped,
                                    locations=locations, describe=inv.describe_reasons))

    def show(db, actor, register):
        return choices(db, register)

    def change(db, actor, register):
        form = LotForm().checked()
        line = pos.choose_lot(db, actor, register, line_id, form.lot_id.data)
        lot = inv.get_lot(db, line.lot_id)
        return dict(message=_("Lot changed to %(lot)s.", lot=lot.lot_no), level="success")

    return _act(code, change if request.method == "POST" else show)


@bp.route("/pos/<code>/lines/<int:line_id>/price", methods=["POST"])
@requires(Perm.POS_PRICE_OVERRIDE)
def line_price(code: str, line_id: int):
    def action(db, actor, register):
        form = PriceForm().checked()
        pos.override_price(db, actor, register, line_id, form.price.data, form.reason.data)
        return dict(message=_("Price changed to %(p)s (reason recorded).", p=_money(form.price.data)),
                    level="success")

    return _act(code, action)


@bp.route("/pos/<code>/buyer", methods=["POST"])
@requires(Perm.POS_SELL)
def buyer(code: str):
    form = BuyerForm()

    def action(db, actor, register):
        try:
            form.checked()
            pos.set_buyer(db, actor, register, name=form.name.data, id_number=form.id_number.data)
        except YaofangError as exc:
            raise _refuse(exc, buyer_form=form)
        return dict(message=_("Buyer registered."), level="success")

    return _act(code, action)


@bp.route("/pos/<code>/prescription", methods=["POST"])
@requires(Perm.POS_SELL)
def prescription(code: str):
    form = PrescriptionForm()

    def action(db, actor, register):
        try:
            form.checked()
            pos.record_prescription(db, actor, register, number=form.number.data, prescriber=form.prescriber.data,
                                    institution=form.institution.data, issued_on=form.issued_on.data,
                                    diagnosis=form.diagnosis.data)
        except YaofangError as exc:
            raise _refuse(exc, rx_form=form)
        return dict(message=_("Prescription recorded: a pharmacist reviews it at this register."),
                    level="success")

    return _act(code, action)


@bp.route("/pos/<code>/prescription/review", methods=["POST"])
@requires(Perm.POS_SELL)
def prescription_review(code: str):
    """The pharmacist types their own user name and password at the register; the service checks role and
    licence. The cashier's session only carries the request."""
    form = ReviewForm()

    def action(db, actor, register):
        try:
            form.checked()
            rx = pos.review_prescription(db, actor, register, pharmacist_username=form.username.data,
                                         password=form.password.data, approve=form.decision.data == "approve",
                                         note=form.note.data or "")
        except YaofangError as exc:
            form.password.data = ""
            raise _refuse(exc, review_form=form)
        if rx.decision == "approved":
            return dict(message=_("Prescription approved by the pharmacist."), level="success")
        return dict(message=_("Prescription rejected: the prescription drugs cannot be sold on it."),
                    level="warning")

    return _act(code, action)


@bp.route("/pos/<code>/hold", methods=["POST"])
@requires(Perm.POS_SELL)
def hold(code: str):
    def action(db, actor, register):
        pos.hold_cart(db, actor, register)
        return dict(message=_("Cart held: resume it from the held carts (F6)."), level="info")

    return _act(code, action)


@bp.route("/pos/<code>/resume/<int:cart_id>", methods=["POST"])
@requires(Perm.POS_SELL)
def resume(code: str, cart_id: int):
    def action(db, actor, register):
        pos.resume_cart(db, actor, register, cart_id)
        return dict(message=_("Held cart resumed."), level="success")

    return _act(code, action)


@bp.route("/pos/<code>/cancel", methods=["POST"])
@requires(Perm.POS_SELL)
def cancel(code: str):
    def action(db, actor, register):
        pos.cancel_cart(db, actor, register)
        return dict(message=_("Cart cancelled."), level="info")

    return _act(code, action)


@bp.route("/pos/<code>/pay", methods=["POST"])
@requires(Perm.POS_SELL)
def pay(code: str):
    form = PaymentForm()

    def action(db, actor, register):
        try:
            form.checked()
            sale = pos.commit_sale(db, actor, register, tenders=form.tenders(),
                                   client_uuid=form.client_uuid.data, settings=_settings())
        except YaofangError as exc:
            raise _refuse(exc, payment_form=form)
        if sale.register_id != register.id:
            raise InvalidInput(_l("This payment was already used for sale %(n)s at another register.",
                                  n=sale.sale_number), code="client_uuid_reused")
        return dict(sale=sale, sale_payments=pos.sale_detail(db, sale.id, sale.store_id)[2])

    return _act(code, action)


# --- receipts ---------------------------------------------------------------------------------------------------------

@bp.route("/pos/<code>/sales/<int:sale_id>/receipt")
@requires(Perm.POS_SELL)
def receipt(code: str, sale_id: int):
    from hardware.receipt import profile, render_html
    from pos.printing import receipt_for_sale

    db = get_session()
    register = _register(code)
    sale, _lines, payments = pos.sale_detail(db, sale_id, register.store_id)
    ticket = render_html(receipt_for_sale(db, sale, reprint=False), profile(register.printer_profile))
    return render_template("pos/receipt.html", register=register, sale=sale, payments=payments, ticket=ticket,
                           printer=pos.printer_state(db, register))


@bp.route("/pos/<code>/sales/<int:sale_id>/reprint", methods=["POST"])
@requires(Perm.POS_SELL)
def reprint(code: str, sale_id: int):
    def action(db, actor, register):
        pos.reprint(db, actor, register, sale_id)
        sale = db.get(Sale, sale_id)
        return dict(message=_("Reprint of %(n)s queued (marked as a copy).", n=sale.sale_number), level="success")

    if _htmx():
        return _act(code, action)
    db = get_session()
    register = _register(code)
    pos.reprint(db, current_actor(), register, sale_id)
    flash(_("Reprint queued (marked as a copy)."), "success")
    return redirect(url_for("pos.receipt", code=register.code, sale_id=sale_id))


# --- returns ----------------------------------------------------------------------------------------------------------

def _return_page(register: Register, number: str, *, form=None, message=None, level="info", status=200,
                 done=None):
    db = get_session()
    settings = _settings()
    sale = lines = returnable = None
    if form is None:
        form = ReturnForm(formdata=None, number=number)
    reasons = [(r, RETURN_REASON_LABELS.get(r, r)) for r in pos.return_reasons(settings)]
    number = _sale_number_from_scan(number)
    if number and done is None:
        try:
            sale = pos.find_sale_by_number(db, register.store_id, number)
            sale, lines, _payments = pos.sale_detail(db, sale.id, register.store_id)
            returnable = pos.returnable_quantities(db, sale)
        except NotFound as exc:
            message, level, status = str(exc.message), "error", max(status, exc.status)
    pending = db.exec(select(Location).where(Location.store_id == register.store_id,
                                             Location.kind == LocationKind.PENDING,
                                             Location.active == True)).first()  # noqa: E712
    refund = None
    if done is not None:
        _sale, _lines, refund = pos.sale_detail(db, done.id, register.store_id)
    original = db.get(Sale, done.original_sale_id) if done is not None else None
    return render_template("pos/return.html", register=register, number=number, sale=sale, lines=lines,
                           returnable=returnable or {}, form=form, reasons=reasons, message=message, level=level,
                           done=done, refund=refund, original=original, pending=pending,
                           packs_typed={k: v for k, v in request.form.items() if k.startswith("packs_")}), status


def _sale_number_from_scan(raw: str) -> str:
    """The ticket's barcode as a scanner sends it (an AIM prefix such as ]C0, "YS" + number) or a typed number."""
    from hardware.scan import decode

    raw = (raw or "").strip()
    scan = decode(raw) if raw else None
    return scan.sale_number if scan is not None and scan.kind == "sale_number" else raw


@bp.route("/pos/<code>/return", methods=["GET", "POST"])
@requires(Perm.POS_SELL)
def sale_return(code: str):
    db = get_session()
    register = _register(code)
    if request.method == "GET":
        return _return_page(register, request.args.get("number", ""))
    form = ReturnForm()
    packs = {}
    try:
        for key, value in request.form.items():
            if key.startswith("packs_") and value.strip():
                try:
                    line_id, qty = int(key[6:]), int(value)
                except ValueError:
                    raise InvalidInput(_l("Return quantities are whole numbers."), code="invalid_quantity")
                if qty < 0:
                    raise InvalidInput(_l("Return quantities are whole numbers."), code="invalid_quantity")
                if qty:
                    packs[line_id] = qty
        form.checked()
        sale = pos.create_return(db, current_actor(), register, sale_number_or_code=form.number.data,
                                 packs_by_line=packs, reason=form.reason.data, note=form.note.data or "",
                                 approver_username=form.approver.data,
                                 approver_password=form.approver_password.data, client_uuid=form.client_uuid.data,
                                 settings=_settings())
    except YaofangError as exc:
        db.rollback()
        form.approver_password.data = ""
        return _return_page(register, form.number.data or "", form=form, message=str(exc.message),
                            level="error", status=exc.status)
    return _return_page(register, form.number.data, form=form, done=sale)


# --- day close and the journal ----------------------------------------------------------------------------------------

def _z_view(db, close: DayClose) -> dict:
    totals = json.loads(close.totals_json or "{}")
    return dict(close=close, by_tender=sorted(totals.get("by_tender", {}).items()),
                by_cashier=sorted(totals.get("by_cashier", {}).items()),
                closed_by=_names(db, [close.closed_by_id]).get(close.closed_by_id, ""))


def _day_close_page(register: Register, *, message=None, level="info", status=200, just_closed=None):
    db = get_session()
    store = get_store(db, register.store_id)
    day = pos.business_date_for(db, register, store)
    sales_today = db.exec(select(func.count(Sale.id)).where(Sale.register_id == register.id,
                                                            Sale.business_date == day)).one()
    last = just_closed or db.exec(select(DayClose).where(DayClose.register_id == register.id)
                                  .order_by(DayClose.business_date.desc())).first()
    return render_template("pos/day_close.html", register=register, store=store, day=day, sales_today=sales_today,
                           open_shift=pos.open_shift_of(db, register.id), message=message, level=level,
                           z=_z_view(db, last) if last else None, just_closed=just_closed is not None,
                           can_close=day <= inv.store_today(store)), status


@bp.route("/pos/<code>/day-close", methods=["GET", "POST"])
@requires(Perm.POS_DAY_CLOSE)
def day_close(code: str):
    db = get_session()
    register = _register(code)
    if request.method == "GET":
        return _day_close_page(register)
    try:
        close = pos.close_day(db, current_actor(), register)
    except YaofangError as exc:
        db.rollback()
        return _day_close_page(register, message=str(exc.message), level="error", status=exc.status)
    return _day_close_page(register, just_closed=close)


@bp.route("/pos/<code>/day-close/<int:close_id>/print", methods=["POST"])
@requires(Perm.POS_DAY_CLOSE)
def print_day_report(code: str, close_id: int):
    db = get_session()
    register = _register(code)
    try:
        pos.print_day_report(db, current_actor(), register, close_id)
    except YaofangError as exc:
        db.rollback()
        return _day_close_page(register, message=str(exc.message), level="error", status=exc.status)
    return _day_close_page(register, message=_("The day report was sent to the receipt printer (marked 重印)."),
                           level="success")


@bp.route("/pos/journal")
@requires(Perm.SALES_READ)
def journal():
    db = get_session()
    reports = pos.verify_journal(db, current_actor().store_id)
    return render_template("pos/journal.html", reports=reports, all_ok=all(r.ok for r in reports))


