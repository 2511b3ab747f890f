"""Stocktake pages and API through the Flask test client: blind counting, the full flow with different users,
refusals (CSRF, permissions, bad quantities, own approval) that write nothing."""
import jsonschema
import pytest
from sqlmodel import func, select

from core.models import AuditEvent
from inventory.models import (MovementKind, StockBalance, StockMovement, Stocktake, StocktakeCount, StocktakeLine,
                              StocktakeStatus)
from inventory.services import verify_ledger
from tests.conftest import login, post_form
from tests.web.test_api import to_json_schema

EXPECTED = 4817  # a number that appears nowhere else on the count page


def _client(app, role):
    client = app.test_client()
    assert login(client, role).status_code == 302
    return client


def _written(db):
    db.rollback()
    counts = tuple(db.exec(select(func.count()).select_from(t)).one()
                   for t in (Stocktake, StocktakeCount, StockMovement))
    # Logging in writes audit events too; only the stocktake's own count here.
    return counts + (db.exec(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action.startswith("stocktake."))).one(),)


@pytest.fixture
def stock(world):
    return {"big": world.lot("LHQW", qty=EXPECTED, lot_no="BIG1"),
            "locked": world.lot("PLAIN", qty=12, lot_no="LCK9", status="locked", location="W01")}


def _start(app, db, role="store_manager", **data):
    response = post_form(_client(app, role), "/stocktakes/new", {"kind": "full", "location_id": "0", **data})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.rollback()
    st = db.exec(select(Stocktake).order_by(Stocktake.id.desc())).first()
    assert response.headers["Location"].endswith(f"/stocktakes/{st.id}/count")
    lines = {l.lot_id: l for l in db.exec(select(StocktakeLine).where(StocktakeLine.stocktake_id == st.id)).all()}
    return st, lines


def test_count_page_and_api_hide_the_expected_quantity(app, db, world, stock, token_for):
    st, lines = _start(app, db)
    cashier = _client(app, "cashier")
    page = cashier.get(f"/stocktakes/{st.id}/count")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "BIG1" in html and 'name="code"' in html and f'name="qty-{lines[stock["big"].id].id}"' in html
    assert str(EXPECTED) not in html
    api = app.test_client().get(f"/api/v1/stocktakes/{st.id}", headers=token_for("cashier")).get_json()
    assert {l["expected_qty"] for l in api["lines"]} == {None}
    # Still counting: no variance report for anyone, not even the manager who started it.
    assert cashier.get(f"/stocktakes/{st.id}/report").status_code == 409
    assert _client(app, "store_manager").get(f"/stocktakes/{st.id}/report").status_code == 409
    assert str(EXPECTED) not in _client(app, "quality_manager").get(f"/stocktakes/{st.id}/verify").get_data(
        as_text=True)


