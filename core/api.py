"""The JSON API root: /api/v1/openapi.json (assembled from each package's fragment) and /api/v1/me."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from core.auth import AUTHENTICATED, PUBLIC, current_actor, requires

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                            "details": {"type": "object"}}}},
}


def error_responses(*statuses: int) -> dict:
    names = {400: "Malformed request", 401: "No valid bearer token", 403: "Role lacks the permission",
             404: "Not found", 409: "Conflicts with the current state", 422: "Invalid input"}
    return {str(s): {"description": names[s], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for s in statuses}


def register_openapi(app, fragment: dict) -> None:
    app.extensions.setdefault("yaofang.openapi", []).append(fragment)


CORE_OPENAPI = {
    "paths": {
        "/api/v1/me": {"get": {
            "summary": "The user behind the bearer token", "operationId": "me",
            "responses": {"200": {"description": "Current user", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Me"}}}}, **error_responses(401)}}},
    },
    "schemas": {
        "Error": ERROR_SCHEMA,
        "Me": {"type": "object", "required": ["id", "username", "store_id", "roles", "permissions"],
               "properties": {"id": {"type": "integer"}, "username": {"type": "string"},
                              "store_id": {"type": "integer"},
                              "roles": {"type": "array", "items": {"type": "string"}},
                              "permissions": {"type": "array", "items": {"type": "string"}}}},
    },
}


@bp.route("/openapi.json")
@requires(PUBLIC)
def openapi():
    paths: dict = {}
    schemas: dict = {}
    for fragment in [CORE_OPENAPI, *current_app.extensions.get("yaofang.openapi", [])]:
        paths.update(fragment["paths"])
        schemas.update(fragment.get("schemas", {}))
    return jsonify({
        "openapi": "3.0.3",
        "info": {"title": "Yaofang API", "version": "1",
                 "description": "Pharmacy inventory and point of sale. Errors are "
                                "{\"error\": {\"code\", \"message\"}} with a 4xx status."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "Create with `yaofang token create USER`."}}},
    })


@bp.route("/me")
@requires(AUTHENTICATED)
def me():
    actor = current_actor()
    return jsonify({"id": actor.user_id, "username": actor.name, "store_id": actor.store_id,
                    "roles": sorted(actor.roles), "permissions": sorted(str(p) for p in actor.permissions)})
