"""The procurement JSON API through real HTTP with bearer tokens: supplier and drug qualification (首营), orders,
receiving, inspection into sellable stock, purchase returns; refusals with nothing written, roles, two-person rules.
Every response is checked against the schema the OpenAPI document gives for its path, method and status."""
import re
import uuid
from datetime import timedelta

import jsonschema
import pytest
from sqlmodel import func, select

from core.models import AuditEvent
from gsp import purchasing as pur
from gsp.models import (DrugRequest, Inspection, PurchaseOrder, PurchaseOrderLine, PurchaseReturn,
                        PurchaseReturnLine, Receipt, ReceiptDecision, ReceiptLine, Supplier, SupplierLicence,
                        SupplierRep)
from inventory.models import Drug, DrugBarcode, Lot, StockBalance, StockMovement
from tests.conftest import ROLES, TEST_TODAY
from tests.integration.procurement_helpers import (CREDIT_CODES, REP_ID, approved_supplier,
                                                   confirmed_order, licences, receipt_line, receive, set_store_scope)
from tests.web.test_api import to_json_schema

# A real product (drug_barcodes_cn.csv): 连花清瘟颗粒 6g*10袋, 国药准字Z20100040, 北京以岭药业有限公司; the price is a
# test value (the source gives none).
LHQW_GRANULES = {"code": "LHQWKL", "generic_name": "连花清瘟颗粒", "barcodes": ["6952378200060"],
                 "documents": "药品注册证书、质量标准、检验报告、说明书", "approval_no": "国药准字Z20100040",
                 "manufacturer": "北京以岭药业有限公司", "specification": "6g*10袋", "dosage_form": "颗粒剂",
                 "package_unit": "盒", "smallest_unit": "袋", "units_per_package": 10, "retail_price_fen": 1980,
                 "category": "patent", "storage_class": "room", "scope_item": "中成药"}


def day(offset: int) -> str:
    return (TEST_TODAY + timedelta(days=offset)).isoformat()


def supplier_body(code="SUP9", credit_code=CREDIT_CODES[1], **kw) -> dict:
    return {"code": code, "name": f"华北医药有限公司{code}", "credit_code": credit_code, "kind": "wholesaler",
            "address": "北京市东城区", "contact": "010-12345678",
            "business_scope": ["化学药制剂", "中成药"], "licences": licences(),
            "reps": [{"name": "李四", "id_number": REP_ID, "valid_until": day(200), "authorisation_no": "SQ-01"}],
            **kw}


@pytest.fixture
def spec(client):
    body = client.get("/api/v1/openapi.json").get_json()
    return body, to_json_schema(body["components"]["schemas"])


