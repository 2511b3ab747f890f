"""The counter's rules, checked at add and again at commit through the services (the real entry point)."""
import uuid

import pytest
from sqlmodel import select

from core.errors import Conflict, InvalidInput, NotFound, NotSellable, PermissionDenied
from inventory.models import StockBalance, StockMovement
from inventory.services import change_lot_status
from pos import services as pos
from pos.models import Cart, PrintJob, RegisterJournal, Sale, SaleLine, SalePayment, SpecialDrugRecord, SplitPackRecord
from tests.conftest import TEST_PASSWORD
from tests.integration.pos_helpers import Counter

VALID_ID = "11010519491231002X"


@pytest.fixture
def counter(world):
    return Counter(world)


def balance(db, lot_id):
    db.rollback()
    return sum(db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot_id)).all())


def test_cash_sale_end_to_end(counter):
    w, db = counter.w, counter.db
    lot = w.lot("LHQW", lot_no="S1", qty=360, expiry_days=400)
    line, notices = counter.add(packs=2)
    assert line.lot_id == lot.id and notices == []
    sale = counter.pay(("cash", 10000, ""))
    assert sale.sale_number == "POS1-00000001" and sale.seq == 1
    assert sale.total_fen == 5700 and sale.paid_fen == 10000 and sale.change_fen == 4300
    lines = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).all()
    assert [(l.quantity, l.pack_quantity, l.amount_fen) for l in lines] == [(72, 2, 5700)]
    assert balance(db, lot.id) == 360 - 72
    moves = db.exec(select(StockMovement).where(StockMovement.reference == f"sale:{sale.sale_number}")).all()
    assert [(m.kind, m.quantity) for m in moves] == [("sale", -72)]
    job = db.exec(select(PrintJob).where(PrintJob.sale_id == sale.id)).one()
    assert job.status == "pending" and job.kick_drawer is True
    assert db.get(RegisterJournal, counter.register.id).last_hash == sale.hash
    assert pos.verify_journal(db)[0].ok


def test_near_expiry_notice_and_fefo(counter):
    w = counter.w
    w.lot(lot_no="LATE", qty=36, expiry_days=500)
    soon = w.lot(lot_no="SOON", qty=36, expiry_days=20)
    line, notices = counter.add()
    assert line.lot_id == soon.id
    assert any(n.level == "warning" and "SOON" in n.message for n in notices)


def test_same_submit_twice_makes_one_sale(counter):
    counter.w.lot(qty=36)
    counter.add()
    key = str(uuid.uuid4())
    first = counter.pay(key=key)
    again = counter.pay(key=key)
    assert first.id == again.id
    assert len(counter.db.exec(select(Sale)).all()) == 1


@pytest.mark.parametrize("tenders, code", [
    ([("cash", 1000, "")], "unpaid_balance"),
    ([("wechat", 2850, "")], "reference_required"),
    ([("card", 3000, "T1")], "overpaid"),
    ([("bitcoin", 2850, "")], "invalid_tender"),
    ([("cash", -5, "")], "invalid_amount"),
    ([], "no_tender"),
])
def test_bad_payments_write_nothing(counter, tenders, code):
    counter.w.lot(qty=36)
    counter.add()
    before = counter.counts()
    seq_before = counter.db.get(RegisterJournal, counter.register.id)
    with pytest.raises((Conflict, InvalidInput)) as exc:
        pos.commit_sale(counter.db, counter.cashier, counter.register, tenders=tenders, client_uuid=str(uuid.uuid4()))
    assert exc.value.code == code
    assert counter.counts() == before
    assert seq_before is None or counter.db.get(RegisterJournal, counter.register.id).last_seq == 0


def test_numbering_has_no_gap_after_a_refused_commit(counter):
    counter.w.lot(qty=360)
    counter.add()
    assert counter.pay().seq == 1
    counter.add()
    with pytest.raises(Conflict):
        counter.pay(("cash", 1, ""))
    assert counter.pay().seq == 2


