"""The counter screen through Flask's test client: shifts, scans, the cart partial (htmx), payment, prescriptions,
ephedrine, hold/resume, returns, day close, the journal page, and the scans API of the serial scanner agent."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import jsonschema
import pytest
from sqlmodel import func, select

from core.services import Actor, add_licence
from inventory.models import StockBalance, StockMovement
from pos.models import Cart, CartLine, DayClose, PrintJob, RegisterJournal, Sale, SaleLine, SalePayment, Shift
from tests.conftest import TEST_PASSWORD, TEST_TODAY, csrf_token, login

HX = {"HX-Request": "true"}
LHQW_EAN = "6920855052082"
UNKNOWN_EAN = "4006381333931"  # a valid EAN-13 no drug here carries
VALID_ID = "11010519491231002X"  # checksum-valid 18-digit resident ID (the standard's own example)
GS = "\x1d"


class Till:
    """A logged-in browser session at register POS1, posting the way the counter page's htmx does."""

    def __init__(self, client, username="cashier"):
        self.client = client
        assert login(client, username).status_code == 302
        self.token = csrf_token(client)

    def post(self, path, data=None, htmx=True):
        return self.client.post(f"/pos/POS1{path}", data={**(data or {}), "csrf_token": self.token},
                                headers=HX if htmx else {})

    def get(self, path, htmx=False, **kw):
        return self.client.get(f"/pos/POS1{path}", headers=HX if htmx else {}, **kw)

    def open_shift(self, float_yuan="200"):
        response = self.post("/shift/open", {"opening_float": float_yuan}, htmx=False)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def scan(self, raw):
        return self.post("/scan", {"raw": raw})

    def pay(self, key=None, **tenders):
        return self.post("/pay", {**tenders, "client_uuid": key or str(uuid.uuid4())})


def text(response) -> str:
    return response.get_data(as_text=True)