@pytest.fixture
def api(app, client, token_for, spec):
    """api(role, method, url, body) → (status, json). The response must be one the OpenAPI document lists for the
    route (status included) and match its schema."""
    tokens = {role: token_for(role) for role in [*ROLES, "other_admin"]}  # up front: a token is an audit event
    document, definitions = spec
    validators = {}

    def call(role, method, url, body=None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        response = client.open(url, method=method, headers=tokens.get(role, {}), **kwargs)
        rule, _args = app.url_map.bind("localhost").match(url.split("?")[0], method=method, return_rule=True)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        documented = document["paths"][path][method.lower()]["responses"]
        assert str(response.status_code) in documented, (method, url, response.status_code, response.get_json())
        key = (path, method, response.status_code)
        if key not in validators:
            schema = to_json_schema(documented[str(response.status_code)]["content"]["application/json"]["schema"])
            jsonschema.Draft7Validator.check_schema({**schema, "definitions": definitions})
            validators[key] = jsonschema.Draft7Validator({**schema, "definitions": definitions})
        validators[key].validate(response.get_json())
        return response.status_code, response.get_json()

    return call


TABLES = [Supplier, SupplierLicence, SupplierRep, DrugRequest, Drug, DrugBarcode, PurchaseOrder, PurchaseOrderLine,
          Receipt, ReceiptLine, ReceiptDecision, Inspection, PurchaseReturn, PurchaseReturnLine, Lot, StockMovement,
          StockBalance, AuditEvent]


def counts(db) -> dict:
    """Rows of every table procurement writes, and the states it changes."""
    db.rollback()
    out = {model.__name__: db.exec(select(func.count()).select_from(model)).one() for model in TABLES}
    out["states"] = [tuple(map(tuple, db.exec(select(m.id, getattr(m, col)).order_by(m.id)).all())) for m, col in (
        (Supplier, "status"), (DrugRequest, "status"), (Drug, "approval_status"), (PurchaseOrder, "status"),
        (Lot, "status"), (PurchaseReturn, "status"), (StockBalance, "quantity"))]
    return out


def ok(result, status=200):
    code, body = result
    assert code == status, body
    return body


def refused(result, status, code):
    got, body = result
    assert (got, body["error"]["code"]) == (status, code), body
    assert body["error"]["message"]
    return body


# --- the whole way: supplier → drug → order → receipt → inspection → on the shelf -------------------------------------

def test_supplier_to_sellable_stock_through_the_api(api, world, db):
    set_store_scope(world)
    # 首营企业: the purchaser submits, the quality manager approves.
    supplier = ok(api("purchaser", "POST", "/api/v1/suppliers", supplier_body()), 201)
    assert supplier["status"] == "pending" and supplier["business_scope"] == ["化学药制剂", "中成药"]
    assert supplier["problems"] and not supplier["usable"]
    assert {lic["kind"] for lic in supplier["licences"]} == {"trade", "business"}
    assert [rep["name"] for rep in supplier["reps"]] == ["李四"]
    sid = supplier["id"]
    refused(api("purchaser", "POST", f"/api/v1/suppliers/{sid}/decision", {"approve": True}), 403, "forbidden")
    supplier = ok(api("quality_manager", "POST", f"/api/v1/suppliers/{sid}/decision", {"approve": True}))
    assert supplier["status"] == "approved" and supplier["usable"] and supplier["problems"] == []
    assert [s["code"] for s in ok(api("purchaser", "GET", "/api/v1/suppliers?status=approved"))["items"]] == ["SUP9"]
    assert ok(api("purchaser", "GET", f"/api/v1/suppliers/{sid}"))["decided_at"]

    # 首营品种: pending in the master data (not sellable) until approved.
    request = ok(api("purchaser", "POST", "/api/v1/drug-requests", LHQW_GRANULES), 201)
    drug = request["drug"]
    assert (request["kind"], request["status"], drug["approval_status"]) == ("new", "pending", "pending")
    assert drug["barcodes"] == [{"barcode": "6952378200060", "kind": "ean13"}] and drug["units_per_package"] == 10
    refused(api("cashier", "GET", "/api/v1/scan/6952378200060"), 409, "drug_not_approved")
    refused(api("purchaser", "POST", "/api/v1/purchase-orders",
                {"supplier_id": sid, "lines": [{"drug_id": drug["id"], "packages": 1}]}), 409, "drug_not_approved")
    request = ok(api("quality_manager", "POST", f"/api/v1/drug-requests/{request['id']}/decision",
                     {"approve": True, "note": "资料齐全"}))
    assert request["status"] == "approved" and request["drug"]["approval_status"] == "approved"
    assert ok(api("inspector", "GET", f"/api/v1/drug-requests/{request['id']}"))["decision_note"] == "资料齐全"

    # The order: a draft, then the purchase plan.
    rep_id = supplier["reps"][0]["id"]
    order = ok(api("purchaser", "POST", "/api/v1/purchase-orders",
                   {"supplier_id": sid, "rep_id": rep_id, "note": "月度补货",
                    "lines": [{"drug_id": drug["id"], "packages": 20, "unit_cost_fen": 1500}]}), 201)
    assert (order["status"], order["rep_id"], order["supplier_name"]) == ("draft", rep_id, supplier["name"])
    assert [(l["ordered"], l["ordered_packages"], l["remaining"]) for l in order["lines"]] == [(200, 20, 200)]
    oid, order_line_id = order["id"], order["lines"][0]["id"]
    delivery = {"delivery_note_no": "SH20260615-01", "client_uuid": str(uuid.uuid4()), "lines": [{
        "order_line_id": order_line_id, "lot_no": "A2605001", "production_date": day(-40), "expiry_date": day(700),
        "packages": 20, "cases": 1, "waiting_location_id": world.loc["Y01"].id, "gtin": "06952378200060"}]}
    refused(api("receiver", "POST", f"/api/v1/purchase-orders/{oid}/receipts", delivery), 409, "order_not_confirmed")
    assert ok(api("purchaser", "POST", f"/api/v1/purchase-orders/{oid}/confirm"))["status"] == "confirmed"
    assert [o["number"] for o in ok(api("receiver", "GET", "/api/v1/purchase-orders?status=confirmed"))["items"]] \
        == [order["number"]]

    # Receiving: the lot waits in the pending area; nothing is on hand yet.
    receipt = ok(api("receiver", "POST", f"/api/v1/purchase-orders/{oid}/receipts", delivery), 201)
    line = receipt["lines"][0]
    assert (line["lot"]["lot_no"], line["lot"]["status"], line["quantity_received"], line["packages_received"]) == \
        ("A2605001", "pending_inspection", 200, 20)
    assert line["to_inspect"] and line["needs_decision"] == "" and line["inspection"] is None
    assert line["sampling_plan"] == {"cases_to_open": 1, "packs_per_case": 3, "part_case_packs": 0, "total": 3}
    assert ok(api("cashier", "GET", f"/api/v1/balances?lot_id={line['lot']['id']}"))["items"] == []
    order = ok(api("receiver", "GET", f"/api/v1/purchase-orders/{oid}"))
    assert order["status"] == "closed" and [r["number"] for r in order["receipts"]] == [receipt["number"]]
    assert [(l["received"], l["remaining_packages"]) for l in order["lines"]] == [(200, 0)]

    # Acceptance: the inspector releases the lot onto the shelf.
    refused(api("receiver", "POST", f"/api/v1/receipt-lines/{line['id']}/inspection", {}), 403, "forbidden")
    inspection = ok(api("inspector", "POST", f"/api/v1/receipt-lines/{line['id']}/inspection", {
        "sampled": 3, "appearance_ok": True, "packaging_ok": True, "label_ok": True, "report_ok": True,
        "accepted_packages": 20, "rejected_packages": 0, "location_id": world.loc["A01"].id, "note": "合格"}), 201)
    assert (inspection["conclusion"], inspection["accepted_qty"], inspection["accepted_packages"]) == \
        ("accepted", 200, 20)
    line = ok(api("inspector", "GET", f"/api/v1/receipts/{receipt['id']}"))["lines"][0]
    assert line["lot"]["status"] == "released" and line["inspection"]["id"] == inspection["id"]
    assert not line["to_inspect"]

    assert ok(api("cashier", "GET", f"/api/v1/balances?lot_id={line['lot']['id']}"))["items"] == [
        {"lot_id": line["lot"]["id"], "location_id": world.loc["A01"].id, "drug_id": drug["id"], "quantity": 200}]
    scan = ok(api("cashier", "GET", "/api/v1/scan/6952378200060"))
    assert (scan["drug"]["generic_name"], scan["lot"]["lot_no"], scan["price_fen"], scan["available"]) == \
        ("连花清瘟颗粒", "A2605001", 1980, 200)
    db.rollback()
    assert [tuple(m) for m in db.exec(select(StockMovement.kind, StockMovement.quantity)
                                      .where(StockMovement.lot_id == line["lot"]["id"])).all()] == [("receipt", 200)]


# --- receiving: replay and duplicates ---------------------------------------------------------------------------------

def test_receipt_replay_returns_the_first_receipt_and_writes_once(api, world, db):
    order = confirmed_order(world)
    order_line = pur.order_lines(world.session, order.id)[0][0]
    body = {"delivery_note_no": "DN-REPLAY", "client_uuid": str(uuid.uuid4()),
            "lines": [receipt_line(order_line.id, world.loc["Y01"].id, packages=4)]}
    url = f"/api/v1/purchase-orders/{order.id}/receipts"
    first = ok(api("receiver", "POST", url, body), 201)
    before = counts(db)
    assert ok(api("receiver", "POST", url, body), 200) == first
    assert counts(db) == before
    # The same delivery note again under a new client_uuid is a second delivery of the same paper: refused.
    refused(api("receiver", "POST", url, {**body, "client_uuid": str(uuid.uuid4())}), 409, "duplicate_receipt")
    assert counts(db) == before
    progress = ok(api("purchaser", "GET", f"/api/v1/purchase-orders/{order.id}"))["lines"][0]
    assert (progress["received_packages"], progress["remaining_packages"]) == (4, 6)


def test_goods_refused_at_the_door_have_no_lot_and_nothing_to_inspect(api, world, db):
    order = confirmed_order(world)
    order_line = pur.order_lines(world.session, order.id)[0][0]
    body = {"delivery_note_no": "DN-REFUSED", "client_uuid": str(uuid.uuid4()), "lines": [
        receipt_line(order_line.id, world.loc["Y01"].id, lot_no="BROKEN1", packages=0, refused_packages=2)]}
    refused(api("receiver", "POST", f"/api/v1/purchase-orders/{order.id}/receipts", body), 422, "required")
    body["lines"][0]["refuse_reason"] = "外箱破损、渗漏"
    line = ok(api("receiver", "POST", f"/api/v1/purchase-orders/{order.id}/receipts", body), 201)["lines"][0]
    assert (line["lot"], line["lot_no"], line["quantity_refused"], line["packages_refused"], line["to_inspect"]) == \
        (None, "BROKEN1", 72, 2, False)
    assert line["expiry_date"] == body["lines"][0]["expiry_date"]
    before = counts(db)
    refused(api("inspector", "POST", f"/api/v1/receipt-lines/{line['id']}/inspection",
                _inspection(accepted_packages=0, rejected_packages=2, reject_reason="x")), 409, "nothing_to_inspect")
    assert counts(db) == before
    progress = ok(api("purchaser", "GET", f"/api/v1/purchase-orders/{order.id}"))["lines"][0]
    assert (progress["refused_packages"], progress["received"], progress["remaining_packages"]) == (2, 0, 10)


# --- refusals write nothing ------------------------------------------------------------------------------------------

@pytest.fixture
def records(world):
    """An approved supplier (SUP1), a confirmed order of 20 boxes of LHQW, 10 received and waiting for inspection."""
    supplier = approved_supplier(world)
    order = confirmed_order(world, supplier, [{"drug_id": world.drug["LHQW"].id, "packages": 20,
                                               "unit_cost_fen": 1800}])
    receipt = receive(world, order)
    line = pur.receipt_rows(world.session, receipt_id=receipt.id)[0].line
    return {"supplier": supplier, "order": order, "order_line": pur.order_lines(world.session, order.id)[0][0],
            "receipt": receipt, "line": line}


def _inspection(**kw):
    return {"sampled": 3, "appearance_ok": True, "packaging_ok": True, "label_ok": True, "report_ok": True,
            "accepted_packages": 10, "rejected_packages": 0, **kw}


REFUSALS = {
    # suppliers
    "supplier_malformed_json": ("purchaser", "/api/v1/suppliers", "RAW", 400, "invalid_json"),
    "supplier_not_an_object": ("purchaser", "/api/v1/suppliers", [1, 2], 400, "invalid_json"),
    "supplier_bad_credit_code": ("purchaser", "/api/v1/suppliers",
                                 lambda r, w: supplier_body(credit_code="91110000802100433X"), 422,
                                 "invalid_credit_code"),
    "supplier_kind_list": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(kind=["wholesaler"]), 422,
                           "invalid_field"),
    "supplier_licences_not_list": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(licences="trade"),
                                   422, "invalid_field"),
    "supplier_licence_kind_list": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(
        licences=[{"kind": ["trade"], "number": "X"}]), 422, "invalid_field"),
    "supplier_licence_missing": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(
        licences=licences()[:1]), 422, "licence_missing"),
    "supplier_licence_expired": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(
        licences=licences(until_days=-1)), 422, "licence_expired"),
    "supplier_rep_bad_id_number": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(
        reps=[{"name": "李四", "id_number": "110105194912310021", "valid_until": day(30)}]), 422,
        "invalid_id_number"),
    "supplier_unknown_scope": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(
        business_scope="中成药\n保健食品"), 422, "invalid_scope"),
    "supplier_scope_not_text": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(business_scope=[1]),
                                422, "invalid_field"),
    "supplier_duplicate": ("purchaser", "/api/v1/suppliers", lambda r, w: supplier_body(code="SUP1"), 409,
                           "duplicate_supplier"),
    "decision_approve_not_bool": ("quality_manager", "/api/v1/suppliers/{supplier}/decision", {"approve": "yes"},
                                  422, "invalid_field"),
    "decision_missing": ("quality_manager", "/api/v1/suppliers/{supplier}/decision", {}, 422, "missing_field"),
    "decision_already_made": ("quality_manager", "/api/v1/suppliers/{supplier}/decision", {"approve": False,
                                                                                            "note": "x"},
                              409, "already_decided"),
    "decision_unknown_supplier": ("quality_manager", "/api/v1/suppliers/987654/decision", {"approve": True}, 404,
                                  "not_found"),
    "licence_kind_unknown": ("quality_manager", "/api/v1/suppliers/{supplier}/licences",
                             {"kind": "permit", "number": "X1"}, 422, "invalid_licence"),
    "licence_kind_not_text": ("quality_manager", "/api/v1/suppliers/{supplier}/licences",
                              {"kind": {"a": 1}, "number": "X1"}, 422, "invalid_field"),
    # drugs
    "drug_bad_check_digit": ("purchaser", "/api/v1/drug-requests",
                             {**LHQW_GRANULES, "barcodes": ["6952378200061"]}, 422, "invalid_barcode"),
    "drug_barcode_a_number": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "barcodes": [6952378200060]},
                              422, "invalid_field"),
    "drug_barcode_twice": ("purchaser", "/api/v1/drug-requests",
                           {**LHQW_GRANULES, "barcodes": ["6952378200060", "6952378200060"]}, 422, "invalid_field"),
    "drug_barcode_taken": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "barcodes": ["6920855052082"]},
                           409, "conflict"),
    "drug_sets_its_own_approval": ("purchaser", "/api/v1/drug-requests",
                                   {**LHQW_GRANULES, "approval_status": "approved"}, 422, "invalid_field"),
    "drug_units_text": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "units_per_package": "10"}, 422,
                        "invalid_field"),
    "drug_code_number": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "code": 12}, 422,
                         "invalid_field"),
    "drug_code_taken": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "code": "LHQW"}, 409, "conflict"),
    "drug_no_approval_no": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "approval_no": ""}, 422,
                            "required"),
    "drug_no_documents": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "documents": None}, 422,
                          "required"),
    "drug_unknown_category": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "category": "candy"}, 422,
                              "invalid_input"),
    "drug_hi_code_too_long": ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "hi_code": "9" * 31}, 422,
                              "invalid_input"),
    "change_not_an_object": ("purchaser", "/api/v1/drugs/{PLAIN}/change-requests",
                             {"changes": ["specification"], "reason": "x"}, 422, "invalid_field"),
    "change_same_values": ("purchaser", "/api/v1/drugs/{LHQW}/change-requests",
                           {"changes": {"retail_price_fen": 2850}, "reason": "x"}, 422, "no_change"),
    "change_pending_drug": ("purchaser", "/api/v1/drugs/{PENDING}/change-requests",
                            {"changes": {"specification": "x"}, "reason": "x"}, 409, "not_approved"),
    "change_no_reason": ("purchaser", "/api/v1/drugs/{PLAIN}/change-requests",
                         {"changes": {"specification": "x"}}, 422, "required"),
    "change_unknown_drug": ("purchaser", "/api/v1/drugs/987654/change-requests",
                            {"changes": {"specification": "x"}, "reason": "x"}, 404, "not_found"),
    # orders
    "order_supplier_text": ("purchaser", "/api/v1/purchase-orders",
                            lambda r, w: {"supplier_id": str(r["supplier"].id),
                                          "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 1}]}, 422,
                            "invalid_field"),
    "order_supplier_true": ("purchaser", "/api/v1/purchase-orders",
                            lambda r, w: {"supplier_id": True,
                                          "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 1}]}, 422,
                            "invalid_field"),
    "order_unknown_supplier": ("purchaser", "/api/v1/purchase-orders",
                               lambda r, w: {"supplier_id": 987654,
                                             "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 1}]}, 404,
                               "not_found"),
    "order_no_lines": ("purchaser", "/api/v1/purchase-orders", lambda r, w: {"supplier_id": r["supplier"].id,
                                                                              "lines": []}, 422, "invalid_lines"),
    "order_lines_not_objects": ("purchaser", "/api/v1/purchase-orders",
                                lambda r, w: {"supplier_id": r["supplier"].id, "lines": [1]}, 422, "invalid_field"),
    "order_zero_packages": ("purchaser", "/api/v1/purchase-orders",
                            lambda r, w: {"supplier_id": r["supplier"].id,
                                          "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 0}]}, 422,
                            "invalid_quantity"),
    "order_pending_drug": ("purchaser", "/api/v1/purchase-orders",
                           lambda r, w: {"supplier_id": r["supplier"].id,
                                         "lines": [{"drug_id": w.drug["PENDING"].id, "packages": 1}]}, 409,
                           "drug_not_approved"),
    "order_drug_twice": ("purchaser", "/api/v1/purchase-orders",
                         lambda r, w: {"supplier_id": r["supplier"].id,
                                       "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 1}] * 2}, 422,
                         "duplicate_line"),
    "order_rep_of_nobody": ("purchaser", "/api/v1/purchase-orders",
                            lambda r, w: {"supplier_id": r["supplier"].id, "rep_id": 987654,
                                          "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 1}]}, 422,
                            "invalid_rep"),
    "confirm_twice": ("purchaser", "/api/v1/purchase-orders/{order}/confirm", None, 409, "not_draft"),
    "confirm_unknown": ("purchaser", "/api/v1/purchase-orders/987654/confirm", None, 404, "not_found"),
    # receiving
    "receipt_not_on_order": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                             lambda r, w: _delivery(r, w, order_line_id=987654), 409, "not_on_order"),
    "receipt_line_id_text": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                             lambda r, w: _delivery(r, w, order_line_id=str(r["order_line"].id)), 422,
                             "invalid_field"),
    "receipt_location_list": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                              lambda r, w: _delivery(r, w, waiting_location_id=[1]), 422, "invalid_field"),
    "receipt_onto_the_shelf": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                               lambda r, w: _delivery(r, w, waiting_location_id=w.loc["A01"].id), 422,
                               "invalid_location"),
    "receipt_expired_lot": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                            lambda r, w: _delivery(r, w, expiry_days=-1, production_days_ago=400), 422, "expired"),
    "receipt_over_the_order": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                               lambda r, w: _delivery(r, w, packages=11), 409, "over_receipt"),
    "receipt_bad_uuid": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                         lambda r, w: {**_delivery(r, w), "client_uuid": "not-a-uuid"}, 422, "invalid_client_uuid"),
    "receipt_gtin_number": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                            lambda r, w: _delivery(r, w, gtin=6920855052082), 422, "invalid_field"),
    "receipt_no_lines": ("receiver", "/api/v1/purchase-orders/{order}/receipts",
                         lambda r, w: {**_delivery(r, w), "lines": []}, 422, "invalid_lines"),
    "receipt_unknown_order": ("receiver", "/api/v1/purchase-orders/987654/receipts",
                              lambda r, w: _delivery(r, w), 404, "not_found"),
    # decisions and inspection
    "line_needs_no_decision": ("quality_manager", "/api/v1/receipt-lines/{line}/decision",
                               {"approve": True, "note": "可以"}, 409, "no_decision_needed"),
    "inspection_check_as_text": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                 _inspection(appearance_ok="true"), 422, "invalid_field"),
    "inspection_check_missing": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                 {k: v for k, v in _inspection().items() if k != "label_ok"}, 422, "missing_field"),
    "inspection_does_not_add_up": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                   lambda r, w: _inspection(accepted_packages=9, location_id=w.loc["A01"].id), 422,
                                   "quantities_do_not_add_up"),
    "inspection_sample_too_small": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                    lambda r, w: _inspection(sampled=2, location_id=w.loc["A01"].id), 422,
                                    "sample_too_small"),
    "inspection_failed_check_accepted": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                         lambda r, w: _inspection(label_ok=False, location_id=w.loc["A01"].id), 422,
                                         "failed_check_accepted"),
    "inspection_into_pending_area": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                     lambda r, w: _inspection(location_id=w.loc["Y01"].id), 422,
                                     "invalid_location"),
    "inspection_into_the_cold": ("inspector", "/api/v1/receipt-lines/{line}/inspection",
                                 lambda r, w: _inspection(location_id=w.loc["C01"].id), 409, "storage_class"),
    "inspection_no_location": ("inspector", "/api/v1/receipt-lines/{line}/inspection", _inspection(), 422,
                               "invalid_location"),
    "inspection_unknown_line": ("inspector", "/api/v1/receipt-lines/987654/inspection", _inspection(), 404,
                                "not_found"),
    # returns
    "return_lines_not_a_list": ("purchaser", "/api/v1/purchase-returns",
                                lambda r, w: {"supplier_id": r["supplier"].id, "reason": "破损", "lines": "all"},
                                422, "invalid_field"),
    "return_location_true": ("purchaser", "/api/v1/purchase-returns",
                             lambda r, w: {"supplier_id": r["supplier"].id, "reason": "破损", "lines": [
                                 {"lot_id": r["line"].lot_id, "location_id": True, "packages": 1}]}, 422,
                             "invalid_field"),
    "return_nothing_on_hand": ("purchaser", "/api/v1/purchase-returns",
                               lambda r, w: {"supplier_id": r["supplier"].id, "reason": "破损", "lines": [
                                   {"lot_id": r["line"].lot_id, "location_id": w.loc["A01"].id, "packages": 1}]},
                               409, "insufficient_stock"),
    "return_no_reason": ("purchaser", "/api/v1/purchase-returns",
                         lambda r, w: {"supplier_id": r["supplier"].id, "lines": [
                             {"lot_id": r["line"].lot_id, "location_id": w.loc["Y01"].id, "packages": 1}]}, 422,
                         "required"),
    "return_unknown": ("quality_manager", "/api/v1/purchase-returns/987654/quality", {"approve": True}, 404,
                       "not_found"),
}