def test_mixed_tenders_with_references(counter):
    counter.w.lot(qty=360)
    counter.add(packs=3)
    sale = counter.pay(("alipay", 5000, "2026061522001"), ("cash", 4000, ""))
    assert sale.change_fen == 4000 + 5000 - 8550
    pays = counter.db.exec(select(SalePayment).where(SalePayment.sale_id == sale.id)).all()
    assert {(p.tender, p.reference) for p in pays} == {("alipay", "2026061522001"), ("cash", "")}


def test_locked_lot_is_refused_at_add(counter):
    counter.w.lot(qty=36, status="locked")
    with pytest.raises(NotSellable):
        counter.add()


def test_lock_while_in_cart_is_refused_at_commit(counter):
    w, db = counter.w, counter.db
    lot = w.lot(qty=36)
    counter.add()
    change_lot_status(db, w.actor("quality_manager"), lot.id, "locked", reason_category="suspected_quality")
    before = counter.counts()
    with pytest.raises(NotSellable) as exc:
        counter.pay()
    assert "locked" in exc.value.details["reasons"]
    assert counter.counts() == before


def test_expired_unapproved_and_too_much(counter):
    w = counter.w
    w.lot("LHQW", qty=36, expiry_days=-1)
    with pytest.raises(NotSellable):
        counter.add()
    w.lot("PENDING", qty=10)
    with pytest.raises(NotSellable):
        counter.add("PENDING")
    w.lot("PLAIN", qty=counter.w.drug["PLAIN"].units_per_package)
    counter.add("PLAIN")
    with pytest.raises(NotSellable):
        counter.add("PLAIN")  # a second pack: only one in stock
    with pytest.raises(InvalidInput):
        counter.add("PLAIN", packs=0)


def test_rx_needs_a_licensed_pharmacists_review(counter):
    w = counter.w
    w.lot("PLAIN", qty=100)
    line, notices = counter.add("PLAIN")
    assert any("prescription" in n.message.lower() or "处方" in n.message for n in notices)
    with pytest.raises(Conflict) as exc:
        counter.pay()
    assert exc.value.code == "rx_not_approved"
    counter.rx(review=False)
    with pytest.raises(PermissionDenied) as exc:  # no licence on record: no review
        pos.review_prescription(counter.db, counter.cashier, counter.register, pharmacist_username="pharmacist",
                                password=TEST_PASSWORD, approve=True)
    assert exc.value.code == "licence_missing"
    with pytest.raises(PermissionDenied):  # a cashier cannot review
        pos.review_prescription(counter.db, counter.cashier, counter.register, pharmacist_username="cashier",
                                password=TEST_PASSWORD, approve=True)
    counter.license_pharmacist()
    pos.review_prescription(counter.db, counter.cashier, counter.register, pharmacist_username="pharmacist",
                            password=TEST_PASSWORD, approve=True)
    sale = counter.pay()
    assert sale.pharmacist_id == w.users["pharmacist"].id and sale.prescription_id


def test_rejected_or_stale_prescription_blocks_payment(counter):
    counter.license_pharmacist()
    counter.w.lot("PLAIN", qty=100)
    counter.add("PLAIN")
    counter.rx(approve=False)
    with pytest.raises(Conflict):
        counter.pay()
    with pytest.raises(Conflict) as exc:
        pos.record_prescription(counter.db, counter.cashier, counter.register, number="RX-2", prescriber="x",
                                institution="y", issued_on=__import__("datetime").date(2026, 6, 10), diagnosis="z")
    assert exc.value.code == "rx_expired"


def test_at_most_five_drugs_per_prescription(counter):
    from inventory.services import create_drug

    w = counter.w
    counter.license_pharmacist()
    for i in range(6):
        drug = create_drug(w.session, w.actor(), code=f"RX{i}", generic_name=f"处方药{i}", rx_class="rx",
                           approval_status="approved", retail_price_fen=100)
        w.drug[drug.code] = drug
        w.lot(drug.code, qty=10)
        counter.add(drug.code)
    with pytest.raises(Conflict) as exc:
        counter.rx()
    assert exc.value.code == "rx_too_many"


