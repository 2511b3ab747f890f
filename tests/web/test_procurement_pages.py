"""Procurement through the HTML pages, as each role works it: supplier → approval → new drug → approval → order →
receiving → inspection → stock on the shelf, sellable; refusals re-show the form with a 4xx and write nothing."""
import uuid
from datetime import timedelta

from sqlmodel import func, select

from core.models import AuditEvent
from gsp.models import Inspection, PurchaseOrder, Receipt, ReceiptLine, Supplier
from inventory.models import Drug, Lot, LotStatus, StockBalance
from inventory.services import sellable_lot_for_barcode
from tests.conftest import TEST_TODAY, login, post_form
from tests.integration.procurement_helpers import CREDIT_CODES, REP_ID, STORE_SCOPE, set_store_scope

# A real product (../shared/data/drug_barcodes_cn.csv): 连花清瘟颗粒, 北京以岭药业有限公司, 国药准字Z20100040.
NEW_DRUG = {"code": "LHQWKL", "generic_name": "连花清瘟颗粒", "specification": "6g*10袋", "package_unit": "盒",
            "smallest_unit": "盒", "units_per_package": "1", "manufacturer": "北京以岭药业有限公司",
            "approval_no": "国药准字Z20100040", "barcode": "6952378200060", "category": "patent",
            "rx_class": "otc_a", "storage_class": "room", "scope_item": "", "retail_price": "19.80",
            "documents": "药品注册证书、质量标准、检验报告书"}


def count(db, model, *where):
    db.rollback()  # a fresh snapshot: the requests wrote through their own sessions
    db.expire_all()
    return db.exec(select(func.count()).select_from(model).where(*where)).one()


def supplier_form(code="SUP9", credit_code=CREDIT_CODES[1]) -> dict:
    return {"code": code, "name": "示例医药有限公司", "credit_code": credit_code, "kind": "wholesaler",
            "business_scope": STORE_SCOPE.splitlines(), "licence_number": "京AA1234567",
            "licence_until": (TEST_TODAY + timedelta(days=900)).isoformat(), "business_number": credit_code,
            "business_until": "", "rep_name": "李四", "rep_id_number": REP_ID,
            "rep_until": (TEST_TODAY + timedelta(days=300)).isoformat()}


def test_the_whole_purchasing_flow_through_the_pages(app, db, world):
    set_store_scope(world)
    purchaser, quality, receiver, inspector = (app.test_client() for _ in range(4))
    for client, role in ((purchaser, "purchaser"), (quality, "quality_manager"), (receiver, "receiver"),
                         (inspector, "inspector")):
        assert login(client, role).status_code == 302

    # 首营企业: filed by the purchaser; the purchaser cannot approve it, the quality manager does.
    response = post_form(purchaser, "/procurement/suppliers/new", supplier_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    supplier_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert post_form(purchaser, f"/procurement/suppliers/{supplier_id}/decision",
                     {"decision": "approve"}).status_code == 403
    assert post_form(quality, f"/procurement/suppliers/{supplier_id}/decision",
                     {"decision": "approve"}).status_code == 302
    assert "京AA1234567" in quality.get(f"/procurement/suppliers/{supplier_id}").get_data(as_text=True)

    # 首营品种: the new drug is not orderable until approved.
    response = post_form(purchaser, "/procurement/drug-requests/new", NEW_DRUG)
    assert response.status_code == 302, response.get_data(as_text=True)
    request_path = response.headers["Location"]
    db.rollback()
    drug = db.exec(select(Drug).where(Drug.code == "LHQWKL")).one()
    assert drug.approval_status == "pending"
    response = post_form(purchaser, "/procurement/orders/new", {"supplier_id": supplier_id, "rep_id": 0})
    order_path = response.headers["Location"]
    refused = post_form(purchaser, f"{order_path}/lines", {"drug": "6952378200060", "packages": 20,
                                                           "unit_cost": "12.50"})
    assert refused.status_code == 409 and "首营品种" in refused.get_data(as_text=True)
    assert post_form(quality, f"{request_path}/decision", {"decision": "approve"}).status_code == 302
    assert post_form(purchaser, f"{order_path}/lines", {"drug": "6952378200060", "packages": 20,
                                                        "unit_cost": "12.50"}).status_code == 302
    assert post_form(purchaser, f"{order_path}/confirm", {}).status_code == 302
    order_id = int(order_path.rstrip("/").split("/")[-1])
    assert "连花清瘟颗粒" in purchaser.get(order_path).get_data(as_text=True)

    # Receiving: the page offers the open line; a scan of the pack's GS1 string names the line, lot and expiry.
    page = receiver.get(f"/procurement/orders/{order_id}/receive").get_data(as_text=True)
    assert "连花清瘟颗粒" in page and 'name="lines-0-order_line_id"' in page
    expiry = TEST_TODAY + timedelta(days=700)
    scan = receiver.get(f"/procurement/orders/{order_id}/scan",
                        query_string={"code": f"0106952378200060\x1d17{expiry:%y%m%d}10KL2401"}).get_json()
    assert scan["lot_no"] == "KL2401" and scan["expiry_date"] == expiry.isoformat() and scan["order_line_id"]
    form = {"client_uuid": str(uuid.uuid4()), "delivery_note_no": "SX-0001",
            "lines-0-order_line_id": scan["order_line_id"], "lines-0-lot_no": scan["lot_no"],
            "lines-0-production_date": (TEST_TODAY - timedelta(days=30)).isoformat(),
            "lines-0-expiry_date": scan["expiry_date"], "lines-0-packages": "20", "lines-0-cases": "1",
            "lines-0-waiting_location_id": world.loc["Y01"].id, "lines-0-gtin": scan["gtin"]}
    response = post_form(receiver, f"/procurement/orders/{order_id}/receive", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    receipt_path = response.headers["Location"]
    again = post_form(receiver, f"/procurement/orders/{order_id}/receive", form)  # a double click: same receipt
    assert again.headers["Location"] == receipt_path and count(db, Receipt) == 1

    # Inspection: the sampling rule is shown; accepted goods go to the shelf, the lot is released.
    line = db.exec(select(ReceiptLine)).one()
    page = inspector.get(f"/procurement/receipt-lines/{line.id}/inspection").get_data(as_text=True)
    assert 'id="sampling"' in page
    response = post_form(inspector, f"/procurement/receipt-lines/{line.id}/inspection", {
        "sampled": "3", "appearance_ok": "y", "packaging_ok": "y", "label_ok": "y", "report_ok": "y",
        "accepted": "20", "rejected": "0", "location_id": world.loc["A01"].id})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.rollback()
    lot = db.exec(select(Lot).where(Lot.lot_no == "KL2401")).one()
    assert lot.status == LotStatus.RELEASED
    assert db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot.id,
                                                       StockBalance.location_id == world.loc["A01"].id)).one() == 20
    db.refresh(world.store)
    assert sellable_lot_for_barcode(db, world.store, "6952378200060").lot.id == lot.id
    receipt_page = receiver.get(receipt_path).get_data(as_text=True)
    assert "KL2401" in receipt_page and "inspector" in receipt_page  # the inspector's name on the line
    actions = set(db.exec(select(AuditEvent.action)).all())
    assert {"supplier.submit", "supplier.approve", "drug_request.submit", "drug_request.approve",
            "purchase_order.create", "purchase_order.confirm", "receipt.create", "inspection.create"} <= actions
    assert db.get(PurchaseOrder, order_id).status == "closed"  # everything ordered has arrived