def _delivery(records, world, **line) -> dict:
    order_line_id = line.pop("order_line_id", records["order_line"].id)
    return {"delivery_note_no": f"DN{uuid.uuid4().hex[:8]}", "client_uuid": str(uuid.uuid4()),
            "lines": [receipt_line(order_line_id, line.pop("waiting_location_id", world.loc["Y01"].id), **line)]}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_write_nothing(api, world, db, records, case):
    role, url, body, status, code = REFUSALS[case]
    ids = {"supplier": records["supplier"].id, "order": records["order"].id, "line": records["line"].id,
           **{code_: drug.id for code_, drug in world.drug.items()}}
    url = url.format(**ids)
    if callable(body):
        body = body(records, world)
    before = counts(db)
    if body == "RAW":
        result = api(role, "POST", url, data="{code: 1,", content_type="application/json")
    else:
        result = api(role, "POST", url, body)
    refused(result, status, code)
    assert counts(db) == before


# --- roles --------------------------------------------------------------------------------------------------------

FORBIDDEN = [
    ("cashier", "GET", "/api/v1/suppliers"),
    ("curator", "GET", "/api/v1/purchase-orders"),
    ("cashier", "GET", "/api/v1/receipts/{receipt}"),
    ("receiver", "POST", "/api/v1/suppliers"),
    ("quality_manager", "POST", "/api/v1/drug-requests"),
    ("purchaser", "POST", "/api/v1/suppliers/{supplier}/licences"),
    ("inspector", "POST", "/api/v1/drug-requests/{request}/decision"),
    ("receiver", "POST", "/api/v1/purchase-orders"),
    ("receiver", "POST", "/api/v1/purchase-orders/{order}/confirm"),
    ("purchaser", "POST", "/api/v1/purchase-orders/{order}/receipts"),
    ("purchaser", "POST", "/api/v1/receipt-lines/{line}/inspection"),
    ("inspector", "POST", "/api/v1/receipt-lines/{line}/decision"),
    ("inspector", "POST", "/api/v1/purchase-returns"),
    ("finance", "POST", "/api/v1/purchase-returns/{return}/quality"),
    ("quality_manager", "POST", "/api/v1/purchase-returns/{return}/finance"),
    ("store_manager", "POST", "/api/v1/purchase-returns/{return}/finance"),
]


