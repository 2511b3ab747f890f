"""The JSON API: reads, the transfer write with every refusal, error shapes, and an OpenAPI document that matches."""
import re
import uuid

import jsonschema
import pytest
from sqlmodel import func, select

from core.models import AuditEvent
from inventory.models import StockBalance, StockMovement


@pytest.fixture
def api(client, token_for):
    headers = token_for("store_manager")

    def call(method, url, **kwargs):
        return client.open(url, method=method, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)

    return call


def counts(db):
    db.rollback()
    return (db.exec(select(func.count()).select_from(StockMovement)).one(),
            db.exec(select(func.count()).select_from(AuditEvent)).one(),
            tuple(db.exec(select(StockBalance.quantity).order_by(StockBalance.id)).all()))


def test_search_by_pinyin_name_and_barcode(api, world):
    by_pinyin = api("GET", "/api/v1/drugs?q=lhqw").get_json()["items"]
    assert [d["code"] for d in by_pinyin] == ["LHQW"]
    assert [d["code"] for d in api("GET", "/api/v1/drugs?q=连花").get_json()["items"]] == ["LHQW"]
    assert [d["code"] for d in api("GET", "/api/v1/drugs?q=6920855052082").get_json()["items"]] == ["LHQW"]
    detail = api("GET", f"/api/v1/drugs/{world.drug['LHQW'].id}").get_json()
    assert detail["barcodes"] == [{"barcode": "6920855052082", "kind": "ean13"}]


def test_lots_balances_movements_and_allocation(api, world):
    lot = world.lot(lot_no="API1", expiry_days=30, qty=8)
    assert api("GET", f"/api/v1/lots/{lot.id}").get_json()["on_hand"] == 8
    items = api("GET", f"/api/v1/balances?lot_id={lot.id}").get_json()["items"]
    assert items == [{"lot_id": lot.id, "location_id": world.loc["A01"].id, "drug_id": lot.drug_id, "quantity": 8}]
    moves = api("GET", f"/api/v1/movements?lot_id={lot.id}").get_json()["items"]
    assert [(m["kind"], m["quantity"], m["balance_after"]) for m in moves] == [("opening", 8, 8)]
    alloc = api("GET", f"/api/v1/drugs/{lot.drug_id}/allocation?quantity=3").get_json()
    assert alloc["picks"][0]["lot_no"] == "API1" and alloc["shortage"] == 0
    scan = api("GET", "/api/v1/scan/6920855052082").get_json()
    assert scan["lot"]["lot_no"] == "API1" and scan["price_fen"] == 2850


@pytest.mark.parametrize("url, status, code", [
    ("/api/v1/drugs/999999", 404, "not_found"),
    ("/api/v1/lots/999999", 404, "not_found"),
    ("/api/v1/nothing-here", 404, "not_found"),
    ("/api/v1/drugs?limit=abc", 422, "invalid_parameter"),
    ("/api/v1/drugs?limit=100000", 422, "invalid_parameter"),
    ("/api/v1/scan/0000000000000", 404, "unknown_barcode"),
    ("/api/v1/scan/abc%20def", 422, "invalid_barcode"),
    ("/api/v1/drugs/1/allocation", 422, "invalid_parameter"),
    ("/api/v1/drugs/1/allocation?quantity=-2", 422, "invalid_parameter"),
])
def test_bad_reads_get_clear_errors(api, world, url, status, code):
    response = api("GET", url)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]


def transfer(api, **body):
    return api("POST", "/api/v1/transfers", json=body)


def test_transfer_moves_stock_and_is_audited(api, world, db):
    lot = world.lot(lot_no="TR1", qty=20, location="W01")
    response = transfer(api, lot_id=lot.id, from_location_id=world.loc["W01"].id,
                        to_location_id=world.loc["A01"].id, quantity=6, reason="补货")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["from"]["balance_after"] == 14 and body["to"]["balance_after"] == 6
    db.rollback()
    kinds = db.exec(select(StockMovement.kind, StockMovement.quantity).where(StockMovement.lot_id == lot.id)
                    .order_by(StockMovement.id)).all()
    assert [tuple(k) for k in kinds] == [("opening", 20), ("transfer_out", -6), ("transfer_in", 6)]
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "stock.transfer")).one()
    assert event.actor_name == "store_manager" and event.reason == "补货"


def test_transfer_replay_with_the_same_client_uuid_moves_once(api, world, db):
    lot = world.lot(lot_no="TR2", qty=10, location="W01")
    key = str(uuid.uuid4())
    body = dict(lot_id=lot.id, from_location_id=world.loc["W01"].id, to_location_id=world.loc["A01"].id,
                quantity=4, client_uuid=key)
    first = transfer(api, **body)
    again = transfer(api, **body)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    db.rollback()
    assert db.exec(select(func.count()).select_from(StockMovement)
                   .where(StockMovement.lot_id == lot.id)).one() == 3


@pytest.mark.parametrize("case", ["malformed_json", "not_an_object", "negative", "zero", "absurd", "string_qty",
                                  "missing_field", "same_location", "too_much", "unknown_lot", "other_store_lot",
                                  "pending_to_shelf", "into_red", "expired_to_shelf", "cold_to_room",
                                  "bad_uuid", "long_reason"])
