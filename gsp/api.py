"""Quality JSON API: report, lock and unlock a lot; the near-expiry push list; recalls with the sales to recover."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from core.api import error_responses
from core.auth import current_actor, requires
from core.db import get_session
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg, json_body
from gsp import quality as q

bp = Blueprint("gsp_api", __name__, url_prefix="/api/v1")


def _lot_json(lot) -> dict:
    return {"id": lot.id, "lot_no": lot.lot_no, "status": lot.status,
            "expiry_date": lot.expiry_date.isoformat() if lot.expiry_date else None}


@bp.route("/lots/<int:lot_id>/suspect-reports", methods=["POST"])
@requires(Perm.QUALITY_FLAG)
def flag_lot(lot_id: int):
    body = json_body()
    report = q.flag_suspect(get_session(), current_actor(), lot_id, found_where=body.get("found_where"),
                            note=body.get("note", ""))
    return jsonify({"id": report.id, "lot_id": report.lot_id, "found_where": report.found_where,
                    "note": report.note, "at": report.at.isoformat()}), 201


@bp.route("/lots/<int:lot_id>/lock", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def lock_lot(lot_id: int):
    body = json_body()
    lot = q.lock_lot(get_session(), current_actor(), lot_id, reason=body.get("reason"),
                     note=body.get("note", ""))
    return jsonify(_lot_json(lot))


@bp.route("/lots/<int:lot_id>/unlock", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def unlock_lot(lot_id: int):
    body = json_body()
    lot = q.unlock_lot(get_session(), current_actor(), lot_id, conclusion=body.get("conclusion"))
    return jsonify(_lot_json(lot))


@bp.route("/near-expiry")
@requires(Perm.QUALITY_READ)
def near_expiry():
    db = get_session()
    store = get_store(db, current_actor().store_id)
    tiers = tuple(current_app.config["EXPIRY_TIERS_DAYS"])
    days = int_arg("days", max(tiers), minimum=1, maximum=3650)
    rows = q.near_expiry_push_list(db, store, within_days=days, tiers_days=tiers,
                                   location_id=int_arg("location_id", 0, minimum=0, maximum=2**31 - 1) or None)
    return jsonify({"days": days, "total_value_fen": sum(r.value_fen for r in rows), "items": [
        {"lot": _lot_json(r.lot), "drug_id": r.drug.id, "drug_name": r.drug.display_name,
         "location_id": r.location.id, "location_code": r.location.code, "quantity": r.quantity,
         "value_fen": r.value_fen, "days_left": r.days_left, "tier": r.tier} for r in rows]})


@bp.route("/recalls/<int:recall_id>")
@requires(Perm.QUALITY_READ)
def get_recall(recall_id: int):
    db = get_session()
    recall = q.get_recall(db, recall_id)
    sales = q.recall_sales(db, recall.id, finder=current_app.extensions.get("yaofang.lot_sales"))
    return jsonify({
        "id": recall.id, "number": recall.number, "level": recall.level, "drug_id": recall.drug_id,
        "lot_nos": [n for n in recall.lot_nos.split(",") if n], "reason": recall.reason, "measure": recall.measure,
        "status": recall.status, "issued_at": recall.issued_at.isoformat(),
        "lots": [{"store_id": store.id, **_lot_json(lot), "on_hand_at_recall": link.on_hand_at_recall}
                 for link, lot, store in q.recall_lots(db, recall.id)],
        "sales": [{"store_id": s.store_id, "sale_number": s.sale_number, "at": s.at.isoformat(), "lot_id": s.lot_id,
                   "lot_no": s.lot_no, "sold": s.sold, "recovered": s.recovered, "contact": s.contact}
                  for s in sales]})


_int = {"type": "integer"}
_str = {"type": "string"}
_lot = {"type": "object", "required": ["id", "lot_no", "status", "expiry_date"],
        "properties": {"id": _int, "lot_no": _str, "status": _str,
                       "expiry_date": {"type": "string", "format": "date", "nullable": True}}}


def _ok(ref: str, status: str = "200") -> dict:
    return {status: {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{ref}"}}}}}


def _body(ref: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_lot_id = {"name": "lot_id", "in": "path", "required": True, "schema": _int}

OPENAPI = {
    "paths": {
        "/api/v1/lots/{lot_id}/suspect-reports": {"post": {
            "summary": "Report a suspect lot to the quality manager (any staff)", "operationId": "flagLot",
            "parameters": [_lot_id], "requestBody": _body("SuspectReportIn"),
            "responses": {**_ok("SuspectReport", "201"), **error_responses(400, 401, 403, 404, 422)}}},
        "/api/v1/lots/{lot_id}/lock": {"post": {
            "summary": "Lock a lot (quality manager): every issuing path refuses it at once",
            "operationId": "lockLot", "parameters": [_lot_id], "requestBody": _body("LockIn"),
            "responses": {**_ok("QualityLot"), **error_responses(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/lots/{lot_id}/unlock": {"post": {
            "summary": "Unlock a locked lot with the investigation's conclusion", "operationId": "unlockLot",
            "parameters": [_lot_id], "requestBody": _body("UnlockIn"),
            "responses": {**_ok("QualityLot"), **error_responses(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/near-expiry": {"get": {
            "summary": "Near-expiry push list (近效期催销表) of the user's store", "operationId": "nearExpiry",
            "parameters": [{"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                           {"name": "location_id", "in": "query", "schema": _int}],
            "responses": {**_ok("NearExpiryList"), **error_responses(401, 403, 422)}}},
        "/api/v1/recalls/{recall_id}": {"get": {
            "summary": "A recall with its lots in every store and the sales to recover", "operationId": "getRecall",
            "parameters": [{"name": "recall_id", "in": "path", "required": True, "schema": _int}],
            "responses": {**_ok("Recall"), **error_responses(401, 403, 404)}}},
    },
    "schemas": {
        "QualityLot": _lot,
        "SuspectReportIn": {"type": "object", "required": ["found_where", "note"], "properties": {
            "found_where": {"type": "string", "enum": ["display", "curing", "receiving", "counter", "customer",
                                                      "other"]},
            "note": {"type": "string", "maxLength": 2000}}},
        "SuspectReport": {"type": "object", "required": ["id", "lot_id", "found_where", "note", "at"], "properties": {
            "id": _int, "lot_id": _int, "found_where": _str, "note": _str, "at": {"type": "string",
                                                                                 "format": "date-time"}}},
        "LockIn": {"type": "object", "required": ["reason"], "properties": {
            "reason": {"type": "string", "enum": [r.value for r in q.MANUAL_LOCK_REASONS]},
            "note": {"type": "string", "maxLength": 2000}}},
        "UnlockIn": {"type": "object", "required": ["conclusion"], "properties": {
            "conclusion": {"type": "string", "minLength": 1, "maxLength": 2000}}},
        "NearExpiryList": {"type": "object", "required": ["days", "total_value_fen", "items"], "properties": {
            "days": _int, "total_value_fen": _int, "items": {"type": "array", "items": {
                "type": "object", "required": ["lot", "drug_id", "drug_name", "location_id", "quantity", "value_fen",
                                               "days_left", "tier"],
                "properties": {"lot": {"$ref": "#/components/schemas/QualityLot"}, "drug_id": _int,
                               "drug_name": _str, "location_id": _int, "location_code": _str, "quantity": _int,
                               "value_fen": _int, "days_left": _int, "tier": _str}}}}},
        "Recall": {"type": "object", "required": ["id", "number", "level", "drug_id", "status", "lots", "sales"],
                   "properties": {
                       "id": _int, "number": _str, "level": {"type": "integer", "enum": [1, 2, 3]}, "drug_id": _int,
                       "lot_nos": {"type": "array", "items": _str}, "reason": _str, "measure": _str, "status": _str,
                       "issued_at": {"type": "string", "format": "date-time"},
                       "lots": {"type": "array", "items": {"type": "object", "properties": {
                           "store_id": _int, "id": _int, "lot_no": _str, "status": _str,
                           "expiry_date": {"type": "string", "nullable": True}, "on_hand_at_recall": _int}}},
                       "sales": {"type": "array", "items": {"type": "object", "properties": {
                           "store_id": _int, "sale_number": _str, "at": _str, "lot_id": _int, "lot_no": _str,
                           "sold": _int, "recovered": _int, "contact": _str}}}}},
    },
}
