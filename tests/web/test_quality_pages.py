"""Quality pages and API through HTTP: who may lock, refusals that write nothing, stop-sale, recall and the
near-expiry push list; API answers match their OpenAPI schemas."""
import jsonschema
from sqlmodel import func, select

from core.models import AuditEvent, Notification
from gsp.models import Recall, SaleStop, SuspectReport
from inventory.models import LotStatus, LotStatusEvent
from tests.conftest import login, post_form
from tests.integration.pos_helpers import Counter
from tests.web.test_api import to_json_schema


def status_of(db, lot):
    db.rollback()  # a fresh snapshot: the requests wrote through their own sessions
    db.expire_all()
    return db.get(type(lot), lot.id).status


def events(db):
    db.rollback()
    return db.exec(select(func.count()).select_from(LotStatusEvent)).one()


def test_quality_manager_locks_and_unlocks_from_the_lot_page(client, db, world):
    lot = world.lot(qty=36)
    login(client, "quality_manager")
    page = client.get(f"/quality/lots/{lot.id}").get_data(as_text=True)
    assert 'id="lock-form"' in page and lot.lot_no in page
    response = post_form(client, f"/quality/lots/{lot.id}/lock", {"reason": "found_on_display", "note": "瓶盖松动"})
    assert response.status_code == 302
    assert status_of(db, lot) == LotStatus.LOCKED
    page = client.get(f"/quality/lots/{lot.id}").get_data(as_text=True)
    assert 'id="unlock-form"' in page and "瓶盖松动" in page
    before = events(db)
    response = post_form(client, f"/quality/lots/{lot.id}/unlock", {"conclusion": ""})
    assert response.status_code == 422 and events(db) == before and status_of(db, lot) == LotStatus.LOCKED
    response = post_form(client, f"/quality/lots/{lot.id}/unlock", {"conclusion": "复检合格"})
    assert response.status_code == 302 and status_of(db, lot) == LotStatus.RELEASED
    db.rollback()
    assert db.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "lot.status",
                                                                      AuditEvent.entity_id == str(lot.id))).one() >= 2


def test_a_cashier_reports_but_cannot_lock(client, db, world):
    lot = world.lot(qty=36)
    login(client, "cashier")
    page = client.get(f"/quality/lots/{lot.id}").get_data(as_text=True)
    assert 'id="flag-form"' in page and 'id="lock-form"' not in page
    assert post_form(client, f"/quality/lots/{lot.id}/lock", {"reason": "suspected_quality"}).status_code == 403
    assert client.post(f"/quality/lots/{lot.id}/flag", data={"found_where": "counter", "note": "x"}).status_code == 400
    response = post_form(client, f"/quality/lots/{lot.id}/flag", {"found_where": "counter", "note": "顾客反映有异味"})
    assert response.status_code == 302 and status_of(db, lot) == LotStatus.RELEASED
    db.rollback()
    assert db.exec(select(func.count()).select_from(SuspectReport)).one() == 1
    assert db.exec(select(Notification.permission).where(Notification.kind == "suspect_lot")).one() == "quality.lock"
    login(client, "quality_manager")
    overview = client.get("/quality/").get_data(as_text=True)
    assert "顾客反映有异味" in overview


def test_bad_lock_input_writes_nothing(client, db, world):
    lot = world.lot(qty=36)
    login(client, "quality_manager")
    before = events(db)
    assert post_form(client, f"/quality/lots/{lot.id}/lock", {"reason": "bored"}).status_code == 422
    assert post_form(client, "/quality/lots/999999/lock", {"reason": "suspected_quality"}).status_code == 404
    assert events(db) == before and status_of(db, lot) == LotStatus.RELEASED


def test_stop_sale_and_recall_through_the_pages(client, db, world):
    counter = Counter(world)
    lot = world.lot(qty=72, lot_no="WEB-RC-1")
    counter.add()
    sale = counter.pay()
    login(client, "quality_manager")
    response = post_form(client, "/quality/stops", {"drug_code": "6920855052082", "lot_no": "WEB-RC-1",
                                                    "reason": "疑似假药"})
    assert response.status_code == 302 and status_of(db, lot) == LotStatus.LOCKED
    db.rollback()
    stop = db.exec(select(SaleStop)).one()
    assert post_form(client, f"/quality/stops/{stop.id}/lift", {"note": ""}).status_code == 422
    assert post_form(client, f"/quality/stops/{stop.id}/lift", {"note": "检验合格"}).status_code == 302
    assert status_of(db, lot) == LotStatus.RELEASED
    assert post_form(client, "/quality/recalls", {"drug_code": "NOPE", "level": "1", "measure": "return",
                                                  "reason": "x"}).status_code == 404
    response = post_form(client, "/quality/recalls", {"drug_code": "LHQW", "lot_nos": "WEB-RC-1", "level": "2",
                                                      "measure": "return", "reason": "溶出度不合格"})
    assert response.status_code == 302
    db.rollback()
    recall = db.exec(select(Recall)).one()
    assert status_of(db, lot) == LotStatus.RECALLED
    page = client.get(f"/quality/recalls/{recall.id}").get_data(as_text=True)
    assert sale.sale_number in page and recall.number in page


