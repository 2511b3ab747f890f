"""The daily stock check: reorder suggestions, overstock and slow movers from real stock movements; a second run of
the same day adds nothing; the page shows the latest findings and staff who manage stock set the levels."""
from datetime import timedelta

import pytest
from sqlmodel import func, select

from core.errors import InvalidInput
from core.models import AuditEvent
from core.scheduler import run_slot
from inventory.models import StockCheckFinding, StockLevel
from inventory.services import issue_sellable
from inventory.stock_check import set_stock_level
from tests.conftest import TEST_NOW, login, post_form


def count_findings(db):
    db.rollback()
    return db.exec(select(func.count()).select_from(StockCheckFinding)).one()


def findings(db, store_id):
    db.rollback()
    rows = db.exec(select(StockCheckFinding)).all()
    return {(f.drug_id, f.kind): f for f in rows if f.store_id == store_id}


@pytest.fixture
def stocked(world, clock):
    """200 days ago: EPH and INSULIN arrive; EPH last sold 120 days ago, INSULIN 10 days ago. Today: LHQW arrives
    (plus stock that does not count: pending, expired), PLAIN sits in the warehouse above its maximum."""
    w, db = world, world.session
    store = w.store
    actor = w.actor("admin")
    clock.at = TEST_NOW - timedelta(days=200)
    eph = w.lot("EPH", qty=40, location="A01")
    insulin = w.lot("INSULIN", qty=35, location="C01")
    clock.at = TEST_NOW - timedelta(days=120)
    issue_sellable(db, actor, store=store, lot_id=eph.id, location_id=w.loc["A01"].id, quantity=2)
    clock.at = TEST_NOW - timedelta(days=10)
    issue_sellable(db, actor, store=store, lot_id=insulin.id, location_id=w.loc["C01"].id, quantity=5)
    clock.at = TEST_NOW
    w.lot("LHQW", qty=60, location="A01")
    w.lot("LHQW", qty=500, location="Y01", status="pending_inspection")  # not yet accepted: not stock to sell
    w.lot("LHQW", qty=70, location="W01", expiry_days=-3)  # expired: does not count
    w.lot("PLAIN", qty=80, location="W01")
    sid = store.id
    set_stock_level(db, actor, store_id=sid, drug_id=w.drug["LHQW"].id, reorder_point=100, max_level=300)
    set_stock_level(db, actor, store_id=sid, drug_id=w.drug["PLAIN"].id, reorder_point=10, max_level=50)
    set_stock_level(db, actor, store_id=sid, drug_id=w.drug["INSULIN"].id, reorder_point=50, max_level=None,
                    reorder_qty=40)
    set_stock_level(db, actor, store_id=sid, drug_id=w.drug["PENDING"].id, reorder_point=5, max_level=None)
    # The other store's levels are its own business.
    set_stock_level(db, actor, store_id=w.other_store.id, drug_id=w.drug["LHQW"].id, reorder_point=1000,
                    max_level=2000)
    return w


def test_findings_from_real_movements(app, stocked):
    w, db = stocked, stocked.session
    run = run_slot(app, "stock_check")
    assert run.status == "ok", run.message
    got = findings(db, w.store.id)
    lhqw, plain, insulin, eph = (w.drug[c].id for c in ("LHQW", "PLAIN", "INSULIN", "EPH"))
    # LHQW: 60 usable (the pending and the expired lots do not count) < 100: order up to the maximum, 240.
    f = got[(lhqw, "reorder")]
    assert (f.on_hand, f.threshold, f.suggested_qty, f.store_id) == (60, 100, 240, w.store.id)
    assert f.check_date.isoformat() == "2026-06-15" and f.job_slot == "2026-06-15"
    # INSULIN: 30 < 50 with a fixed order quantity of 40.
    assert (got[(insulin, "reorder")].on_hand, got[(insulin, "reorder")].suggested_qty) == (30, 40)
    # PLAIN: 80 in the warehouse > 50.
    assert (got[(plain, "overstock")].on_hand, got[(plain, "overstock")].threshold) == (80, 50)
    # EPH: on hand for 200 days, last sale 120 days ago.
    slow = got[(eph, "slow")]
    assert (slow.on_hand, slow.threshold) == (38, 90)
    assert slow.last_out_at == TEST_NOW - timedelta(days=120)
    # INSULIN sold 10 days ago and LHQW and PLAIN arrived today (not slow); PENDING is not approved (no order).
    assert set(got) == {(lhqw, "reorder"), (insulin, "reorder"), (plain, "overstock"), (eph, "slow")}
    assert "5 new" in run.message  # these four and the other store's reorder suggestion