def message(response) -> str:
    """The message line of the workspace partial (or of a page)."""
    m = re.search(r'id="pos-message">(.*?)</div>', text(response), re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else ""


def counts(db):
    db.rollback()
    return tuple(db.exec(select(func.count()).select_from(t)).one()
                 for t in (Sale, SaleLine, SalePayment, StockMovement))


def cart_lines(db):
    db.rollback()
    return db.exec(select(CartLine).join(Cart, Cart.id == CartLine.cart_id).where(Cart.status == "open")
                   .order_by(CartLine.id)).all()


def license_pharmacist(world, days=365):
    add_licence(world.session, Actor.system("test"), world.users["pharmacist"].id, kind="pharmacist",
                number="ZY-1", valid_until=TEST_TODAY + timedelta(days=days))


def gs1(lot_no: str, expiry, gtin: str = "0" + LHQW_EAN) -> str:
    return f"01{gtin}10{lot_no}{GS}17{expiry:%y%m%d}"


@pytest.fixture
def till(client, world):
    till = Till(client)
    till.open_shift()
    return till


# --- registers and shifts ---------------------------------------------------------------------------------------------

def test_register_list_and_opening_a_shift(client, world, db):
    till = Till(client)
    page = client.get("/pos")
    assert page.status_code == 200
    assert "1号收银台" in text(page) and 'name="opening_float"' in text(page)
    # Without an open shift the counter sends the cashier to open one.
    assert till.get("").status_code == 302
    for bad in ("abc", "12.345", "-5", "2000000"):
        refused = till.post("/shift/open", {"opening_float": bad}, htmx=False)
        assert refused.status_code == 422, bad
        assert message(refused), bad
    db.rollback()
    assert db.exec(select(func.count()).select_from(Shift)).one() == 0
    response = till.open_shift("200.50")
    assert response.headers["Location"].endswith("/pos/POS1")
    db.rollback()
    assert db.exec(select(Shift.opening_float_fen)).one() == 20050
    counter = till.get("")
    assert counter.status_code == 200
    body = text(counter)
    assert 'id="scan"' in body and 'id="workspace"' in body and "js/pos.js" in body
    again = till.post("/shift/open", {"opening_float": "100"}, htmx=False)
    assert again.status_code == 409


def test_shift_close_reports_over_and_short(till, world, db):
    world.lot(qty=72)
    till.scan(LHQW_EAN)
    assert till.pay(cash="30").status_code == 200  # 28.50 sale, 1.50 change: 28.50 more cash in the drawer
    report = till.get("/shift")
    assert report.status_code == 200 and "22850" not in text(report)
    assert "￥228.50" in text(report)  # expected cash: 200 float + 28.50
    closed = till.post("/shift/close", {"counted_cash": "228.00"}, htmx=False)
    assert closed.status_code == 200
    body = text(closed)
    assert re.search(r'id="over-short">\s*-￥0.50', body)
    db.rollback()
    shift = db.exec(select(Shift)).one()
    assert shift.closed_at is not None and shift.over_short_fen == -50
    assert till.get("").status_code == 302  # no open shift any more


def test_shift_close_refused_while_a_cart_is_open(till, world, db):
    world.lot(qty=36)
    till.scan(LHQW_EAN)
    refused = till.post("/shift/close", {"counted_cash": "200"}, htmx=False)
    assert refused.status_code == 409 and message(refused)
    db.rollback()
    assert db.exec(select(Shift.closed_at)).one() is None


# --- scanning ---------------------------------------------------------------------------------------------------------

def test_scan_ean13_adds_a_line_with_lot_expiry_and_price(till, world, db):
    lot = world.lot(qty=72, lot_no="SCAN1", expiry_days=400)
    response = till.scan(LHQW_EAN)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body and body.lstrip().startswith('<div id="workspace"')
    assert "连花清瘟胶囊" in body and "SCAN1" in body and str(lot.expiry_date) in body and "￥28.50" in body
    lines = cart_lines(db)
    assert [(l.lot_id, l.pack_quantity, l.unit_price_fen) for l in lines] == [(lot.id, 1, 2850)]
    # A second scan of the same pack adds to the same line.
    till.scan(LHQW_EAN)
    assert [l.pack_quantity for l in cart_lines(db)] == [2]


def test_unknown_code_says_so_adds_nothing_and_offers_the_search(till, world, db):
    world.lot(qty=72)
    response = till.scan(UNKNOWN_EAN)
    assert response.status_code == 404
    assert UNKNOWN_EAN in message(response)
    assert 'id="search-results"' in text(response)
    assert cart_lines(db) == []
    unreadable = till.scan("6920855052083")  # wrong check digit
    assert unreadable.status_code == 422 and message(unreadable)
    assert cart_lines(db) == []
    # Words typed at the scan field search by pinyin initials; a result is added by drug id.
    found = till.scan("lhqw")
    assert found.status_code == 200 and "连花清瘟胶囊" in text(found) and 'name="drug_id"' in text(found)
    assert till.get("/search?q=lhqw", htmx=True).status_code == 200
    added = till.post("/add", {"drug_id": world.drug["LHQW"].id, "packs": "2"})
    assert added.status_code == 200
    assert [l.pack_quantity for l in cart_lines(db)] == [2]


def test_near_expiry_line_is_highlighted_with_a_notice(till, world):
    world.lot(qty=36, lot_no="SOON", expiry_days=20)
    response = till.scan(LHQW_EAN)
    assert response.status_code == 200
    body = text(response)
    assert 'class="line near' in body
    assert "SOON" in body and len(re.findall(r"pos-notice", body)) == 1


def test_locked_lot_is_refused_at_add(till, world, db):
    lot = world.lot(qty=36, lot_no="LOCKED1", status="locked")
    refused = till.post("/add", {"drug_id": world.drug["LHQW"].id})
    assert refused.status_code == 409
    assert message(refused)
    # Scanned with its lot (GS1 DataMatrix): the lot is named in the refusal.
    scanned = till.scan(gs1("LOCKED1", lot.expiry_date))
    assert scanned.status_code == 409
    assert "LOCKED1" in message(scanned)
    assert cart_lines(db) == []


def test_gs1_scan_sells_the_lot_on_the_pack_not_fefo(till, world, db):
    world.lot(qty=36, lot_no="FIRST", expiry_days=200)
    later = world.lot(qty=36, lot_no="LATER-7", expiry_days=500)
    response = till.scan(gs1("LATER-7", later.expiry_date))
    assert response.status_code == 200, message(response)
    assert [l.lot_id for l in cart_lines(db)] == [later.id]
    missing_gs = till.scan(gs1("LATER-7", later.expiry_date).replace(GS, ""))  # the wedge dropped GS
    assert missing_gs.status_code == 404 and "LATER-7" in message(missing_gs)


def test_quantity_change_and_its_refusals(till, world, db):
    world.lot(qty=36 * 4)
    till.scan(LHQW_EAN)
    line = cart_lines(db)[0]
    line_id = line.id
    changed = till.post(f"/lines/{line_id}/quantity", {"packs": "3"})
    assert changed.status_code == 200
    assert re.search(r'id="total">\s*￥85.50', text(changed))
    assert [l.pack_quantity for l in cart_lines(db)] == [3]
    for bad, status in (("0", 422), ("abc", 422), ("", 422), ("5", 409)):
        refused = till.post(f"/lines/{line.id}/quantity", {"packs": bad})
        assert refused.status_code == status, bad
        assert message(refused), bad
    assert [l.pack_quantity for l in cart_lines(db)] == [3]
    removed = till.post(f"/lines/{line_id}/remove")
    assert removed.status_code == 200 and cart_lines(db) == []
    assert till.post(f"/lines/{line_id}/remove").status_code == 404


# --- payment ----------------------------------------------------------------------------------------------------------

def test_pay_cash_shows_the_change_and_starts_an_empty_cart(till, world, db):
    world.lot(qty=72)
    till.scan(LHQW_EAN)
    till.scan(LHQW_EAN)
    response = till.pay(cash="100")
    assert response.status_code == 200
    body = text(response)
    assert re.search(r'id="change">\s*￥43.00', body)
    assert re.search(r'id="sale-number">\s*POS1-00000001', body)
    assert re.search(r'id="sale-total">\s*￥57.00', body)
    db.rollback()
    sale = db.exec(select(Sale)).one()
    assert (sale.total_fen, sale.paid_fen, sale.change_fen) == (5700, 10000, 4300)
    assert f"/pos/POS1/sales/{sale.id}/receipt" in body
    assert 'class="empty"' in body and cart_lines(db) == []
    assert db.exec(select(PrintJob.kind)).all() == ["receipt"]
    printer = till.get("/printer", htmx=True)
    assert printer.status_code == 200 and 'id="printer-state"' in text(printer)
    # The 2 s poll keeps the sale and its change on screen (until the next action).
    version = re.search(r'data-version="([0-9a-f]+)"', body).group(1)
    assert f"sale={sale.id}" in body
    assert till.get(f"/cart?v={version}&sale={sale.id}", htmx=True).status_code == 204
    polled = till.get(f"/cart?sale={sale.id}", htmx=True)
    assert re.search(r'id="change">\s*￥43.00', text(polled))
    receipt = till.get(f"/sales/{sale.id}/receipt")
    assert receipt.status_code == 200
    ticket = re.sub(r"<[^>]+>", "", text(receipt))  # the preview boxes each wide character in its own span
    assert "POS1-00000001" in ticket and "连花清瘟胶囊" in ticket
    reprinted = till.post(f"/sales/{sale.id}/reprint")
    assert reprinted.status_code == 200 and message(reprinted)
    db.rollback()
    assert db.exec(select(PrintJob.kind).order_by(PrintJob.id)).all() == ["receipt", "reprint"]


def test_double_submit_with_the_same_client_uuid_makes_one_sale(till, world, db):
    world.lot(qty=36)
    till.scan(LHQW_EAN)
    key = str(uuid.uuid4())
    first = till.pay(key, cash="50")
    second = till.pay(key, cash="50")
    assert first.status_code == second.status_code == 200
    for response in (first, second):
        assert re.search(r'id="sale-number">\s*POS1-00000001', text(response))
        assert re.search(r'id="change">\s*￥21.50', text(response))
    assert counts(db)[:3] == (1, 1, 1)


def test_payment_refusals_write_nothing(till, world, db):
    world.lot(qty=36)
    till.scan(LHQW_EAN)
    before = counts(db)
    cases = [({"cash": "20"}, 409, "￥8.50"), ({}, 422, None), ({"cash": "abc"}, 422, None),
             ({"card": "28.50"}, 422, None), ({"card": "30", "card_ref": "T1"}, 409, None)]
    for tenders, status, shown in cases:
        refused = till.pay(**tenders)
        assert refused.status_code == status, tenders
        assert message(refused), tenders
        if shown:
            assert shown in message(refused)
    refused = till.post("/pay", {"cash": "50", "client_uuid": "not-a-uuid"})
    assert refused.status_code == 422
    assert counts(db) == before
    assert len(cart_lines(db)) == 1


def test_card_payment_with_reference(till, world, db):
    world.lot(qty=36)
    till.scan(LHQW_EAN)
    response = till.pay(card="28.50", card_ref="8812")
    assert response.status_code == 200
    db.rollback()
    assert [(p.tender, p.amount_fen, p.reference) for p in db.exec(select(SalePayment)).all()] == \
        [("card", 2850, "8812")]


# --- prescriptions, ephedrine -----------------------------------------------------------------------------------------

def test_rx_line_is_blocked_until_a_licensed_pharmacist_approves_at_the_register(till, world, db):
    world.lot("PLAIN", qty=48)
    added = till.post("/add", {"drug_id": world.drug["PLAIN"].id})
    assert added.status_code == 200
    assert 'id="rx-panel"' in text(added)
    assert till.pay(cash="100").status_code == 409
    rx = {"number": "RX-9", "prescriber": "王医生", "institution": "市第一医院", "issued_on": str(TEST_TODAY),
          "diagnosis": "慢性胃炎"}
    assert till.post("/prescription", {**rx, "issued_on": "2026-13-01"}).status_code == 422
    assert till.post("/prescription", {**rx, "issued_on": str(TEST_TODAY - timedelta(days=5))}).status_code == 409
    recorded = till.post("/prescription", rx)
    assert recorded.status_code == 200 and 'name="decision"' in text(recorded)
    review = {"username": "pharmacist", "password": TEST_PASSWORD, "decision": "approve"}
    no_licence = till.post("/prescription/review", review)
    assert no_licence.status_code == 403 and message(no_licence)
    assert till.post("/prescription/review", {**review, "username": "cashier"}).status_code == 403
    assert till.post("/prescription/review", {**review, "password": "wrong-password"}).status_code == 401
    assert till.pay(cash="100").status_code == 409
    assert counts(db)[0] == 0
    license_pharmacist(world)
    approved = till.post("/prescription/review", review)
    assert approved.status_code == 200, message(approved)
    paid = till.pay(cash="100")
    assert paid.status_code == 200, message(paid)
    db.rollback()
    sale = db.exec(select(Sale)).one()
    assert sale.pharmacist_id == world.users["pharmacist"].id and sale.prescription_id is not None


def test_ephedrine_third_pack_refused_and_buyer_id_checked(till, world, db):
    world.lot("EPH", qty=12 * 5)
    eph = world.drug["EPH"].id
    assert till.post("/add", {"drug_id": eph, "packs": "2"}).status_code == 200
    third = till.post("/add", {"drug_id": eph})
    assert third.status_code == 409 and message(third)
    assert [l.pack_quantity for l in cart_lines(db)] == [2]
    line = cart_lines(db)[0]
    assert till.post(f"/lines/{line.id}/quantity", {"packs": "3"}).status_code == 409
    bad_id = till.post("/buyer", {"name": "张三", "id_number": "110105194912310021"})
    assert bad_id.status_code == 422 and message(bad_id)
    assert 'value="张三"' in text(bad_id)  # the form keeps what was typed
    db.rollback()
    assert db.exec(select(Cart.buyer_id_number)).one() == ""
    ok = till.post("/buyer", {"name": "张三", "id_number": VALID_ID.lower()})
    assert ok.status_code == 200
    db.rollback()
    assert db.exec(select(Cart.buyer_id_number)).one() == VALID_ID


# --- hold, resume, cancel, lots and prices ----------------------------------------------------------------------------

def test_hold_and_resume(till, world, db):
    world.lot(qty=72)
    world.lot("PLAIN", qty=48)
    till.scan(LHQW_EAN)
    held = till.post("/hold")
    assert held.status_code == 200
    assert 'id="held-panel"' in text(held) and "/resume/" in text(held)
    assert cart_lines(db) == []
    till.post("/add", {"drug_id": world.drug["PLAIN"].id})
    held_id = int(re.search(r"/resume/(\d+)", text(held)).group(1))
    busy = till.post(f"/resume/{held_id}")
    assert busy.status_code == 409 and message(busy)
    assert till.post("/cancel").status_code == 200
    resumed = till.post(f"/resume/{held_id}")
    assert resumed.status_code == 200
    assert "连花清瘟胶囊" in text(resumed)
    assert [l.pack_quantity for l in cart_lines(db)] == [1]
    assert till.post(f"/resume/{held_id}").status_code == 409  # nothing held any more (the cart is open)


def test_choosing_another_lot_and_overriding_a_price_need_their_roles(client, app, world, db):
    world.lot(qty=36, lot_no="FEFO1", expiry_days=100)
    other = world.lot(qty=36, lot_no="OTHER2", expiry_days=300)
    cashier = Till(client)
    cashier.open_shift()
    cashier.scan(LHQW_EAN)
    line = cart_lines(db)[0]
    assert cashier.get(f"/lines/{line.id}/lot", htmx=True).status_code == 403
    assert cashier.post(f"/lines/{line.id}/lot", {"lot_id": other.id}).status_code == 403
    assert cashier.post(f"/lines/{line.id}/price", {"price": "20", "reason": "促销"}).status_code == 403
    pharmacist = Till(app.test_client(), "pharmacist")
    choices = pharmacist.get(f"/lines/{line.id}/lot", htmx=True)
    assert choices.status_code == 200 and "OTHER2" in text(choices) and 'id="lot-choice"' in text(choices)
    chosen = pharmacist.post(f"/lines/{line.id}/lot", {"lot_id": other.id})
    assert chosen.status_code == 200 and "OTHER2" in message(chosen)
    assert cart_lines(db)[0].lot_id == other.id
    manager = Till(app.test_client(), "store_manager")
    assert manager.post(f"/lines/{line.id}/price", {"price": "20", "reason": ""}).status_code == 422
    priced = manager.post(f"/lines/{line.id}/price", {"price": "20", "reason": "临期促销"})
    assert priced.status_code == 200
    assert (cart_lines(db)[0].unit_price_fen, cart_lines(db)[0].price_override_reason) == (2000, "临期促销")


# --- returns ----------------------------------------------------------------------------------------------------------

def test_return_with_approver_refund_shown_and_goods_to_the_yellow_area(till, world, db):
    lot = world.lot(qty=72)
    till.scan(LHQW_EAN)
    till.scan(LHQW_EAN)
    assert till.pay(cash="60").status_code == 200
    db.rollback()
    sale_line = db.exec(select(SaleLine)).one()
    # The ticket's barcode says YSPOS1-00000001; the typed number works too.
    for number in ("YSPOS1-00000001", "POS1-00000001", "]C0YSPOS1-00000001"):
        page = till.get("/return", query_string={"number": number})
        assert page.status_code == 200
        assert f'name="packs_{sale_line.id}"' in text(page) and "连花清瘟胶囊" in text(page)
    assert till.get("/return?number=POS1-00000099").status_code == 404
    form = {"number": "POS1-00000001", f"packs_{sale_line.id}": "1", "reason": "quality_problem", "note": "破损",
            "approver": "pharmacist", "approver_password": "wrong-password", "client_uuid": str(uuid.uuid4())}
    before = counts(db)
    assert till.post("/return", form, htmx=False).status_code == 401
    assert till.post("/return", {**form, "approver": "cashier", "approver_password": TEST_PASSWORD},
                     htmx=False).status_code == 403
    assert till.post("/return", {**form, "reason": "customer_changed_mind", "approver_password": TEST_PASSWORD},
                     htmx=False).status_code == 422  # quality reasons only (store policy)
    assert till.post("/return", {**form, f"packs_{sale_line.id}": "3", "approver_password": TEST_PASSWORD},
                     htmx=False).status_code == 409
    assert counts(db) == before
    done = till.post("/return", {**form, "approver_password": TEST_PASSWORD}, htmx=False)
    assert done.status_code == 200, message(done)
    body = text(done)
    assert re.search(r'id="refund-total">\s*￥28.50', body)
    assert re.search(r'id="return-number">\s*POS1-00000002', body)
    assert "待验区" in body
    db.rollback()
    returned = db.exec(select(Sale).where(Sale.kind == "return")).one()
    assert returned.total_fen == -2850 and returned.pharmacist_id == world.users["pharmacist"].id
    assert [(p.tender, p.amount_fen) for p in db.exec(select(SalePayment).where(
        SalePayment.sale_id == returned.id)).all()] == [("cash", -2850)]
    yellow = db.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot.id,
                                                         StockBalance.location_id == world.loc["Y01"].id)).one()
    assert yellow == 36
    page = till.get("/return?number=POS1-00000001")
    assert re.search(rf'name="packs_{sale_line.id}" min="0" max="1"', text(page))


