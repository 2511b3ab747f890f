"""Procurement pages: suppliers and drugs to qualify (首营), purchase orders, receiving with a scan field,
acceptance inspection, the stock-in slip (验收入库单) and lot labels, purchase returns and their notice."""
from __future__ import annotations

import uuid

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from sqlmodel import select

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput, NotFound
from core.models import User
from core.money import yuan_to_fen
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg, run_form
from gsp import purchasing as pur, qualification as qual
from gsp.forms_procurement import (DecisionForm, DrugChangeForm, InspectionForm, LicenceForm, NewDrugForm, NoteForm,
                                   OrderForm, OrderLineForm, RepForm, ReturnForm, StoreLicenceForm, SupplierForm)
from gsp.models import PurchaseOrder, QualificationStatus, ReturnStatus, SupplierRep
from hardware.scan import decode
from inventory import services as inv
from inventory.models import DrugCategory, LocationKind, RxClass, StorageClass

bp = Blueprint("procurement", __name__, url_prefix="/procurement")


def _ctx():
    actor = current_actor()
    db = get_session()
    return actor, db, get_store(db, actor.store_id)


def _users(db, ids) -> dict:
    ids = {i for i in ids if i}
    return {u.id: u for u in db.exec(select(User).where(User.id.in_(ids or {0}))).all()}


def _min_shelf_life() -> int:
    return int(current_app.config["RECEIVING_MIN_SHELF_LIFE_MONTHS"])


# --- overview -------------------------------------------------------------------------------------------------------

@bp.route("/")
@requires(Perm.PROCUREMENT_READ)
def overview():
    actor, db, store = _ctx()
    today = inv.store_today(store)
    return render_template("gsp/procurement/overview.html", w=pur.waiting_for(db, actor, store, today),
                           orders=pur.orders(db, store.id, limit=10), receipts=pur.receipts(db, store.id, limit=10),
                           today=today, order_labels=pur.ORDER_STATUS_LABELS)


# --- the store's own licence and business scope ---------------------------------------------------------------------

def _store_licence_page(form, status=200):
    return render_template("gsp/procurement/store_licence.html", form=form), status


