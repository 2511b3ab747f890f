"""The counter in real headless Chromium: a cashier opens a shift, scans with a keyboard-wedge scanner (fast key
bursts; a GS1 element string whose GS separator the wedge sends as Ctrl+]), pays cash and sees the change; the
ticket goes through the print queue to a TCP "printer" on 127.0.0.1 and decodes to Chinese lines. Also: typed
search, hotkeys, and a scan arriving through the API showing up without a reload."""
from __future__ import annotations

import re
from urllib.parse import unquote_plus

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from core.services import Actor
from inventory.services import create_drug
from pos.models import Register, Sale, SaleLine
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import login_as, screenshot
from tests.hardware.printer_sink import PrinterSink, escpos_text

pytestmark = pytest.mark.browser

LHQW_EAN = "6920855052082"
GML_EAN = "6927771401932"  # 复方感冒灵片 (real EAN-13, inventory/demo_data/drug_barcodes_cn.csv)
GS1_LOT = "E2E-GS1-01"


def add_gml(world):
    """A second OTC drug with its real EAN-13 as drug_barcodes_cn.csv gives it (no manufacturer in that source;
    the price is a test value)."""
    drug = create_drug(world.session, Actor.system("test", world.store.id), code="GML", generic_name="复方感冒灵片",
                       specification="6.25g*100片", package_unit="瓶", smallest_unit="片", units_per_package=100,
                       manufacturer="", approval_no="国药准字Z44022554", category="patent",
                       rx_class="otc_a", approval_status="approved", retail_price_fen=1580,
                       barcodes=[(GML_EAN, "ean13")])
    world.drug["GML"] = drug
    return drug


def wedge(page, *parts: str) -> None:
    """Type like a keyboard-wedge scanner: key events back to back, GS as Ctrl+], then Enter."""
    for part in parts:
        if part == "\x1d":
            page.keyboard.press("Control+BracketRight")
        else:
            page.keyboard.type(part)
    page.keyboard.press("Enter")


def open_shift(page, live_server):
    page.goto(f"{live_server}/pos")
    card = page.locator("#register-POS1")
    card.locator("input[name=opening_float]").fill("200")
    with page.expect_navigation():
        card.get_by_role("button").click()
    expect(page).to_have_url(f"{live_server}/pos/POS1")
    expect(page.locator("#scan")).to_be_focused()


def cart_rows(page):
    return page.locator("#cart tbody tr.line")


def test_cashier_scans_three_items_pays_cash_and_the_ticket_prints(app, world, db, live_server, browser_page):
    world.lot("LHQW", qty=36 * 10, lot_no="E2E-FEFO", expiry_days=300)
    gs1_lot = world.lot("LHQW", qty=36 * 5, lot_no=GS1_LOT, expiry_days=600)
    add_gml(world)
    world.lot("GML", qty=100 * 4, lot_no="GML-2601", expiry_days=400)
    page = browser_page
    scans = []
    page.on("request", lambda r: scans.append(r.post_data) if r.url.endswith("/pos/POS1/scan") else None)

    with PrinterSink() as sink:
        register = db.exec(select(Register).where(Register.code == "POS1")).one()
        register.printer_url = sink.url
        db.add(register)
        db.commit()

        login_as(page, live_server, "cashier", TEST_PASSWORD)
        open_shift(page, live_server)
        expect(page.locator(".hotkeys")).to_contain_text("F8")

        # 1. EAN-13, a scanner burst.
        wedge(page, LHQW_EAN)
        expect(cart_rows(page)).to_have_count(1)
        expect(cart_rows(page).nth(0)).to_contain_text("E2E-FEFO")  # FEFO's lot
        assert page.locator("#scan-form").get_attribute("data-last-entry") == "wedge"
        expect(page.locator("#scan")).to_be_focused()
        expect(page.locator("#scan")).to_have_value("")

        # 2. A scanner that sends the AIM identifier first (]E0 = EAN-13).
        wedge(page, "]E0" + GML_EAN)
        expect(cart_rows(page)).to_have_count(2)
        expect(cart_rows(page).nth(1)).to_contain_text("复方感冒灵片")

        # 3. A GS1 DataMatrix: (01) GTIN (10) lot GS (17) expiry. Without the GS the lot would swallow "17…".
        wedge(page, f"010{LHQW_EAN}10{GS1_LOT}", "\x1d", f"17{gs1_lot.expiry_date:%y%m%d}")
        expect(cart_rows(page)).to_have_count(3)
        expect(cart_rows(page).nth(2)).to_contain_text(GS1_LOT)
        assert page.locator("#scan-form").get_attribute("data-last-entry") == "wedge"
        raws = [unquote_plus(re.search(r"raw=([^&]*)", body).group(1)) for body in scans]
        assert raws == [LHQW_EAN, "]E0" + GML_EAN, f"010{LHQW_EAN}10{GS1_LOT}\x1d17{gs1_lot.expiry_date:%y%m%d}"]
        assert all("via=wedge" in body for body in scans)

        expect(page.locator("#total")).to_have_text("￥72.80")  # 28.50 + 15.80 + 28.50

        # Pay: F8 goes to the cash field; Enter pays.
        page.keyboard.press("F8")
        expect(page.locator("#pay-cash")).to_be_focused()
        page.keyboard.type("100")
        page.keyboard.press("Enter")
        expect(page.locator("#change")).to_have_text("￥27.20")
        expect(page.locator("#sale-number")).to_have_text("POS1-00000001")
        expect(page.locator("#cart tbody tr.empty")).to_have_count(1)  # a new, empty cart
        expect(page.locator("#scan")).to_be_focused()
        shot = screenshot(page, "pos-after-sale")
        assert shot.stat().st_size > 20_000

        db.rollback()
        sale = db.exec(select(Sale)).one()
        assert (sale.total_fen, sale.paid_fen, sale.change_fen) == (7280, 10000, 2720)
        lots = db.exec(select(SaleLine.lot_id).where(SaleLine.sale_id == sale.id).order_by(SaleLine.line_no)).all()
        assert lots[2] == gs1_lot.id

        # The ticket: the print queue sends it to the printer on 127.0.0.1; it reads back as Chinese lines.
        from pos.printing import process_due_jobs

        assert process_due_jobs(app) == 1
        ticket = escpos_text(sink.wait_for_jobs(1)[0], "gbk")
        for expected in ("测试药房", "连花清瘟胶囊", "复方感冒灵片", GS1_LOT, "POS1-00000001", "合计", "￥72.80",
                         "找零", "￥27.20"):
            assert expected in ticket, f"{expected!r} not on the ticket:\n{ticket}"

        # The receipt preview opens from the sale panel.
        with page.expect_popup() as popup:
            page.locator("#receipt-link").click()
        preview = popup.value
        expect(preview.locator("#receipt")).to_contain_text("POS1-00000001")
        screenshot(preview, "pos-receipt-preview")
        preview.close()


