"""Every route and API endpoint, visited as every role: allowed roles get through, others get 403."""
import pytest

from core.auth import AUTHENTICATED, PUBLIC
from core.permissions import ROLE_PERMISSIONS, Role
from tests.conftest import ROLES, csrf_token, login


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, getattr(view, "required_permission", None)


def test_every_route_declares_a_permission(app):
    missing = [f"{m} {r.rule}" for r, m, perm in routes(app) if perm is None]
    assert missing == [], "routes without @requires(...): " + ", ".join(missing)


@pytest.fixture
def url_args(world):
    """Real records for every URL argument: a lot, and a sale with its cart line on register POS1."""
    from sqlmodel import select

    from pos.models import Cart, CartLine
    from tests.integration.pos_helpers import Counter

    lot = world.lot(qty=360)
    from tests.integration.curing_helpers import curing_url_args

    curing_args = curing_url_args(world)  # plan_id, item_id, reading_id
    from inventory.stocktake import start_stocktake

    stocktake = start_stocktake(world.session, world.actor("store_manager"), store=world.store, kind="full")
    counter = Counter(world)
    counter.add()
    sale = counter.pay()
    from pos.services import close_day

    day_close = close_day(world.session, world.actor("store_manager"), counter.register)
    counter.add()
    line = world.session.exec(select(CartLine).order_by(CartLine.id.desc())).first()
    cart = world.session.exec(select(Cart).order_by(Cart.id)).first()
    from tests.integration.quality_helpers import quality_url_args

    quality_args = quality_url_args(world)  # destruction_id, stop_id, recall_id
    from tests.integration.procurement_helpers import procurement_url_args

    quality_args.update(procurement_url_args(world))  # supplier, order, receipt, receipt line, request, return
    return {**curing_args, **quality_args, "drug_id": world.drug["LHQW"].id, "lot_id": lot.id, "location_id": world.loc["A01"].id,
            "name": "stock_verify", "code": "POS1", "sale_id": sale.id, "line_id": line.id, "cart_id": cart.id,
            "stocktake_id": stocktake.id, "close_id": day_close.id}


def build(rule, args):
    from flask import url_for

    values = {k: args[k] for k in rule.arguments}
    if rule.endpoint == "core.set_language":
        values["code"] = "en"
    return url_for(rule.endpoint, **values)


def test_permission_matrix(app, world, url_args, token_for):
    table = list(routes(app))
    assert len(table) >= 20
    checked = 0
    for role in ROLES:
        client = app.test_client()
        assert login(client, role).status_code == 302
        headers = token_for(role)
        token = csrf_token(client)
        for rule, method, perm in table:
            with app.test_request_context():
                url = build(rule, url_args)
            is_api = url.startswith("/api/")
            kwargs = {"headers": headers} if is_api else {}
            if method == "POST":
                kwargs["json" if is_api else "data"] = {} if is_api else {"csrf_token": token}
            response = client.open(url, method=method, **kwargs)
            allowed = perm in (PUBLIC, AUTHENTICATED) or perm in ROLE_PERMISSIONS[Role(role)]
            where = f"{role} {method} {url} (needs {perm})"
            assert response.status_code != 500, where
            if allowed:
                assert response.status_code not in (401, 403), f"refused: {where}"
            else:
                assert response.status_code == 403, f"not refused ({response.status_code}): {where}"
                if is_api:
                    assert response.get_json()["error"]["code"] == "forbidden"
            checked += 1
            if rule.endpoint == "core.logout":
                client = app.test_client()
                login(client, role)
                token = csrf_token(client)
    assert checked == len(table) * len(ROLES)


def test_anonymous_visitors_are_sent_to_login_or_get_401(app, world, url_args):
    client = app.test_client()
    for rule, method, perm in routes(app):
        if perm == PUBLIC:
            continue
        with app.test_request_context():
            url = build(rule, url_args)
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401, url
            assert response.get_json()["error"]["code"] == "authentication_required"
        elif method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"], url
        else:
            assert response.status_code in (302, 400), url  # login redirect, or CSRF refusal first


def test_users_only_see_their_own_store(app, world):
    other_client = app.test_client()
    login(other_client, "other_admin")
    lot = world.lot(qty=3)
    assert other_client.get(f"/lots/{lot.id}").status_code == 404
    assert other_client.get(f"/locations/{world.loc['A01'].id}").status_code == 404
