"""The sales journal nobody can alter: triggers, the hash chain, returns, day close, printing, races."""
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import func, select

from core.clock import FixedClock, use
from core.db import new_session
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.models import AuditEvent
from inventory.models import Location, StockBalance
from pos import services as pos
from pos.models import DayClose, PrintJob, Register, Sale, SaleLine, SalePayment
from tests.conftest import PG_URL, TEST_PASSWORD
from tests.integration.pos_helpers import Counter


@pytest.fixture
def counter(world):
    return Counter(world)


def sell(counter, n=3, packs=1, tenders=None):
    sales = []
    for _ in range(n):
        counter.add(packs=packs)
        sales.append(counter.pay(*(tenders or ())))
    return sales


@pytest.mark.parametrize("table", ["sale", "sale_line", "sale_payment"])
def test_sale_tables_refuse_update_and_delete(app, counter, table):
    counter.w.lot(qty=360)
    sell(counter, 1)
    engine = app.extensions["yaofang.engine"]
    for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(DatabaseError) as exc:
            with engine.begin() as conn:
                conn.execute(text(sql))
        assert "append-only" in str(exc.value)
    if not PG_URL:
        with engine.connect() as conn:
            cols = [r[1] for r in conn.execute(text(f"PRAGMA table_info({table})"))]
        col_list = ", ".join(cols)
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(f"REPLACE INTO {table} ({col_list}) SELECT {col_list} FROM {table} LIMIT 1"))
    else:
        with pytest.raises(DatabaseError):
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table} CASCADE"))