def test_full_flow_with_different_users(app, db, world, stock):
    st, lines = _start(app, db)
    big, locked = lines[stock["big"].id], lines[stock["locked"].id]
    cashier = _client(app, "cashier")
    response = post_form(cashier, f"/stocktakes/{st.id}/count", {f"qty-{big.id}": "4810", f"qty-{locked.id}": ""})
    assert response.status_code == 302
    # Scanning a lot-bearing GS1 code adds one box (36 capsules) to the typed count.
    response = post_form(cashier, f"/stocktakes/{st.id}/scan",
                         {"code": "(01)06920855052082(10)BIG1", "packs": "1", "location_id": "0"})
    assert response.status_code == 302
    assert "4846" in cashier.get(f"/stocktakes/{st.id}/count").get_data(as_text=True)
    # Submitting with an uncounted line is refused.
    assert post_form(cashier, f"/stocktakes/{st.id}/submit", {}).status_code == 409
    receiver = _client(app, "receiver")
    assert post_form(receiver, f"/stocktakes/{st.id}/count", {f"qty-{locked.id}": "10"}).status_code == 302
    assert post_form(cashier, f"/stocktakes/{st.id}/submit", {}).status_code == 302
    db.rollback()
    assert db.get(Stocktake, st.id).status == StocktakeStatus.SUBMITTED
    # Counting is closed now.
    assert post_form(receiver, f"/stocktakes/{st.id}/count", {f"qty-{locked.id}": "11"}).status_code == 409
    # The verifier sees expected and counted; the starter cannot approve; the verifier cannot either.
    qm = _client(app, "quality_manager")
    html = qm.get(f"/stocktakes/{st.id}/verify").get_data(as_text=True)
    assert str(EXPECTED) in html and "4846" in html
    assert post_form(qm, f"/stocktakes/{st.id}/verify", {"note": "checked shelf A01"}).status_code == 302
    before = _written(db)
    for role in ("store_manager", "quality_manager"):
        refused = post_form(_client(app, role), f"/stocktakes/{st.id}/approve", {})
        assert refused.status_code == 403, role
    assert _written(db) == before
    finance = _client(app, "finance")
    page = finance.get(f"/stocktakes/{st.id}/approve").get_data(as_text=True)
    assert "Approve and post" in page or "审批" in page
    assert post_form(finance, f"/stocktakes/{st.id}/approve", {}).status_code == 302
    db.rollback()
    moves = db.exec(select(StockMovement).where(StockMovement.reference == f"stocktake:{st.id}")).all()
    assert sorted((m.lot_id, m.kind, m.quantity) for m in moves) == sorted([
        (stock["big"].id, MovementKind.COUNT_GAIN, 29), (stock["locked"].id, MovementKind.COUNT_LOSS, -2)])
    assert db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == stock["big"].id)).one() == 4846
    assert verify_ledger(db) == []
    # A second approval: a clear conflict, nothing posted twice.
    before = _written(db)
    again = post_form(_client(app, "admin"), f"/stocktakes/{st.id}/approve", {})
    assert again.status_code == 409 and "已审批" in again.get_data(as_text=True)  # zh_CN: "already approved"
    assert _written(db) == before
    # The printable report, readable by anyone once verified: values in yuan.
    report = cashier.get(f"/stocktakes/{st.id}/report").get_data(as_text=True)
    assert "window.print()" in report and "@media print" in report
    assert "￥22.96" in report  # the gain: 29 capsules of a 28.50 yuan box of 36 = 2295.83 fen, half up
    assert str(EXPECTED) in report and "4846" in report
    dashboard = finance.get("/").get_data(as_text=True)
    assert f"/stocktakes/{st.id}/approve" not in dashboard


def test_bad_input_and_csrf_write_nothing(app, db, world, stock):
    st, lines = _start(app, db)
    big = lines[stock["big"].id]
    cashier = _client(app, "cashier")
    before = _written(db)
    for value in ("-5", "abc", "2000000", "1.5"):
        response = post_form(cashier, f"/stocktakes/{st.id}/count", {f"qty-{big.id}": value})
        assert response.status_code == 422, value
    assert post_form(cashier, f"/stocktakes/{st.id}/count", {}).status_code == 422
    assert post_form(cashier, f"/stocktakes/{st.id}/count", {"qty-999999": "3"}).status_code == 404
    assert post_form(cashier, f"/stocktakes/{st.id}/scan", {"code": "", "packs": "1"}).status_code == 422
    assert post_form(cashier, f"/stocktakes/{st.id}/scan", {"code": "6920855052083", "packs": "1"}).status_code == 422
    # No CSRF token: refused before anything happens.
    assert cashier.post(f"/stocktakes/{st.id}/count", data={f"qty-{big.id}": "3"}).status_code == 400
    assert _client(app, "store_manager").post("/stocktakes/new", data={"kind": "full"}).status_code == 400
    # Missing fields on the manager's forms.
    manager = _client(app, "store_manager")
    assert post_form(manager, "/stocktakes/new", {"kind": "monthly"}).status_code == 422
    assert post_form(manager, f"/stocktakes/{st.id}/cancel", {"reason": ""}).status_code == 422
    assert _written(db) == before