def test_wrong_role_is_forbidden_and_writes_nothing(api, world, db):
    from tests.integration.procurement_helpers import procurement_url_args

    set_store_scope(world)
    args = procurement_url_args(world)
    ids = {"supplier": args["supplier_id"], "order": args["order_id"], "receipt": args["receipt_id"],
           "line": args["receipt_line_id"], "request": args["request_id"], "return": args["return_id"]}
    before = counts(db)
    for role, method, url in FORBIDDEN:
        url = url.format(**ids)
        refused(api(role, method, url, {"approve": True} if method == "POST" else None), 403, "forbidden")
        refused(api(None, method, url, {} if method == "POST" else None), 401, "authentication_required")
    assert counts(db) == before


# --- two-person rules -----------------------------------------------------------------------------------------------

def test_nobody_approves_their_own_submission(api, world, db):
    set_store_scope(world)
    supplier = ok(api("admin", "POST", "/api/v1/suppliers", supplier_body()), 201)
    request = ok(api("admin", "POST", "/api/v1/drug-requests", LHQW_GRANULES), 201)
    before = counts(db)
    refused(api("admin", "POST", f"/api/v1/suppliers/{supplier['id']}/decision", {"approve": True}), 403,
            "same_person")
    refused(api("admin", "POST", f"/api/v1/drug-requests/{request['id']}/decision", {"approve": True}), 403,
            "same_person")
    assert counts(db) == before
    # A rejection needs its reason; then another person decides.
    refused(api("quality_manager", "POST", f"/api/v1/suppliers/{supplier['id']}/decision", {"approve": False}), 422,
            "required")
    rejected = ok(api("quality_manager", "POST", f"/api/v1/suppliers/{supplier['id']}/decision",
                      {"approve": False, "note": "许可证复印件不清晰"}))
    assert (rejected["status"], rejected["decision_note"]) == ("rejected", "许可证复印件不清晰")
    assert ok(api("quality_manager", "POST", f"/api/v1/drug-requests/{request['id']}/decision",
                  {"approve": True}))["status"] == "approved"