def tamper(engine, sql):
    """What an attacker with database access would do: drop the trigger, change a row."""
    with engine.begin() as conn:
        if PG_URL:
            conn.execute(text("ALTER TABLE sale_line DISABLE TRIGGER trg_sale_line_append_only"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE sale_line ENABLE TRIGGER trg_sale_line_append_only"))
        else:
            conn.execute(text("DROP TRIGGER trg_sale_line_no_update"))
            conn.execute(text(sql))


def test_tampering_is_found_at_the_right_sale(app, counter):
    counter.w.lot(qty=3600)
    sales = sell(counter, 5)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0 and "POS1: OK, 5 sales chained" in ok.output
    tamper(app.extensions["yaofang.engine"],
           f"UPDATE sale_line SET amount_fen = 1 WHERE sale_id = {sales[2].id}")
    bad = runner.invoke(args=["ledger", "verify"])
    assert bad.exit_code == 1
    assert f"BROKEN at sale {sales[2].sale_number}" in bad.output and "篡改" in bad.output  # zh_CN: "altered"


def test_parallel_verify_names_the_same_bad_sale(app, counter):
    """`ledger verify --jobs 2`: registers checked in worker processes give the same reports."""
    w = counter.w
    w.lot(qty=3600)
    sell(counter, 3)
    second = pos.create_register(w.session, w.actor("admin"), store_id=w.store.id, code="POS2", name="2号收银台")
    other = Counter.__new__(Counter)
    other.w, other.db, other.register, other.cashier = w, w.session, second, w.actor("store_manager")
    other.shift = pos.open_shift(w.session, other.cashier, second, 0)
    sales = sell(other, 3)
    tamper(app.extensions["yaofang.engine"], f"UPDATE sale_line SET quantity = 1 WHERE sale_id = {sales[1].id}")
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--jobs", "2"])
    assert result.exit_code == 1, result.output
    assert "POS1: OK, 3 sales chained" in result.output
    assert f"POS2: BROKEN at sale {sales[1].sale_number}" in result.output
    w.session.rollback()
    serial = {r.register_code: (r.ok, r.first_bad_sale) for r in pos.verify_journal(w.session)}
    assert serial == {"POS1": (True, None), "POS2": (False, sales[1].sale_number)}


def test_deleting_the_last_sale_is_found(app, counter):
    counter.w.lot(qty=3600)
    sales = sell(counter, 3)
    engine = app.extensions["yaofang.engine"]
    with engine.begin() as conn:
        if PG_URL:
            for t in ("sale", "sale_line", "sale_payment", "special_drug_record", "split_pack_record"):
                conn.execute(text(f"ALTER TABLE {t} DISABLE TRIGGER USER"))
        else:
            for t in ("sale", "sale_line", "sale_payment"):
                conn.execute(text(f"DROP TRIGGER trg_{t}_no_delete"))
        conn.execute(text(f"DELETE FROM print_job WHERE sale_id = {sales[-1].id}"))
        conn.execute(text(f"DELETE FROM sale_payment WHERE sale_id = {sales[-1].id}"))
        conn.execute(text(f"DELETE FROM stock_movement WHERE 1 = 0"))
        conn.execute(text(f"DELETE FROM sale_line WHERE sale_id = {sales[-1].id}"))
        conn.execute(text(f"UPDATE cart SET sale_id = NULL WHERE sale_id = {sales[-1].id}"))
        conn.execute(text(f"DELETE FROM sale WHERE id = {sales[-1].id}"))
    counter.db.rollback()
    report = pos.verify_journal(counter.db)[0]
    assert not report.ok and "head" in report.problem


def test_returns_reverse_into_the_yellow_area_and_keep_the_chain(counter):
    w, db = counter.w, counter.db
    lot = w.lot(qty=360)
    sale = sell(counter, 1, packs=3, tenders=[("wechat", 3000, "WX1"), ("cash", 6000, "")])[0]
    line = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).one()
    approve = dict(approver_username="pharmacist", approver_password=TEST_PASSWORD)
    with pytest.raises(PermissionDenied):
        pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                          packs_by_line={line.id: 1}, reason="quality_problem", approver_username="cashier",
                          approver_password=TEST_PASSWORD, client_uuid=str(uuid.uuid4()))
    with pytest.raises(InvalidInput):  # GSP policy: quality reasons only (configurable)
        pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                          packs_by_line={line.id: 1}, reason="customer_changed_mind", client_uuid=str(uuid.uuid4()),
                          **approve)
    with pytest.raises(Conflict):
        pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                          packs_by_line={line.id: 4}, reason="quality_problem", client_uuid=str(uuid.uuid4()),
                          **approve)
    key = str(uuid.uuid4())
    ret = pos.create_return(db, counter.cashier, counter.register, sale_number_or_code="YS" + sale.sale_number,
                            packs_by_line={line.id: 2}, reason="quality_problem", note="包装破损",
                            client_uuid=key, **approve)
    assert ret.kind == "return" and ret.original_sale_id == sale.id and ret.total_fen == -5700
    assert pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                             packs_by_line={line.id: 2}, reason="quality_problem", client_uuid=key,
                             **approve).id == ret.id  # replay
    refunds = {p.tender: p.amount_fen for p in db.exec(select(SalePayment).where(SalePayment.sale_id == ret.id))}
    assert refunds == {"wechat": -3000, "cash": -2700}
    yellow = db.exec(select(Location).where(Location.store_id == w.store.id, Location.kind == "pending")).one()
    db.rollback()
    assert db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot.id,
                                                       StockBalance.location_id == yellow.id)).one() == 72
    assert pos.returnable_quantities(db, sale) == {line.id: 1}
    with pytest.raises(Conflict):
        pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                          packs_by_line={line.id: 2}, reason="quality_problem", client_uuid=str(uuid.uuid4()),
                          **approve)
    with pytest.raises(Conflict):
        pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=ret.sale_number,
                          packs_by_line={line.id: 1}, reason="quality_problem", client_uuid=str(uuid.uuid4()),
                          **approve)
    sell(counter, 1)
    assert pos.verify_journal(db)[0].ok and pos.verify_journal(db)[0].sales == 3


def test_day_close_and_the_next_business_day(counter):
    w, db = counter.w, counter.db
    w.lot(qty=3600)
    counter.license_pharmacist()
    sales = sell(counter, 2, tenders=[("cash", 3000, "")])
    manager = w.actor("store_manager")
    close = pos.close_day(db, manager, counter.register)
    assert close.business_date.isoformat() == "2026-06-15"
    assert (close.first_sale_number, close.last_sale_number, close.sale_count) == (sales[0].sale_number,
                                                                                  sales[1].sale_number, 2)
    import json

    totals = json.loads(close.totals_json)
    assert totals["by_tender"] == {"cash": 5700} and close.net_total_fen == 5700 == close.grand_total_fen
    assert close.chain_head_hash == sales[-1].hash
    later = sell(counter, 1)[0]
    assert later.business_date.isoformat() == "2026-06-16"
    with pytest.raises(Conflict) as exc:  # the 15th is closed; the 16th is closed on the 16th
        pos.close_day(db, manager, counter.register)
    assert exc.value.code == "day_closed"
    with use(FixedClock(datetime(2026, 6, 16, 14, 0, tzinfo=timezone.utc))):
        second = pos.close_day(db, manager, counter.register)
    assert second.business_date.isoformat() == "2026-06-16" and second.sale_count == 1
    assert second.grand_total_fen == 5700 + 2850 and second.first_sale_number == later.sale_number


