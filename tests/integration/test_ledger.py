"""The stock ledger: balance = sum(movements), never negative, refusals write nothing, races cannot oversell."""
import random
import threading

import pytest
from sqlmodel import func, select

from core.db import new_session, transaction
from core.errors import InsufficientStock, InvalidInput
from inventory.models import MovementKind, StockBalance, StockMovement
from inventory.services import post_movement, verify_ledger


def _counts(db):
    return (db.exec(select(func.count()).select_from(StockMovement)).one(),
            db.exec(select(func.coalesce(func.sum(StockBalance.quantity), 0))).one())


def test_random_sequences_keep_balance_equal_to_movements(world):
    db = world.session
    actor = world.actor("receiver")
    lots = [world.lot("LHQW"), world.lot("PLAIN"), world.lot("LHQW")]
    locations = [world.loc["A01"], world.loc["W01"], world.loc["A02"]]
    rng = random.Random(7)
    expected = {}
    refused = 0
    for _ in range(400):
        lot, loc = rng.choice(lots), rng.choice(locations)
        qty = rng.choice([1, 2, 5, 10, 30]) * rng.choice([1, -1])
        have = expected.get((lot.id, loc.id), 0)
        try:
            with transaction(db):
                post_movement(db, actor, lot=lot, location=loc, quantity=qty, kind=MovementKind.OTHER_IN
                              if qty > 0 else MovementKind.OTHER_OUT)
        except InsufficientStock:
            refused += 1
            assert have + qty < 0, "refused although there was enough stock"
            continue
        assert have + qty >= 0
        expected[(lot.id, loc.id)] = have + qty
    assert refused > 0, "the sequence should have tried to go negative at least once"
    assert verify_ledger(db) == []
    for (lot_id, loc_id), qty in expected.items():
        bal = db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot_id,
                                                          StockBalance.location_id == loc_id)).one()
        assert bal == qty
    assert db.exec(select(func.min(StockBalance.quantity))).one() >= 0


def test_refused_movement_writes_nothing(world):
    db = world.session
    lot = world.lot("LHQW", qty=5)
    before = _counts(db)
    with pytest.raises(InsufficientStock) as exc:
        with transaction(db):
            post_movement(db, world.actor(), lot=lot, location=world.loc["A01"], quantity=-6,
                          kind=MovementKind.OTHER_OUT)
    assert exc.value.details == {"available": 5, "requested": 6}
    assert _counts(db) == before


def test_failure_later_in_a_transaction_rolls_back_earlier_movements(world):
    db = world.session
    lot = world.lot("LHQW", qty=10)
    before = _counts(db)
    with pytest.raises(InsufficientStock):
        with transaction(db):
            post_movement(db, world.actor(), lot=lot, location=world.loc["A01"], quantity=-4,
                          kind=MovementKind.OTHER_OUT)
            post_movement(db, world.actor(), lot=lot, location=world.loc["W01"], quantity=-1,
                          kind=MovementKind.OTHER_OUT)
    assert _counts(db) == before
    assert verify_ledger(db) == []


@pytest.mark.parametrize("qty", [0, 1_000_001, -1_000_001, 2.5, "3", True])
def test_absurd_quantities_are_refused(world, qty):
    db = world.session
    lot = world.lot("LHQW", qty=5)
    before = _counts(db)
    with pytest.raises(InvalidInput):
        with transaction(db):
            post_movement(db, world.actor(), lot=lot, location=world.loc["A01"], quantity=qty,
                          kind=MovementKind.OTHER_IN)
    assert _counts(db) == before


def test_movement_outside_a_transaction_is_a_programming_error(world):
    lot = world.lot("LHQW")
    with pytest.raises(RuntimeError):
        post_movement(world.session, world.actor(), lot=lot, location=world.loc["A01"], quantity=1,
                      kind=MovementKind.OTHER_IN)


def test_stock_verify_cli_finds_a_tampered_balance(app, world):
    lot = world.lot("LHQW", qty=12)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["stock", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "ledger OK" in ok.output
    # Tamper with the balance directly (balances are not append-only; the ledger is the truth).
    from sqlalchemy import text

    with world.session.get_bind().begin() as conn:
        conn.execute(text("UPDATE stock_balance SET quantity = quantity + 3 WHERE lot_id = :l"), {"l": lot.id})
    bad = runner.invoke(args=["stock", "verify"])
    assert bad.exit_code == 1
    assert f"lot {lot.id}" in bad.output and "balance 15" in bad.output and "movements total 12" in bad.output


@pytest.mark.postgres_only
def test_sixteen_threads_race_for_the_last_ten_units(app, world):
    from core.models import Store
    from inventory.services import issue_sellable

    lot = world.lot("LHQW", qty=10)
    engine = app.extensions["yaofang.engine"]
    actor = world.actor("cashier")
    results = []
    barrier = threading.Barrier(16)

    def take_one():
        session = new_session(engine)
        try:
            store = session.get(Store, world.store.id)
            barrier.wait()
            issue_sellable(session, actor, store=store, lot_id=lot.id, location_id=world.loc["A01"].id, quantity=1)
            results.append("ok")
        except InsufficientStock:
            results.append("refused")
        except Exception as exc:  # anything else is a failure of the ledger
            results.append(f"error: {exc!r}")
        finally:
            session.close()

    threads = [threading.Thread(target=take_one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] * 10 + ["refused"] * 6
    db = world.session
    db.rollback()
    assert db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot.id)).one() == 0
    out = db.exec(select(func.sum(StockMovement.quantity)).where(StockMovement.lot_id == lot.id,
                                                                 StockMovement.kind == "sale")).one()
    assert out == -10
    assert verify_ledger(db) == []
