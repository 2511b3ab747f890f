"""Temperature and humidity JSON API: sensors (or a sensor gateway) post readings with a bearer token; the
readings of a location can be read back for a period."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify
from flask_babel import lazy_gettext as _l

from core import clock
from core.api import error_responses
from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput
from core.permissions import Perm
from core.services import get_store
from core.web import date_arg, json_body
from gsp import curing
from gsp.models import EnvironmentReading
from inventory.services import get_location

bp = Blueprint("curing_api", __name__, url_prefix="/api/v1")

MAX_DAYS = 92


def reading_json(r: EnvironmentReading, open_alert: bool = False) -> dict:
    return {"id": r.id, "location_id": r.location_id, "temperature_c": float(curing.tenths(r.temperature_dc)),
            "humidity_pct": float(curing.tenths(r.humidity_dpct)), "storage_class": r.storage_class,
            "out_of_range": r.out_of_range, "alert_open": open_alert, "source": r.source, "sensor": r.sensor,
            "actor_id": r.actor_id, "at": r.at.isoformat()}


def _number(body: dict, name: str):
    value = body.get(name)
    if value is None:
        raise InvalidInput(_l("Field %(name)s is required.", name=name), code="missing_field",
                           details={"field": name})
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(_l("Field %(name)s must be a number.", name=name), code="invalid_field",
                           details={"field": name})
    return value


@bp.route("/locations/<int:location_id>/readings", methods=["POST"])
@requires(Perm.ENVIRONMENT_RECORD)
def post_reading(location_id: int):
    body = json_body()
    temperature = _number(body, "temperature_c")
    humidity = _number(body, "humidity_pct")
    sensor = body.get("sensor", "")
    if not isinstance(sensor, str):
        raise InvalidInput(_l("Field sensor must be text."), code="invalid_field", details={"field": "sensor"})
    db = get_session()
    reading = curing.record_reading(db, current_actor(), location_id=location_id, temperature=temperature,
                                    humidity=humidity, source=curing.ReadingSource.SENSOR, sensor=sensor)
    open_ids = {r.id for r in curing.open_alerts(db, reading.store_id, reading.location_id)}
    return jsonify(reading_json(reading, reading.id in open_ids)), 201


@bp.route("/locations/<int:location_id>/readings")
@requires(Perm.QUALITY_READ)
def list_readings(location_id: int):
    db = get_session()
    actor = current_actor()
    store = get_store(db, actor.store_id)
    location = get_location(db, location_id, store.id)
    end = date_arg("end", clock.today(store.timezone))
    start = date_arg("start", end - timedelta(days=6))
    if start > end or (end - start).days >= MAX_DAYS:
        raise InvalidInput(_l("Choose a period of 1 to %(n)d days, start before end.", n=MAX_DAYS),
                           code="invalid_parameter")
    readings = curing.readings_between(db, store.id, location.id, start, end, store.timezone)
    open_ids = {r.id for r in curing.open_alerts(db, store.id, location.id)}
    cond = curing.condition_for(location.storage_class)
    return jsonify({"location_id": location.id, "storage_class": location.storage_class,
                    "allowed": {"temperature_min_c": cond.min_c, "temperature_max_c": cond.max_c,
                                "humidity_min_pct": cond.min_rh, "humidity_max_pct": cond.max_rh},
                    "start": start.isoformat(), "end": end.isoformat(),
                    "items": [reading_json(r, r.id in open_ids) for r in readings]})


_num = {"type": "number"}
_int = {"type": "integer"}
_str = {"type": "string"}
_loc_param = {"name": "location_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_date_param = [{"name": n, "in": "query", "schema": {"type": "string", "format": "date"}} for n in ("start", "end")]

OPENAPI = {
    "paths": {
        "/api/v1/locations/{location_id}/readings": {
            "post": {
                "summary": "Record a temperature and humidity reading (a sensor or gateway); the server stamps the "
                           "time. Out of the location's storage range → an alert until a measure is recorded.",
                "operationId": "postReading", "parameters": [_loc_param],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ReadingRequest"}}}},
                "responses": {"201": {"description": "Recorded", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Reading"}}}},
                    **error_responses(400, 401, 403, 404, 409, 422)}},
            "get": {
                "summary": "Readings of a location for a period (default: the last 7 days), oldest first",
                "operationId": "listReadings", "parameters": [_loc_param, *_date_param],
                "responses": {"200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ReadingList"}}}},
                    **error_responses(401, 403, 404, 422)}},
        },
    },
    "schemas": {
        "ReadingRequest": {"type": "object", "required": ["temperature_c", "humidity_pct"],
                           "properties": {"temperature_c": {"type": "number", "minimum": -40, "maximum": 60},
                                          "humidity_pct": {"type": "number", "minimum": 0, "maximum": 100},
                                          "sensor": {"type": "string", "maxLength": 64}}},
        "Reading": {"type": "object",
                    "required": ["id", "location_id", "temperature_c", "humidity_pct", "out_of_range", "at"],
                    "properties": {"id": _int, "location_id": _int, "temperature_c": _num, "humidity_pct": _num,
                                   "storage_class": _str, "out_of_range": {"type": "boolean"},
                                   "alert_open": {"type": "boolean"}, "source": _str, "sensor": _str,
                                   "actor_id": {"type": "integer", "nullable": True},
                                   "at": {"type": "string", "format": "date-time"}}},
        "ReadingList": {"type": "object", "required": ["location_id", "items"],
                        "properties": {"location_id": _int, "storage_class": _str,
                                       "allowed": {"type": "object", "properties": {
                                           "temperature_min_c": {"type": "integer", "nullable": True},
                                           "temperature_max_c": {"type": "integer", "nullable": True},
                                           "humidity_min_pct": _int, "humidity_max_pct": _int}},
                                       "start": {"type": "string", "format": "date"},
                                       "end": {"type": "string", "format": "date"},
                                       "items": {"type": "array", "items": {"$ref": "#/components/schemas/Reading"}}}},
    },
}