def test_the_day_report_prints_on_the_receipt_printer_and_again_on_request(app, counter):
    from core.errors import NotFound
    from pos.printing import process_due_jobs
    from tests.hardware.printer_sink import PrinterSink, escpos_text

    w, db = counter.w, counter.db
    w.lot(lot_no="ZR1", qty=360)
    sales = sell(counter, 2, tenders=[("cash", 3000, "")])
    manager = w.actor("store_manager")
    with PrinterSink() as sink:
        register = db.get(Register, counter.register.id)
        register.printer_url = sink.url
        db.add(register)
        db.commit()
        assert process_due_jobs(app) == 2  # the two sales' tickets
        sink.wait_for_jobs(2)
        sink.clear()
        close = pos.close_day(db, manager, counter.register)
        assert process_due_jobs(app) == 1
        [ticket] = sink.wait_for_jobs(1)
        printed = escpos_text(ticket, "gbk")
        for expected in ("日结单", "POS1", "2026-06-15", sales[0].sale_number, sales[1].sale_number, "现金",
                         "57.00", close.chain_head_hash[:20]):
            assert expected in printed, expected
        assert "重印" not in printed
        sink.clear()
        start = db.exec(select(func.max(AuditEvent.id))).one()
        pos.print_day_report(db, manager, counter.register, close.id)
        assert process_due_jobs(app) == 1
        [again] = sink.wait_for_jobs(1)
        assert "重印" in escpos_text(again, "gbk") and "日结单" in escpos_text(again, "gbk")
    db.rollback()
    [event] = db.exec(select(AuditEvent).where(AuditEvent.id > start)).all()
    assert (event.action, event.entity_id, event.actor_id) == ("day.report_reprint", str(close.id),
                                                              w.users["store_manager"].id)
    jobs = db.exec(select(PrintJob.kind, PrintJob.day_close_id).where(PrintJob.day_close_id.is_not(None))
                   .order_by(PrintJob.id)).all()
    assert [tuple(j) for j in jobs] == [("z_report", close.id), ("z_report_reprint", close.id)]
    with pytest.raises(NotFound):
        pos.print_day_report(db, manager, counter.register, 999999)


def test_printer_off_sales_commit_and_print_later(app, counter):
    from hardware.printers import parse_printer_url
    from pos.printing import process_due_jobs
    from tests.hardware.printer_sink import PrinterSink, escpos_text

    w, db = counter.w, counter.db
    w.lot(lot_no="PRN1", qty=360)
    with PrinterSink() as sink:
        url = sink.url
    register = db.get(Register, counter.register.id)  # printer now off: nothing listens on that port
    register.printer_url = url
    db.add(register)
    db.commit()
    sales = sell(counter, 2)
    assert process_due_jobs(app) == 0
    db.rollback()
    jobs = db.exec(select(PrintJob).order_by(PrintJob.id)).all()
    assert [j.status for j in jobs] == ["pending", "pending"] and jobs[0].attempts == 1 and jobs[1].attempts == 0
    assert jobs[0].last_error
    port = parse_printer_url(url).port
    with PrinterSink(port=port) as sink:
        with use(FixedClock(datetime(2026, 6, 15, 2, 5, tzinfo=timezone.utc))):
            assert process_due_jobs(app) == 2
        data = sink.wait_for(lambda d: d.count(b"\x1b@") >= 2, timeout=5)
    text_out = escpos_text(data, "gbk")
    assert sales[0].sale_number in text_out and sales[1].sale_number in text_out
    assert "连花清瘟胶囊" in text_out and "PRN1" in text_out and "合计" in text_out


def test_reprint_is_marked_and_audited(app, counter):
    from core.models import AuditEvent
    from hardware.printers import clear_dummy, dummy_jobs
    from pos.printing import process_due_jobs
    from tests.hardware.printer_sink import escpos_text

    w, db = counter.w, counter.db
    w.lot(qty=360)
    register = db.get(Register, counter.register.id)
    register.printer_url = "dummy:"
    db.add(register)
    db.commit()
    clear_dummy()
    sale = sell(counter, 1)[0]
    pos.reprint(db, counter.cashier, counter.register, sale.id)
    assert process_due_jobs(app) == 2
    first, second = dummy_jobs("dummy:")[-2:]
    assert "重印" not in escpos_text(first, "gbk") and "重印" in escpos_text(second, "gbk")
    db.rollback()
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "sale.reprint")).one()