def test_transfer_refusals_write_nothing(api, world, db, case):
    w = world
    lot = w.lot(lot_no="OK1", qty=10, location="W01")
    pending = w.lot(lot_no="PEN1", qty=10, location="Y01", status="pending_inspection")
    expired = w.lot(lot_no="EXP1", qty=10, location="W01", expiry_days=-2)
    insulin = w.lot("INSULIN", lot_no="INS1", qty=10, location="C01")
    base = dict(lot_id=lot.id, from_location_id=w.loc["W01"].id, to_location_id=w.loc["A01"].id, quantity=2)
    bodies = {
        "negative": {**base, "quantity": -2}, "zero": {**base, "quantity": 0},
        "absurd": {**base, "quantity": 10**9}, "string_qty": {**base, "quantity": "2"},
        "missing_field": {k: v for k, v in base.items() if k != "to_location_id"},
        "same_location": {**base, "to_location_id": w.loc["W01"].id},
        "too_much": {**base, "quantity": 11}, "unknown_lot": {**base, "lot_id": 987654},
        "other_store_lot": {**base, "from_location_id": 987654},
        "pending_to_shelf": {**base, "lot_id": pending.id, "from_location_id": w.loc["Y01"].id},
        "into_red": {**base, "to_location_id": w.loc["R01"].id},
        "expired_to_shelf": {**base, "lot_id": expired.id},
        "cold_to_room": {**base, "lot_id": insulin.id, "from_location_id": w.loc["C01"].id,
                         "to_location_id": w.loc["W01"].id},
        "bad_uuid": {**base, "client_uuid": "not-a-uuid"}, "long_reason": {**base, "reason": "x" * 500},
    }
    expected = {"malformed_json": (400, "invalid_json"), "not_an_object": (400, "invalid_json"),
                "negative": (422, "invalid_quantity"), "zero": (422, "invalid_quantity"),
                "absurd": (422, "invalid_quantity"), "string_qty": (422, "invalid_field"),
                "missing_field": (422, "invalid_field"), "same_location": (422, "same_location"),
                "too_much": (409, "insufficient_stock"), "unknown_lot": (404, "not_found"),
                "other_store_lot": (404, "not_found"), "pending_to_shelf": (409, "not_sellable"),
                "into_red": (409, "red_area"), "expired_to_shelf": (409, "not_sellable"),
                "cold_to_room": (409, "storage_class"), "bad_uuid": (422, "invalid_client_uuid"),
                "long_reason": (422, "invalid_field")}
    before = counts(db)
    if case == "malformed_json":
        response = api("POST", "/api/v1/transfers", data="{lot_id: 1,", content_type="application/json")
    elif case == "not_an_object":
        response = api("POST", "/api/v1/transfers", json=[1, 2])
    else:
        response = transfer(api, **bodies[case])
    status, code = expected[case]
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code), response.get_json()
    assert response.get_json()["error"]["message"]
    assert counts(db) == before


def test_transfer_needs_the_permission(client, world, token_for, db):
    lot = world.lot(qty=10, location="W01")
    headers = token_for("cashier")
    before = counts(db)
    response = client.post("/api/v1/transfers", headers=headers,
                           json=dict(lot_id=lot.id, from_location_id=world.loc["W01"].id,
                                     to_location_id=world.loc["A01"].id, quantity=1))
    assert response.status_code == 403
    assert counts(db) == before


# --- OpenAPI ----------------------------------------------------------------------------------------------------------

def to_json_schema(node):
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a null alternative; refs point into components."""
    if isinstance(node, dict):
        out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
        if "$ref" in out:
            out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
        if node.get("nullable"):
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    return node


def test_openapi_lists_exactly_the_api_routes(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    actual = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.rule != "/api/v1/openapi.json":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            actual |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == actual
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_responses_match_their_documented_schemas(api, client, world):
    spec = client.get("/api/v1/openapi.json").get_json()
    definitions = to_json_schema(spec["components"]["schemas"])
    lot = world.lot(lot_no="SCHEMA", qty=5, location="W01")
    calls = [
        ("GET", "/api/v1/drugs?q=lhqw", "/api/v1/drugs", 200, None),
        ("GET", f"/api/v1/drugs/{lot.drug_id}", "/api/v1/drugs/{drug_id}", 200, None),
        ("GET", f"/api/v1/drugs/{lot.drug_id}/allocation?quantity=2", "/api/v1/drugs/{drug_id}/allocation", 200, None),
        ("GET", "/api/v1/scan/6920855052082", "/api/v1/scan/{code}", 200, None),
        ("GET", "/api/v1/lots", "/api/v1/lots", 200, None),
        ("GET", f"/api/v1/lots/{lot.id}", "/api/v1/lots/{lot_id}", 200, None),
        ("GET", "/api/v1/balances", "/api/v1/balances", 200, None),
        ("GET", "/api/v1/movements", "/api/v1/movements", 200, None),
        ("GET", "/api/v1/locations", "/api/v1/locations", 200, None),
        ("GET", "/api/v1/me", "/api/v1/me", 200, None),
        ("GET", "/api/v1/drugs/424242", "/api/v1/drugs/{drug_id}", 404, None),
        ("POST", "/api/v1/transfers", "/api/v1/transfers", 201,
         dict(lot_id=lot.id, from_location_id=world.loc["W01"].id, to_location_id=world.loc["A01"].id, quantity=1)),
        ("POST", "/api/v1/transfers", "/api/v1/transfers", 409,
         dict(lot_id=lot.id, from_location_id=world.loc["W01"].id, to_location_id=world.loc["A01"].id, quantity=99)),
    ]
    for method, url, path, status, body in calls:
        response = api(method, url, json=body) if body else api(method, url)
        assert response.status_code == status, (url, response.get_json())
        documented = spec["paths"][path][method.lower()]["responses"][str(status)]
        schema = to_json_schema(documented["content"]["application/json"]["schema"])
        jsonschema.validate(response.get_json(), {**schema, "definitions": definitions})