def test_permissions_on_the_stocktake_pages(app, db, world, stock):
    st, _lines = _start(app, db)
    cashier = _client(app, "cashier")
    assert cashier.get("/stocktakes/new").status_code == 403
    assert post_form(cashier, "/stocktakes/new", {"kind": "full"}).status_code == 403
    assert cashier.get(f"/stocktakes/{st.id}/verify").status_code == 403
    assert cashier.get(f"/stocktakes/{st.id}/approve").status_code == 403
    finance = _client(app, "finance")
    assert finance.get(f"/stocktakes/{st.id}/count").status_code == 403
    assert "/stocktakes\"" not in finance.get("/").get_data(as_text=True)  # no nav link without stocktake.count
    home = cashier.get("/").get_data(as_text=True)
    assert f"/stocktakes/{st.id}/count" in home  # dashboard panel: waiting on the cashier to count
    assert 'href="/stocktakes"' in home
    other = _client(app, "other_admin")
    assert other.get(f"/stocktakes/{st.id}/count").status_code == 404


def test_api_lists_gets_and_records_counts(app, db, world, stock, token_for):
    st, lines = _start(app, db)
    client = app.test_client()
    headers = token_for("cashier")
    spec = client.get("/api/v1/openapi.json").get_json()
    definitions = to_json_schema(spec["components"]["schemas"])

    def check(response, path, method, status):
        assert response.status_code == status, response.get_json()
        documented = spec["paths"][path][method]["responses"][str(status)]
        schema = to_json_schema(documented["content"]["application/json"]["schema"])
        jsonschema.validate(response.get_json(), {**schema, "definitions": definitions})
        return response.get_json()

    listed = check(client.get("/api/v1/stocktakes?status=open", headers=headers), "/api/v1/stocktakes", "get", 200)
    assert [s["id"] for s in listed["items"]] == [st.id]
    url = f"/api/v1/stocktakes/{st.id}/counts"
    path = "/api/v1/stocktakes/{stocktake_id}/counts"
    body = check(client.post(url, headers=headers, json={"counts": [{"line_id": lines[stock["big"].id].id,
                                                                     "quantity": 7}]}), path, "post", 201)
    assert [l["counted_qty"] for l in body["lines"] if l["lot_id"] == stock["big"].id] == [7]
    assert all(l["expected_qty"] is None for l in body["lines"])
    check(client.post(url, headers=headers, json={"code": "(01)06920855052082(10)BIG1"}), path, "post", 201)
    before = _written(db)
    bad = client.post(url, headers=headers, json={"counts": [{"line_id": lines[stock["big"].id].id,
                                                              "quantity": -1}]})
    assert check(bad, path, "post", 422)["error"]["code"] == "invalid_quantity"
    check(client.post(url, headers=headers, json={"counts": "many"}), path, "post", 422)
    assert client.post(url, headers=headers, data="nope").status_code == 400
    assert client.post(url, headers=token_for("finance"), json={"counts": []}).status_code == 403
    check(client.get("/api/v1/stocktakes/424242", headers=headers), "/api/v1/stocktakes/{stocktake_id}", "get", 404)
    assert _written(db) == before
    manager = _client(app, "store_manager")
    assert post_form(manager, f"/stocktakes/{st.id}/cancel", {"reason": "test over"}).status_code == 302
    closed = client.post(url, headers=headers, json={"counts": [{"line_id": lines[stock["big"].id].id,
                                                                 "quantity": 1}]})
    assert check(closed, path, "post", 409)["error"]["code"] == "stocktake_closed"
    got = check(client.get(f"/api/v1/stocktakes/{st.id}", headers=headers), "/api/v1/stocktakes/{stocktake_id}",
                "get", 200)
    assert got["status"] == "cancelled" and got["cancel_reason"] == "test over"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_stocktake_page_renders_in_both_languages(app, db, world, stock, locale):
    from inventory import stocktake as stk

    st, lines = _start(app, db)
    stk.record_counts(db, world.actor("cashier"), st.id, world.store, [(l.id, 1) for l in lines.values()])
    stk.submit_counts(db, world.actor("cashier"), st.id, world.store)
    admin = _client(app, "admin")
    admin.get(f"/lang/{locale}")
    for url in ("/stocktakes", "/stocktakes?status=submitted", "/stocktakes/new", f"/stocktakes/{st.id}/count",
                f"/stocktakes/{st.id}/verify", f"/stocktakes/{st.id}/report", f"/stocktakes/{st.id}/approve", "/"):
        response = admin.get(url)
        assert response.status_code == 200, url
    assert str(EXPECTED) in admin.get(f"/stocktakes/{st.id}/verify").get_data(as_text=True)
