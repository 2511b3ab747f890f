"""FEFO allocation over real lots and balances: chosen lots and skipped lots with reasons."""
from datetime import datetime, timedelta, timezone

import pytest

from core.clock import FixedClock, use
from core.errors import InvalidInput, NotSellable
from inventory.services import SkipReason, allocate_fefo, issue_sellable, sellable_lot_for_barcode


def reasons_by_lot(allocation):
    return {s.lot_no: set(s.reasons) for s in allocation.skipped}


def test_fefo_matrix(world):
    w = world
    expired = w.lot(lot_no="EXPIRED", expiry_days=-1, qty=10)
    today = w.lot(lot_no="TODAY", expiry_days=0, qty=4)
    locked = w.lot(lot_no="LOCKED", expiry_days=5, qty=10, status="locked")
    pending = w.lot(lot_no="PENDING", expiry_days=6, qty=10, status="pending_inspection", location="Y01")
    soon = w.lot(lot_no="SOON", expiry_days=40, qty=3)
    warehouse = w.lot(lot_no="BACKROOM", expiry_days=41, qty=50, location="W01")
    later = w.lot(lot_no="LATER", expiry_days=400, qty=20)
    no_expiry = w.lot(lot_no="NOEXP", expiry_days=None, qty=5)

    a = allocate_fefo(w.session, w.store, w.drug["LHQW"].id, 10)
    assert [(p.lot_no, p.quantity) for p in a.picks] == [("TODAY", 4), ("SOON", 3), ("LATER", 3)]
    assert a.shortage == 0 and a.complete
    skipped = reasons_by_lot(a)
    assert skipped["EXPIRED"] == {SkipReason.EXPIRED}
    assert skipped["LOCKED"] == {SkipReason.LOCKED}
    assert skipped["PENDING"] == {SkipReason.PENDING_INSPECTION, SkipReason.WRONG_LOCATION}
    assert skipped["BACKROOM"] == {SkipReason.WRONG_LOCATION}
    assert "NOEXP" not in skipped  # sellable, just not needed

    # Lots without an expiry come last.
    all_of_it = allocate_fefo(w.session, w.store, w.drug["LHQW"].id, 32)
    assert [p.lot_no for p in all_of_it.picks] == ["TODAY", "SOON", "LATER", "NOEXP"]
    assert all_of_it.complete

    # Shortage: everything sellable is taken and the rest is reported with NOT_ENOUGH.
    short = allocate_fefo(w.session, w.store, w.drug["LHQW"].id, 40)
    assert sum(p.quantity for p in short.picks) == 32
    assert short.shortage == 8
    assert any(SkipReason.NOT_ENOUGH in s.reasons for s in short.skipped)
    assert {expired.id, locked.id, pending.id, warehouse.id} <= {s.lot_id for s in short.skipped}


def test_expiring_today_is_judged_in_the_store_time_zone(world):
    w = world
    w.lot(lot_no="ENDS0615", expiry_days=0, qty=5)  # expiry 2026-06-15
    drug_id = w.drug["LHQW"].id
    # 23:59 on 15 June in Shanghai (15:59 UTC): still sellable.
    with use(FixedClock(datetime(2026, 6, 15, 15, 59, tzinfo=timezone.utc))):
        assert [p.lot_no for p in allocate_fefo(w.session, w.store, drug_id, 1).picks] == ["ENDS0615"]
    # 00:30 on 16 June in Shanghai, though UTC still says 15 June: expired.
    with use(FixedClock(datetime(2026, 6, 15, 16, 30, tzinfo=timezone.utc))):
        a = allocate_fefo(w.session, w.store, drug_id, 1)
        assert a.picks == [] and reasons_by_lot(a)["ENDS0615"] == {SkipReason.EXPIRED}
        with pytest.raises(NotSellable):
            issue_sellable(w.session, w.actor("cashier"), store=w.store, lot_id=a.skipped[0].lot_id,
                           location_id=w.loc["A01"].id, quantity=1)


def test_unapproved_drug_is_never_allocated(world):
    w = world
    w.lot("PENDING", lot_no="P1", qty=10)
    a = allocate_fefo(w.session, w.store, w.drug["PENDING"].id, 1)
    assert a.picks == [] and reasons_by_lot(a)["P1"] == {SkipReason.DRUG_NOT_APPROVED}


def test_other_stores_stock_is_not_allocated(world):
    w = world
    w.lot(lot_no="MINE", qty=2)
    a = allocate_fefo(w.session, w.other_store, w.drug["LHQW"].id, 1)
    assert a.picks == [] and a.shortage == 1


@pytest.mark.parametrize("qty", [0, -3, 1_000_001])
def test_allocation_refuses_absurd_quantities(world, qty):
    with pytest.raises(InvalidInput):
        allocate_fefo(world.session, world.store, world.drug["LHQW"].id, qty)


def test_barcode_lookup_gives_first_sellable_lot_and_price(world):
    w = world
    w.lot(lot_no="LOCKEDFIRST", expiry_days=3, qty=5, status="locked")
    w.lot(lot_no="GOOD", expiry_days=90, qty=7)
    w.lot(lot_no="LATER", expiry_days=300, qty=7)
    found = sellable_lot_for_barcode(w.session, w.store, "6920855052082")
    assert found.drug.code == "LHQW" and found.price_fen == 2850
    assert found.lot.lot_no == "GOOD" and found.available == 7


def test_issue_refuses_locked_lot_and_writes_nothing(world):
    from sqlmodel import func, select

    from inventory.models import StockMovement

    w = world
    lot = w.lot(lot_no="LK", qty=5, status="locked")
    before = w.session.exec(select(func.count()).select_from(StockMovement)).one()
    with pytest.raises(NotSellable) as exc:
        issue_sellable(w.session, w.actor("cashier"), store=w.store, lot_id=lot.id, location_id=w.loc["A01"].id,
                       quantity=1)
    assert "locked" in exc.value.details["reasons"]
    assert w.session.exec(select(func.count()).select_from(StockMovement)).one() == before