def test_near_expiry_page_and_print(client, world):
    world.lot(qty=36, expiry_days=20, lot_no="NEAR-1")
    world.lot(qty=36, expiry_days=400, lot_no="FAR-1")
    login(client, "curator")
    page = client.get("/quality/near-expiry?days=90").get_data(as_text=True)
    assert "NEAR-1" in page and "FAR-1" not in page and "￥28.50" in page
    printable = client.get("/quality/near-expiry?days=90&print=1").get_data(as_text=True)
    assert "NEAR-1" in printable and '<form method="get"' not in printable
    assert client.get("/quality/near-expiry?days=abc").status_code == 422


def test_api_lock_unlock_and_schemas(client, db, world, token_for):
    spec = client.get("/api/v1/openapi.json").get_json()
    definitions = to_json_schema(spec["components"]["schemas"])
    qm, cashier = token_for("quality_manager"), token_for("cashier")
    lot = world.lot(qty=36, expiry_days=20)

    def check(response, path, method, status):
        assert response.status_code == status, response.get_json()
        documented = spec["paths"][path][method]["responses"][str(status)]
        schema = to_json_schema(documented["content"]["application/json"]["schema"])
        jsonschema.validate(response.get_json(), {**schema, "definitions": definitions})

    path = "/api/v1/lots/{lot_id}/lock"
    check(client.post(f"/api/v1/lots/{lot.id}/lock", headers=cashier, json={"reason": "suspected_quality"}), path,
          "post", 403)
    check(client.post(f"/api/v1/lots/{lot.id}/lock", headers=qm, data="{", content_type="application/json"), path,
          "post", 400)
    check(client.post(f"/api/v1/lots/{lot.id}/lock", headers=qm, json={"reason": ["x"]}), path, "post", 422)
    check(client.post(f"/api/v1/lots/{lot.id}/lock", headers=qm, json={"reason": "suspected_quality", "note": 5}),
          path, "post", 422)
    assert status_of(db, lot) == LotStatus.RELEASED
    check(client.post(f"/api/v1/lots/{lot.id}/lock", headers=qm, json={"reason": "suspected_quality"}), path,
          "post", 200)
    check(client.post(f"/api/v1/lots/{lot.id}/lock", headers=qm, json={"reason": "suspected_quality"}), path,
          "post", 409)
    check(client.post(f"/api/v1/lots/{lot.id}/unlock", headers=qm, json={}), "/api/v1/lots/{lot_id}/unlock", "post",
          422)
    check(client.post(f"/api/v1/lots/{lot.id}/unlock", headers=qm, json={"conclusion": "合格"}),
          "/api/v1/lots/{lot_id}/unlock", "post", 200)
    check(client.post(f"/api/v1/lots/{lot.id}/suspect-reports", headers=cashier,
                      json={"found_where": "counter", "note": "标签模糊"}), "/api/v1/lots/{lot_id}/suspect-reports",
          "post", 201)
    response = client.get("/api/v1/near-expiry?days=30", headers=cashier)
    check(response, "/api/v1/near-expiry", "get", 200)
    assert [i["lot"]["id"] for i in response.get_json()["items"]] == [lot.id]
    from gsp import quality as q

    recall = q.issue_recall(db, world.actor("quality_manager"), drug_id=lot.drug_id, lot_nos=[lot.lot_no], level=3,
                            reason="预防性召回")
    response = client.get(f"/api/v1/recalls/{recall.id}", headers=cashier)
    check(response, "/api/v1/recalls/{recall_id}", "get", 200)
    assert response.get_json()["lots"][0]["status"] == "recalled"
    check(client.get("/api/v1/recalls/99999", headers=cashier), "/api/v1/recalls/{recall_id}", "get", 404)


def test_dashboard_shows_reports_to_the_quality_manager_only(client, world):
    from gsp import quality as q

    lot = world.lot(qty=36, lot_no="DASH-1")
    q.flag_suspect(world.session, world.actor("cashier"), lot.id, found_where="display", note="漏液")
    login(client, "quality_manager")
    page = client.get("/").get_data(as_text=True)
    assert 'id="quality-panel"' in page and "DASH-1" in page
    other = client.application.test_client()
    login(other, "cashier")
    assert 'id="quality-panel"' not in other.get("/").get_data(as_text=True)
