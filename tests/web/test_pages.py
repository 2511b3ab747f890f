"""Pages as a user sees them: every page in Chinese and English, the transfer form, audit filters, dashboards."""
import re
import uuid

import pytest
from sqlmodel import select

from core.models import AuditEvent
from inventory.models import StockBalance
from tests.conftest import csrf_token, login, post_form


@pytest.fixture
def pages(world):
    lot = world.lot(lot_no="PG1", expiry_days=20, qty=12)
    return ["/", "/drugs", "/drugs?q=lhqw", f"/drugs/{lot.drug_id}", f"/lots/{lot.id}", "/locations",
            f"/locations/{world.loc['A01'].id}", "/audit", "/users", "/jobs", "/store", "/registers", "/login"]


@pytest.mark.parametrize("locale, marker", [("zh_CN", "退出"), ("en", "Log out")])
def test_every_page_renders_in_both_languages(client, world, pages, locale, marker):
    login(client, "admin")
    client.get(f"/lang/{locale}")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        if url != "/login" or locale:
            assert marker in text or url == "/login", url


def test_htmx_search_returns_only_the_results_table(client, world):
    login(client, "cashier")
    response = client.get("/drugs?q=lhqw", headers={"HX-Request": "true"})
    text = response.get_data(as_text=True)
    assert "<html" not in text and "连花清瘟胶囊" in text


def test_drug_page_shows_lots_tiers_and_reasons(client, world):
    world.lot(lot_no="GONE", expiry_days=-3, qty=2)
    world.lot(lot_no="HOLD", expiry_days=200, qty=2, status="locked")
    login(client, "cashier")
    text = client.get(f"/drugs/{world.drug['LHQW'].id}").get_data(as_text=True)
    assert "GONE" in text and "HOLD" in text
    assert "已过期" in text or "expired" in text
    assert text.count('class="expired"') >= 1


def test_transfer_through_the_form(client, world, db):
    lot = world.lot(lot_no="SHELF", qty=30, location="W01")
    login(client, "receiver")
    response = post_form(client, f"/drugs/{lot.drug_id}/transfer",
                         {"lot_id": lot.id, "from_location_id": world.loc["W01"].id,
                          "to_location_id": world.loc["A01"].id, "quantity": 12, "reason": "上架",
                          "client_uuid": str(uuid.uuid4())})
    assert response.status_code == 302
    db.rollback()
    balances = dict(db.exec(select(StockBalance.location_id, StockBalance.quantity)
                            .where(StockBalance.lot_id == lot.id)).all())
    assert balances == {world.loc["W01"].id: 18, world.loc["A01"].id: 12}
    followed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "SHELF" in followed and "transfer:" in followed


def test_transfer_form_refusal_shows_the_reason_and_writes_nothing(client, world, db):
    lot = world.lot(lot_no="FEW", qty=3, location="W01")
    login(client, "receiver")
    before = db.exec(select(AuditEvent.id)).all()
    response = post_form(client, f"/drugs/{lot.drug_id}/transfer",
                         {"lot_id": lot.id, "from_location_id": world.loc["W01"].id,
                          "to_location_id": world.loc["A01"].id, "quantity": 9})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "FEW" in text and ("仅剩" in text or "Only 3 left" in text)
    db.rollback()
    assert db.exec(select(AuditEvent.id)).all() == before
    bad = post_form(client, f"/drugs/{lot.drug_id}/transfer",
                    {"lot_id": lot.id, "from_location_id": world.loc["W01"].id,
                     "to_location_id": world.loc["A01"].id, "quantity": -4})
    assert bad.status_code == 422


def test_cashier_sees_no_transfer_form(client, world):
    world.lot(qty=3)
    login(client, "cashier")
    assert "/transfer" not in client.get(f"/drugs/{world.drug['LHQW'].id}").get_data(as_text=True)


def test_audit_log_filters(client, world):
    world.lot(lot_no="AUD1", qty=3)
    login(client, "quality_manager")
    everything = client.get("/audit").get_data(as_text=True)
    assert "<code>lot.create</code>" in everything and "<code>auth.login</code>" in everything
    only_lots = client.get("/audit?action=lot.").get_data(as_text=True)
    assert "lot.create" in only_lots and "<code>auth.login</code>" not in only_lots
    by_user = client.get("/audit?actor=quality_manager").get_data(as_text=True)
    assert "<code>auth.login</code>" in by_user and "<code>lot.create</code>" not in by_user
    assert client.get("/audit?date_from=2026-13-01").status_code == 422
    future = client.get("/audit?date_from=2027-01-01").get_data(as_text=True)
    assert "<code>" not in future


def test_dashboard_counts_what_needs_attention(client, world):
    world.lot(lot_no="X1", expiry_days=-1, qty=1)
    world.lot(lot_no="X2", expiry_days=10, qty=1)
    world.lot(lot_no="X3", expiry_days=10, qty=1, status="locked")
    world.lot(lot_no="X4", expiry_days=100, qty=1, status="pending_inspection", location="Y01")
    login(client, "quality_manager")
    text = client.get("/").get_data(as_text=True)
    numbers = [n for n, _ in re.findall(r"<strong>(\d+)</strong><span>([^<]+)</span>", text)]
    assert numbers == ["1", "2", "2", "3", "1", "1"]  # expired, ≤30, ≤90, ≤180 (nested), locked, pending


def test_unknown_page_and_record_give_a_friendly_404(client, world):
    login(client, "cashier")
    for url in ("/drugs/999999", "/lots/999999", "/no-such-page"):
        response = client.get(url)
        assert response.status_code == 404
        assert "<h1>404</h1>" in response.get_data(as_text=True)