def test_ephedrine_limit_buyer_id_and_register(counter):
    w, db = counter.w, counter.db
    counter.license_pharmacist()
    units = w.drug["EPH"].units_per_package
    w.lot("EPH", qty=units * 5)
    counter.add("EPH", packs=2)
    with pytest.raises(Conflict) as exc:
        counter.add("EPH")
    assert exc.value.code == "ephedrine_limit"
    counter.rx()
    with pytest.raises(Conflict) as exc:
        counter.pay()
    assert exc.value.code == "buyer_required"
    with pytest.raises(InvalidInput):
        pos.set_buyer(db, counter.cashier, counter.register, name="张三", id_number="110105194912310021")
    pos.set_buyer(db, counter.cashier, counter.register, name="张三", id_number=VALID_ID)
    sale = counter.pay()
    record = db.exec(select(SpecialDrugRecord).where(SpecialDrugRecord.sale_id == sale.id)).one()
    assert record.buyer_id_number == VALID_ID and record.quantity == 2 * units


def test_split_pack_sale_writes_the_split_record(counter):
    w, db = counter.w, counter.db
    drug = w.drug["LHQW"]
    drug.unit_price_fen = 90
    db.add(drug)
    db.commit()
    lot = w.lot(qty=36)
    counter.add(packs=10, split_pack=True)
    sale = counter.pay()
    line = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).one()
    assert (line.quantity, line.amount_fen, line.split_pack) == (10, 900, True)
    assert db.exec(select(SplitPackRecord).where(SplitPackRecord.sale_line_id == line.id)).one().quantity == 10
    assert balance(db, lot.id) == 26


def test_price_override_needs_permission_and_reason(counter):
    w, db = counter.w, counter.db
    w.lot(qty=36)
    line, _ = counter.add()
    with pytest.raises(PermissionDenied):
        pos.override_price(db, counter.cashier, counter.register, line.id, 2000, "促销")
    manager = w.actor("store_manager")
    with pytest.raises(InvalidInput):
        pos.override_price(db, manager, counter.register, line.id, 2000, "")
    pos.override_price(db, manager, counter.register, line.id, 2000, "临期促销")
    sale = counter.pay()
    sold = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).one()
    assert (sold.unit_price_fen, sold.list_price_fen, sold.price_override_reason) == (2000, 2850, "临期促销")


def test_lines_over_100_yuan_are_flagged_for_the_shift_count(counter):
    w, db = counter.w, counter.db
    insulin = w.drug["INSULIN"]
    w.lot("INSULIN", qty=insulin.units_per_package * 2, location="C01")
    counter.add("INSULIN")
    counter.license_pharmacist()
    counter.rx()
    sale = counter.pay()
    line = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).one()
    assert line.valuable == (insulin.retail_price_fen > 10000)
    report = pos.shift_report(db, counter.shift)
    assert bool(report["valuables"]) == line.valuable


def test_trace_codes_sold_once_until_returned(counter):
    w, db = counter.w, counter.db
    code = "81234567890123456789"  # made-up value of the right shape: no real trace codes are public
    w.lot(qty=360)
    counter.add(packs=2)
    traced = pos.attach_trace_code(db, counter.cashier, counter.register, code)
    assert traced.trace_code == code and traced.pack_quantity == 1
    with pytest.raises(Conflict):
        pos.attach_trace_code(db, counter.cashier, counter.register, code)  # twice on one cart
    sale = counter.pay()
    counter.add()
    with pytest.raises(Conflict) as exc:
        pos.attach_trace_code(db, counter.cashier, counter.register, code)
    assert exc.value.code == "trace_code_sold"
    pos.cancel_cart(db, counter.cashier, counter.register)
    traced_line = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id, SaleLine.trace_code == code)).one()
    pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                      packs_by_line={traced_line.id: 1}, reason="quality_problem", approver_username="store_manager",
                      approver_password=TEST_PASSWORD, client_uuid=str(uuid.uuid4()))
    counter.add()
    assert pos.attach_trace_code(db, counter.cashier, counter.register, code).trace_code == code
    again = counter.pay()
    assert db.exec(select(SaleLine).where(SaleLine.sale_id == again.id, SaleLine.trace_code == code)).one()


