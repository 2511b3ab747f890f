"""Quality: suspect reports, locks reaching the counter, non-conforming → red area, destruction with approval and
witness, stop-sale notices across stores, recalls listing sales, expiry tiers judged at the store's midnight."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import func, select

from core.errors import Conflict, InvalidInput, NotFound, NotSellable, PermissionDenied
from core.models import AuditEvent, Notification
from core.services import Actor, notifications_for
from gsp import quality as q
from gsp.models import Destruction, ExpiryTierMark, NonconformingRecord, SuspectReport
from inventory.models import LotStatus, LotStatusEvent, StockBalance, StockMovement
from inventory.services import create_lot, receive_opening_stock, verify_ledger
from pos import services as pos
from tests.conftest import TEST_PASSWORD, TEST_TODAY
from tests.integration.pos_helpers import Counter


def on_hand(db, lot_id, location_id=None):
    db.rollback()
    stmt = select(func.coalesce(func.sum(StockBalance.quantity), 0)).where(StockBalance.lot_id == lot_id)
    if location_id is not None:
        stmt = stmt.where(StockBalance.location_id == location_id)
    return db.exec(stmt).one()


def counts(db, *tables):
    db.rollback()
    return tuple(db.exec(select(func.count()).select_from(t)).one() for t in tables)


def test_flag_notifies_the_quality_manager_and_leaves_the_lot_alone(world):
    lot = world.lot(qty=36)
    report = q.flag_suspect(world.session, world.actor("cashier"), lot.id, found_where="display", note="包装破损")
    assert report.id and world.session.get(type(lot), lot.id).status == LotStatus.RELEASED
    note = world.session.exec(select(Notification).where(Notification.kind == "suspect_lot")).one()
    assert note.permission == "quality.lock" and lot.lot_no in note.title
    assert [r.lot_id for r, _l, _d in q.open_suspect_reports(world.session, world.store.id)] == [lot.id]
    q.lock_lot(world.session, world.actor("quality_manager"), lot.id, reason="suspected_quality")
    assert q.open_suspect_reports(world.session, world.store.id) == []  # a decision followed


def test_bad_reports_and_locks_change_nothing(world):
    lot = world.lot(qty=36)
    qm = world.actor("quality_manager")
    before = counts(world.session, SuspectReport, LotStatusEvent, AuditEvent)
    with pytest.raises(InvalidInput):
        q.flag_suspect(world.session, world.actor("cashier"), lot.id, found_where="display", note="  ")
    with pytest.raises(InvalidInput):
        q.flag_suspect(world.session, world.actor("cashier"), lot.id, found_where="mars", note="x")
    with pytest.raises(PermissionDenied):
        q.lock_lot(world.session, world.actor("cashier"), lot.id, reason="suspected_quality")
    with pytest.raises(InvalidInput):
        q.lock_lot(world.session, qm, lot.id, reason="because")
    with pytest.raises(NotFound):
        q.lock_lot(world.session, qm, 999999, reason="suspected_quality")
    with pytest.raises(Conflict):
        q.unlock_lot(world.session, qm, lot.id, conclusion="没有问题")  # not locked
    q.lock_lot(world.session, qm, lot.id, reason="suspected_quality")
    with pytest.raises(InvalidInput):
        q.unlock_lot(world.session, qm, lot.id, conclusion="")  # unlocking needs a conclusion
    assert counts(world.session, SuspectReport, LotStatusEvent, AuditEvent)[0] == before[0]
    assert world.session.get(type(lot), lot.id).status == LotStatus.LOCKED


def test_lock_reaches_the_counter_at_add_and_at_commit(world):
    counter = Counter(world)
    lot = world.lot(qty=36)
    counter.add()  # in the cart before the lock
    q.lock_lot(world.session, world.actor("quality_manager"), lot.id, reason="suspected_counterfeit", note="批号可疑")
    before = counter.counts()
    with pytest.raises(NotSellable) as exc:
        counter.pay()
    assert "locked" in exc.value.details["reasons"]
    assert counter.counts() == before
    with pytest.raises(NotSellable):
        counter.add()  # and a new scan cannot take it either
    q.unlock_lot(world.session, world.actor("quality_manager"), lot.id, conclusion="经核查为正品，解除锁定")
    sale = counter.pay()
    assert sale.sale_number
    events = world.session.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == lot.id)
                                .order_by(LotStatusEvent.id)).all()
    assert [(e.to_status, e.reason_category) for e in events][-2:] == [("locked", "suspected_counterfeit"),
                                                                       ("released", "unlocked")]
    assert events[-1].note == "经核查为正品，解除锁定" and events[-1].actor_id == world.users["quality_manager"].id


def test_an_expired_lot_cannot_be_unlocked(world):
    lot = world.lot(qty=5, expiry_days=-1)
    qm = world.actor("quality_manager")
    q.lock_lot(world.session, qm, lot.id, reason="suspected_quality")
    with pytest.raises(Conflict):
        q.unlock_lot(world.session, qm, lot.id, conclusion="看过了")


def test_nonconforming_moves_all_stock_to_red_then_destruction_needs_two_more_people(world):
    db = world.session
    lot = world.lot(qty=30)
    receive_opening_stock(db, Actor.system("test", world.store.id), lot=lot, location=world.loc["W01"], quantity=20)
    qm, manager = world.actor("quality_manager"), world.actor("store_manager")
    record = q.declare_nonconforming(db, qm, lot.id, reason="suspected_quality", note="变色", counterfeit=False)
    red = world.loc["R01"]
    assert record.quantity == 50
    assert on_hand(db, lot.id, red.id) == 50 and on_hand(db, lot.id) == 50
    with pytest.raises(NotSellable):
        Counter(world).add()
    before = counts(db, Destruction, StockMovement)
    with pytest.raises(Conflict):
        q.request_destruction(db, qm, lot.id, quantity=51, method="焚烧", reason="变色")
    with pytest.raises(InvalidInput):
        q.request_destruction(db, qm, lot.id, quantity=-3, method="焚烧", reason="变色")
    with pytest.raises(InvalidInput):
        q.request_destruction(db, qm, lot.id, quantity=5, method="", reason="变色")
    assert counts(db, Destruction, StockMovement) == before
    item = q.request_destruction(db, qm, lot.id, quantity=50, method="焚烧", reason="变色")
    with pytest.raises(PermissionDenied):  # the quality manager cannot approve their own request
        q.decide_destruction(db, qm, item.id, approve=True,
                             witness_id=world.users["curator"].id)
    with pytest.raises(InvalidInput):  # the witness is a third person
        q.decide_destruction(db, manager, item.id, approve=True, witness_id=world.users["store_manager"].id)
    with pytest.raises(InvalidInput):
        q.decide_destruction(db, manager, item.id, approve=True, witness_id=None)
    assert on_hand(db, lot.id) == 50
    assert "destruction_request" in [n.kind for n in notifications_for(db, manager, world.store.id)]
    q.decide_destruction(db, manager, item.id, approve=True, witness_id=world.users["curator"].id)
    assert "destruction_request" not in [n.kind for n in notifications_for(db, manager, world.store.id)]
    assert on_hand(db, lot.id) == 0
    db.rollback()
    assert db.get(type(lot), lot.id).status == LotStatus.DESTROYED
    movement = db.exec(select(StockMovement).where(StockMovement.lot_id == lot.id,
                                                   StockMovement.kind == "destruction")).one()
    assert movement.quantity == -50 and movement.reference == f"destruction:{item.id}"
    with pytest.raises(Conflict):
        q.decide_destruction(db, manager, item.id, approve=True, witness_id=world.users["curator"].id)
    assert verify_ledger(db) == []


def test_nonconforming_needs_a_red_area(world):
    db = world.session
    other_lot = create_lot(db, Actor.system("test", world.other_store.id), store_id=world.other_store.id,
                           drug_id=world.drug["LHQW"].id, lot_no="OTHER1", expiry_date=TEST_TODAY + timedelta(days=300),
                           status="released")
    other_qm = Actor(user_id=world.users["other_admin"].id, name="other", store_id=world.other_store.id,
                     roles=frozenset({"quality_manager"}))
    with pytest.raises(Conflict):
        q.declare_nonconforming(db, other_qm, other_lot.id, reason="suspected_quality", note="x")
    db.rollback()
    assert db.get(type(other_lot), other_lot.id).status == LotStatus.RELEASED


def test_quality_records_are_append_only(world):
    lot = world.lot(qty=3)
    report = q.flag_suspect(world.session, world.actor("cashier"), lot.id, found_where="counter", note="异味")
    record = q.declare_nonconforming(world.session, world.actor("quality_manager"), lot.id,
                                     reason="suspected_quality", note="异味")
    near = world.lot(qty=3, expiry_days=20)
    q.mark_expiry_tiers(world.session, Actor.system("test"), (180, 90, 30))
    mark = world.session.exec(select(ExpiryTierMark).where(ExpiryTierMark.lot_id == near.id)).one()
    recall = q.issue_recall(world.session, world.actor("quality_manager"), drug_id=near.drug_id,
                            lot_nos=[near.lot_no], level=3, reason="预防性召回")
    recovery = q.record_recovery(world.session, world.actor("quality_manager"), recall.id, lot_id=near.id, quantity=1,
                                 finder=lambda s, ids, store: [{"store_id": world.store.id, "sale_number": "",
                                                               "at": None, "lot_id": near.id, "quantity": 1}])
    conn = world.session.connection()
    for table, row_id in (("suspect_report", report.id), ("nonconforming_record", record.id),
                          ("expiry_tier_mark", mark.id), ("recall_recovery", recovery.id)):
        with pytest.raises((IntegrityError, DBAPIError)):
            with conn.begin_nested():
                column = "tier_days" if table == "expiry_tier_mark" else "note"
                conn.exec_driver_sql(f"UPDATE {table} SET {column} = {column} WHERE id = {row_id}")
        with pytest.raises((IntegrityError, DBAPIError)):
            with conn.begin_nested():
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE id = {row_id}")


def test_stop_sale_locks_every_store_and_resume_releases_only_its_own_locks(world):
    db = world.session
    qm = world.actor("quality_manager")
    here = world.lot(qty=36, lot_no="STOP-1")
    also_here = world.lot(qty=36, lot_no="STOP-2")
    there = create_lot(db, Actor.system("test", world.other_store.id), store_id=world.other_store.id,
                       drug_id=world.drug["LHQW"].id, lot_no="STOP-1", expiry_date=TEST_TODAY + timedelta(days=300),
                       status="released")
    stop = q.issue_sale_stop(db, qm, drug_id=world.drug["LHQW"].id, lot_no=None, reason="药监局停售通知")
    db.rollback()
    assert {db.get(type(l), l.id).status for l in (here, also_here, there)} == {LotStatus.LOCKED}
    notes = db.exec(select(Notification.store_id).where(Notification.kind == "sale_stop")).all()
    assert set(notes) == {world.store.id, world.other_store.id}
    with pytest.raises(NotSellable):
        Counter(world).add()
    # A lot locked for another reason meanwhile stays locked when the notice is lifted.
    q.unlock_lot(db, qm, also_here.id, conclusion="先解锁")
    q.lock_lot(db, qm, also_here.id, reason="suspected_quality", note="另有问题")
    with pytest.raises(InvalidInput):
        q.lift_sale_stop(db, qm, stop.id, note=" ")
    with pytest.raises(NotFound):
        q.lift_sale_stop(db, qm, 999999, note="x")
    q.lift_sale_stop(db, qm, stop.id, note="解除停售")
    db.rollback()
    assert db.get(type(here), here.id).status == LotStatus.RELEASED
    assert db.get(type(there), there.id).status == LotStatus.RELEASED
    assert db.get(type(also_here), also_here.id).status == LotStatus.LOCKED
    with pytest.raises(Conflict):
        q.lift_sale_stop(db, qm, stop.id, note="again")


def test_stop_sale_for_an_unknown_lot_is_refused(world):
    with pytest.raises(NotFound):
        q.issue_sale_stop(world.session, world.actor("quality_manager"), drug_id=world.drug["LHQW"].id,
                          lot_no="NO-SUCH-LOT", reason="x")


def test_recall_locks_the_lots_and_lists_their_sales_net_of_returns(world):
    db = world.session
    counter = Counter(world)
    counter.license_pharmacist()
    lot = world.lot(qty=36 * 5, lot_no="RC-LOT-1")
    counter.add(packs=2)
    first = counter.pay()
    counter.add(packs=1)
    second = counter.pay()
    # The first buyer brought one pack back at the counter already.
    line = db.exec(select(pos.SaleLine).where(pos.SaleLine.sale_id == first.id)).one()
    pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=first.sale_number,
                      packs_by_line={line.id: 1}, reason=pos.RETURN_REASONS_QUALITY[0], approver_username="pharmacist",
                      approver_password=TEST_PASSWORD, client_uuid="7f9a8c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b")
    qm = world.actor("quality_manager")
    with pytest.raises(NotFound):
        q.issue_recall(db, qm, drug_id=world.drug["LHQW"].id, lot_nos=["NOPE"], level=1, reason="x")
    with pytest.raises(InvalidInput):
        q.issue_recall(db, qm, drug_id=world.drug["LHQW"].id, lot_nos=["RC-LOT-1"], level=4, reason="x")
    recall = q.issue_recall(db, qm, drug_id=world.drug["LHQW"].id, lot_nos="RC-LOT-1", level=1, reason="含量不合格")
    db.rollback()
    assert db.get(type(lot), lot.id).status == LotStatus.RECALLED
    with pytest.raises(NotSellable):
        counter.add()
    sales = {s.sale_number: s.sold for s in q.recall_sales(db, recall.id, finder=pos.sales_of_lots)}
    assert sales == {first.sale_number: 36, second.sale_number: 36}
    ledger_view = {s.sale_number: s.sold for s in q.recall_sales(db, recall.id)}
    assert ledger_view == {first.sale_number: 72, second.sale_number: 36}  # gross, without the counter's returns
    with pytest.raises(Conflict):
        q.record_recovery(db, qm, recall.id, lot_id=lot.id, quantity=37, sale_number=second.sale_number,
                          finder=pos.sales_of_lots)
    q.record_recovery(db, qm, recall.id, lot_id=lot.id, quantity=36, sale_number=second.sale_number,
                      finder=pos.sales_of_lots)
    recovered = {s.sale_number: s.recovered for s in q.recall_sales(db, recall.id, finder=pos.sales_of_lots)}
    assert recovered[second.sale_number] == 36
    with pytest.raises(Conflict):  # without a ticket: at most what is still out (36 of the first sale)
        q.record_recovery(db, qm, recall.id, lot_id=lot.id, quantity=37, finder=pos.sales_of_lots)
    q.record_recovery(db, qm, recall.id, lot_id=lot.id, quantity=36, finder=pos.sales_of_lots)
    with pytest.raises(InvalidInput):
        q.close_recall(db, qm, recall.id, note="")
    q.close_recall(db, qm, recall.id, note="已全部追回")
    with pytest.raises(Conflict):
        q.record_recovery(db, qm, recall.id, lot_id=lot.id, quantity=1)


def _shanghai(y, m, d, hh, mm):
    return datetime(y, m, d, hh, mm, tzinfo=timezone(timedelta(hours=8)))


def test_expiry_tiers_are_marked_once_at_the_store_midnight(world, clock):
    db = world.session
    system = Actor.system("test")
    # Expires 2026-09-13: 90 days after 2026-06-15 is 2026-09-13, so the 90-day tier starts on 06-15 in Shanghai.
    lot = world.lot(qty=10, expiry_days=90)
    far = world.lot(qty=10, expiry_days=400)
    clock.at = _shanghai(2026, 6, 14, 23, 59).astimezone(timezone.utc)  # one minute before the store's midnight
    first = q.mark_expiry_tiers(db, system, (180, 90, 30))
    assert first == {(world.store.id, 180): 1}
    marks = db.exec(select(ExpiryTierMark.tier_days).where(ExpiryTierMark.lot_id == lot.id)).all()
    assert marks == [180]
    assert q.mark_expiry_tiers(db, system, (180, 90, 30)) == {(world.store.id, 180): 1}  # nothing new…
    assert db.exec(select(func.count()).select_from(Notification)
                   .where(Notification.kind == "expiry_tier")).one() == 1  # …and no second notice
    clock.at = _shanghai(2026, 6, 15, 0, 1).astimezone(timezone.utc)  # UTC is still on the 14th
    q.mark_expiry_tiers(db, system, (180, 90, 30))
    marks = db.exec(select(ExpiryTierMark.tier_days).where(ExpiryTierMark.lot_id == lot.id)
                    .order_by(ExpiryTierMark.tier_days)).all()
    assert marks == [90, 180]
    assert db.exec(select(func.count()).select_from(ExpiryTierMark)
                   .where(ExpiryTierMark.lot_id == far.id)).one() == 0
    # A lot first seen already inside 30 days gets the 30-day mark only.
    late = world.lot(qty=10, expiry_days=20)
    q.mark_expiry_tiers(db, system, (180, 90, 30))
    assert db.exec(select(ExpiryTierMark.tier_days).where(ExpiryTierMark.lot_id == late.id)).all() == [30]


def test_expired_lots_are_locked_once_by_the_job(world, clock):
    db = world.session
    lot = world.lot(qty=10, expiry_days=0)  # expires today (2026-06-15): still sellable today
    system = Actor.system("test")
    assert q.lock_expired_lots(db, system) == 0
    clock.at = _shanghai(2026, 6, 16, 0, 0).astimezone(timezone.utc)
    assert q.lock_expired_lots(db, system) == 1
    assert q.lock_expired_lots(db, system) == 0
    db.expire_all()
    assert db.get(type(lot), lot.id).status == LotStatus.LOCKED
    event = db.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == lot.id)
                    .order_by(LotStatusEvent.id.desc())).first()
    assert (event.from_status, event.to_status, event.reason_category) == ("released", "locked", "expired")


def test_near_expiry_push_list_values_stock_per_location(world):
    db = world.session
    lot = world.lot(qty=36, expiry_days=25)  # LHQW: ￥28.50 a box of 36
    receive_opening_stock(db, Actor.system("test", world.store.id), lot=lot, location=world.loc["W01"], quantity=18)
    world.lot(qty=36, expiry_days=500)
    rows = q.near_expiry_push_list(db, world.store, within_days=180)
    assert [(r.location.code, r.quantity, r.value_fen, r.tier) for r in rows] == [("A01", 36, 2850, "30"),
                                                                                ("W01", 18, 1425, "30")]
    assert [r.location.code for r in q.near_expiry_push_list(db, world.store, within_days=180,
                                                             location_id=world.loc["W01"].id)] == ["W01"]


def test_two_schedulers_run_the_expiry_job_once_per_slot(app, db_url, world, tmp_path):
    """Two app instances (two engines, as two `yaofang scheduler` processes would have) fire the same slot at once."""
    import threading

    from core.app import create_app
    from core.models import JobRun
    from core.scheduler import run_slot

    world.lot(qty=10, expiry_days=25)
    other = create_app({"DATABASE_URL": db_url, "TESTING": True, "SCHEDULER_IN_PROCESS": False,
                        "SECRET_KEY": "test-secret"})
    barrier = threading.Barrier(2)
    results = []

    def fire(application):
        barrier.wait()
        results.append(run_slot(application, "expiry_tiers"))

    threads = [threading.Thread(target=fire, args=(a,)) for a in (app, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.extensions["yaofang.engine"].dispose()
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and ran[0].status == "ok", [(r.status, r.message) for r in ran]
    db = world.session
    db.rollback()
    assert len(db.exec(select(JobRun).where(JobRun.job == "expiry_tiers")).all()) == 1
    assert db.exec(select(func.count()).select_from(Notification).where(Notification.kind == "expiry_tier")).one() == 1
