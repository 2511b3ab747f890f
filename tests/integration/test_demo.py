"""`yaofang init --demo` on an empty database: migrated, demo store loaded from the shared data, idempotent."""
from datetime import timedelta

import pytest
from sqlmodel import select

from core.clock import FixedClock, use
from core.db import new_session
from core.models import Store, User, UserRole
from inventory.models import Drug, DrugBarcode, Location, Lot
from inventory.services import expiry_tier, verify_ledger
from tests.conftest import TEST_NOW, TEST_TODAY


@pytest.fixture
def empty_app(tmp_path, clock):
    import os

    from core.app import create_app
    os.environ["YAOFANG_INSTANCE_DIR"] = str(tmp_path / "instance")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "TESTING": True,
                      "SCHEDULER_IN_PROCESS": False, "SECRET_KEY": "x"})
    yield app
    app.extensions["yaofang.engine"].dispose()


@pytest.mark.sqlite_only
def test_init_demo_builds_a_complete_store(empty_app):
    runner = empty_app.test_cli_runner()
    first = runner.invoke(args=["init", "--demo"])
    assert first.exit_code == 0, first.output
    assert "demo store S001 loaded" in first.output
    second = runner.invoke(args=["init", "--demo"])
    assert second.exit_code == 0 and "nothing else to do" in second.output

    db = new_session(empty_app.extensions["yaofang.engine"])
    assert [s.code for s in db.exec(select(Store)).all()] == ["S001"]
    roles = set(db.exec(select(UserRole.role)).all())
    assert roles == {"admin", "quality_manager", "purchaser", "receiver", "inspector", "curator", "pharmacist",
                     "cashier", "store_manager", "finance"}
    assert len(db.exec(select(Drug)).all()) >= 297
    # The real EAN-13s are there, and in-store codes are marked as such.
    kinds = dict(db.exec(select(DrugBarcode.barcode, DrugBarcode.kind)).all())
    assert kinds["6920855052082"] == "ean13"
    assert all(code.startswith("29") for code, kind in kinds.items() if kind == "in_store")
    lots = db.exec(select(Lot)).all()
    tiers = {expiry_tier(l.expiry_date, TEST_TODAY) for l in lots}
    assert {"expired", "30", "90", "180", None} <= tiers
    # Locked: the lot under investigation, and every expired lot (the nightly job ran once in the quality demo).
    assert {l.lot_no for l in lots if l.status == "locked"} == {"LK24001"} | {
        l.lot_no for l in lots if l.expiry_date and l.expiry_date < TEST_TODAY}
    from core.models import Notification
    from gsp.models import Destruction, SuspectReport

    assert [l.lot_no for l in lots if l.status == "nonconforming"] == ["NC24003"]
    assert db.exec(select(Destruction.status)).all() == ["requested"]
    assert len(db.exec(select(SuspectReport)).all()) == 1
    assert {n.kind for n in db.exec(select(Notification)).all()} >= {"suspect_lot", "expiry_tier",
                                                                     "destruction_request"}
    from gsp.models import CuringPlan, EnvironmentMeasure, EnvironmentReading

    readings = db.exec(select(EnvironmentReading)).all()
    locations = db.exec(select(Location)).all()
    assert len(locations) == 7  # shelves, Rx cabinet, fridge, warehouse, pending (room and cold), red area
    assert len(readings) == 7 * 2 * len(locations) and [r.out_of_range for r in readings].count(True) == 1
    assert len(db.exec(select(EnvironmentMeasure)).all()) == 1  # the excursion has its measure
    assert {p.kind for p in db.exec(select(CuringPlan)).all()} == {"key", "normal"}
    assert any(l.status == "pending_inspection" for l in lots)
    kinds_with_stock = {loc.kind for loc in db.exec(select(Location)).all()}
    assert {"sellable", "warehouse", "pending", "nonconforming", "cold"} <= kinds_with_stock
    assert verify_ledger(db) == []
    # The counter demo: a closed shift yesterday with sales and a return, chained and verifiable.
    from pos.models import Sale, Shift
    from pos.services import verify_journal

    sales = db.exec(select(Sale)).all()
    assert {s.kind for s in sales} == {"sale", "return"} and len(sales) == 7
    assert all(s.business_date == TEST_TODAY - timedelta(days=1) for s in sales)
    assert all(r.ok for r in verify_journal(db))
    assert db.exec(select(Shift)).one().over_short_fen == 0
    db.close()

    client = empty_app.test_client()
    from tests.conftest import csrf_token

    response = client.post("/login", data={"username": "cashier", "password": "yaofang-demo",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    page = client.get("/drugs?q=lhqw").get_data(as_text=True)
    assert "连花清瘟胶囊" in page


@pytest.mark.sqlite_only
def test_demo_refuses_a_database_with_users(empty_app):
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["init"]).exit_code == 0
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 2 and "already has users" in again.output


@pytest.mark.sqlite_only
def test_plain_init_creates_the_first_admin(empty_app):
    result = empty_app.test_cli_runner().invoke(args=["init", "--admin-password", "first-admin-pw"])
    assert result.exit_code == 0 and "first admin created" in result.output
    client = empty_app.test_client()
    from tests.conftest import login

    assert login(client, "admin", "first-admin-pw").status_code == 302