def test_receiving_refusals_show_the_form_again_and_write_nothing(app, db, world):
    from tests.integration.procurement_helpers import confirmed_order

    order = confirmed_order(world)
    client = app.test_client()
    login(client, "receiver")
    db.rollback()
    line_id = db.exec(select(ReceiptLine.id)).first()
    assert line_id is None
    from gsp.models import PurchaseOrderLine

    order_line = db.exec(select(PurchaseOrderLine).where(PurchaseOrderLine.order_id == order.id)).one()
    base = {"client_uuid": str(uuid.uuid4()), "delivery_note_no": "DN-1", "lines-0-order_line_id": order_line.id,
            "lines-0-lot_no": "B1", "lines-0-production_date": (TEST_TODAY - timedelta(days=10)).isoformat(),
            "lines-0-expiry_date": (TEST_TODAY + timedelta(days=700)).isoformat(), "lines-0-packages": "5",
            "lines-0-waiting_location_id": world.loc["Y01"].id}
    lots = count(db, Lot)
    cases = [({"lines-0-packages": "11"}, 409),  # 10 ordered
             ({"lines-0-expiry_date": (TEST_TODAY - timedelta(days=1)).isoformat()}, 422),
             ({"lines-0-expiry_date": (TEST_TODAY - timedelta(days=20)).isoformat()}, 422),
             ({"lines-0-lot_no": ""}, 422),
             ({"lines-0-lot_no": "X" * 41}, 422),
             ({"lines-0-waiting_location_id": world.loc["A01"].id}, 422),
             ({"delivery_note_no": ""}, 422),
             ({"lines-0-packages": "-3"}, 422)]
    for change, status in cases:
        response = post_form(client, f"/procurement/orders/{order.id}/receive", {**base, **change})
        body = response.get_data(as_text=True)
        assert response.status_code == status, (change, body[-500:])
        assert 'id="receive-form"' in body and 'class="flash error"' in body  # the form again, and why
        assert f'value="{base["lines-0-lot_no"]}"' in body or change.get("lines-0-lot_no") is not None  # as typed
        assert count(db, Receipt) == 0 and count(db, Lot) == lots and count(db, AuditEvent,
                                                                            AuditEvent.action == "receipt.create") == 0
    login(client, "cashier")
    assert post_form(client, f"/procurement/orders/{order.id}/receive", base).status_code == 403
    assert count(db, Receipt) == 0 and count(db, Inspection) == 0 and count(db, Supplier) == 1


