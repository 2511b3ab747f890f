"""Stocktake (盘点) at the service layer: freeze, blind count, second-person verify, approval posting through the
ledger, refusals that write nothing, scope (expired and locked lots; valuables)."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import func, select

from core.db import transaction
from core.errors import Conflict, InsufficientStock, InvalidInput, NotFound, PermissionDenied
from core.models import AuditEvent, Notification
from core.money import divide_round
from inventory import stocktake as stk
from inventory.models import (MovementKind, StockBalance, StockMovement, Stocktake, StocktakeCount, StocktakeLine,
                              StocktakeStatus)
from inventory.services import create_drug, post_movement, verify_ledger
from tests.conftest import PG_URL


def _snapshot(db):
    db.rollback()
    return tuple(db.exec(select(func.count()).select_from(t)).one()
                 for t in (Stocktake, StocktakeLine, StocktakeCount, StockMovement, AuditEvent))


def _balance(db, lot, loc):
    db.rollback()
    return db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot.id,
                                                      StockBalance.location_id == loc.id)).one()


def _lines(db, st):
    return {(l.lot_id, l.location_id): l for l in db.exec(select(StocktakeLine)
                                                           .where(StocktakeLine.stocktake_id == st.id)).all()}


@pytest.fixture
def stock(world):
    """Released, expired and locked lots, in two locations."""
    return {"ok": world.lot("LHQW", qty=100, lot_no="OK1"),
            "expired": world.lot("LHQW", qty=7, lot_no="EXP1", expiry_days=-10),
            "locked": world.lot("PLAIN", qty=5, lot_no="LCK1", status="locked", location="W01"),
            "empty": world.lot("PLAIN", lot_no="EMPTY1")}


def test_start_freezes_every_balance_including_expired_and_locked(world, stock):
    db = world.session
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    lines = _lines(db, st)
    assert {k: l.expected_qty for k, l in lines.items()} == {
        (stock["ok"].id, world.loc["A01"].id): 100, (stock["expired"].id, world.loc["A01"].id): 7,
        (stock["locked"].id, world.loc["W01"].id): 5}
    line = lines[(stock["ok"].id, world.loc["A01"].id)]
    assert (line.retail_price_fen, line.units_per_package) == (2850, 36)
    assert st.status == StocktakeStatus.OPEN and st.started_by == world.users["store_manager"].id
    # Limited to one location (after cancelling the store-wide one, which covers it).
    stk.cancel_stocktake(db, world.actor("store_manager"), st.id, world.store, "test: restart for one location")
    st2 = stk.start_stocktake(db, world.actor("quality_manager"), store=world.store, kind="full",
                              location_id=world.loc["W01"].id)
    assert list(_lines(db, st2)) == [(stock["locked"].id, world.loc["W01"].id)]


def test_a_second_open_stocktake_of_the_same_scope_is_refused(world, stock):
    db = world.session
    stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    before = _snapshot(db)
    with pytest.raises(Conflict) as exc:
        stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full",
                            location_id=world.loc["A01"].id)
    assert exc.value.code == "stocktake_open"
    assert _snapshot(db) == before
    with pytest.raises(InvalidInput):
        stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="weekly")


def test_valuables_takes_flagged_and_expensive_drugs_only(world):
    db = world.session
    from core.services import Actor

    system = Actor.system("test", world.store.id)
    pricey = create_drug(db, system, code="PRICEY", generic_name="贵药", retail_price_fen=12000,
                         approval_status="approved")  # > 100 yuan: valuable by price
    border = create_drug(db, system, code="BORDER", generic_name="边界药", retail_price_fen=10000,
                         approval_status="approved")  # exactly 100 yuan: not valuable
    world.drug.update(PRICEY=pricey, BORDER=border)
    a = world.lot("PRICEY", qty=3)
    world.lot("BORDER", qty=3)
    world.lot("LHQW", qty=3)
    with transaction(db):  # a flagged drug, whatever its price
        world.drug["PLAIN"].valuable = True
        db.add(world.drug["PLAIN"])
    b = world.lot("PLAIN", qty=2, location="W01")
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="valuables")
    assert {lot_id for lot_id, _loc in _lines(db, st)} == {a.id, b.id}
    # A full stocktake may run beside it.
    stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")


def test_nothing_to_count_is_refused(world):
    with pytest.raises(Conflict) as exc:
        stk.start_stocktake(world.session, world.actor("store_manager"), store=world.store, kind="valuables")
    assert exc.value.code == "nothing_to_count"


def test_full_flow_posts_gains_and_losses_and_the_ledger_holds(world, stock):
    db = world.session
    A01, W01 = world.loc["A01"], world.loc["W01"]
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    lines = _lines(db, st)
    ok, exp, lck = (lines[(stock["ok"].id, A01.id)], lines[(stock["expired"].id, A01.id)],
                    lines[(stock["locked"].id, W01.id)])
    cashier = world.actor("cashier")
    # Blind: what a counter gets carries no expected quantity.
    assert all(v.expected is None for v in stk.line_views(db, st))
    assert not stk.can_see_expected(cashier, st)
    with pytest.raises(Conflict):
        stk.variance_report(db, world.actor("store_manager"), st)
    stk.record_counts(db, cashier, st.id, world.store, [(ok.id, 90), (exp.id, 7)])
    stk.record_counts(db, world.actor("receiver"), st.id, world.store, [(ok.id, 98)])  # recount: latest counts
    with pytest.raises(Conflict) as exc:
        stk.submit_counts(db, cashier, st.id, world.store)
    assert exc.value.code == "uncounted_lines"
    stk.record_counts(db, cashier, st.id, world.store, [(lck.id, 6)])
    history = db.exec(select(StocktakeCount).where(StocktakeCount.line_id == ok.id)
                      .order_by(StocktakeCount.id)).all()
    assert [(c.quantity, c.counted_by) for c in history] == [(90, world.users["cashier"].id),
                                                           (98, world.users["receiver"].id)]
    stk.submit_counts(db, cashier, st.id, world.store)
    assert db.exec(select(Notification).where(Notification.kind == "stocktake_submitted")).first() is not None
    with pytest.raises(Conflict) as exc:
        stk.record_counts(db, cashier, st.id, world.store, [(ok.id, 1)])
    assert exc.value.code == "stocktake_closed"
    # Second person: neither the submitter nor a counter verifies.
    for who in ("cashier", "receiver"):
        with pytest.raises(PermissionDenied):
            stk.verify_stocktake(db, world.actor(who), st.id, world.store)
    with pytest.raises(Conflict):
        stk.approve_stocktake(db, world.actor("finance"), st.id, world.store)  # not verified yet
    report = stk.variance_report(db, world.actor("quality_manager"), st)
    assert [(v.line.expected_qty, v.counted, v.difference) for v in report.lines if v.line.id == ok.id] == \
        [(100, 98, -2)]
    # 2 capsules of a 28.50 yuan box of 36: 158.33 fen → 158; 1 unit of PLAIN at its own price.
    plain = world.drug["PLAIN"]
    plain_unit = divide_round(plain.retail_price_fen, plain.units_per_package)
    assert report.loss_value_fen == 158 and report.gain_value_fen == plain_unit
    assert report.net_value_fen == plain_unit - 158
    stk.verify_stocktake(db, world.actor("quality_manager"), st.id, world.store)
    # Verified: the "waits for verification" notice is done, the "waits for approval" one is open.
    db.rollback()
    assert {n.kind: n.done_at is not None for n in db.exec(select(Notification)).all()
            if n.kind.startswith("stocktake")} == {"stocktake_submitted": True, "stocktake_verified": False}
    # Approving one's own stocktake: the starter (store manager) and the verifier are refused.
    before = _snapshot(db)
    for who in ("store_manager", "quality_manager"):
        with pytest.raises(PermissionDenied) as exc:
            stk.approve_stocktake(db, world.actor(who), st.id, world.store)
        assert exc.value.code in ("own_stocktake", "forbidden")
    assert _snapshot(db) == before
    approval = stk.approve_stocktake(db, world.actor("finance"), st.id, world.store)
    assert sorted((m.lot_id, m.kind, m.quantity) for m in approval.movements) == sorted([
        (stock["ok"].id, MovementKind.COUNT_LOSS, -2), (stock["locked"].id, MovementKind.COUNT_GAIN, 1)])
    db.rollback()
    assert all(n.done_at is not None for n in db.exec(select(Notification)).all() if n.kind.startswith("stocktake"))
    assert _balance(db, stock["ok"], A01) == 98 and _balance(db, stock["locked"], W01) == 6
    assert _balance(db, stock["expired"], A01) == 7
    moves = db.exec(select(StockMovement).where(StockMovement.reference == f"stocktake:{st.id}")).all()
    assert {m.actor_id for m in moves} == {world.users["finance"].id} and len(moves) == 2
    assert verify_ledger(db) == []
    audit = db.exec(select(AuditEvent).where(AuditEvent.action == "stocktake.approve")).one()
    assert audit.entity_id == str(st.id)
    # Idempotent: a second approval is refused and posts nothing.
    before = _snapshot(db)
    with pytest.raises(Conflict) as exc:
        stk.approve_stocktake(db, world.actor("admin"), st.id, world.store)
    assert exc.value.code == "already_approved"
    assert _snapshot(db) == before
    with pytest.raises(Conflict):
        stk.cancel_stocktake(db, world.actor("store_manager"), st.id, world.store, "too late")


def test_movements_during_the_count_do_not_change_the_frozen_expected(world, stock):
    """Documented choice: the adjustment is counted − expected at start."""
    db = world.session
    A01 = world.loc["A01"]
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full",
                             location_id=A01.id)
    with transaction(db):
        post_movement(db, world.actor("cashier"), lot=stock["ok"], location=A01, quantity=-10,
                      kind=MovementKind.SALE)
    lines = _lines(db, st)
    assert lines[(stock["ok"].id, A01.id)].expected_qty == 100
    stk.record_counts(db, world.actor("cashier"), st.id, world.store,
                      [(l.id, l.expected_qty) for l in lines.values()])
    stk.submit_counts(db, world.actor("cashier"), st.id, world.store)
    report = stk.variance_report(db, world.actor("quality_manager"), st)
    assert [v.current_balance for v in report.moved] == [90]
    stk.verify_stocktake(db, world.actor("quality_manager"), st.id, world.store)
    approval = stk.approve_stocktake(db, world.actor("finance"), st.id, world.store)
    assert approval.movements == []  # counted == expected: nothing posted, the sale stays as it is
    assert _balance(db, stock["ok"], A01) == 90


def test_a_loss_beyond_the_current_balance_refuses_the_whole_approval(world, stock):
    db = world.session
    A01 = world.loc["A01"]
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full", location_id=A01.id)
    lines = _lines(db, st)
    stk.record_counts(db, world.actor("cashier"), st.id, world.store,
                      [(lines[(stock["ok"].id, A01.id)].id, 0), (lines[(stock["expired"].id, A01.id)].id, 9)])
    stk.submit_counts(db, world.actor("cashier"), st.id, world.store)
    stk.verify_stocktake(db, world.actor("quality_manager"), st.id, world.store)
    with transaction(db):  # stock sold after the count: the frozen loss of 100 no longer fits
        post_movement(db, world.actor("cashier"), lot=stock["ok"], location=A01, quantity=-50, kind=MovementKind.SALE)
    before = _snapshot(db)
    with pytest.raises(InsufficientStock):
        stk.approve_stocktake(db, world.actor("finance"), st.id, world.store)
    assert _snapshot(db) == before  # the gain on the other line was rolled back too
    assert db.get(Stocktake, st.id).status == StocktakeStatus.VERIFIED
    assert verify_ledger(db) == []


@pytest.mark.parametrize("quantity", [-1, 1_000_001, "12", 1.5, None, True])
def test_bad_quantities_are_refused_and_nothing_is_written(world, stock, quantity):
    db = world.session
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    first, second = list(_lines(db, st).values())[:2]
    before = _snapshot(db)
    with pytest.raises(InvalidInput) as exc:
        stk.record_counts(db, world.actor("cashier"), st.id, world.store, [(first.id, 5), (second.id, quantity)])
    assert exc.value.code == "invalid_quantity"
    assert _snapshot(db) == before


def test_other_refusals_write_nothing(world, stock):
    db = world.session
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    line = next(iter(_lines(db, st).values()))
    before = _snapshot(db)
    cashier = world.actor("cashier")
    with pytest.raises(InvalidInput):
        stk.record_counts(db, cashier, st.id, world.store, [])
    with pytest.raises(InvalidInput):
        stk.record_counts(db, cashier, st.id, world.store, [(line.id, 1), (line.id, 2)])
    with pytest.raises(NotFound):
        stk.record_counts(db, cashier, st.id, world.store, [(line.id, 1), (999999, 2)])
    with pytest.raises(NotFound):
        stk.record_counts(db, cashier, st.id, world.other_store, [(line.id, 1)])
    with pytest.raises(InvalidInput):
        stk.cancel_stocktake(db, world.actor("store_manager"), st.id, world.store, "  ")
    with pytest.raises(InvalidInput):
        stk.count_by_scan(db, cashier, st.id, world.store, "6920855052083")  # wrong check digit
    with pytest.raises(InvalidInput):
        stk.count_by_scan(db, cashier, st.id, world.store, "6920855052082", packs=0)
    assert _snapshot(db) == before
    stk.cancel_stocktake(db, world.actor("store_manager"), st.id, world.store, "wrong day")
    with pytest.raises(Conflict) as exc:
        stk.record_counts(db, cashier, st.id, world.store, [(line.id, 1)])
    assert exc.value.code == "stocktake_closed"


def test_scanning_adds_packs_to_the_right_line(world, stock):
    db = world.session
    W01 = world.loc["W01"]
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    cashier = world.actor("cashier")
    # LHQW has two lots at A01: a bare EAN-13 is ambiguous, GS1 with the lot is not.
    with pytest.raises(Conflict) as exc:
        stk.count_by_scan(db, cashier, st.id, world.store, "6920855052082")
    assert exc.value.code == "ambiguous_scan"
    r = stk.count_by_scan(db, cashier, st.id, world.store, "\x5dC101069208550520821710010010OK1", packs=2)
    assert (r.added, r.quantity, r.new_line, r.lot_no) == (72, 72, False, "OK1")
    r = stk.count_by_scan(db, cashier, st.id, world.store, "(01)06920855052082(10)OK1")
    assert r.quantity == 108
    # Our own lot label pins the lot.
    r = stk.count_by_scan(db, cashier, st.id, world.store, f"YL{stock['expired'].id:08d}")
    assert (r.lot_no, r.quantity) == ("EXP1", 36)
    # The same lot found where the snapshot had none: a new line with expected 0 at the chosen location.
    r = stk.count_by_scan(db, cashier, st.id, world.store, "(01)06920855052082(10)OK1", location_id=W01.id)
    assert r.new_line and r.quantity == 36 and db.get(StocktakeLine, r.line_id).expected_qty == 0
    counts = db.exec(select(StocktakeCount).where(StocktakeCount.stocktake_id == st.id)).all()
    assert all(c.source == "scan" and c.counted_by == world.users["cashier"].id for c in counts)
    with pytest.raises(NotFound):
        stk.count_by_scan(db, cashier, st.id, world.store, "(01)06920855052082(10)NOPE")


def test_scanning_found_stock_adds_a_line_with_expected_zero(world):
    db = world.session
    lot = world.lot("LHQW", qty=3, lot_no="F1", location="W01")
    world.lot("PLAIN", qty=1, location="A01")
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full",
                             location_id=world.loc["A01"].id)
    r = stk.count_by_scan(db, world.actor("cashier"), st.id, world.store, "(01)06920855052082(10)F1")
    assert r.new_line and r.quantity == 36
    line = db.get(StocktakeLine, r.line_id)
    assert (line.expected_qty, line.added, line.lot_id, line.location_id) == (0, True, lot.id, world.loc["A01"].id)


def test_recount_keeps_history_and_reopens_counting(world, stock):
    db = world.session
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    lines = list(_lines(db, st).values())
    stk.record_counts(db, world.actor("cashier"), st.id, world.store, [(l.id, 1) for l in lines])
    stk.submit_counts(db, world.actor("cashier"), st.id, world.store)
    with pytest.raises(InvalidInput):
        stk.return_for_recount(db, world.actor("quality_manager"), st.id, world.store, "")
    stk.return_for_recount(db, world.actor("quality_manager"), st.id, world.store, "counts look too low")
    stk.record_counts(db, world.actor("cashier"), st.id, world.store, [(lines[0].id, 2)])
    assert db.exec(select(func.count()).select_from(StocktakeCount)
                   .where(StocktakeCount.stocktake_id == st.id)).one() == len(lines) + 1


def test_dashboard_tasks_follow_the_state(world, stock):
    db = world.session
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    assert [t for _s, t in stk.tasks_for(db, world.actor("cashier"), world.store.id)] == ["count"]
    assert stk.tasks_for(db, world.actor("finance"), world.store.id) == []
    stk.record_counts(db, world.actor("cashier"), st.id, world.store,
                      [(l.id, l.expected_qty) for l in _lines(db, st).values()])
    stk.submit_counts(db, world.actor("cashier"), st.id, world.store)
    assert [t for _s, t in stk.tasks_for(db, world.actor("quality_manager"), world.store.id)] == ["verify"]
    assert stk.tasks_for(db, world.actor("cashier"), world.store.id) == []
    stk.verify_stocktake(db, world.actor("quality_manager"), st.id, world.store)
    assert [t for _s, t in stk.tasks_for(db, world.actor("finance"), world.store.id)] == ["approve"]
    assert stk.tasks_for(db, world.actor("store_manager"), world.store.id) == []  # started it


def test_counts_are_append_only_in_the_database(app, world, stock):
    db = world.session
    st = stk.start_stocktake(db, world.actor("store_manager"), store=world.store, kind="full")
    line = next(iter(_lines(db, st).values()))
    stk.record_counts(db, world.actor("cashier"), st.id, world.store, [(line.id, 3)])
    engine = app.extensions["yaofang.engine"]
    for sql in ("UPDATE stocktake_count SET quantity = 99", "DELETE FROM stocktake_count"):
        with pytest.raises(DatabaseError) as exc:
            with engine.begin() as conn:
                conn.execute(text(sql))
        assert "append-only" in str(exc.value)
    if not PG_URL:
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text("REPLACE INTO stocktake_count SELECT * FROM stocktake_count LIMIT 1"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT quantity FROM stocktake_count")).scalar() == 3