def test_short_shelf_life_lot_waits_for_the_quality_managers_decision(api, world, db):
    order = confirmed_order(world)
    order_line = pur.order_lines(world.session, order.id)[0][0]
    receipt = ok(api("admin", "POST", f"/api/v1/purchase-orders/{order.id}/receipts", {
        "delivery_note_no": "DN-SHORT", "client_uuid": str(uuid.uuid4()),
        "lines": [receipt_line(order_line.id, world.loc["Y01"].id, expiry_days=90, packages=10)]}), 201)
    line = receipt["lines"][0]
    assert (line["needs_decision"], line["waits_for_decision"]) == ("short_shelf_life", True)
    url = f"/api/v1/receipt-lines/{line['id']}"
    inspection = _inspection(location_id=world.loc["A01"].id)
    refused(api("inspector", "POST", f"{url}/inspection", inspection), 409, "decision_pending")
    refused(api("admin", "POST", f"{url}/decision", {"approve": True, "note": "急需"}), 403, "same_person")
    refused(api("quality_manager", "POST", f"{url}/decision", {"approve": "no", "note": "效期太短"}), 422,
            "invalid_field")
    decision = ok(api("quality_manager", "POST", f"{url}/decision", {"approve": False, "note": "效期太短"}), 201)
    assert (decision["approved"], decision["receipt_line_id"]) == (False, line["id"])
    refused(api("quality_manager", "POST", f"{url}/decision", {"approve": True, "note": "改主意"}), 409,
            "already_decided")
    refused(api("inspector", "POST", f"{url}/inspection", inspection), 409, "decision_refused")
    rejected = ok(api("inspector", "POST", f"{url}/inspection", _inspection(
        accepted_packages=0, rejected_packages=10, reject_reason="效期不足，质量负责人拒收")), 201)
    assert (rejected["conclusion"], rejected["rejected_qty"], rejected["location_id"]) == ("rejected", 360, None)
    line = ok(api("inspector", "GET", f"/api/v1/receipts/{receipt['id']}"))["lines"][0]
    assert line["decision"]["approved"] is False and line["lot"]["status"] == "nonconforming"
    assert ok(api("inspector", "GET", f"/api/v1/balances?lot_id={line['lot']['id']}"))["items"] == [
        {"lot_id": line["lot"]["id"], "location_id": world.loc["R01"].id, "drug_id": world.drug["LHQW"].id,
         "quantity": 360}]
    refused(api("inspector", "POST", f"{url}/inspection", inspection), 409, "already_inspected")


