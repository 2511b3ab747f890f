"""POS JSON API: scans posted by the serial scanner agent (`yaofang scanner-agent`) and the register's open cart.

A scan posted here lands in the same open cart as a scan typed at the counter screen (which polls for changes).
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask_babel import lazy_gettext as _l

from core.api import error_responses
from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput
from core.permissions import Perm
from core.web import json_body
from inventory import services as inv
from pos import services as pos

bp = Blueprint("pos_api", __name__, url_prefix="/api/v1")

MAX_RAW_LENGTH = 200


def _register(code: str):
    return pos.get_register(get_session(), current_actor().store_id, code)


def line_json(line, drug, lot) -> dict:
    return {"id": line.id, "drug_id": drug.id, "drug_code": drug.code, "drug_name": drug.display_name,
            "specification": drug.specification, "lot_id": lot.id, "lot_no": lot.lot_no,
            "expiry_date": lot.expiry_date.isoformat() if lot.expiry_date else None,
            "pack_quantity": line.pack_quantity, "split_pack": line.split_pack,
            "unit": drug.smallest_unit if line.split_pack else drug.package_unit,
            "unit_price_fen": line.unit_price_fen, "amount_fen": line.unit_price_fen * line.pack_quantity,
            "rx": drug.rx_class == "rx", "trace_code": line.trace_code}


@bp.route("/registers/<code>/scans", methods=["POST"])
@requires(Perm.POS_SELL)
def post_scan(code: str):
    body = json_body()
    raw = body.get("raw")
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_RAW_LENGTH:
        raise InvalidInput(_l("Field raw must be the scanned text (1 to %(n)d characters).", n=MAX_RAW_LENGTH),
                           code="invalid_field", details={"field": "raw"})
    db = get_session()
    register = _register(code)
    separators = "\x1d" + current_app.config.get("SCANNER_SEPARATOR_CHARS", "")
    outcome = pos.scan_into_cart(db, current_actor(), register, raw, separator_chars=separators,
                                 settings=pos.PosSettings.from_config(current_app.config))
    line = None
    if outcome.line is not None:
        drug = inv.get_drug(db, outcome.line.drug_id)
        line = line_json(outcome.line, drug, inv.get_lot(db, outcome.line.lot_id))
    return jsonify({"kind": outcome.kind, "line": line,
                    "notices": [{"level": n.level, "message": n.message} for n in outcome.notices],
                    "sale_number": outcome.sale_number, "message": outcome.message}), 201


@bp.route("/registers/<code>/cart")
@requires(Perm.POS_SELL)
def get_cart(code: str):
    db = get_session()
    register = _register(code)
    cart = pos.current_cart(db, register)
    rows = pos.cart_lines(db, cart.id) if cart else []
    lines = [line_json(line, drug, lot) for line, drug, lot in rows]
    return jsonify({"register": register.code, "cart_id": cart.id if cart else None,
                    "shift_open": pos.open_shift_of(db, register.id) is not None, "lines": lines,
                    "total_fen": sum(l["amount_fen"] for l in lines)})


_int = {"type": "integer"}
_str = {"type": "string"}
_nstr = {"type": "string", "nullable": True}
_code_param = {"name": "code", "in": "path", "required": True, "description": "Register code, e.g. POS1",
               "schema": {"type": "string"}}


def _ok(ref: str, status: str, desc: str) -> dict:
    return {status: {"description": desc, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{ref}"}}}}}


OPENAPI = {
    "paths": {
        "/api/v1/registers/{code}/scans": {"post": {
            "summary": "A raw scan at a register (serial scanner agent): added to the register's open cart",
            "description": "The same decoder and rules as the counter screen: EAN-13/UPC, GS1 element strings "
                           "(GS = 0x1D kept), trace codes (attached to the last line), sale numbers (kind "
                           "sale_number: nothing is added; open the return screen). Refusals (unknown barcode, "
                           "locked or expired lot, ephedrine limit, no open shift) are 4xx errors.",
            "operationId": "postRegisterScan", "parameters": [_code_param],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/PosScanRequest"}}}},
            "responses": {**_ok("PosScanOutcome", "201", "The scan was taken"),
                          **error_responses(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/registers/{code}/cart": {"get": {
            "summary": "The register's open cart: lines and total", "operationId": "getRegisterCart",
            "parameters": [_code_param],
            "responses": {**_ok("PosCart", "200", "The open cart (no lines when there is none)"),
                          **error_responses(401, 403, 404)}}},
    },
    "schemas": {
        "PosScanRequest": {"type": "object", "required": ["raw"], "properties": {
            "raw": {"type": "string", "minLength": 1, "maxLength": MAX_RAW_LENGTH,
                    "description": "Exactly what the scanner sent (AIM prefix and GS separators included)"}}},
        "PosNotice": {"type": "object", "required": ["level", "message"], "properties": {
            "level": {"type": "string", "enum": ["info", "warning"]}, "message": _str}},
        "PosCartLine": {"type": "object", "required": [
            "id", "drug_id", "drug_code", "drug_name", "specification", "lot_id", "lot_no", "expiry_date",
            "pack_quantity", "split_pack", "unit", "unit_price_fen", "amount_fen", "rx", "trace_code"],
            "properties": {
                "id": _int, "drug_id": _int, "drug_code": _str, "drug_name": _str, "specification": _str,
                "lot_id": _int, "lot_no": _str, "expiry_date": {"type": "string", "format": "date", "nullable": True},
                "pack_quantity": _int, "split_pack": {"type": "boolean"}, "unit": _str,
                "unit_price_fen": _int, "amount_fen": _int, "rx": {"type": "boolean"}, "trace_code": _nstr}},
        "PosScanOutcome": {"type": "object", "required": ["kind", "line", "notices", "sale_number", "message"],
                           "properties": {
                               "kind": {"type": "string", "enum": ["added", "trace_code", "sale_number"]},
                               "line": {"allOf": [{"$ref": "#/components/schemas/PosCartLine"}], "nullable": True},
                               "notices": {"type": "array", "items": {"$ref": "#/components/schemas/PosNotice"}},
                               "sale_number": _nstr, "message": _str}},
        "PosCart": {"type": "object", "required": ["register", "cart_id", "shift_open", "lines", "total_fen"],
                    "properties": {
                        "register": _str, "cart_id": {"type": "integer", "nullable": True},
                        "shift_open": {"type": "boolean"},
                        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/PosCartLine"}},
                        "total_fen": _int}},
    },
}