@bp.route("/store-licence", methods=["GET", "POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def store_licence():
    actor, db, store = _ctx()
    if request.method == "GET":
        form = StoreLicenceForm(formdata=None, drug_trade_licence_no=store.drug_trade_licence_no,
                                valid_until=store.drug_trade_licence_valid_until,
                                business_licence_no=store.business_licence_no,
                                business_scope=sorted(qual.scope_set(store.business_scope)))
        return _store_licence_page(form)
    form = StoreLicenceForm()
    return run_form(form, lambda: qual.set_store_licence(
        db, actor, store_id=store.id, drug_trade_licence_no=form.drug_trade_licence_no.data,
        valid_until=form.valid_until.data, business_licence_no=form.business_licence_no.data,
        business_scope="\n".join(form.business_scope.data or [])),
        _("The store's licence and business scope are saved."), lambda status: _store_licence_page(form, status),
        lambda _s: url_for("core.store_profile"))


# --- suppliers ------------------------------------------------------------------------------------------------------

@bp.route("/suppliers")
@requires(Perm.PROCUREMENT_READ)
def suppliers():
    actor, db, store = _ctx()
    today = inv.store_today(store)
    rows = [(s, qual.supplier_problems(db, s, today)) for s in qual.suppliers(db, request.args.get("status") or None)]
    return render_template("gsp/procurement/suppliers.html", rows=rows, labels=qual.STATUS_LABELS,
                           kinds=qual.SUPPLIER_KINDS)


def _supplier_form_page(form, status=200):
    return render_template("gsp/procurement/supplier_new.html", form=form), status


@bp.route("/suppliers/new", methods=["GET", "POST"])
@requires(Perm.QUALIFICATION_SUBMIT)
def new_supplier():
    form = SupplierForm()
    if request.method == "GET":
        return _supplier_form_page(form)
    actor, db, _store = _ctx()

    def action():
        first = "trade" if form.kind.data == "wholesaler" else "manufacturing"
        licences = [{"kind": first, "number": form.licence_number.data, "valid_until": form.licence_until.data,
                     "scope": "\n".join(form.business_scope.data or [])},
                    {"kind": "business", "number": form.business_number.data, "valid_until": form.business_until.data}]
        if form.agreement_number.data:
            licences.append({"kind": "quality_agreement", "number": form.agreement_number.data,
                             "valid_until": form.agreement_until.data})
        reps = []
        if form.rep_name.data or form.rep_id_number.data:
            reps.append({"name": form.rep_name.data, "id_number": form.rep_id_number.data,
                         "authorisation_no": form.rep_authorisation_no.data, "valid_until": form.rep_until.data})
        return qual.submit_supplier(db, actor, code=form.code.data, name=form.name.data,
                                    credit_code=form.credit_code.data, kind=form.kind.data,
                                    address=form.address.data, contact=form.contact.data,
                                    business_scope="\n".join(form.business_scope.data or []), licences=licences,
                                    reps=reps)

    return run_form(form, action, _("Submitted: a quality manager approves the supplier before it can be ordered from."),
                lambda status: _supplier_form_page(form, status),
                lambda s: url_for("procurement.supplier", supplier_id=s.id))


def _supplier_page(supplier_id: int, status: int = 200, **forms):
    actor, db, store = _ctx()
    supplier = qual.get_supplier(db, supplier_id)
    today = inv.store_today(store)
    licences = list(db.exec(select(qual.SupplierLicence).where(qual.SupplierLicence.supplier_id == supplier.id)
                            .order_by(qual.SupplierLicence.kind, qual.SupplierLicence.id)).all())
    current = {lic.id for lic in qual.current_licences(db, supplier.id).values()}
    return render_template("gsp/procurement/supplier.html", supplier=supplier, licences=licences, current=current,
                           reps=qual.supplier_reps(db, supplier.id), problems=qual.supplier_problems(db, supplier, today),
                           today=today, labels=qual.STATUS_LABELS, licence_labels=qual.LICENCE_LABELS,
                           kinds=qual.SUPPLIER_KINDS,
                           people=_users(db, [supplier.submitted_by_id, supplier.decided_by_id]),
                           decision=forms.get("decision") or DecisionForm(formdata=None),
                           licence_form=forms.get("licence_form") or LicenceForm(formdata=None),
                           rep_form=forms.get("rep_form") or RepForm(formdata=None)), status


@bp.route("/suppliers/<int:supplier_id>")
@requires(Perm.PROCUREMENT_READ)
def supplier(supplier_id: int):
    return _supplier_page(supplier_id)


@bp.route("/suppliers/<int:supplier_id>/decision", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def decide_supplier(supplier_id: int):
    actor, db, _store = _ctx()
    form = DecisionForm()
    return run_form(form, lambda: qual.decide_supplier(db, actor, supplier_id, approve=form.decision.data == "approve",
                                                   note=form.note.data),
                lambda s: _("Supplier %(name)s: %(status)s.", name=s.name, status=qual.STATUS_LABELS[s.status]),
                lambda status: _supplier_page(supplier_id, status, decision=form),
                lambda s: url_for("procurement.supplier", supplier_id=s.id))


@bp.route("/suppliers/<int:supplier_id>/licences", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def add_licence(supplier_id: int):
    actor, db, _store = _ctx()
    form = LicenceForm()
    return run_form(form, lambda: qual.add_licence(db, actor, supplier_id, {
        "kind": form.kind.data, "number": form.number.data, "valid_from": form.valid_from.data,
        "valid_until": form.valid_until.data, "scope": "\n".join(form.scope.data or [])}), _("Licence filed."),
        lambda status: _supplier_page(supplier_id, status, licence_form=form),
        lambda _lic: url_for("procurement.supplier", supplier_id=supplier_id))


@bp.route("/suppliers/<int:supplier_id>/reps", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def add_rep(supplier_id: int):
    actor, db, _store = _ctx()
    form = RepForm()
    return run_form(form, lambda: qual.add_rep(db, actor, supplier_id, {
        "name": form.name.data, "id_number": form.id_number.data, "authorisation_no": form.authorisation_no.data,
        "valid_until": form.valid_until.data}), _("Sales representative filed."),
        lambda status: _supplier_page(supplier_id, status, rep_form=form),
        lambda _rep: url_for("procurement.supplier", supplier_id=supplier_id))


# --- drugs (首营品种) and master-data changes ----------------------------------------------------------------------------

@bp.route("/drug-requests")
@requires(Perm.PROCUREMENT_READ)
def drug_requests():
    _actor, db, _store = _ctx()
    rows = qual.drug_requests(db, status=request.args.get("status") or None,
                              drug_id=int_arg("drug_id", 0, minimum=0, maximum=2**31 - 1) or None)
    return render_template("gsp/procurement/drug_requests.html", rows=rows, labels=qual.STATUS_LABELS,
                           people=_users(db, [r.submitted_by_id for r, _d in rows]))


def _new_drug_form(form=None):
    form = form or NewDrugForm(formdata=None)
    form.category.choices = [(c.value, inv.label(c.value, "category")) for c in DrugCategory]
    form.rx_class.choices = [(c.value, inv.label(c.value, "rx_class")) for c in RxClass]
    form.storage_class.choices = [(c.value, inv.label(c.value, "storage_class")) for c in StorageClass]
    form.scope_item.choices = [("", _("By category"))] + [(i, i) for i in qual.SCOPE_ITEMS]
    return form


def _new_drug_page(form, status=200):
    return render_template("gsp/procurement/drug_new.html", form=form), status


@bp.route("/drug-requests/new", methods=["GET", "POST"])
@requires(Perm.QUALIFICATION_SUBMIT)
def new_drug():
    if request.method == "GET":
        return _new_drug_page(_new_drug_form())
    form = _new_drug_form(NewDrugForm())
    actor, db, _store = _ctx()

    def action():
        try:
            price = yuan_to_fen(form.retail_price.data.strip())
        except (ValueError, ArithmeticError):
            raise InvalidInput(_("Retail price must be an amount in yuan, e.g. 12.50."))
        barcode = (form.barcode.data or "").strip()
        return qual.submit_new_drug(
            db, actor, code=form.code.data, generic_name=form.generic_name.data, documents=form.documents.data,
            barcodes=[(barcode, "ean13")] if barcode else [], trade_name=form.trade_name.data,
            dosage_form=form.dosage_form.data, specification=form.specification.data,
            package_unit=form.package_unit.data, smallest_unit=form.smallest_unit.data,
            units_per_package=form.units_per_package.data, manufacturer=form.manufacturer.data,
            approval_no=form.approval_no.data, category=form.category.data, rx_class=form.rx_class.data,
            storage_class=form.storage_class.data, scope_item=form.scope_item.data, retail_price_fen=price,
            valuable_threshold_fen=int(current_app.config["VALUABLE_PRICE_FEN"]))

    return run_form(form, action, _("Submitted: the drug can be ordered once a quality manager approves it."),
                lambda status: _new_drug_page(form, status),
                lambda r: url_for("procurement.drug_request", request_id=r.id))


def _request_page(request_id: int, status: int = 200, decision=None):
    _actor, db, _store = _ctx()
    req = qual.get_drug_request(db, request_id)
    drug = inv.get_drug(db, req.drug_id)
    view = qual.RequestView(req, drug)
    return render_template("gsp/procurement/drug_request.html", req=req, drug=drug, view=view,
                           labels=qual.STATUS_LABELS, people=_users(db, [req.submitted_by_id, req.decided_by_id]),
                           barcodes=inv.drug_barcodes(db, drug.id), fields=CHANGE_FIELDS,
                           decision=decision or DecisionForm(formdata=None)), status


@bp.route("/drug-requests/<int:request_id>")
@requires(Perm.PROCUREMENT_READ)
def drug_request(request_id: int):
    return _request_page(request_id)


@bp.route("/drug-requests/<int:request_id>/decision", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def decide_drug_request(request_id: int):
    actor, db, _store = _ctx()
    form = DecisionForm()
    threshold = int(current_app.config["VALUABLE_PRICE_FEN"])
    return run_form(form, lambda: qual.decide_drug_request(db, actor, request_id, approve=form.decision.data == "approve",
                                                       note=form.note.data, valuable_threshold_fen=threshold),
                lambda r: _("Request %(id)s: %(status)s.", id=r.id, status=qual.STATUS_LABELS[r.status]),
                lambda status: _request_page(request_id, status, form),
                lambda r: url_for("procurement.drug_request", request_id=r.id))


CHANGE_FIELDS = {"generic_name": _l("Generic name"), "trade_name": _l("Trade name"), "dosage_form": _l("Dosage form"),
                 "specification": _l("Specification"), "manufacturer": _l("Manufacturer"),
                 "approval_no": _l("Approval number (批准文号)"), "package_unit": _l("Package unit"),
                 "smallest_unit": _l("Smallest unit"), "units_per_package": _l("Smallest units per package"),
                 "retail_price_fen": _l("Retail price (fen)"), "storage_class": _l("Storage"),
                 "rx_class": _l("Prescription class"), "category": _l("Category"),
                 "scope_item": _l("Business scope item")}
INT_FIELDS = {"units_per_package", "retail_price_fen"}


def _change_page(drug_id: int, form=None, status=200):
    _actor, db, _store = _ctx()
    drug = inv.get_drug(db, drug_id)
    form = form or DrugChangeForm(formdata=None)
    form.field.choices = list(CHANGE_FIELDS.items())
    return render_template("gsp/procurement/drug_change.html", drug=drug, form=form, fields=CHANGE_FIELDS), status


@bp.route("/drugs/<int:drug_id>/change", methods=["GET", "POST"])
@requires(Perm.QUALIFICATION_SUBMIT)
def drug_change(drug_id: int):
    if request.method == "GET":
        return _change_page(drug_id)
    actor, db, _store = _ctx()
    form = DrugChangeForm()
    form.field.choices = list(CHANGE_FIELDS.items())

    def action():
        value = form.value.data.strip()
        if form.field.data in INT_FIELDS:
            if not value.isdigit():
                raise InvalidInput(_("%(field)s takes a whole number (prices in fen).",
                                    field=CHANGE_FIELDS[form.field.data]))
            value = int(value)
        return qual.submit_drug_change(db, actor, drug_id, changes={form.field.data: value},
                                       reason=form.reason.data, documents=form.documents.data)

    return run_form(form, action, _("Submitted: the change applies once a quality manager approves it."),
                lambda status: _change_page(drug_id, form, status),
                lambda r: url_for("procurement.drug_request", request_id=r.id))


# --- purchase orders ----------------------------------------------------------------------------------------------------

@bp.route("/orders")
@requires(Perm.PROCUREMENT_READ)
def orders():
    _actor, db, store = _ctx()
    status = request.args.get("status") or None
    return render_template("gsp/procurement/orders.html", rows=pur.orders(db, store.id, status=status),
                           labels=pur.ORDER_STATUS_LABELS, status=status)


def _order_form(db, form=None):
    form = form or OrderForm(formdata=None)
    form.supplier_id.choices = [(s.id, f"{s.code} {s.name}") for s in qual.suppliers(db, QualificationStatus.APPROVED)]
    reps = db.exec(select(SupplierRep).order_by(SupplierRep.name)).all()
    form.rep_id.choices = [(0, "—")] + [(r.id, f"{r.name} (#{r.supplier_id})") for r in reps]
    return form


def _new_order_page(form, status=200):
    return render_template("gsp/procurement/order_new.html", form=form), status


@bp.route("/orders/new", methods=["GET", "POST"])
@requires(Perm.PURCHASE_ORDER)
def new_order():
    actor, db, store = _ctx()
    if request.method == "GET":
        return _new_order_page(_order_form(db))
    form = _order_form(db, OrderForm())

    def action():
        lines = []
        if form.from_reorder.data:
            lines = pur.reorder_suggestions(db, store, qual.get_supplier(db, form.supplier_id.data))
        return pur.create_order(db, actor, store=store, supplier_id=form.supplier_id.data,
                                rep_id=form.rep_id.data or None, note=form.note.data, lines=lines)

    return run_form(form, action, lambda o: _("Order %(number)s drafted.", number=o.number),
                lambda status: _new_order_page(form, status),
                lambda o: url_for("procurement.order", order_id=o.id))


def _order_page(order_id: int, status: int = 200, line_form=None, close_form=None):
    actor, db, store = _ctx()
    order = pur.get_order(db, order_id, store.id)
    supplier = qual.get_supplier(db, order.supplier_id)
    rep = db.get(SupplierRep, order.rep_id) if order.rep_id else None
    return render_template("gsp/procurement/order.html", order=order, supplier=supplier, rep=rep,
                           progress=pur.order_progress(db, order.id), labels=pur.ORDER_STATUS_LABELS,
                           receipts=pur.receipts(db, store.id, order_id=order.id),
                           people=_users(db, [order.created_by_id, order.confirmed_by_id, order.closed_by_id]),
                           line_form=line_form or OrderLineForm(formdata=None),
                           close_form=close_form or NoteForm(formdata=None), store=store), status


@bp.route("/orders/<int:order_id>")
@requires(Perm.PROCUREMENT_READ)
def order(order_id: int):
    return _order_page(order_id)


@bp.route("/orders/<int:order_id>/print")
@requires(Perm.PROCUREMENT_READ)
def order_print(order_id: int):
    _actor, db, store = _ctx()
    order = pur.get_order(db, order_id, store.id)
    return render_template("gsp/procurement/order_print.html", order=order, store=store,
                           labels=pur.ORDER_STATUS_LABELS,
                           supplier=qual.get_supplier(db, order.supplier_id),
                           progress=pur.order_progress(db, order.id),
                           people=_users(db, [order.created_by_id, order.confirmed_by_id]))


def _yuan(text: str) -> int:
    text = (text or "").strip()
    if not text:
        return 0
    try:
        return yuan_to_fen(text)
    except (ValueError, ArithmeticError):
        raise InvalidInput(_("Enter the cost in yuan, e.g. 18.50."))


@bp.route("/orders/<int:order_id>/lines", methods=["POST"])
@requires(Perm.PURCHASE_ORDER)
def add_order_line(order_id: int):
    actor, db, store = _ctx()
    form = OrderLineForm()
    return run_form(form, lambda: pur.add_order_line(db, actor, store=store, order_id=order_id,
                                                 drug_id=inv.drug_by_code_or_barcode(db, form.drug.data).id,
                                                 packages=form.packages.data, unit_cost_fen=_yuan(form.unit_cost.data)),
                _("Line added."), lambda status: _order_page(order_id, status, line_form=form),
                lambda _line: url_for("procurement.order", order_id=order_id))


@bp.route("/orders/<int:order_id>/lines/<int:order_line_id>/remove", methods=["POST"])
@requires(Perm.PURCHASE_ORDER)
def remove_order_line(order_id: int, order_line_id: int):
    actor, db, store = _ctx()
    return run_form(None, lambda: pur.remove_order_line(db, actor, store=store, order_id=order_id,
                                                    line_id=order_line_id),
                _("Line removed."), lambda status: _order_page(order_id, status),
                lambda _r: url_for("procurement.order", order_id=order_id))


@bp.route("/orders/<int:order_id>/confirm", methods=["POST"])
@requires(Perm.PURCHASE_ORDER)
def confirm_order(order_id: int):
    actor, db, store = _ctx()
    return run_form(None, lambda: pur.confirm_order(db, actor, store=store, order_id=order_id),
                lambda o: _("Order %(number)s confirmed: receiving can start.", number=o.number),
                lambda status: _order_page(order_id, status),
                lambda o: url_for("procurement.order", order_id=o.id))


@bp.route("/orders/<int:order_id>/close", methods=["POST"])
@requires(Perm.PURCHASE_ORDER)
def close_order(order_id: int):
    actor, db, store = _ctx()
    form = NoteForm()
    return run_form(form, lambda: pur.close_order(db, actor, store=store, order_id=order_id, note=form.note.data),
                lambda o: _("Order %(number)s: %(status)s.", number=o.number, status=pur.ORDER_STATUS_LABELS[o.status]),
                lambda status: _order_page(order_id, status, close_form=form),
                lambda o: url_for("procurement.order", order_id=o.id))


# --- receiving ---------------------------------------------------------------------------------------------------------

EXTRA_ROWS = 2  # further lots of an order line on the same delivery


def _receive_page(order_id: int, status: int = 200, values=None):
    _actor, db, store = _ctx()
    order = pur.get_order(db, order_id, store.id)
    progress = [p for p in pur.order_progress(db, order.id)]
    open_lines = [p for p in progress if p.remaining > 0]
    waiting = [loc for loc in inv.store_locations(db, store.id)
               if loc.active and (loc.kind == LocationKind.PENDING or loc.storage_class != StorageClass.ROOM)]
    rows = [{"order_line_id": p.line.id} for p in open_lines] + [{"order_line_id": None}] * EXTRA_ROWS
    return render_template("gsp/procurement/receive.html", order=order, supplier=qual.get_supplier(db, order.supplier_id),
                           progress=progress, open_lines=open_lines, rows=rows, waiting=waiting, values=values or {},
                           client_uuid=(values or {}).get("client_uuid") or str(uuid.uuid4()),
                           min_months=_min_shelf_life(), is_cold=pur.is_cold), status


@bp.route("/orders/<int:order_id>/receive", methods=["GET"])
@requires(Perm.PURCHASE_RECEIVE)
def receive_form(order_id: int):
    return _receive_page(order_id)


def _form_lines(form) -> list[dict]:
    """The filled rows of the receiving table (a row with neither lot number nor quantities is left out)."""
    lines = []
    index = 0
    while f"lines-{index}-order_line_id" in form:
        get = lambda name: (form.get(f"lines-{index}-{name}") or "").strip()  # noqa: E731
        if get("lot_no") or get("packages") or get("refused_packages"):
            line_id = get("order_line_id")
            lines.append({"order_line_id": int(line_id) if line_id.isdigit() else None, "lot_no": get("lot_no"),
                          "production_date": get("production_date"), "expiry_date": get("expiry_date"),
                          "packages": get("packages") or "0", "refused_packages": get("refused_packages") or "0",
                          "refuse_reason": get("refuse_reason"), "cases": get("cases") or "0",
                          "part_cases": get("part_cases") or "0", "arrival_temp_c": get("arrival_temp_c") or None,
                          "waiting_location_id": int(get("waiting_location_id"))
                          if get("waiting_location_id").isdigit() else None,
                          "gtin": get("gtin"), "trace_code": get("trace_code")})
        index += 1
    return lines


@bp.route("/orders/<int:order_id>/receive", methods=["POST"])
@requires(Perm.PURCHASE_RECEIVE)
def receive(order_id: int):
    actor, db, store = _ctx()
    lines = _form_lines(request.form)

    def action():
        if not lines:
            raise InvalidInput(_("Fill in at least one lot: lot number, dates and quantity."))
        return pur.receive(db, actor, store=store, order_id=order_id,
                           delivery_note_no=request.form.get("delivery_note_no", ""),
                           client_uuid=request.form.get("client_uuid"), lines=lines,
                           min_shelf_life_months=_min_shelf_life())

    return run_form(None, action, lambda r: _("Received as %(number)s: the lots wait for inspection.", number=r.number),
                lambda status: _receive_page(order_id, status, request.form),
                lambda r: url_for("procurement.receipt", receipt_id=r.id))


@bp.route("/orders/<int:order_id>/scan")
@requires(Perm.PURCHASE_RECEIVE)
def scan(order_id: int):
    """Decode a scan from the pack (GS1 DataMatrix element string, EAN-13, trace code) for the receiving table:
    which order line it is, and the lot and expiry it carries."""
    _actor, db, store = _ctx()
    order = pur.get_order(db, order_id, store.id)
    result = decode(request.args.get("code", ""))
    if result.kind == "unknown":
        return jsonify({"error": {"code": "unknown_code",
                                  "message": _("Not a code Yaofang reads (%(why)s).", why=result.error)}}), 422
    drug = None
    if result.gtin:
        drug = inv.drug_by_barcode(db, result.gtin[1:] if result.gtin.startswith("0") else result.gtin) or \
            inv.drug_by_barcode(db, result.gtin)
    line = next((p.line for p in pur.order_progress(db, order.id) if drug and p.drug.id == drug.id), None)
    if result.gtin and line is None:
        return jsonify({"error": {"code": "not_on_order", "message": _(
            "This product (%(gtin)s) is not on order %(number)s: refuse it (拒收).", gtin=result.gtin,
            number=order.number)}}), 409
    return jsonify({"kind": result.kind, "order_line_id": line.id if line else None, "gtin": result.gtin or "",
                    "lot_no": result.lot or "", "trace_code": result.trace_code or "",
                    "expiry_date": result.expiry.isoformat() if result.expiry else "",
                    "production_date": result.production_date.isoformat() if result.production_date else "",
                    "drug": drug.display_name if drug else ""})


# --- receipts, decisions, inspection ------------------------------------------------------------------------------------

@bp.route("/receipts")
@requires(Perm.PROCUREMENT_READ)
def receipts():
    _actor, db, store = _ctx()
    return render_template("gsp/procurement/receipts.html", rows=pur.receipts(db, store.id),
                           to_inspect=pur.receipt_rows(db, store_id=store.id, to_inspect=True, limit=200))


def _receipt_page(receipt_id: int, status: int = 200, decision=None, decision_line=None):
    _actor, db, store = _ctx()
    receipt = pur.get_receipt(db, receipt_id, store.id)
    return render_template("gsp/procurement/receipt.html", receipt=receipt, store=store,
                           supplier=qual.get_supplier(db, receipt.supplier_id),
                           order=db.get(PurchaseOrder, receipt.order_id),
                           rows=pur.receipt_rows(db, receipt_id=receipt.id),
                           people=_users(db, [receipt.received_by_id]),
                           decision=decision or DecisionForm(formdata=None), decision_line=decision_line,
                           conclusions=pur.CONCLUSION_LABELS), status


@bp.route("/receipts/<int:receipt_id>")
@requires(Perm.PROCUREMENT_READ)
def receipt(receipt_id: int):
    return _receipt_page(receipt_id)


@bp.route("/receipt-lines/<int:receipt_line_id>/decision", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def decide_line(receipt_line_id: int):
    line_id = receipt_line_id
    actor, db, store = _ctx()
    form = DecisionForm()
    line = db.get(pur.ReceiptLine, line_id)
    if line is None or line.store_id != store.id:
        raise NotFound(_("Receipt line not found."))
    return run_form(form, lambda: pur.decide_receipt_line(db, actor, store=store, line_id=line_id,
                                                      approve=form.decision.data == "approve", note=form.note.data),
                _("Decision recorded."), lambda status: _receipt_page(line.receipt_id, status, form, line_id),
                lambda _d: url_for("procurement.receipt", receipt_id=line.receipt_id))


def _inspect_page(line_id: int, form=None, status=200):
    _actor, db, store = _ctx()
    row = next(iter(pur.receipt_rows(db, store_id=store.id, line_id=line_id)), None)
    if row is None:
        raise NotFound(_("Receipt line not found."))
    form = form or InspectionForm(formdata=None, accepted=row.packages(row.line.quantity_received), rejected=0,
                                  sampled=row.plan.total, appearance_ok=True, packaging_ok=True, label_ok=True,
                                  report_ok=True)
    places = [loc for loc in inv.store_locations(db, store.id) if pur.fits_destination(row.drug, loc)]
    form.location_id.choices = [(loc.id, f"{loc.code} {loc.name}") for loc in places]
    return render_template("gsp/procurement/inspect.html", row=row, form=form,
                           receipt=pur.get_receipt(db, row.line.receipt_id, store.id),
                           abnormal_plan=pur.sampling_plan(row.line.cases, row.line.part_cases, abnormal=True,
                                                           received_packages=row.packages(row.line.quantity_received))
                           ), status


@bp.route("/receipt-lines/<int:receipt_line_id>/inspection", methods=["GET"])
@requires(Perm.PURCHASE_INSPECT)
def inspect_form(receipt_line_id: int):
    line_id = receipt_line_id
    return _inspect_page(line_id)


@bp.route("/receipt-lines/<int:receipt_line_id>/inspection", methods=["POST"])
@requires(Perm.PURCHASE_INSPECT)
def inspect(receipt_line_id: int):
    line_id = receipt_line_id
    actor, db, store = _ctx()
    form = InspectionForm()
    form.location_id.choices = [(loc.id, loc.code) for loc in inv.store_locations(db, store.id)]
    line = db.get(pur.ReceiptLine, line_id)
    if line is None or line.store_id != store.id:
        raise NotFound(_("Receipt line not found."))
    return run_form(form, lambda: pur.inspect(
        db, actor, store=store, line_id=line_id, sampled=form.sampled.data, appearance_ok=form.appearance_ok.data,
        packaging_ok=form.packaging_ok.data, label_ok=form.label_ok.data, report_ok=form.report_ok.data,
        accepted_packages=form.accepted.data, rejected_packages=form.rejected.data,
        reject_reason=form.reject_reason.data, location_id=form.location_id.data, note=form.note.data,
        abnormal=form.abnormal.data),
        lambda i: _("Inspection recorded: %(conclusion)s.", conclusion=pur.CONCLUSION_LABELS[i.conclusion]),
        lambda status: _inspect_page(line_id, form, status),
        lambda _i: url_for("procurement.receipt", receipt_id=line.receipt_id))


@bp.route("/receipts/<int:receipt_id>/slip")
@requires(Perm.PROCUREMENT_READ)
def slip(receipt_id: int):
    """验收入库单: A4, print from the browser."""
    _actor, db, store = _ctx()
    receipt = pur.get_receipt(db, receipt_id, store.id)
    return render_template("gsp/procurement/slip.html", receipt=receipt, store=store,
                           supplier=qual.get_supplier(db, receipt.supplier_id),
                           order=db.get(PurchaseOrder, receipt.order_id),
                           rows=pur.receipt_rows(db, receipt_id=receipt.id),
                           people=_users(db, [receipt.received_by_id]), conclusions=pur.CONCLUSION_LABELS)


@bp.route("/receipts/<int:receipt_id>/labels")
@requires(Perm.PROCUREMENT_READ)
def labels(receipt_id: int):
    """Lot labels with a Code 128 barcode of the lot's label code, for the shelf and the warehouse."""
    from hardware.codes import lot_label_code
    from hardware.receipt import barcode_svg

    _actor, db, store = _ctx()
    receipt = pur.get_receipt(db, receipt_id, store.id)
    rows = [r for r in pur.receipt_rows(db, receipt_id=receipt.id) if r.inspection and r.inspection.accepted_qty]
    return render_template("gsp/procurement/labels.html", receipt=receipt, store=store,
                           labels=[(r, barcode_svg(lot_label_code(r.lot.id)).replace('id="barcode_group"',
                                                                                      f'id="barcode-{r.lot.id}"'))
                                   for r in rows])


# --- purchase returns -----------------------------------------------------------------------------------------------------

@bp.route("/returns")
@requires(Perm.PROCUREMENT_READ)
def returns():
    _actor, db, store = _ctx()
    return render_template("gsp/procurement/returns.html", rows=pur.returns(db, store.id),
                           labels=pur.RETURN_STATUS_LABELS,
                           suppliers=qual.suppliers(db, QualificationStatus.APPROVED))


def _new_return_page(supplier_id: int, form=None, status=200, values=None):
    _actor, db, store = _ctx()
    supplier = qual.get_supplier(db, supplier_id)
    return render_template("gsp/procurement/return_new.html", supplier=supplier,
                           stock=pur.returnable_stock(db, store.id, supplier.id), form=form or ReturnForm(formdata=None),
                           values=values or {}, status_label=inv.lot_status_label), status


@bp.route("/returns/new/<int:supplier_id>", methods=["GET"])
@requires(Perm.PURCHASE_RETURN_REQUEST)
def new_return_form(supplier_id: int):
    return _new_return_page(supplier_id)


@bp.route("/returns/new/<int:supplier_id>", methods=["POST"])
@requires(Perm.PURCHASE_RETURN_REQUEST)
def new_return(supplier_id: int):
    actor, db, store = _ctx()
    form = ReturnForm()
    lines = []
    for key, value in request.form.items():
        if key.startswith("qty-") and value.strip():
            lot_id, _sep, location_id = key[4:].partition("-")
            lines.append({"lot_id": int(lot_id) if lot_id.isdigit() else None,
                          "location_id": int(location_id) if location_id.isdigit() else None,
                          "packages": value.strip()})
    return run_form(form, lambda: pur.request_return(db, actor, store=store, supplier_id=supplier_id, lines=lines,
                                                 reason=form.reason.data),
                lambda r: _("Return %(number)s requested: the quality head and finance approve it.", number=r.number),
                lambda status: _new_return_page(supplier_id, form, status, request.form),
                lambda r: url_for("procurement.purchase_return", return_id=r.id))


def _return_context(return_id: int) -> dict:
    """What the return page and the printed return notice both show."""
    _actor, db, store = _ctx()
    ret = pur.get_return(db, return_id, store.id)
    return dict(ret=ret, store=store, supplier=qual.get_supplier(db, ret.supplier_id),
                lines=pur.return_lines(db, ret.id), labels=pur.RETURN_STATUS_LABELS,
                people=_users(db, [ret.requested_by_id, ret.quality_by_id, ret.finance_by_id, ret.rejected_by_id]))


def _return_page(return_id: int, status: int = 200, decision=None):
    context = _return_context(return_id)
    db, store = get_session(), context["store"]
    return render_template("gsp/procurement/return.html", **context,
                           places={loc.id: loc for loc in inv.store_locations(db, store.id)},
                           decision=decision or DecisionForm(formdata=None)), status


@bp.route("/returns/<int:return_id>")
@requires(Perm.PROCUREMENT_READ)
def purchase_return(return_id: int):
    return _return_page(return_id)


@bp.route("/returns/<int:return_id>/notice")
@requires(Perm.PROCUREMENT_READ)
def return_notice(return_id: int):
    """采购退回通知单, A4, with both approvals."""
    return render_template("gsp/procurement/return_notice.html", **_return_context(return_id))


def _decide_return(return_id: int, role: str):
    actor, db, store = _ctx()
    form = DecisionForm()

    def action():
        return pur.decide_return(db, actor, store=store, return_id=return_id, as_role=role,
                                 approve=form.decision.data == "approve", note=form.note.data)

    return run_form(form, action, lambda r: {ReturnStatus.DONE: _("Both approvals given: the stock has left by return "
                                                              "movements."),
                                         ReturnStatus.REJECTED: _("Return rejected.")}.get(r.status,
                                                                                          _("Approval recorded.")),
                lambda status: _return_page(return_id, status, form),
                lambda r: url_for("procurement.purchase_return", return_id=r.id))


@bp.route("/returns/<int:return_id>/quality", methods=["POST"])
@requires(Perm.PURCHASE_RETURN_QUALITY)
def quality_decision(return_id: int):
    return _decide_return(return_id, "quality")


@bp.route("/returns/<int:return_id>/finance", methods=["POST"])
@requires(Perm.PURCHASE_RETURN_FINANCE)
def finance_decision(return_id: int):
    return _decide_return(return_id, "finance")