def test_purchase_return_needs_quality_and_finance_as_two_people(api, world, db):
    order = confirmed_order(world)
    receipt = receive(world, order)
    line = pur.receipt_rows(world.session, receipt_id=receipt.id)[0].line
    ok(api("inspector", "POST", f"/api/v1/receipt-lines/{line.id}/inspection",
           _inspection(location_id=world.loc["A01"].id)), 201)
    body = {"supplier_id": order.supplier_id, "reason": "外包装破损",
            "lines": [{"lot_id": line.lot_id, "location_id": world.loc["A01"].id, "packages": 2}]}
    ret = ok(api("purchaser", "POST", "/api/v1/purchase-returns", body), 201)
    assert (ret["status"], ret["lines"][0]["quantity"], ret["lines"][0]["packages"]) == ("requested", 72, 2)
    rid = ret["id"]
    assert ok(api("finance", "GET", f"/api/v1/purchase-returns/{rid}"))["number"] == ret["number"]
    ret = ok(api("admin", "POST", f"/api/v1/purchase-returns/{rid}/quality", {"approve": True}))
    assert ret["quality_by_id"] == world.users["admin"].id and ret["status"] == "requested"
    before = counts(db)
    refused(api("admin", "POST", f"/api/v1/purchase-returns/{rid}/finance", {"approve": True}), 409, "same_person")
    refused(api("quality_manager", "POST", f"/api/v1/purchase-returns/{rid}/quality", {"approve": True}), 409,
            "already_approved")
    refused(api("finance", "POST", f"/api/v1/purchase-returns/{rid}/finance", {"approve": 1}), 422, "invalid_field")
    assert counts(db) == before
    ret = ok(api("finance", "POST", f"/api/v1/purchase-returns/{rid}/finance", {"approve": True}))
    assert ret["status"] == "done" and ret["finance_by_id"] == world.users["finance"].id
    assert ok(api("finance", "GET", f"/api/v1/balances?lot_id={line.lot_id}"))["items"][0]["quantity"] == 8 * 36
    refused(api("finance", "POST", f"/api/v1/purchase-returns/{rid}/finance", {"approve": False, "note": "x"}), 409,
            "already_decided")

    # The requester never approves their own return; a rejection needs its reason and ships nothing.
    second = ok(api("admin", "POST", "/api/v1/purchase-returns", {**body, "reason": "近效期"}), 201)
    refused(api("admin", "POST", f"/api/v1/purchase-returns/{second['id']}/quality", {"approve": True}), 403,
            "same_person")
    refused(api("finance", "POST", f"/api/v1/purchase-returns/{second['id']}/finance", {"approve": False}), 422,
            "required")
    rejected = ok(api("finance", "POST", f"/api/v1/purchase-returns/{second['id']}/finance",
                      {"approve": False, "note": "供应商不接受"}))
    assert (rejected["status"], rejected["reject_note"]) == ("rejected", "供应商不接受")
    assert ok(api("finance", "GET", f"/api/v1/balances?lot_id={line.lot_id}"))["items"][0]["quantity"] == 8 * 36