# --- day close and the journal ----------------------------------------------------------------------------------------

def test_day_close_prints_the_z_report(till, app, world, db):
    world.lot(qty=72)
    till.scan(LHQW_EAN)
    till.pay(cash="30")
    assert till.get("/day-close").status_code == 403  # cashiers do not close the day
    manager = Till(app.test_client(), "store_manager")
    page = manager.get("/day-close")
    assert page.status_code == 200 and "/pos/POS1/day-close" in text(page)
    closed = manager.post("/day-close", htmx=False)
    assert closed.status_code == 200
    body = text(closed)
    db.rollback()
    head = db.get(RegisterJournal, db.exec(select(Sale.register_id)).first())
    close = db.exec(select(DayClose)).one()
    assert re.search(r'id="z-sales">\s*1<', body) and re.search(r'id="z-net">\s*<strong>￥28.50', body)
    assert head.last_hash in body and close.chain_head_hash == head.last_hash
    assert "POS1-00000001" in body and "cashier" in body
    again = manager.post("/day-close", htmx=False)
    assert again.status_code == 409 and message(again)
    assert manager.get("/day-close").status_code == 200  # shows the last Z report
    # The 日结单 went to the receipt printer queue on closing; it can be sent again (marked 重印).
    assert f'/pos/POS1/day-close/{close.id}/print' in text(manager.get("/day-close"))
    assert till.post(f"/day-close/{close.id}/print", htmx=False).status_code == 403
    assert manager.post("/day-close/999999/print", htmx=False).status_code == 404
    reprinted = manager.post(f"/day-close/{close.id}/print", htmx=False)
    assert reprinted.status_code == 200 and "重印" in message(reprinted)
    db.rollback()
    assert [tuple(j) for j in db.exec(select(PrintJob.kind, PrintJob.day_close_id)
                                      .where(PrintJob.day_close_id.is_not(None)).order_by(PrintJob.id))] == [
        ("z_report", close.id), ("z_report_reprint", close.id)]