@pytest.mark.postgres_only
def test_eight_registers_race_for_the_same_lots(app, world):
    """8 registers × 200 sales on the same two lots: no oversell, every chain intact, numbering gapless."""
    from core.errors import NotSellable, YaofangError
    from inventory.services import verify_ledger
    from pos.services import create_register, open_shift

    db = world.session
    stock_a = world.lot(lot_no="RACE-A", qty=36 * 500, expiry_days=100)
    stock_b = world.lot(lot_no="RACE-B", qty=36 * 500, expiry_days=200)
    manager = world.actor("store_manager")
    registers = [create_register(db, manager, store_id=world.store.id, code=f"R{i}", name=f"{i}号台")
                 for i in range(8)]
    for reg in registers:
        open_shift(db, world.actor("cashier"), reg, 0)
    engine = app.extensions["yaofang.engine"]
    cashier = world.actor("cashier")
    outcome = {"sold_packs": 0, "refused": 0, "errors": [], "codes": {}}
    lock = threading.Lock()

    def run(reg):
        session = new_session(engine)
        try:
            reg = session.get(Register, reg.id)
            for i in range(200):
                try:
                    pos.add_item(session, cashier, reg, drug_id=world.drug["LHQW"].id, packs=3)
                    pos.commit_sale(session, cashier, reg, tenders=[("cash", 10000, "")],
                                    client_uuid=str(uuid.uuid4()))
                    with lock:
                        outcome["sold_packs"] += 3
                except (NotSellable, Conflict) as exc:
                    with lock:
                        outcome["refused"] += 1
                        outcome["codes"][exc.code] = outcome["codes"].get(exc.code, 0) + 1
                    session.rollback()
                    try:
                        pos.cancel_cart(session, cashier, reg)
                    except YaofangError:
                        pass
        except Exception as exc:
            outcome["errors"].append(repr(exc))
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(r,)) for r in registers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome["errors"] == []
    db.rollback()
    sold_units = db.exec(select(func.sum(SaleLine.quantity))).one()
    left = sum(db.exec(select(StockBalance.quantity).where(StockBalance.lot_id.in_([stock_a.id, stock_b.id]))).all())
    assert sold_units == outcome["sold_packs"] * 36 and left == 36 * 1000 - sold_units and left >= 0
    # Every attempt either sold or was refused for lack of stock, and refusals only began when stock ran out.
    assert outcome["sold_packs"] + outcome["refused"] * 3 == 8 * 200 * 3
    assert set(outcome["codes"]) <= {"insufficient_stock", "no_sellable_stock"}
    assert left < 36 * 3
    assert verify_ledger(db) == []
    reports = {r.register_code: r for r in pos.verify_journal(db)}
    for reg in registers:
        assert reports[reg.code].ok, reports[reg.code]
        seqs = db.exec(select(Sale.seq).where(Sale.register_id == reg.id).order_by(Sale.seq)).all()
        assert seqs == list(range(1, len(seqs) + 1))


def test_canonical_encoder_is_json_dumps():
    """ledger verify encodes with one reused C encoder: byte for byte what canonical_rows' json.dumps gives."""
    import json

    tricky = 'a"b\\c\n\r\t\b\f\x00\x1f\x7f\u2028\u2029é药\U0001f48a'
    doc = [(1, -2, 0, 10 ** 20, None, "", tricky, True, False, "2026-12-01T02:38:00.123456"),
           [(1, 2, None, "x"), [3, "y"]], [("cash", 100, tricky)]]
    encode = pos._canonical_encoder()
    assert "".join(encode(doc, 0)) == json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def test_verify_reads_back_exactly_the_bytes_that_were_hashed(counter):
    """Text with quotes, escapes, control characters and non-BMP characters, several payments, a return: the
    chain verify recomputes from database rows matches the hashes the writers made from their values."""
    w, db = counter.w, counter.db
    w.lot(qty=3600)
    odd = 'WX"1\\\t\u2028é药\U0001f48a'
    sale = sell(counter, 1, packs=2, tenders=[("wechat", 1000, odd), ("cash", 99000, "")])[0]
    line = db.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).one()
    pos.create_return(db, counter.cashier, counter.register, sale_number_or_code=sale.sale_number,
                      packs_by_line={line.id: 1}, reason="quality_problem", note='破损 "x"\\\n\t\x01',
                      approver_username="pharmacist", approver_password=TEST_PASSWORD, client_uuid=str(uuid.uuid4()))
    sell(counter, 1)
    report = pos.verify_journal(db)[0]
    assert report.ok and report.sales == 3, report.problem