def test_text_with_a_nul_character_is_refused_before_anything_runs(app, db, world):
    set_store_scope(world)
    client = app.test_client()
    login(client, "purchaser")
    response = post_form(client, "/procurement/suppliers/new", {**supplier_form(), "name": "示例\x00医药"})
    assert response.status_code == 400 and count(db, Supplier) == 0


def test_the_quality_manager_keeps_the_stores_licence_and_scope_which_orders_are_checked_against(app, db, world):
    from core.models import Store

    client = app.test_client()
    login(client, "purchaser")
    form = {"drug_trade_licence_no": "沪AA0210001", "valid_until": (TEST_TODAY + timedelta(days=800)).isoformat(),
            "business_licence_no": CREDIT_CODES[0], "business_scope": ["化学药制剂", "中成药"]}
    assert post_form(client, "/procurement/store-licence", form).status_code == 403
    login(client, "quality_manager")
    assert "store-licence-link" in client.get("/store").get_data(as_text=True)
    for bad in ({"business_scope": ["保健食品"]}, {"business_scope": []}, {"valid_until": ""}):
        response = post_form(client, "/procurement/store-licence", {**form, **bad})
        assert response.status_code == 422 and 'class="flash error"' in response.get_data(as_text=True)
        db.rollback()
        assert db.get(Store, world.store.id).business_scope == ""  # nothing written
    assert post_form(client, "/procurement/store-licence", form).status_code == 302
    db.rollback()
    store = db.get(Store, world.store.id)
    assert (store.drug_trade_licence_no, store.business_scope) == ("沪AA0210001", "化学药制剂\n中成药")
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "store.licence")).one()
    assert '"business_scope": ""' in event.summary and "中成药" in event.summary  # before and after kept

    # Orders are checked against it at once: a cold-chain drug needs 冷藏冷冻药品, which the store now lacks.
    from core.errors import Conflict
    from gsp import purchasing as pur
    from tests.integration.procurement_helpers import approved_supplier

    supplier = approved_supplier(world)
    db.refresh(world.store)
    try:
        pur.create_order(db, world.actor("purchaser"), store=world.store, supplier_id=supplier.id,
                         lines=[{"drug_id": world.drug["INSULIN"].id, "packages": 1}])
        raise AssertionError("an out-of-scope line was accepted")
    except Conflict as exc:
        assert exc.code == "out_of_scope" and "冷藏冷冻药品" in str(exc.message)


def test_the_licence_job_warns_about_the_stores_own_licence(app, db, world, clock):
    from core.jobs import licence_expiry
    from core.models import Notification
    from gsp import qualification as qual

    qual.set_store_licence(db, world.actor("quality_manager"), store_id=world.store.id,
                           drug_trade_licence_no="沪AA0210001", valid_until=TEST_TODAY + timedelta(days=12),
                           business_licence_no="", business_scope=STORE_SCOPE)
    with app.app_context():
        licence_expiry(app)
        licence_expiry(app)
    db.rollback()
    notes = db.exec(select(Notification).where(Notification.entity_type == "store")).all()
    assert len(notes) == 1 and "沪AA0210001" in notes[0].title and notes[0].store_id == world.store.id


def test_a_renewed_trade_licence_filed_on_the_supplier_page_sets_the_suppliers_scope(app, db, world):
    from tests.integration.procurement_helpers import approved_supplier

    supplier = approved_supplier(world, scope="化学药制剂")
    client = app.test_client()
    login(client, "quality_manager")
    page = client.get(f"/procurement/suppliers/{supplier.id}").get_data(as_text=True)
    assert 'id="licence-form"' in page and 'name="scope"' in page
    renewal = {"kind": "trade", "number": "京AA0000009", "valid_until": (TEST_TODAY + timedelta(days=1500)).isoformat(),
               "scope": ["化学药制剂", "中成药"]}

    def scope_on_file():
        db.rollback()
        db.expire_all()  # the supplier object was loaded here before the request changed it
        return db.get(Supplier, supplier.id).business_scope

    bad = post_form(client, f"/procurement/suppliers/{supplier.id}/licences", {**renewal, "scope": ["保健食品"]})
    assert bad.status_code == 422
    assert scope_on_file() == "化学药制剂"  # nothing written
    assert post_form(client, f"/procurement/suppliers/{supplier.id}/licences", renewal).status_code == 302
    assert scope_on_file() == "化学药制剂\n中成药"
    page = client.get(f"/procurement/suppliers/{supplier.id}").get_data(as_text=True)
    assert "京AA0000009" in page and "化学药制剂、中成药" in page
    # The purchaser cannot file licences.
    login(client, "purchaser")
    assert post_form(client, f"/procurement/suppliers/{supplier.id}/licences", renewal).status_code == 403