# --- master-data changes and licences ---------------------------------------------------------------------------------

def test_drug_change_applies_only_when_approved(api, world, db):
    plain = world.drug["PLAIN"]
    old = plain.specification
    request = ok(api("purchaser", "POST", f"/api/v1/drugs/{plain.id}/change-requests",
                     {"changes": {"specification": "新规格", "retail_price_fen": 20000}, "reason": "说明书更新",
                      "documents": "变更批件"}), 201)
    assert (request["kind"], request["changes"]) == ("change", {"specification": "新规格",
                                                                "retail_price_fen": 20000})
    assert request["drug"]["specification"] == old
    refused(api("purchaser", "POST", f"/api/v1/drugs/{plain.id}/change-requests",
                {"changes": {"specification": "再改"}, "reason": "x"}), 409, "request_pending")
    request = ok(api("quality_manager", "POST", f"/api/v1/drug-requests/{request['id']}/decision",
                     {"approve": True}))
    assert request["before"]["specification"] == old
    drug = ok(api("cashier", "GET", f"/api/v1/drugs/{plain.id}"))
    assert (drug["specification"], drug["retail_price_fen"], drug["valuable"]) == ("新规格", 20000, True)


def test_renewed_licence_is_filed_and_counts(api, world, db):
    supplier = approved_supplier(world)
    url = f"/api/v1/suppliers/{supplier.id}/licences"
    refused(api("quality_manager", "POST", url, {"kind": "trade", "number": "京AA0000002",
                                                 "valid_until": day(-1)}), 422, "licence_expired")
    licence = ok(api("quality_manager", "POST", url, {"kind": "trade", "number": "京AA0000002",
                                                      "valid_from": day(0), "valid_until": day(1800),
                                                      "scope": ["中成药", "化学药制剂"]}), 201)
    assert (licence["kind"], licence["current"], licence["scope"]) == ("trade", True, ["化学药制剂", "中成药"])
    detail = ok(api("purchaser", "GET", f"/api/v1/suppliers/{supplier.id}"))
    trade = [(lic["number"], lic["current"]) for lic in detail["licences"] if lic["kind"] == "trade"]
    assert trade == [("京AA0000001", False), ("京AA0000002", True)]
    refused(api("purchaser", "GET", "/api/v1/suppliers?status=maybe"), 422, "invalid_parameter")
    refused(api("purchaser", "GET", "/api/v1/purchase-orders?status=maybe"), 422, "invalid_parameter")
    refused(api("purchaser", "GET", "/api/v1/suppliers/987654"), 404, "not_found")
    refused(api("purchaser", "GET", "/api/v1/drug-requests/987654"), 404, "not_found")
    refused(api("purchaser", "GET", "/api/v1/purchase-orders/987654"), 404, "not_found")
    refused(api("purchaser", "GET", "/api/v1/receipts/987654"), 404, "not_found")
    refused(api("purchaser", "GET", "/api/v1/purchase-returns/987654"), 404, "not_found")


