"""Inventory JSON API: drugs, barcode lookup, FEFO allocation, lots, balances, movements, locations, transfers."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlmodel import select

from core.api import error_responses
from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg, json_body
from inventory import services as inv
from inventory.models import Drug, Location, Lot, StockBalance

bp = Blueprint("inventory_api", __name__, url_prefix="/api/v1")


def drug_json(d: Drug, barcodes=None) -> dict:
    out = {"id": d.id, "code": d.code, "generic_name": d.generic_name, "trade_name": d.trade_name,
           "dosage_form": d.dosage_form, "specification": d.specification, "package_unit": d.package_unit,
           "smallest_unit": d.smallest_unit, "units_per_package": d.units_per_package,
           "manufacturer": d.manufacturer, "approval_no": d.approval_no, "nmpa_code": d.nmpa_code,
           "hi_code": d.hi_code, "rx_class": d.rx_class, "special_class": d.special_class,
           "storage_class": d.storage_class, "category": d.category, "approval_status": d.approval_status,
           "active": d.active, "retail_price_fen": d.retail_price_fen, "valuable": d.valuable}
    if barcodes is not None:
        out["barcodes"] = [{"barcode": b.barcode, "kind": b.kind} for b in barcodes]
    return out


def lot_json(lot: Lot, on_hand: int | None = None) -> dict:
    out = {"id": lot.id, "store_id": lot.store_id, "drug_id": lot.drug_id, "lot_no": lot.lot_no,
           "production_date": lot.production_date.isoformat() if lot.production_date else None,
           "expiry_date": lot.expiry_date.isoformat() if lot.expiry_date else None, "status": lot.status}
    if on_hand is not None:
        out["on_hand"] = int(on_hand)
    return out


def location_json(loc: Location) -> dict:
    return {"id": loc.id, "code": loc.code, "name": loc.name, "kind": loc.kind, "sellable": loc.sellable,
            "storage_class": loc.storage_class, "active": loc.active}


def page_args():
    return int_arg("limit", 50, minimum=1, maximum=200), int_arg("offset", 0, minimum=0, maximum=10**9)


@bp.route("/drugs")
@requires(Perm.DRUG_READ)
def list_drugs():
    limit, offset = page_args()
    drugs = inv.search_drugs(get_session(), request.args.get("q", ""), limit=limit, offset=offset)
    return jsonify({"items": [drug_json(d) for d in drugs], "limit": limit, "offset": offset})


@bp.route("/drugs/<int:drug_id>")
@requires(Perm.DRUG_READ)
def get_drug(drug_id: int):
    db = get_session()
    return jsonify(drug_json(inv.get_drug(db, drug_id), inv.drug_barcodes(db, drug_id)))


@bp.route("/drugs/<int:drug_id>/allocation")
@requires(Perm.STOCK_READ)
def drug_allocation(drug_id: int):
    quantity = int_arg("quantity", None, minimum=1, maximum=inv.MAX_MOVEMENT_QUANTITY)
    if quantity is None:
        raise InvalidInput(_l("Parameter quantity is required."), code="invalid_parameter")
    db = get_session()
    store = get_store(db, current_actor().store_id)
    return jsonify(inv.allocate_fefo(db, store, drug_id, quantity).to_dict())


@bp.route("/scan/<code>")
@requires(Perm.STOCK_READ)
def scan(code: str):
    if not code.isascii() or not code.isalnum() or len(code) > 32:
        raise InvalidInput(_l("Not a barcode: %(code)s", code=code[:40]), code="invalid_barcode")
    db = get_session()
    store = get_store(db, current_actor().store_id)
    found = inv.sellable_lot_for_barcode(db, store, code)
    return jsonify({"drug": drug_json(found.drug), "price_fen": found.price_fen,
                    "lot": lot_json(found.lot) if found.lot else None, "location_id": found.location_id,
                    "available": found.available})


@bp.route("/lots")
@requires(Perm.STOCK_READ)
def list_lots():
    limit, offset = page_args()
    actor = current_actor()
    stmt = select(Lot).where(Lot.store_id == actor.store_id)
    drug_id = int_arg("drug_id")
    if drug_id is not None:
        stmt = stmt.where(Lot.drug_id == drug_id)
    status = request.args.get("status")
    if status:
        stmt = stmt.where(Lot.status == status)
    lots = get_session().exec(stmt.order_by(Lot.expiry_date, Lot.id).limit(limit).offset(offset)).all()
    return jsonify({"items": [lot_json(l) for l in lots], "limit": limit, "offset": offset})


@bp.route("/lots/<int:lot_id>")
@requires(Perm.STOCK_READ)
def get_lot(lot_id: int):
    db = get_session()
    lot = inv.get_lot(db, lot_id, current_actor().store_id)
    on_hand = sum(q for q in db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot.id)).all())
    return jsonify(lot_json(lot, on_hand))


@bp.route("/balances")
@requires(Perm.STOCK_READ)
def list_balances():
    limit, offset = page_args()
    actor = current_actor()
    stmt = (select(StockBalance, Lot).join(Lot, Lot.id == StockBalance.lot_id)
            .where(StockBalance.store_id == actor.store_id))
    for name, column in (("drug_id", Lot.drug_id), ("lot_id", StockBalance.lot_id),
                         ("location_id", StockBalance.location_id)):
        value = int_arg(name)
        if value is not None:
            stmt = stmt.where(column == value)
    if request.args.get("nonzero", "1") != "0":
        stmt = stmt.where(StockBalance.quantity > 0)
    rows = get_session().exec(stmt.order_by(StockBalance.id).limit(limit).offset(offset)).all()
    return jsonify({"items": [{"lot_id": b.lot_id, "location_id": b.location_id, "drug_id": lot.drug_id,
                               "quantity": b.quantity} for b, lot in rows], "limit": limit, "offset": offset})


@bp.route("/movements")
@requires(Perm.STOCK_READ)
def list_movements():
    limit, offset = page_args()
    rows = inv.movements(get_session(), current_actor().store_id, drug_id=int_arg("drug_id"),
                         lot_id=int_arg("lot_id"), location_id=int_arg("location_id"), limit=limit, offset=offset)
    return jsonify({"items": [{"id": m.id, "lot_id": m.lot_id, "drug_id": lot.drug_id, "location_id": m.location_id,
                               "kind": m.kind, "quantity": m.quantity, "balance_after": m.balance_after,
                               "reference": m.reference, "reason": m.reason, "actor_id": m.actor_id,
                               "at": m.at.isoformat()} for m, lot, _loc in rows], "limit": limit, "offset": offset})


@bp.route("/locations")
@requires(Perm.LOCATION_READ)
def list_locations():
    return jsonify({"items": [location_json(l) for l in inv.store_locations(get_session(), current_actor().store_id)]})


@bp.route("/transfers", methods=["POST"])
@requires(Perm.STOCK_TRANSFER)
def create_transfer():
    body = json_body()
    fields = {}
    for name in ("lot_id", "from_location_id", "to_location_id", "quantity"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(_l("Field %(name)s must be a whole number.", name=name), code="invalid_field",
                               details={"field": name})
        fields[name] = value
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise InvalidInput(_l("Field reason must be text of at most 200 characters."), code="invalid_field")
    db = get_session()
    actor = current_actor()
    store = get_store(db, actor.store_id)
    result = inv.transfer_stock(db, actor, store=store, reason=reason, client_uuid=body.get("client_uuid"), **fields)
    return jsonify(result), 201


_int = {"type": "integer"}
_str = {"type": "string"}
_nstr = {"type": "string", "nullable": True}
_page_params = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}]


def _ok(schema_ref: str, status: str = "200", desc: str = "OK") -> dict:
    return {status: {"description": desc, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}}


def _list_of(ref: str) -> dict:
    return {"type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
                           "limit": _int, "offset": _int}}


def _id_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _q(name: str, typ: str = "integer") -> dict:
    return {"name": name, "in": "query", "schema": {"type": typ}}


OPENAPI = {
    "paths": {
        "/api/v1/drugs": {"get": {"summary": "Search drugs by name, pinyin initials, barcode, code or approval no.",
                                  "operationId": "listDrugs", "parameters": [_q("q", "string"), *_page_params],
                                  "responses": {**_ok("DrugList"), **error_responses(401, 403, 422)}}},
        "/api/v1/drugs/{drug_id}": {"get": {"summary": "One drug with its barcodes", "operationId": "getDrug",
                                            "parameters": [_id_param("drug_id")],
                                            "responses": {**_ok("Drug"), **error_responses(401, 403, 404)}}},
        "/api/v1/drugs/{drug_id}/allocation": {"get": {
            "summary": "FEFO allocation: chosen lots and skipped lots with reasons (nothing is reserved)",
            "operationId": "allocateDrug",
            "parameters": [_id_param("drug_id"), {"name": "quantity", "in": "query", "required": True,
                                                  "schema": {"type": "integer", "minimum": 1}}],
            "responses": {**_ok("Allocation"), **error_responses(401, 403, 404, 422)}}},
        "/api/v1/scan/{code}": {"get": {
            "summary": "Barcode → drug, first sellable FEFO lot and price", "operationId": "scanBarcode",
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {**_ok("ScanResult"), **error_responses(401, 403, 404, 409, 422)}}},
        "/api/v1/lots": {"get": {"summary": "Lots of the user's store", "operationId": "listLots",
                                 "parameters": [_q("drug_id"), _q("status", "string"), *_page_params],
                                 "responses": {**_ok("LotList"), **error_responses(401, 403, 422)}}},
        "/api/v1/lots/{lot_id}": {"get": {"summary": "One lot with its quantity on hand", "operationId": "getLot",
                                          "parameters": [_id_param("lot_id")],
                                          "responses": {**_ok("Lot"), **error_responses(401, 403, 404)}}},
        "/api/v1/balances": {"get": {"summary": "Stock balances per lot and location", "operationId": "listBalances",
                                     "parameters": [_q("drug_id"), _q("lot_id"), _q("location_id"),
                                                    _q("nonzero", "string"), *_page_params],
                                     "responses": {**_ok("BalanceList"), **error_responses(401, 403, 422)}}},
        "/api/v1/movements": {"get": {"summary": "The stock ledger, newest first", "operationId": "listMovements",
                                      "parameters": [_q("drug_id"), _q("lot_id"), _q("location_id"), *_page_params],
                                      "responses": {**_ok("MovementList"), **error_responses(401, 403, 422)}}},
        "/api/v1/locations": {"get": {"summary": "Locations of the user's store", "operationId": "listLocations",
                                      "responses": {**_ok("LocationList"), **error_responses(401, 403)}}},
        "/api/v1/transfers": {"post": {
            "summary": "Move stock between two locations of the store", "operationId": "createTransfer",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/TransferRequest"}}}},
            "responses": {**_ok("Transfer", "201", "Transferred (or the first result of a replayed client_uuid)"),
                          **error_responses(400, 401, 403, 404, 409, 422)}}},
    },
    "schemas": {
        "Drug": {"type": "object", "required": ["id", "code", "generic_name", "approval_status", "retail_price_fen"],
                 "properties": {"id": _int, "code": _str, "generic_name": _str, "trade_name": _str,
                                "dosage_form": _str, "specification": _str, "package_unit": _str,
                                "smallest_unit": _str, "units_per_package": _int, "manufacturer": _str,
                                "approval_no": _str, "nmpa_code": _nstr, "hi_code": _nstr, "rx_class": _str,
                                "special_class": _str, "storage_class": _str, "category": _str,
                                "approval_status": _str, "active": {"type": "boolean"}, "retail_price_fen": _int,
                                "valuable": {"type": "boolean"},
                                "barcodes": {"type": "array", "items": {"type": "object", "properties": {
                                    "barcode": _str, "kind": _str}}}}},
        "DrugList": _list_of("Drug"),
        "Lot": {"type": "object", "required": ["id", "drug_id", "lot_no", "status"],
                "properties": {"id": _int, "store_id": _int, "drug_id": _int, "lot_no": _str,
                               "production_date": {"type": "string", "format": "date", "nullable": True},
                               "expiry_date": {"type": "string", "format": "date", "nullable": True},
                               "status": _str, "on_hand": _int}},
        "LotList": _list_of("Lot"),
        "Balance": {"type": "object", "required": ["lot_id", "location_id", "quantity"],
                    "properties": {"lot_id": _int, "location_id": _int, "drug_id": _int, "quantity": _int}},
        "BalanceList": _list_of("Balance"),
        "Movement": {"type": "object", "required": ["id", "lot_id", "location_id", "kind", "quantity", "at"],
                     "properties": {"id": _int, "lot_id": _int, "drug_id": _int, "location_id": _int, "kind": _str,
                                    "quantity": _int, "balance_after": _int, "reference": _str, "reason": _str,
                                    "actor_id": {"type": "integer", "nullable": True},
                                    "at": {"type": "string", "format": "date-time"}}},
        "MovementList": _list_of("Movement"),
        "Location": {"type": "object", "required": ["id", "code", "kind", "sellable"],
                     "properties": {"id": _int, "code": _str, "name": _str, "kind": _str,
                                    "sellable": {"type": "boolean"}, "storage_class": _str,
                                    "active": {"type": "boolean"}}},
        "LocationList": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Location"}}}},
        "Pick": {"type": "object", "properties": {"lot_id": _int, "lot_no": _str, "location_id": _int,
                                                  "expiry_date": _nstr, "quantity": _int}},
        "Skipped": {"type": "object", "properties": {"lot_id": _int, "lot_no": _str, "location_id": _int,
                                                     "expiry_date": _nstr, "available": _int,
                                                     "reasons": {"type": "array", "items": _str}}},
        "Allocation": {"type": "object", "required": ["drug_id", "requested", "shortage", "picks", "skipped"],
                       "properties": {"drug_id": _int, "requested": _int, "shortage": _int,
                                      "picks": {"type": "array", "items": {"$ref": "#/components/schemas/Pick"}},
                                      "skipped": {"type": "array",
                                                  "items": {"$ref": "#/components/schemas/Skipped"}}}},
        "ScanResult": {"type": "object", "required": ["drug", "price_fen", "lot", "available"],
                       "properties": {"drug": {"$ref": "#/components/schemas/Drug"}, "price_fen": _int,
                                      "lot": {"allOf": [{"$ref": "#/components/schemas/Lot"}], "nullable": True},
                                      "location_id": {"type": "integer", "nullable": True}, "available": _int}},
        "TransferRequest": {"type": "object", "required": ["lot_id", "from_location_id", "to_location_id", "quantity"],
                            "properties": {"lot_id": _int, "from_location_id": _int, "to_location_id": _int,
                                           "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000},
                                           "reason": {"type": "string", "maxLength": 200},
                                           "client_uuid": {"type": "string", "format": "uuid"}}},
        "Transfer": {"type": "object", "required": ["reference", "lot_id", "quantity", "from", "to"],
                     "properties": {"reference": _str, "lot_id": _int, "quantity": _int,
                                    "from": {"type": "object", "properties": {"location_id": _int,
                                                                              "movement_id": _int,
                                                                              "balance_after": _int}},
                                    "to": {"type": "object", "properties": {"location_id": _int,
                                                                            "movement_id": _int,
                                                                            "balance_after": _int}}}},
    },
}


# --- stocktake (盘点) ---------------------------------------------------------------------------------------------------

def stocktake_json(st, lines=None) -> dict:
    out = {"id": st.id, "store_id": st.store_id, "kind": st.kind, "status": st.status, "location_id": st.location_id,
           "note": st.note, "started_by": st.started_by, "started_at": st.started_at.isoformat(),
           "submitted_by": st.submitted_by, "verified_by": st.verified_by, "approved_by": st.approved_by,
           "cancelled_by": st.cancelled_by, "cancel_reason": st.cancel_reason}
    for name in ("submitted_at", "verified_at", "approved_at", "cancelled_at"):
        value = getattr(st, name)
        out[name] = value.isoformat() if value else None
    if lines is not None:
        out["lines"] = [{"id": v.line.id, "drug_id": v.drug.id, "drug_name": v.drug.display_name, "lot_id": v.lot.id,
                         "lot_no": v.lot.lot_no,
                         "expiry_date": v.lot.expiry_date.isoformat() if v.lot.expiry_date else None,
                         "location_id": v.location.id, "counted_qty": v.counted,
                         "counted_at": v.counted_at.isoformat() if v.counted_at else None,
                         "expected_qty": v.expected, "added": v.line.added} for v in lines]
    return out


@bp.route("/stocktakes")
@requires(Perm.STOCK_READ)
def list_stocktakes():
    from inventory import stocktake as stk

    limit, offset = page_args()
    rows = stk.list_stocktakes(get_session(), current_actor().store_id, status=request.args.get("status") or None,
                               limit=limit, offset=offset)
    return jsonify({"items": [stocktake_json(st) for st in rows], "limit": limit, "offset": offset})


@bp.route("/stocktakes/<int:stocktake_id>")
@requires(Perm.STOCK_READ)
def get_stocktake(stocktake_id: int):
    """With its lines; expected quantities are null while counting is blind (see stocktake.can_see_expected)."""
    from inventory import stocktake as stk

    db = get_session()
    actor = current_actor()
    st = stk.get_stocktake(db, stocktake_id, actor.store_id)
    return jsonify(stocktake_json(st, stk.line_views(db, st, with_expected=stk.can_see_expected(actor, st))))


@bp.route("/stocktakes/<int:stocktake_id>/counts", methods=["POST"])
@requires(Perm.STOCKTAKE_COUNT)
def post_stocktake_counts(stocktake_id: int):
    """{"counts": [{"line_id": 1, "quantity": 12}, …]} sets counts; {"code": "…", "packs": 1, "location_id": …}
    adds a scanned pack. The server stamps who and when."""
    from inventory import stocktake as stk

    body = json_body()
    db = get_session()
    actor = current_actor()
    store = get_store(db, actor.store_id)
    if "code" in body:
        code, packs, location_id = body.get("code"), body.get("packs", 1), body.get("location_id")
        if not isinstance(code, str) or not code.strip() or len(code) > 200:
            raise InvalidInput(_l("Field code must be the scanned text."), code="invalid_field",
                               details={"field": "code"})
        if location_id is not None and (isinstance(location_id, bool) or not isinstance(location_id, int)):
            raise InvalidInput(_l("Field %(name)s must be a whole number.", name="location_id"), code="invalid_field",
                               details={"field": "location_id"})
        stk.count_by_scan(db, actor, stocktake_id, store, code, packs=packs, location_id=location_id)
    else:
        counts = body.get("counts")
        if not isinstance(counts, list) or not counts or len(counts) > 1000 \
                or not all(isinstance(c, dict) for c in counts):
            raise InvalidInput(_l("Field counts must be a list of {line_id, quantity} (1 to 1000 items)."),
                               code="invalid_field", details={"field": "counts"})
        stk.record_counts(db, actor, stocktake_id, store, [(c.get("line_id"), c.get("quantity")) for c in counts],
                          source="api")
    st = stk.get_stocktake(db, stocktake_id, store.id)
    return jsonify(stocktake_json(st, stk.line_views(db, st, with_expected=False))), 201


OPENAPI["paths"].update({
    "/api/v1/stocktakes": {"get": {"summary": "Stocktakes of the user's store, newest first",
                                   "operationId": "listStocktakes", "parameters": [_q("status", "string"),
                                                                                   *_page_params],
                                   "responses": {**_ok("StocktakeList"), **error_responses(401, 403, 422)}}},
    "/api/v1/stocktakes/{stocktake_id}": {"get": {
        "summary": "One stocktake with its lines (expected quantities are null while counting is blind)",
        "operationId": "getStocktake", "parameters": [_id_param("stocktake_id")],
        "responses": {**_ok("Stocktake"), **error_responses(401, 403, 404)}}},
    "/api/v1/stocktakes/{stocktake_id}/counts": {"post": {
        "summary": "Record counts (a list of line counts, or one scanned code adding packs)",
        "operationId": "postStocktakeCounts", "parameters": [_id_param("stocktake_id")],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/StocktakeCountRequest"}}}},
        "responses": {**_ok("Stocktake", "201", "Recorded; the stocktake with its (blind) lines"),
                      **error_responses(400, 401, 403, 404, 409, 422)}}},
})
_ndt = {"type": "string", "format": "date-time", "nullable": True}
_nint = {"type": "integer", "nullable": True}
OPENAPI["schemas"].update({
    "StocktakeLine": {"type": "object", "required": ["id", "drug_id", "lot_id", "location_id", "counted_qty",
                                                     "expected_qty"],
                      "properties": {"id": _int, "drug_id": _int, "drug_name": _str, "lot_id": _int, "lot_no": _str,
                                     "expiry_date": {"type": "string", "format": "date", "nullable": True},
                                     "location_id": _int, "counted_qty": _nint, "counted_at": _ndt,
                                     "expected_qty": _nint, "added": {"type": "boolean"}}},
    "Stocktake": {"type": "object", "required": ["id", "kind", "status", "started_at"],
                  "properties": {"id": _int, "store_id": _int,
                                 "kind": {"type": "string", "enum": ["full", "valuables"]},
                                 "status": {"type": "string", "enum": ["open", "submitted", "verified", "approved",
                                                                       "cancelled"]},
                                 "location_id": _nint, "note": _str, "started_by": _nint,
                                 "started_at": {"type": "string", "format": "date-time"},
                                 "submitted_by": _nint, "submitted_at": _ndt, "verified_by": _nint, "verified_at": _ndt,
                                 "approved_by": _nint, "approved_at": _ndt, "cancelled_by": _nint, "cancelled_at": _ndt,
                                 "cancel_reason": _str,
                                 "lines": {"type": "array", "items": {"$ref": "#/components/schemas/StocktakeLine"}}}},
    "StocktakeList": _list_of("Stocktake"),
    "StocktakeCountRequest": {"type": "object", "properties": {
        "counts": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
            "type": "object", "required": ["line_id", "quantity"],
            "properties": {"line_id": _int, "quantity": {"type": "integer", "minimum": 0, "maximum": 1000000}}}},
        "code": {"type": "string", "maxLength": 200}, "packs": {"type": "integer", "minimum": 1, "maximum": 10000},
        "location_id": _int}},
})