def test_hold_and_resume(counter):
    w, db = counter.w, counter.db
    w.lot(qty=360)
    counter.add()
    held = pos.hold_cart(db, counter.cashier, counter.register)
    assert pos.current_cart(db, counter.register) is None
    counter.add(packs=2)
    with pytest.raises(Conflict):
        pos.resume_cart(db, counter.cashier, counter.register, held.id)
    counter.pay()
    pos.resume_cart(db, counter.cashier, counter.register, held.id)
    assert counter.pay().total_fen == 2850


def test_shift_close_counts_cash(counter):
    w, db = counter.w, counter.db
    w.lot(qty=360)
    counter.add()
    counter.pay(("cash", 5000, ""))
    report = pos.close_shift(db, counter.cashier, counter.register, 20000 + 2850 - 100)
    assert report["expected_cash_fen"] == 22850 and report["over_short_fen"] == -100
    with pytest.raises(Conflict):
        counter.add()  # no open shift any more
    with pytest.raises(Conflict):
        pos.open_shift(db, counter.cashier, counter.register, 0) and pos.open_shift(db, counter.cashier,
                                                                                    counter.register, 0)


def test_scan_entry_point(counter):
    w, db = counter.w, counter.db
    lot = w.lot(lot_no="GS1LOT", qty=360)
    out = pos.scan_into_cart(db, counter.cashier, counter.register, "6920855052082\r\n")
    assert out.kind == "added" and out.line.lot_id == lot.id
    gs1 = "]d2" + "01" + "06920855052082" + "10" + "GS1LOT" + "\x1d" + "17" + "270630"
    assert pos.scan_into_cart(db, counter.cashier, counter.register, gs1).line.lot_id == lot.id
    with pytest.raises(NotFound):
        pos.scan_into_cart(db, counter.cashier, counter.register, "6901234567892")  # valid EAN, not ours
    with pytest.raises(InvalidInput):
        pos.scan_into_cart(db, counter.cashier, counter.register, "6920855052083")  # bad check digit
    assert pos.scan_into_cart(db, counter.cashier, counter.register, "YSPOS1-00000007").kind == "sale_number"


def test_a_quantity_larger_than_the_first_lot_spans_lots(counter):
    w = counter.w
    first = w.lot(lot_no="A", qty=36 * 2, expiry_days=30)
    second = w.lot(lot_no="B", qty=36 * 5, expiry_days=300)
    line, _ = counter.add(packs=3)
    rows = pos.cart_lines(counter.db, pos.current_cart(counter.db, counter.register).id)
    assert [(l.lot_id, l.pack_quantity) for l, _d, _lot in rows] == [(first.id, 2), (second.id, 1)]
    with pytest.raises(NotSellable):
        counter.add(packs=5)  # 4 packs left
    sale = counter.pay()
    assert sale.total_fen == 3 * 2850


def test_reviewers_and_approvers_must_belong_to_the_store(counter):
    w, db = counter.w, counter.db
    w.lot("PLAIN", qty=100)
    counter.add("PLAIN")
    counter.rx(review=False)
    with pytest.raises(PermissionDenied):  # an admin of another store is no pharmacist here
        pos.review_prescription(db, counter.cashier, counter.register, pharmacist_username="other_admin",
                                password=TEST_PASSWORD, approve=True)


def test_empty_cart_cannot_be_held_and_keys_stay_at_their_register(counter):
    from pos.services import create_register, open_shift

    w, db = counter.w, counter.db
    w.lot(qty=360)
    counter.add()
    pos.remove_line(db, counter.cashier, counter.register,
                    pos.cart_lines(db, pos.current_cart(db, counter.register).id)[0][0].id)
    with pytest.raises(Conflict):
        pos.hold_cart(db, counter.cashier, counter.register)
    counter.add()
    key = str(uuid.uuid4())
    counter.pay(key=key)
    other = create_register(db, w.actor("store_manager"), store_id=w.store.id, code="POS2", name="2号台")
    open_shift(db, counter.cashier, other, 0)
    pos.add_item(db, counter.cashier, other, drug_id=w.drug["LHQW"].id)
    with pytest.raises(Conflict) as exc:
        pos.commit_sale(db, counter.cashier, other, tenders=[("cash", 5000, "")], client_uuid=key)
    assert exc.value.code == "client_uuid_reused"