def test_other_stores_do_not_see_the_order(api, world, db):
    order = confirmed_order(world)
    refused(api("other_admin", "GET", f"/api/v1/purchase-orders/{order.id}"), 404, "not_found")
    assert ok(api("other_admin", "GET", "/api/v1/purchase-orders"))["items"] == []


# --- no input is a 500 ----------------------------------------------------------------------------------------------

JUNK = [[], {}, "x", 1.5, True, None, -1, 10**20, "bad\x00text", "9" * 3000]


def _variants(body):
    """The body with one field (top level, or of the first item of a list of objects) replaced by each junk value,
    and the first item itself replaced."""
    for key, value in body.items():
        for junk in JUNK:
            yield {**body, key: junk}
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for junk in JUNK:
                yield {**body, key: [junk, *value[1:]]}
            for inner in value[0]:
                for junk in JUNK:
                    yield {**body, key: [{**value[0], inner: junk}, *value[1:]]}
        if isinstance(value, dict):
            for inner in value:
                for junk in JUNK:
                    yield {**body, key: {**value, inner: junk}}


def test_wrong_types_anywhere_get_a_documented_answer_never_a_500(api, world, db, records):
    """Every POST body, one field at a time set to a wrong type, absurd number, NUL or over-long text. The api
    helper checks that each answer is a documented status with its schema (a 500 is not documented)."""
    from gsp import qualification as qual
    from tests.integration.procurement_helpers import _a_return

    second = receive(world, records["order"], [receipt_line(records["order_line"].id, world.loc["Y01"].id,
                                                            packages=5)])
    ret = _a_return(world, records["order"], pur.receipt_rows(world.session, receipt_id=second.id)[0].line)
    request = qual.submit_drug_change(world.session, world.actor("purchaser"), world.drug["PLAIN"].id,
                                      changes={"specification": "新规格"}, reason="说明书更新")
    r, w = records, world
    bodies = [
        ("purchaser", "/api/v1/suppliers", supplier_body(code="SUP7")),
        ("quality_manager", f"/api/v1/suppliers/{r['supplier'].id}/decision", {"approve": False, "note": "n"}),
        ("quality_manager", f"/api/v1/suppliers/{r['supplier'].id}/licences",
         {"kind": "gmp", "number": "G1", "valid_from": day(-10), "valid_until": day(100), "scope": "中成药"}),
        ("purchaser", "/api/v1/drug-requests", {**LHQW_GRANULES, "hi_code": None, "key_curing": False}),
        ("purchaser", f"/api/v1/drugs/{w.drug['LHQW'].id}/change-requests",
         {"changes": {"specification": "y", "units_per_package": 36}, "reason": "r", "documents": "d"}),
        ("quality_manager", f"/api/v1/drug-requests/{request.id}/decision", {"approve": False, "note": "n"}),
        ("purchaser", "/api/v1/purchase-orders", {"supplier_id": r["supplier"].id, "rep_id": None, "note": "",
                                                  "lines": [{"drug_id": w.drug["LHQW"].id, "packages": 1,
                                                             "unit_cost_fen": 100}]}),
        ("receiver", f"/api/v1/purchase-orders/{r['order'].id}/receipts",
         {**_delivery(r, w, packages=1, refused_packages=0, refuse_reason="", part_cases=0, arrival_temp_c=20,
                      gtin="06920855052082", trace_code="")}),
        ("quality_manager", f"/api/v1/receipt-lines/{r['line'].id}/decision", {"approve": True, "note": "n"}),
        ("inspector", f"/api/v1/receipt-lines/{r['line'].id}/inspection",
         _inspection(location_id=w.loc["A01"].id, reject_reason="", note="", abnormal=False)),
        ("purchaser", "/api/v1/purchase-returns", {"supplier_id": r["supplier"].id, "reason": "r", "lines": [
            {"lot_id": r["line"].lot_id, "location_id": w.loc["Y01"].id,
             "packages": 1}]}),
        ("quality_manager", f"/api/v1/purchase-returns/{ret.id}/quality", {"approve": False, "note": "n"}),
        ("finance", f"/api/v1/purchase-returns/{ret.id}/finance", {"approve": False, "note": "n"}),
    ]
    sent = 0
    for role, url, body in bodies:
        for variant in _variants(body):
            status, answer = api(role, "POST", url, variant)
            assert status < 500, (url, variant, answer)
            sent += 1
    assert sent > 500