def test_journal_page_verifies_each_register_and_names_the_first_bad_sale(till, app, world, db):
    from tests.integration.test_pos_journal import tamper

    world.lot(qty=36 * 3)
    for _ in range(3):
        till.scan(LHQW_EAN)
        assert till.pay(cash="30").status_code == 200
    assert till.client.get("/pos/journal").status_code == 403
    finance = app.test_client()
    login(finance, "finance")
    page = finance.get("/pos/journal")
    assert page.status_code == 200
    body = text(page)
    assert "POS1" in body and "✓" in body and "✗" not in body
    db.rollback()
    second = db.exec(select(Sale).where(Sale.seq == 2)).one()
    db.close()
    tamper(app.extensions["yaofang.engine"], f"UPDATE sale_line SET amount_fen = 1 WHERE sale_id = {second.id}")
    broken = text(finance.get("/pos/journal"))
    assert "✗" in broken
    row = re.search(r"<tr class=\"expired\">(.*?)</tr>", broken, re.S).group(1)
    assert "POS1" in row and "POS1-00000002" in row


# --- polling and the scans API ----------------------------------------------------------------------------------------

def test_scans_api_adds_to_the_open_cart_and_the_page_sees_it(till, world, db, client, token_for):
    world.lot(qty=36, lot_no="API-LOT")
    headers = token_for("cashier")
    spec = client.get("/api/v1/openapi.json").get_json()
    definitions = _definitions(spec)

    partial = till.get("/cart", htmx=True)
    version = re.search(r'data-version="([0-9a-f]+)"', text(partial)).group(1)
    assert till.get(f"/cart?v={version}", htmx=True).status_code == 204  # nothing changed: nothing to swap

    response = client.post("/api/v1/registers/POS1/scans", json={"raw": LHQW_EAN}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["kind"] == "added" and body["line"]["lot_no"] == "API-LOT" and body["sale_number"] is None
    _validate(spec, definitions, "/api/v1/registers/{code}/scans", "post", 201, body)
    cart = client.get("/api/v1/registers/POS1/cart", headers=headers)
    assert cart.status_code == 200
    assert [(l["drug_code"], l["pack_quantity"]) for l in cart.get_json()["lines"]] == [("LHQW", 1)]
    assert cart.get_json()["total_fen"] == 2850
    _validate(spec, definitions, "/api/v1/registers/{code}/cart", "get", 200, cart.get_json())

    polled = till.get(f"/cart?v={version}", htmx=True)
    assert polled.status_code == 200 and "API-LOT" in text(polled)

    errors = [({"raw": UNKNOWN_EAN}, headers, 404, "unknown_barcode"), ({"raw": ""}, headers, 422, "invalid_field"),
              ({"raw": 42}, headers, 422, "invalid_field"), ({"raw": LHQW_EAN}, token_for("finance"), 403, "forbidden"),
              ({"raw": LHQW_EAN}, {}, 401, "authentication_required")]
    for payload, auth, status, code in errors:
        refused = client.post("/api/v1/registers/POS1/scans", json=payload, headers=auth)
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (status, code), payload
        _validate(spec, definitions, "/api/v1/registers/{code}/scans", "post", status, refused.get_json())
    missing = client.post("/api/v1/registers/NOPE/scans", json={"raw": LHQW_EAN}, headers=headers)
    assert missing.status_code == 404
    assert client.post("/api/v1/registers/POS1/scans", data="{raw", content_type="application/json",
                       headers=headers).status_code == 400
    assert len(cart_lines(db)) == 1

    # A ticket's barcode scanned at the serial scanner: nothing is added, the return screen is suggested.
    till.pay(cash="30")
    ticket = client.post("/api/v1/registers/POS1/scans", json={"raw": "YSPOS1-00000001"}, headers=headers)
    assert ticket.status_code == 201
    assert ticket.get_json()["kind"] == "sale_number" and ticket.get_json()["line"] is None
    assert ticket.get_json()["sale_number"] == "POS1-00000001"
    _validate(spec, definitions, "/api/v1/registers/{code}/scans", "post", 201, ticket.get_json())


def test_scan_at_the_page_of_a_ticket_points_to_the_return(till, world):
    world.lot(qty=36)
    till.scan(LHQW_EAN)
    till.pay(cash="30")
    response = till.scan("YSPOS1-00000001")
    assert response.status_code == 200
    assert "/pos/POS1/return?number=POS1-00000001" in text(response)


def test_counter_pages_need_the_pos_permission(app, world):
    finance = app.test_client()
    login(finance, "finance")
    token = csrf_token(finance)
    assert finance.get("/pos").status_code == 403
    assert finance.get("/pos/POS1").status_code == 403
    assert finance.post("/pos/POS1/scan", data={"raw": LHQW_EAN, "csrf_token": token}).status_code == 403
    # Registers of another store are not found.
    other = app.test_client()
    login(other, "other_admin")
    assert other.get("/pos/POS1").status_code == 404


def _definitions(spec):
    from tests.web.test_api import to_json_schema

    return to_json_schema(spec["components"]["schemas"])


def _validate(spec, definitions, path, method, status, body):
    from tests.web.test_api import to_json_schema

    documented = spec["paths"][path][method]["responses"][str(status)]
    schema = to_json_schema(documented["content"]["application/json"]["schema"])
    jsonschema.validate(body, {**schema, "definitions": definitions})