def test_a_second_run_the_same_day_adds_nothing(app, stocked):
    db = stocked.session
    first = run_slot(app, "stock_check")
    count = count_findings(db)
    assert count == 5
    again = run_slot(app, "stock_check", slot="2026-06-15-again")
    assert again.status == "ok" and "; 0 new" in again.message
    assert count_findings(db) == count
    # The next day is a new check.
    from core.clock import FixedClock, use

    with use(FixedClock(TEST_NOW + timedelta(days=1))):
        assert run_slot(app, "stock_check").status == "ok"
    assert count_findings(db) == 2 * count
    assert first.message.endswith("s)")


def test_the_page_shows_the_newest_check_even_when_it_found_nothing(app, stocked, clock):
    from inventory.stock_check import latest_findings

    w, db = stocked, stocked.session
    run_slot(app, "stock_check")
    clock.advance(days=1)
    w.lot("LHQW", qty=200, location="W01")  # restocked: 260 usable, between reorder point and maximum
    assert run_slot(app, "stock_check").status == "ok"
    db.rollback()
    day, found = latest_findings(db, w.store)
    assert day.isoformat() == "2026-06-16"
    assert w.drug["LHQW"].id not in [drug.id for _f, drug, _l in found["reorder"]]
    assert [drug.code for _f, drug, _l in found["reorder"]] == ["INSULIN"]


def test_the_other_store_gets_its_reorder_suggestion(app, stocked):
    w, db = stocked, stocked.session
    run_slot(app, "stock_check")
    other = list(findings(db, w.other_store.id).values())
    assert [(f.kind, f.on_hand, f.suggested_qty) for f in other] == [("reorder", 0, 2000)]


def test_levels_are_validated_and_audited(app, world):
    db, actor, sid, drug = world.session, world.actor("receiver"), world.store.id, world.drug["LHQW"].id
    for bad in ({"reorder_point": -1, "max_level": 10}, {"reorder_point": 20, "max_level": 10},
                {"reorder_point": 5, "max_level": 0}, {"reorder_point": 5, "max_level": None, "reorder_qty": 0}):
        with pytest.raises(InvalidInput):
            set_stock_level(db, actor, store_id=sid, drug_id=drug, **bad)
    assert db.exec(select(StockLevel)).all() == []
    set_stock_level(db, actor, store_id=sid, drug_id=drug, reorder_point=10, max_level=40)
    set_stock_level(db, actor, store_id=sid, drug_id=drug, reorder_point=12, max_level=40, reason="season")
    level = db.exec(select(StockLevel)).one()
    assert (level.reorder_point, level.max_level, level.updated_by) == (12, 40, world.users["receiver"].id)
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "stock.level").order_by(AuditEvent.id)).all()
    assert len(events) == 2 and '"reorder_point": 10' in events[1].summary and events[1].reason == "season"


# --- web -----------------------------------------------------------------------------------------------------------

def test_page_lists_the_latest_findings(app, client, stocked):
    run_slot(app, "stock_check")
    login(client, "cashier")  # everyone may read stock
    page = client.get("/stock-check")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for code in ("LHQW", "PLAIN", "INSULIN", "EPH"):
        assert code in html
    assert "240" in html and "2026-06-15" in html
    assert 'action="/stock-check/levels"' not in html  # a cashier cannot set levels: no form


def test_setting_levels_from_the_page(app, client, world):
    db = world.session
    login(client, "cashier")
    assert post_form(client, "/stock-check/levels", {"drug_code": "LHQW", "reorder_point": "5"}).status_code == 403
    client = app.test_client()
    login(client, "receiver")
    assert 'action="/stock-check/levels"' in client.get("/stock-check").get_data(as_text=True)
    for bad in ({"drug_code": "LHQW", "reorder_point": "-3", "max_level": "10"},
                {"drug_code": "LHQW", "reorder_point": "30", "max_level": "10"},
                {"drug_code": "LHQW", "reorder_point": "abc"},
                {"drug_code": "NO-SUCH-DRUG", "reorder_point": "3"},
                {"reorder_point": "3"}):
        response = post_form(client, "/stock-check/levels", bad)
        assert response.status_code == 422, bad
    db.rollback()
    assert db.exec(select(StockLevel)).all() == []
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "stock.level")).all() == []
    # By barcode, too.
    response = post_form(client, "/stock-check/levels", {"drug_code": "6920855052082", "reorder_point": "72",
                                                        "max_level": "360", "reorder_qty": ""})
    assert response.status_code == 302
    db.rollback()
    level = db.exec(select(StockLevel)).one()
    assert (level.store_id, level.drug_id, level.reorder_point, level.max_level, level.reorder_qty) == \
        (world.store.id, world.drug["LHQW"].id, 72, 360, None)
    assert "72" in client.get("/stock-check").get_data(as_text=True)
