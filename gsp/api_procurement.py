"""Procurement JSON API: qualified suppliers and drugs (首营企业 / 首营品种), purchase orders, receiving (收货),
acceptance inspection (验收) and purchase returns (采购退回).

Bodies mirror the service arguments; quantities go in as packages (购进单位), as the services take them, and come back
in smallest units with the packages beside them. Body types are checked here (a wrong type is a clear 422, never a
500); the rules themselves are the services' (gsp/qualification.py, gsp/purchasing.py)."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlmodel import select

from core.api import error_responses
from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg, json_body
from gsp import purchasing as pur, qualification as qual
from gsp.models import (DrugRequest, Inspection, OrderStatus, PurchaseOrder, PurchaseReturn, QualificationStatus,
                        Receipt, ReceiptDecision, ReceiptLine, Supplier, SupplierLicence, SupplierLicenceKind,
                        SupplierRep)
from inventory import services as inv
from inventory.api import drug_json, lot_json
from inventory.models import DrugCategory, RxClass, SpecialClass, StorageClass

bp = Blueprint("procurement_api", __name__, url_prefix="/api/v1")

MAX_ID = 2**31 - 1


# --- body checks --------------------------------------------------------------------------------------------------

def _invalid(field: str, message) -> InvalidInput:
    return InvalidInput(message, code="invalid_field", details={"field": field})


def _missing(field: str) -> InvalidInput:
    return InvalidInput(_l("Field %(name)s is required.", name=field), code="missing_field", details={"field": field})


def _bool(body: dict, name: str, default: bool | None = None) -> bool:
    value = body.get(name)
    if value is None:
        if default is None:
            raise _missing(name)
        return default
    if not isinstance(value, bool):
        raise _invalid(name, _l("Field %(name)s must be true or false.", name=name))
    return value


def _id(body: dict, name: str, *, required: bool = True, field: str | None = None) -> int | None:
    value, field = body.get(name), field or name
    if value is None:
        if required:
            raise _missing(field)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise _invalid(field, _l("Field %(name)s must be a record id (a whole number).", name=field))
    return value


def _text(value, field: str, *, nullable: bool = False):
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _invalid(field, _l("Field %(name)s must be text.", name=field))
    return value


def _objects(body: dict, name: str) -> list[dict]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid(name, _l("Field %(name)s must be a list of objects.", name=name))
    return value


def _scope(value, field: str) -> str:
    """A business scope as text (one item per line) or a list of items."""
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise _invalid(field, _l("Field %(name)s must be text or a list of texts.", name=field))
        return "\n".join(value)
    return _text(value, field) if value is not None else ""


def _licence_body(raw: dict, prefix: str = "") -> dict:
    _text(raw.get("kind"), f"{prefix}kind")
    return {**raw, "scope": _scope(raw.get("scope", ""), f"{prefix}scope")}


def _decision(body: dict) -> tuple[bool, object]:
    return _bool(body, "approve"), body.get("note", "")


_DRUG_INT = {"units_per_package", "retail_price_fen"}
_DRUG_NULLABLE = {"nmpa_code", "hi_code"}


def _drug_fields(values: dict, field: str) -> dict:
    """Master-data fields of a drug (new, or changes): known names and the right types."""
    unknown = sorted(set(values) - set(inv.EDITABLE_DRUG_FIELDS))
    if unknown:
        raise InvalidInput(_l("These fields cannot be set: %(fields)s", fields=", ".join(unknown)),
                           code="invalid_field", details={"field": field, "unknown": unknown})
    for name, value in values.items():
        where = f"{field}.{name}" if field else name
        if name == "key_curing":
            if not isinstance(value, bool):
                raise _invalid(where, _l("Field %(name)s must be true or false.", name=where))
        elif name in _DRUG_INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _invalid(where, _l("Field %(name)s must be a whole number.", name=where))
        else:
            _text(value, where, nullable=name in _DRUG_NULLABLE)  # lengths: inventory.services.check_drug_fields
    return values


def _status_arg(allowed) -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in {str(s) for s in allowed}:
        raise InvalidInput(_l("Parameter status must be one of: %(values)s", values=", ".join(map(str, allowed))),
                           code="invalid_parameter")
    return status


def _ctx():
    db = get_session()
    actor = current_actor()
    return db, actor, get_store(db, actor.store_id)


# --- serialisers --------------------------------------------------------------------------------------------------

def _iso(value):
    return value.isoformat() if value else None


def _packages(quantity: int, units: int):
    return quantity // units if quantity % units == 0 else round(quantity / units, 2)


def licence_json(lic: SupplierLicence, current: bool = True) -> dict:
    return {"id": lic.id, "supplier_id": lic.supplier_id, "kind": lic.kind, "number": lic.number,
            "scope": lic.scope.splitlines(), "valid_from": _iso(lic.valid_from),
            "valid_until": _iso(lic.valid_until), "current": current, "added_by_id": lic.added_by_id,
            "added_at": _iso(lic.added_at)}


def rep_json(rep: SupplierRep) -> dict:
    return {"id": rep.id, "supplier_id": rep.supplier_id, "name": rep.name, "id_number": rep.id_number,
            "authorisation_no": rep.authorisation_no, "scope": rep.scope.splitlines(),
            "valid_until": _iso(rep.valid_until)}


def supplier_json(s: Supplier, db=None, store=None) -> dict:
    out = {"id": s.id, "code": s.code, "name": s.name, "credit_code": s.credit_code, "kind": s.kind,
           "address": s.address, "contact": s.contact, "business_scope": s.business_scope.splitlines(),
           "status": s.status, "spler_pmtno": s.spler_pmtno, "submitted_by_id": s.submitted_by_id,
           "submitted_at": _iso(s.submitted_at), "decided_by_id": s.decided_by_id, "decided_at": _iso(s.decided_at),
           "decision_note": s.decision_note}
    if db is not None:
        current = {lic.id for lic in qual.current_licences(db, s.id).values()}
        licences = db.exec(select(SupplierLicence).where(SupplierLicence.supplier_id == s.id)
                           .order_by(SupplierLicence.kind, SupplierLicence.id)).all()
        out["problems"] = qual.supplier_problems(db, s, inv.store_today(store))
        out["usable"] = not out["problems"]
        out["licences"] = [licence_json(lic, lic.id in current) for lic in licences]
        out["reps"] = [rep_json(rep) for rep in qual.supplier_reps(db, s.id)]
    return out


def drug_request_json(db, req: DrugRequest) -> dict:
    return {"id": req.id, "drug_id": req.drug_id, "kind": req.kind, "status": req.status,
            "changes": json.loads(req.changes or "{}"), "before": json.loads(req.before or "{}"),
            "documents": req.documents, "reason": req.reason, "submitted_by_id": req.submitted_by_id,
            "submitted_at": _iso(req.submitted_at), "decided_by_id": req.decided_by_id,
            "decided_at": _iso(req.decided_at), "decision_note": req.decision_note,
            "drug": drug_json(inv.get_drug(db, req.drug_id), inv.drug_barcodes(db, req.drug_id))}


def order_json(order: PurchaseOrder, supplier: Supplier, db=None) -> dict:
    out = {"id": order.id, "number": order.number, "supplier_id": order.supplier_id, "supplier_name": supplier.name,
           "rep_id": order.rep_id, "status": order.status, "note": order.note, "created_by_id": order.created_by_id,
           "created_at": _iso(order.created_at), "confirmed_by_id": order.confirmed_by_id,
           "confirmed_at": _iso(order.confirmed_at), "closed_at": _iso(order.closed_at),
           "close_note": order.close_note}
    if db is not None:
        lines = []
        for p in pur.order_progress(db, order.id):
            units = p.drug.units_per_package
            row = {"id": p.line.id, "drug_id": p.drug.id, "drug_name": p.drug.display_name, "units_per_package": units,
                   "unit_cost_fen": p.line.unit_cost_fen}
            for name, quantity in (("ordered", p.line.quantity), ("received", p.received), ("refused", p.refused),
                                   ("remaining", p.remaining)):
                row[name], row[f"{name}_packages"] = quantity, _packages(quantity, units)
            lines.append(row)
        out["lines"] = lines
        out["receipts"] = [{"id": r.id, "number": r.number, "delivery_note_no": r.delivery_note_no,
                            "received_at": _iso(r.received_at)}
                           for r, _s, _o in pur.receipts(db, order.store_id, order_id=order.id)]
    return out


def decision_json(d: ReceiptDecision) -> dict:
    return {"id": d.id, "receipt_line_id": d.receipt_line_id, "approved": d.approved, "note": d.note,
            "decided_by_id": d.decided_by_id, "decided_at": _iso(d.decided_at)}


def inspection_json(i: Inspection, units: int) -> dict:
    return {"id": i.id, "receipt_line_id": i.receipt_line_id, "lot_id": i.lot_id, "required_sample": i.required_sample,
            "sampled": i.sampled, "appearance_ok": i.appearance_ok, "packaging_ok": i.packaging_ok,
            "label_ok": i.label_ok, "report_ok": i.report_ok, "accepted_qty": i.accepted_qty,
            "rejected_qty": i.rejected_qty, "accepted_packages": _packages(i.accepted_qty, units),
            "rejected_packages": _packages(i.rejected_qty, units), "reject_reason": i.reject_reason,
            "conclusion": i.conclusion, "location_id": i.location_id, "note": i.note,
            "inspector_id": i.inspector_id, "at": _iso(i.at)}


def receipt_json(db, receipt: Receipt) -> dict:
    lines = []
    for r in pur.receipt_rows(db, receipt_id=receipt.id):
        line, units, plan = r.line, r.drug.units_per_package, r.plan
        lines.append({
            "id": line.id, "order_line_id": line.order_line_id, "drug_id": r.drug.id, "drug_name": r.drug.display_name,
            "units_per_package": units, "lot_no": line.lot_no, "production_date": _iso(line.production_date),
            "expiry_date": _iso(line.expiry_date), "lot": lot_json(r.lot) if r.lot else None,
            "quantity_received": line.quantity_received,
            "quantity_refused": line.quantity_refused, "packages_received": _packages(line.quantity_received, units),
            "packages_refused": _packages(line.quantity_refused, units), "refuse_reason": line.refuse_reason,
            "cases": line.cases, "part_cases": line.part_cases,
            "arrival_temp_c": None if line.arrival_temp_dc is None else line.arrival_temp_dc / 10,
            "waiting_location_id": line.waiting_location_id, "gtin": line.gtin, "trace_code": line.trace_code,
            "needs_decision": line.needs_decision, "waits_for_decision": r.waits_for_decision,
            "decision": decision_json(r.decision) if r.decision else None, "to_inspect": r.to_inspect,
            "inspection": inspection_json(r.inspection, units) if r.inspection else None,
            "sampling_plan": {"cases_to_open": plan.cases_to_open, "packs_per_case": plan.packs_per_case,
                              "part_case_packs": plan.part_case_packs, "total": plan.total}})
    return {"id": receipt.id, "number": receipt.number, "order_id": receipt.order_id,
            "supplier_id": receipt.supplier_id, "delivery_note_no": receipt.delivery_note_no,
            "client_uuid": receipt.client_uuid, "received_by_id": receipt.received_by_id,
            "received_at": _iso(receipt.received_at), "lines": lines}


def return_json(db, ret: PurchaseReturn) -> dict:
    return {"id": ret.id, "number": ret.number, "supplier_id": ret.supplier_id, "reason": ret.reason,
            "status": ret.status, "requested_by_id": ret.requested_by_id, "requested_at": _iso(ret.requested_at),
            "quality_by_id": ret.quality_by_id, "quality_at": _iso(ret.quality_at),
            "finance_by_id": ret.finance_by_id, "finance_at": _iso(ret.finance_at),
            "rejected_by_id": ret.rejected_by_id, "rejected_at": _iso(ret.rejected_at), "reject_note": ret.reject_note,
            "lines": [{"id": line.id, "lot_id": lot.id, "lot_no": lot.lot_no, "drug_id": drug.id,
                       "drug_name": drug.display_name, "location_id": location.id,
                       "from_location_id": line.from_location_id, "quantity": line.quantity,
                       "packages": _packages(line.quantity, drug.units_per_package)}
                      for line, lot, drug, location in pur.return_lines(db, ret.id)]}


# --- suppliers (首营企业) ----------------------------------------------------------------------------------------------

@bp.route("/suppliers")
@requires(Perm.PROCUREMENT_READ)
def list_suppliers():
    status = _status_arg(list(QualificationStatus))
    return jsonify({"items": [supplier_json(s) for s in qual.suppliers(get_session(), status)]})


@bp.route("/suppliers", methods=["POST"])
@requires(Perm.QUALIFICATION_SUBMIT)
def create_supplier():
    body = json_body()
    licences = [_licence_body(raw, f"licences[{i}].") for i, raw in enumerate(_objects(body, "licences"))]
    reps = [{**raw, "scope": _scope(raw.get("scope", ""), f"reps[{i}].scope")}
            for i, raw in enumerate(_objects(body, "reps"))]
    db, actor, store = _ctx()
    supplier = qual.submit_supplier(db, actor, code=body.get("code"), name=body.get("name"),
                                    credit_code=body.get("credit_code"), kind=_text(body.get("kind", "wholesaler"),
                                                                                    "kind"),
                                    address=body.get("address", ""), contact=body.get("contact", ""),
                                    business_scope=_scope(body.get("business_scope"), "business_scope"),
                                    licences=licences, reps=reps)
    return jsonify(supplier_json(supplier, db, store)), 201


@bp.route("/suppliers/<int:supplier_id>")
@requires(Perm.PROCUREMENT_READ)
def get_supplier(supplier_id: int):
    db, _actor, store = _ctx()
    return jsonify(supplier_json(qual.get_supplier(db, supplier_id), db, store))


@bp.route("/suppliers/<int:supplier_id>/decision", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def decide_supplier(supplier_id: int):
    approve, note = _decision(json_body())
    db, actor, store = _ctx()
    supplier = qual.decide_supplier(db, actor, supplier_id, approve=approve, note=note)
    return jsonify(supplier_json(supplier, db, store))


@bp.route("/suppliers/<int:supplier_id>/licences", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def add_licence(supplier_id: int):
    raw = _licence_body(json_body())
    db, actor, _store = _ctx()
    return jsonify(licence_json(qual.add_licence(db, actor, supplier_id, raw))), 201


# --- drugs (首营品种) and master-data changes ---------------------------------------------------------------------------

@bp.route("/drug-requests", methods=["POST"])
@requires(Perm.QUALIFICATION_SUBMIT)
def create_drug_request():
    body = json_body()
    for name in ("code", "generic_name"):
        if body.get(name) is None:
            raise _missing(name)
    fields = {k: v for k, v in body.items() if k not in ("code", "generic_name", "documents", "barcodes")}
    _drug_fields({**fields, "generic_name": body.get("generic_name")}, "")
    code = _text(body.get("code"), "code")
    barcodes = body.get("barcodes", [])
    if not isinstance(barcodes, list) or not all(isinstance(b, str) for b in barcodes):
        raise _invalid("barcodes", _l("Field barcodes must be a list of EAN-13 codes (text)."))
    if len(set(barcodes)) != len(barcodes):
        raise _invalid("barcodes", _l("A barcode appears twice."))
    db, actor, _store = _ctx()
    req = qual.submit_new_drug(db, actor, code=code, generic_name=body.get("generic_name"),
                               documents=body.get("documents"), barcodes=[(b, "ean13") for b in barcodes],
                               valuable_threshold_fen=int(current_app.config["VALUABLE_PRICE_FEN"]),
                               **fields)
    return jsonify(drug_request_json(db, req)), 201


@bp.route("/drugs/<int:drug_id>/change-requests", methods=["POST"])
@requires(Perm.QUALIFICATION_SUBMIT)
def create_change_request(drug_id: int):
    body = json_body()
    changes = body.get("changes")
    if not isinstance(changes, dict):
        raise _invalid("changes", _l("Field changes must be an object of field: new value."))
    _drug_fields(changes, "changes")
    db, actor, _store = _ctx()
    req = qual.submit_drug_change(db, actor, drug_id, changes=changes, reason=body.get("reason"),
                                  documents=body.get("documents", ""))
    return jsonify(drug_request_json(db, req)), 201


@bp.route("/drug-requests/<int:request_id>")
@requires(Perm.PROCUREMENT_READ)
def get_drug_request(request_id: int):
    db = get_session()
    return jsonify(drug_request_json(db, qual.get_drug_request(db, request_id)))


@bp.route("/drug-requests/<int:request_id>/decision", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def decide_drug_request(request_id: int):
    approve, note = _decision(json_body())
    db, actor, _store = _ctx()
    req = qual.decide_drug_request(db, actor, request_id, approve=approve, note=note,
                                   valuable_threshold_fen=int(current_app.config["VALUABLE_PRICE_FEN"]))
    return jsonify(drug_request_json(db, req))


# --- purchase orders -----------------------------------------------------------------------------------------------

@bp.route("/purchase-orders")
@requires(Perm.PROCUREMENT_READ)
def list_orders():
    status = _status_arg(list(OrderStatus))
    limit = int_arg("limit", 200, minimum=1, maximum=200)
    db, _actor, store = _ctx()
    return jsonify({"items": [order_json(o, s) for o, s in pur.orders(db, store.id, status=status, limit=limit)]})


@bp.route("/purchase-orders", methods=["POST"])
@requires(Perm.PURCHASE_ORDER)
def create_order():
    body = json_body()
    supplier_id, rep_id = _id(body, "supplier_id"), _id(body, "rep_id", required=False)
    lines = _objects(body, "lines")
    if not lines:
        raise InvalidInput(_l("An order needs at least one line."), code="invalid_lines", details={"field": "lines"})
    db, actor, store = _ctx()
    order = pur.create_order(db, actor, store=store, supplier_id=supplier_id, rep_id=rep_id, lines=lines,
                             note=body.get("note", ""))
    return jsonify(order_json(order, qual.get_supplier(db, order.supplier_id), db)), 201


@bp.route("/purchase-orders/<int:order_id>")
@requires(Perm.PROCUREMENT_READ)
def get_order(order_id: int):
    db, _actor, store = _ctx()
    order = pur.get_order(db, order_id, store.id)
    return jsonify(order_json(order, qual.get_supplier(db, order.supplier_id), db))


@bp.route("/purchase-orders/<int:order_id>/confirm", methods=["POST"])
@requires(Perm.PURCHASE_ORDER)
def confirm_order(order_id: int):
    db, actor, store = _ctx()
    order = pur.confirm_order(db, actor, store=store, order_id=order_id)
    return jsonify(order_json(order, qual.get_supplier(db, order.supplier_id), db))


# --- receiving, decisions, inspection --------------------------------------------------------------------------------

@bp.route("/purchase-orders/<int:order_id>/receipts", methods=["POST"])
@requires(Perm.PURCHASE_RECEIVE)
def receive(order_id: int):
    """201 with the new receipt; 200 with the first receipt when the same client_uuid is replayed."""
    body = json_body()
    lines = _objects(body, "lines")
    for i, raw in enumerate(lines):
        for name in ("order_line_id", "waiting_location_id"):
            _id(raw, name, field=f"lines[{i}].{name}")
        for name in ("gtin", "trace_code"):
            _text(raw.get(name), f"lines[{i}].{name}", nullable=True)
    db, actor, store = _ctx()
    receipt, created = pur.receive_or_replay(
        db, actor, store=store, order_id=order_id, delivery_note_no=body.get("delivery_note_no"),
        client_uuid=body.get("client_uuid"), lines=lines,
        min_shelf_life_months=int(current_app.config.get("RECEIVING_MIN_SHELF_LIFE_MONTHS", 6)))
    return jsonify(receipt_json(db, receipt)), 201 if created else 200


@bp.route("/receipts/<int:receipt_id>")
@requires(Perm.PROCUREMENT_READ)
def get_receipt(receipt_id: int):
    db, _actor, store = _ctx()
    return jsonify(receipt_json(db, pur.get_receipt(db, receipt_id, store.id)))


@bp.route("/receipt-lines/<int:line_id>/decision", methods=["POST"])
@requires(Perm.QUALIFICATION_APPROVE)
def decide_receipt_line(line_id: int):
    approve, note = _decision(json_body())
    db, actor, store = _ctx()
    decision = pur.decide_receipt_line(db, actor, store=store, line_id=line_id, approve=approve, note=note)
    return jsonify(decision_json(decision)), 201


@bp.route("/receipt-lines/<int:line_id>/inspection", methods=["POST"])
@requires(Perm.PURCHASE_INSPECT)
def inspect(line_id: int):
    body = json_body()
    checks = {name: _bool(body, name) for name in ("appearance_ok", "packaging_ok", "label_ok", "report_ok")}
    abnormal = _bool(body, "abnormal", False)
    location_id = _id(body, "location_id", required=False)
    db, actor, store = _ctx()
    inspection = pur.inspect(db, actor, store=store, line_id=line_id, sampled=body.get("sampled"), **checks,
                             accepted_packages=body.get("accepted_packages"),
                             rejected_packages=body.get("rejected_packages", 0),
                             reject_reason=body.get("reject_reason", ""), location_id=location_id,
                             note=body.get("note", ""), abnormal=abnormal)
    units = inv.get_drug(db, db.get(ReceiptLine, inspection.receipt_line_id).drug_id).units_per_package
    return jsonify(inspection_json(inspection, units)), 201


# --- purchase returns (采购退回) -----------------------------------------------------------------------------------------

@bp.route("/purchase-returns", methods=["POST"])
@requires(Perm.PURCHASE_RETURN_REQUEST)
def create_return():
    body = json_body()
    supplier_id = _id(body, "supplier_id")
    lines = _objects(body, "lines")
    for i, raw in enumerate(lines):
        for name in ("lot_id", "location_id"):
            _id(raw, name, field=f"lines[{i}].{name}")
    db, actor, store = _ctx()
    ret = pur.request_return(db, actor, store=store, supplier_id=supplier_id, lines=lines, reason=body.get("reason"))
    return jsonify(return_json(db, ret)), 201


@bp.route("/purchase-returns/<int:return_id>")
@requires(Perm.PROCUREMENT_READ)
def get_return(return_id: int):
    db, _actor, store = _ctx()
    return jsonify(return_json(db, pur.get_return(db, return_id, store.id)))


def _decide_return(return_id: int, role: str):
    approve, note = _decision(json_body())
    db, actor, store = _ctx()
    ret = pur.decide_return(db, actor, store=store, return_id=return_id, as_role=role, approve=approve, note=note)
    return jsonify(return_json(db, ret))


@bp.route("/purchase-returns/<int:return_id>/quality", methods=["POST"])
@requires(Perm.PURCHASE_RETURN_QUALITY)
def return_quality(return_id: int):
    return _decide_return(return_id, "quality")


@bp.route("/purchase-returns/<int:return_id>/finance", methods=["POST"])
@requires(Perm.PURCHASE_RETURN_FINANCE)
def return_finance(return_id: int):
    return _decide_return(return_id, "finance")


# --- OpenAPI ----------------------------------------------------------------------------------------------------------

_int = {"type": "integer"}
_nint = {"type": "integer", "nullable": True}
_str = {"type": "string"}
_bool_s = {"type": "boolean"}
_num = {"type": "number"}
_date = {"type": "string", "format": "date"}
_ndate = {"type": "string", "format": "date", "nullable": True}
_ts = {"type": "string", "format": "date-time"}
_nts = {"type": "string", "format": "date-time", "nullable": True}
_strs = {"type": "array", "items": _str}
_scope_in = {"oneOf": [{"type": "string", "description": "one item per line"}, _strs]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nref(name: str) -> dict:
    return {"allOf": [_ref(name)], "nullable": True}


def _enum(values) -> dict:
    return {"type": "string", "enum": [str(v) for v in values]}


def _obj(required: list, **props) -> dict:
    return {"type": "object", "required": required, "properties": props}


def _array(item: dict) -> dict:
    return {"type": "array", "items": item}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _int}


def _resp(ref: str, status: str = "200", desc: str = "OK") -> dict:
    return {status: {"description": desc, "content": {"application/json": {"schema": _ref(ref)}}}}


def _op(op_id: str, summary: str, ref: str, *, status: str = "200", body: str | None = None, params=(),
        errors=(401, 403, 404), extra: dict | None = None) -> dict:
    op = {"summary": summary, "operationId": op_id, "parameters": list(params),
          "responses": {**_resp(ref, status, "Created" if status == "201" else "OK"), **(extra or {}),
                        **error_responses(*errors)}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


_WRITE = (400, 401, 403, 404, 409, 422)


def _status_q(values) -> dict:
    return {"name": "status", "in": "query", "schema": {"type": "string", "enum": values}}


_DRUG_FIELD_PROPS = {"trade_name": _str, "dosage_form": _str, "specification": _str, "package_unit": _str,
                     "smallest_unit": _str, "units_per_package": {"type": "integer", "minimum": 1, "maximum": 10000},
                     "manufacturer": _str, "approval_no": _str, "nmpa_code": {"type": "string", "nullable": True},
                     "hi_code": {"type": "string", "nullable": True}, "rx_class": _enum(RxClass),
                     "special_class": _enum(SpecialClass), "storage_class": _enum(StorageClass),
                     "key_curing": _bool_s, "category": _enum(DrugCategory),
                     "scope_item": {"type": "string", "enum": ["", *qual.SCOPE_ITEMS]},
                     "retail_price_fen": {"type": "integer", "minimum": 0}}

OPENAPI = {
    "paths": {
        "/api/v1/suppliers": {
            "get": _op("listSuppliers", "Suppliers (chain-wide master data), by name", "SupplierList",
                       params=[_status_q([s.value for s in QualificationStatus])], errors=(401, 403, 422)),
            "post": _op("submitSupplier", "Submit a supplier (首营企业) with its licences and representatives; a "
                        "quality manager, not the submitter, approves it", "Supplier", status="201",
                        body="SupplierRequest", errors=_WRITE)},
        "/api/v1/suppliers/{supplier_id}": {"get": _op(
            "getSupplier", "A supplier with its licences, representatives and what blocks orders now", "Supplier",
            params=[_path("supplier_id")])},
        "/api/v1/suppliers/{supplier_id}/decision": {"post": _op(
            "decideSupplier", "Approve or reject a pending supplier (two-person rule; a rejection needs a note)",
            "Supplier", body="DecisionRequest", params=[_path("supplier_id")], errors=_WRITE)},
        "/api/v1/suppliers/{supplier_id}/licences": {"post": _op(
            "addSupplierLicence", "File a renewed or further licence; the latest of a kind counts, and a trade or "
            "manufacturing licence with a scope sets the supplier's business scope", "SupplierLicence",
            status="201", body="LicenceRequest", params=[_path("supplier_id")], errors=_WRITE)},
        "/api/v1/drug-requests": {"post": _op(
            "submitDrug", "Submit a new drug (首营品种): it enters the master data pending (not orderable or sellable) "
            "until a quality manager approves it", "DrugRequest", status="201", body="NewDrugRequest",
            errors=_WRITE)},
        "/api/v1/drugs/{drug_id}/change-requests": {"post": _op(
            "requestDrugChange", "Request a change to an approved drug's master data; nothing changes until approved",
            "DrugRequest", status="201", body="DrugChangeRequest", params=[_path("drug_id")], errors=_WRITE)},
        "/api/v1/drug-requests/{request_id}": {"get": _op(
            "getDrugRequest", "A drug request with its changes, the values they replace and the drug",
            "DrugRequest", params=[_path("request_id")])},
        "/api/v1/drug-requests/{request_id}/decision": {"post": _op(
            "decideDrugRequest", "Approve or reject a drug request (two-person rule)", "DrugRequest",
            body="DecisionRequest", params=[_path("request_id")], errors=_WRITE)},
        "/api/v1/purchase-orders": {
            "get": _op("listPurchaseOrders", "Purchase orders of the user's store, newest first",
                       "PurchaseOrderList", params=[_status_q([s.value for s in OrderStatus]), {
                           "name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": 200}}],
                       errors=(401, 403, 422)),
            "post": _op("createPurchaseOrder", "A draft order (quantities in packages); every line is checked "
                        "against the drug's approval and both business scopes", "PurchaseOrder", status="201",
                        body="PurchaseOrderRequest", errors=_WRITE)},
        "/api/v1/purchase-orders/{order_id}": {"get": _op(
            "getPurchaseOrder", "An order with ordered, received, refused and remaining quantities per line",
            "PurchaseOrder", params=[_path("order_id")])},
        "/api/v1/purchase-orders/{order_id}/confirm": {"post": _op(
            "confirmPurchaseOrder", "Confirm a draft: it becomes the purchase plan receiving works against",
            "PurchaseOrder", params=[_path("order_id")], errors=(401, 403, 404, 409, 422))},
        "/api/v1/purchase-orders/{order_id}/receipts": {"post": _op(
            "receiveGoods", "Record a delivery against a confirmed order (收货); the lots wait for inspection. "
            "Idempotent by client_uuid: a replay returns the first receipt with 200", "Receipt", status="201",
            body="ReceiptRequest", params=[_path("order_id")], errors=_WRITE,
            extra=_resp("Receipt", "200", "Replay: the receipt first recorded with this client_uuid"))},
        "/api/v1/receipts/{receipt_id}": {"get": _op(
            "getReceipt", "A receipt with its lots, decisions, inspections and sampling plans", "Receipt",
            params=[_path("receipt_id")])},
        "/api/v1/receipt-lines/{line_id}/decision": {"post": _op(
            "decideReceiptLine", "The quality manager's decision on a lot that needs one (short shelf life)",
            "ReceiptDecision", status="201", body="DecisionRequest", params=[_path("line_id")], errors=_WRITE)},
        "/api/v1/receipt-lines/{line_id}/inspection": {"post": _op(
            "inspectReceiptLine", "Acceptance inspection (验收) of a received lot: accepted stock enters the ledger "
            "at the chosen location, rejected stock goes to the red area", "Inspection", status="201",
            body="InspectionRequest", params=[_path("line_id")], errors=_WRITE)},
        "/api/v1/purchase-returns": {"post": _op(
            "requestPurchaseReturn", "Request a return to the supplier (quantities in packages); the goods wait in "
            "the pending area and leave when the quality head and finance have both approved", "PurchaseReturn", status="201",
            body="PurchaseReturnRequest", errors=_WRITE)},
        "/api/v1/purchase-returns/{return_id}": {"get": _op(
            "getPurchaseReturn", "A purchase return with its lines and approvals", "PurchaseReturn",
            params=[_path("return_id")])},
        "/api/v1/purchase-returns/{return_id}/quality": {"post": _op(
            "qualityDecidePurchaseReturn", "The quality head approves (or rejects, with a note) a return",
            "PurchaseReturn", body="DecisionRequest", params=[_path("return_id")], errors=_WRITE)},
        "/api/v1/purchase-returns/{return_id}/finance": {"post": _op(
            "financeDecidePurchaseReturn", "Finance approves (or rejects, with a note) a return; the second approval "
            "posts the return movements", "PurchaseReturn", body="DecisionRequest", params=[_path("return_id")],
            errors=_WRITE)},
    },
    "schemas": {
        "DecisionRequest": _obj(["approve"], approve=_bool_s, note={"type": "string", "maxLength": qual.MAX_TEXT,
                                                                    "description": "required when rejecting"}),
        "LicenceRequest": _obj(["kind", "number"], kind={"type": "string", "enum": [k.value for k in
                                                                                   SupplierLicenceKind]},
                               number={"type": "string", "maxLength": 64}, valid_from=_ndate, valid_until=_ndate,
                               scope=_scope_in),
        "RepRequest": _obj(["name", "id_number", "valid_until"], name={"type": "string", "maxLength": 64},
                           id_number={"type": "string", "description": "18-digit resident ID"},
                           authorisation_no={"type": "string", "maxLength": 64}, valid_until=_date, scope=_scope_in),
        "SupplierRequest": _obj(["code", "name", "credit_code", "business_scope", "licences"],
                                code={"type": "string", "maxLength": 32}, name={"type": "string", "maxLength": 160},
                                credit_code={"type": "string", "description": "统一社会信用代码, 18 characters"},
                                kind={"type": "string", "enum": list(qual.SUPPLIER_KINDS)},
                                address=_str, contact=_str, business_scope=_scope_in,
                                licences=_array(_ref("LicenceRequest")), reps=_array(_ref("RepRequest"))),
        "SupplierLicence": _obj(["id", "supplier_id", "kind", "number", "valid_until", "current"],
                                id=_int, supplier_id=_int, kind=_str, number=_str, scope=_strs, valid_from=_ndate,
                                valid_until=_ndate, current=_bool_s, added_by_id=_nint, added_at=_ts),
        "SupplierRep": _obj(["id", "supplier_id", "name", "valid_until"], id=_int, supplier_id=_int, name=_str,
                            id_number=_str, authorisation_no=_str, scope=_strs, valid_until=_date),
        "Supplier": _obj(["id", "code", "name", "credit_code", "kind", "status", "business_scope"],
                         id=_int, code=_str, name=_str, credit_code=_str, kind=_str, address=_str, contact=_str,
                         business_scope=_strs, status={"type": "string", "enum": [s.value for s in
                                                                                   QualificationStatus]},
                         spler_pmtno=_str, submitted_by_id=_nint, submitted_at=_ts, decided_by_id=_nint,
                         decided_at=_nts, decision_note=_str, problems=_strs, usable=_bool_s,
                         licences=_array(_ref("SupplierLicence")), reps=_array(_ref("SupplierRep"))),
        "SupplierList": _obj(["items"], items=_array(_ref("Supplier"))),
        "NewDrugRequest": _obj(["code", "generic_name", "documents", "approval_no", "manufacturer"],
                               code={"type": "string", "maxLength": 32}, generic_name=_str, documents=_str,
                               barcodes=_array({"type": "string", "description": "EAN-13"}), **_DRUG_FIELD_PROPS),
        "DrugChangeRequest": _obj(["changes", "reason"], changes={"type": "object", "properties": {
            "generic_name": _str, **_DRUG_FIELD_PROPS}, "additionalProperties": False}, reason=_str, documents=_str),
        "DrugRequest": _obj(["id", "drug_id", "kind", "status", "changes", "before", "drug"],
                            id=_int, drug_id=_int, kind={"type": "string", "enum": ["new", "change"]},
                            status={"type": "string", "enum": [s.value for s in QualificationStatus]},
                            changes={"type": "object"}, before={"type": "object"}, documents=_str, reason=_str,
                            submitted_by_id=_nint, submitted_at=_ts, decided_by_id=_nint, decided_at=_nts,
                            decision_note=_str, drug=_ref("Drug")),
        "PurchaseOrderRequest": _obj(["supplier_id", "lines"], supplier_id=_int, rep_id=_nint, note=_str,
                                     lines=_array(_obj(["drug_id", "packages"], drug_id=_int,
                                                       packages={"type": "integer", "minimum": 1,
                                                                 "maximum": pur.MAX_PACKAGES},
                                                       unit_cost_fen={"type": "integer", "minimum": 0,
                                                                      "description": "per package"}))),
        "PurchaseOrderLine": _obj(["id", "drug_id", "ordered", "received", "refused", "remaining"],
                                  id=_int, drug_id=_int, drug_name=_str, units_per_package=_int, unit_cost_fen=_int,
                                  ordered=_int, received=_int, refused=_int, remaining=_int, ordered_packages=_num,
                                  received_packages=_num, refused_packages=_num, remaining_packages=_num),
        "PurchaseOrder": _obj(["id", "number", "supplier_id", "status"],
                              id=_int, number=_str, supplier_id=_int, supplier_name=_str, rep_id=_nint,
                              status={"type": "string", "enum": [s.value for s in OrderStatus]}, note=_str,
                              created_by_id=_nint, created_at=_ts, confirmed_by_id=_nint, confirmed_at=_nts,
                              closed_at=_nts, close_note=_str, lines=_array(_ref("PurchaseOrderLine")),
                              receipts=_array(_obj(["id", "number"], id=_int, number=_str, delivery_note_no=_str,
                                                   received_at=_ts))),
        "PurchaseOrderList": _obj(["items"], items=_array(_ref("PurchaseOrder"))),
        "ReceiptRequest": _obj(["delivery_note_no", "client_uuid", "lines"], delivery_note_no=_str,
                               client_uuid={"type": "string", "format": "uuid"}, lines=_array(_obj(
                                   ["order_line_id", "lot_no", "production_date", "expiry_date", "waiting_location_id"],
                                   order_line_id=_int, lot_no=_str, production_date=_date, expiry_date=_date,
                                   packages={"type": "integer", "minimum": 0}, refused_packages={
                                       "type": "integer", "minimum": 0}, refuse_reason=_str, cases=_int,
                                   part_cases=_int, arrival_temp_c={"type": "number", "nullable": True},
                                   waiting_location_id=_int, gtin=_str, trace_code=_str))),
        "SamplingPlan": _obj(["cases_to_open", "packs_per_case", "part_case_packs", "total"], cases_to_open=_int,
                             packs_per_case=_int, part_case_packs=_int, total=_int),
        "ReceiptDecision": _obj(["id", "receipt_line_id", "approved", "note"], id=_int, receipt_line_id=_int,
                                approved=_bool_s, note=_str, decided_by_id=_nint, decided_at=_ts),
        "Inspection": _obj(["id", "receipt_line_id", "lot_id", "accepted_qty", "rejected_qty", "conclusion"],
                           id=_int, receipt_line_id=_int, lot_id=_int, required_sample=_int, sampled=_int,
                           appearance_ok=_bool_s, packaging_ok=_bool_s, label_ok=_bool_s, report_ok=_bool_s,
                           accepted_qty=_int, rejected_qty=_int, accepted_packages=_num, rejected_packages=_num,
                           reject_reason=_str, conclusion={"type": "string", "enum": list(pur.CONCLUSION_LABELS)},
                           location_id=_nint, note=_str, inspector_id=_nint, at=_ts),
        "ReceiptLine": _obj(["id", "order_line_id", "drug_id", "lot_no", "production_date", "expiry_date", "lot",
                             "quantity_received", "quantity_refused", "needs_decision", "decision", "inspection",
                             "sampling_plan"],
                            id=_int, order_line_id=_int, drug_id=_int, drug_name=_str, units_per_package=_int,
                            lot_no=_str, production_date=_date, expiry_date=_date,
                            lot={"allOf": [_ref("Lot")], "nullable": True,
                                 "description": "null when everything was refused at the door"},
                            quantity_received=_int, quantity_refused=_int, packages_received=_num,
                            packages_refused=_num, refuse_reason=_str, cases=_int, part_cases=_int,
                            arrival_temp_c={"type": "number", "nullable": True}, waiting_location_id=_int,
                            gtin=_str, trace_code=_str,
                            needs_decision={"type": "string", "description": "\"short_shelf_life\" or \"\""},
                            waits_for_decision=_bool_s, decision=_nref("ReceiptDecision"), to_inspect=_bool_s,
                            inspection=_nref("Inspection"), sampling_plan=_ref("SamplingPlan")),
        "Receipt": _obj(["id", "number", "order_id", "supplier_id", "delivery_note_no", "lines"],
                        id=_int, number=_str, order_id=_int, supplier_id=_int, delivery_note_no=_str,
                        client_uuid=_str, received_by_id=_nint, received_at=_ts, lines=_array(_ref("ReceiptLine"))),
        "InspectionRequest": _obj(["sampled", "appearance_ok", "packaging_ok", "label_ok", "report_ok",
                                   "accepted_packages"],
                                  sampled={"type": "integer", "minimum": 0, "description": "packs sampled"},
                                  appearance_ok=_bool_s, packaging_ok=_bool_s, label_ok=_bool_s, report_ok=_bool_s,
                                  accepted_packages={"type": "integer", "minimum": 0},
                                  rejected_packages={"type": "integer", "minimum": 0}, reject_reason=_str,
                                  location_id={"type": "integer", "nullable": True,
                                               "description": "where accepted goods go (required if any)"},
                                  note=_str, abnormal={"type": "boolean", "description": "doubles the sample"}),
        "PurchaseReturnRequest": _obj(["supplier_id", "reason", "lines"], supplier_id=_int, reason=_str,
                                      lines=_array(_obj(["lot_id", "location_id", "packages"], lot_id=_int,
                                                        location_id=_int, packages={"type": "integer",
                                                                                    "minimum": 1}))),
        "PurchaseReturn": _obj(["id", "number", "supplier_id", "status", "lines"],
                               id=_int, number=_str, supplier_id=_int, reason=_str,
                               status={"type": "string", "enum": ["requested", "done", "rejected"]},
                               requested_by_id=_nint, requested_at=_ts, quality_by_id=_nint, quality_at=_nts,
                               finance_by_id=_nint, finance_at=_nts, rejected_by_id=_nint, rejected_at=_nts,
                               reject_note=_str,
                               lines=_array(_obj(["lot_id", "location_id", "quantity"], id=_int, lot_id=_int,
                                                 lot_no=_str, drug_id=_int, drug_name=_str,
                                                 location_id={**_int, "description": "where the goods wait to "
                                                              "leave (the pending area)"},
                                                 from_location_id={**_nint, "description": "where they were "
                                                                   "taken from; back there if rejected"},
                                                 quantity=_int, packages=_num))),
    },
}
