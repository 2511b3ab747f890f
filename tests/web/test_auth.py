"""Login, lockout, CSRF, sessions and bearer tokens."""
from datetime import timedelta

from sqlmodel import select

from core.models import ApiToken, AuditEvent, User
from tests.conftest import TEST_PASSWORD, csrf_token, login, post_form


def audit_actions(db, user_id):
    db.rollback()
    return [e.action for e in db.exec(select(AuditEvent).where(AuditEvent.entity_type == "user",
                                                              AuditEvent.entity_id == str(user_id))
                                      .order_by(AuditEvent.id)).all()]


def test_login_with_wrong_password_says_so_and_counts(client, world, db):
    response = login(client, "cashier", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True) or "Wrong user name" in response.get_data(as_text=True)
    db.rollback()
    assert db.get(User, world.users["cashier"].id).failed_logins == 1
    assert audit_actions(db, world.users["cashier"].id)[-1] == "auth.login_failed"


def test_lockout_after_five_failures_holds_even_for_the_right_password(client, world, db, clock):
    for _ in range(5):
        login(client, "cashier", "nope-nope")
    locked = login(client, "cashier", TEST_PASSWORD)
    assert locked.status_code == 429
    assert client.get("/").status_code == 302  # still not logged in
    assert "auth.locked" in audit_actions(db, world.users["cashier"].id)
    clock.advance(minutes=16)
    assert login(client, "cashier", TEST_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_unknown_user_gets_the_same_answer(client, world):
    response = login(client, "nobody", TEST_PASSWORD)
    assert response.status_code == 401


def test_login_without_csrf_token_is_refused(client, world):
    response = client.post("/login", data={"username": "cashier", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_post_forms_without_csrf_token_are_refused(client, world, db):
    lot = world.lot(qty=10, location="W01")
    login(client, "store_manager")
    before = db.exec(select(AuditEvent.id)).all()
    response = client.post(f"/drugs/{world.drug['LHQW'].id}/transfer",
                           data={"lot_id": lot.id, "from_location_id": world.loc["W01"].id,
                                 "to_location_id": world.loc["A01"].id, "quantity": 2})
    assert response.status_code == 400
    assert "表单" in response.get_data(as_text=True) or "form" in response.get_data(as_text=True)
    db.rollback()
    assert db.exec(select(AuditEvent.id)).all() == before
    assert client.post("/logout").status_code == 400  # logout is a form too


def test_logout(client, world):
    login(client, "cashier")
    assert client.get("/").status_code == 200
    assert post_form(client, "/logout", {}).status_code == 302
    assert client.get("/").status_code == 302


def test_open_redirect_is_not_followed(client, world):
    response = client.post("/login?next=//evil.example/", data={"username": "cashier", "password": TEST_PASSWORD,
                                                                "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/"


def test_password_hashes_use_argon2id(world, db):
    assert db.get(User, world.users["cashier"].id).password_hash.startswith("$argon2id$")


def test_bearer_token_is_stored_hashed_and_authenticates(client, world, db, token_for):
    headers = token_for("pharmacist")
    plain = headers["Authorization"].split()[1]
    stored = db.exec(select(ApiToken)).all()
    assert stored and all(plain not in t.token_hash and t.token_hash != plain for t in stored)
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.get_json()["username"] == "pharmacist" and me.get_json()["roles"] == ["pharmacist"]
    for bad in ("Bearer yf_not-a-real-token", "Bearer ", "Basic abc", plain):
        r = client.get("/api/v1/me", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert r.get_json()["error"]["code"] == "authentication_required"


def test_revoked_token_stops_working(client, world, db, token_for):
    from core.services import Actor, revoke_token

    headers = token_for("cashier")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    token = db.exec(select(ApiToken)).first()
    revoke_token(db, Actor.system("test"), token.id)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_token_cli_prints_a_working_token(app, client, world):
    result = app.test_cli_runner().invoke(args=["token", "create", "finance"])
    assert result.exit_code == 0
    plain = result.output.strip()
    assert plain.startswith("yf_")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).get_json()["username"] == "finance"


def test_session_cookie_dies_with_a_password_change(app, client, world, db):
    from core.services import Actor, change_password

    login(client, "cashier")
    assert client.get("/").status_code == 200
    change_password(db, Actor.system("test"), world.users["cashier"].id, "another-password-9")
    assert client.get("/").status_code == 302


def test_user_cli_creates_a_user_who_can_log_in(app, client, world):
    result = app.test_cli_runner().invoke(args=["user", "create", "newbie", "--role", "cashier", "--store", "T001",
                                                "--password", "newbie-password"])
    assert result.exit_code == 0, result.output
    assert login(client, "newbie", "newbie-password").status_code == 302
    bad = app.test_cli_runner().invoke(args=["user", "create", "x", "--role", "wizard", "--password", "abcdefgh1"])
    assert bad.exit_code == 2 and "wizard" in bad.output
    short = app.test_cli_runner().invoke(args=["user", "create", "y", "--role", "cashier", "--password", "abc"])
    assert short.exit_code == 2


def test_licence_cli_and_dashboard_warning(app, client, world, clock):
    from tests.conftest import TEST_TODAY

    until = (TEST_TODAY + timedelta(days=10)).isoformat()
    result = app.test_cli_runner().invoke(args=["user", "licence", "pharmacist", "--kind", "pharmacist",
                                                "--number", "ZY-TEST-1", "--valid-until", until])
    assert result.exit_code == 0, result.output
    login(client, "store_manager")
    assert "ZY-TEST-1" in client.get("/").get_data(as_text=True)