def test_typed_search_hotkeys_hold_and_resume(world, live_server, browser_page):
    world.lot("LHQW", qty=36 * 10, lot_no="E2E-KEYS", expiry_days=20)  # near expiry: highlighted, buyer told
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    login_as(page, live_server, "cashier", TEST_PASSWORD)
    open_shift(page, live_server)

    # A person types pinyin initials (slowly): that is a search, not a scan.
    page.keyboard.type("lhqw", delay=90)
    page.keyboard.press("Enter")
    expect(page.locator("#search-results")).to_contain_text("连花清瘟胶囊")
    assert page.locator("#scan-form").get_attribute("data-last-entry") == "keyboard"
    add = page.locator("#search-results button[type=submit]").first
    expect(add).to_be_focused()
    page.keyboard.press("Enter")
    expect(cart_rows(page)).to_have_count(1)
    expect(cart_rows(page).nth(0)).to_have_class(re.compile(r"\bnear\b"))
    expect(page.locator(".pos-notice")).to_contain_text("E2E-KEYS")
    expect(page.locator("#scan")).to_be_focused()

    # An unknown code typed by hand: a clear message, nothing added.
    page.keyboard.type("4006381333931", delay=60)
    page.keyboard.press("Enter")
    expect(page.locator("#pos-message")).to_contain_text("4006381333931")
    expect(cart_rows(page)).to_have_count(1)
    assert page.locator("#scan-form").get_attribute("data-last-entry") == "keyboard"  # typed: a code, not a burst

    # F2: quantity of the last line.
    page.keyboard.press("F2")
    qty = cart_rows(page).nth(0).locator(".qty-input")
    expect(qty).to_be_focused()
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(page.locator("#total")).to_have_text("￥85.50")
    expect(page.locator("#scan")).to_be_focused()

    # F4 holds the cart; F6 goes to the held carts; Enter resumes.
    page.keyboard.press("F4")
    expect(page.locator("#held-panel .resume")).to_have_count(1)
    expect(cart_rows(page)).to_have_count(0)
    page.keyboard.press("F6")
    expect(page.locator("#held-panel .resume")).to_be_focused()
    page.keyboard.press("Enter")
    expect(cart_rows(page)).to_have_count(1)
    expect(page.locator("#held-panel .resume")).to_have_count(0)
    screenshot(page, "pos-near-expiry-line")

    # Delete (scan field empty) removes the last line after a confirmation.
    page.locator("#scan").focus()
    page.keyboard.press("Delete")
    expect(cart_rows(page)).to_have_count(0)

    # Esc brings the focus back to the scan field.
    page.locator("#pos-search").focus()
    page.keyboard.press("Escape")
    expect(page.locator("#scan")).to_be_focused()
    # F9 opens the return screen.
    with page.expect_navigation():
        page.keyboard.press("F9")
    expect(page).to_have_url(f"{live_server}/pos/POS1/return")


def test_a_scan_through_the_api_appears_without_a_reload(app, world, live_server, browser_page, token_for):
    world.lot("LHQW", qty=36 * 2, lot_no="E2E-API")
    page = browser_page
    login_as(page, live_server, "cashier", TEST_PASSWORD)
    open_shift(page, live_server)
    page.evaluate("window.__sameDocument = true")
    response = app.test_client().post("/api/v1/registers/POS1/scans", json={"raw": LHQW_EAN},
                                      headers=token_for("cashier"))
    assert response.status_code == 201
    expect(cart_rows(page)).to_have_count(1, timeout=6_000)  # the 2 s poll
    expect(cart_rows(page).nth(0)).to_contain_text("E2E-API")
    assert page.evaluate("window.__sameDocument === true")
    expect(page.locator("#scan")).to_be_focused()
