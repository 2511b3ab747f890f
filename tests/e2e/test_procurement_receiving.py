"""Receiving and acceptance inspection in real headless Chromium: the receiver scans the pack's GS1 DataMatrix with a
keyboard-wedge scanner (fast key bursts; the GS separator arrives as Ctrl+]), the scan fills the order line's row
(lot, expiry, GTIN), the receipt is recorded; an inspector accepts the lot into A01; the lot is released with its
stock there, and the stock-in slip (验收入库单) shows lot, expiry and the inspector."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from core.services import Actor, create_user
from gsp import purchasing as pur
from gsp.models import Inspection, Receipt, ReceiptLine
from inventory.models import Lot, LotStatus, StockBalance
from tests.conftest import TEST_PASSWORD, TEST_TODAY
from tests.e2e.browser import login_as, screenshot
from tests.integration.procurement_helpers import confirmed_order

pytestmark = pytest.mark.browser

LHQW_GTIN = "06920855052082"  # EAN-13 6920855052082 as GTIN-14
LOT_NO = "E2ELOT01"
SERIAL = "SERIAL1"
GS = "\x1d"
EXPIRY = TEST_TODAY + timedelta(days=720)  # 2028-06-04: well beyond the 6-month minimum shelf life
PRODUCTION = TEST_TODAY - timedelta(days=30)
PACKAGES = 10  # the helper's order line: 10 boxes at 18.00
INSPECTOR_NAME = "王验收"


def wedge(page, *parts: str, delay: float = 4) -> None:
    """Type like a keyboard-wedge scanner: key events a few milliseconds apart, GS as Ctrl+], then Enter."""
    for part in parts:
        if part == GS:
            page.keyboard.press("Control+BracketRight")
        else:
            page.keyboard.type(part, delay=delay)
    page.keyboard.press("Enter")


def log_out(page) -> None:
    with page.expect_navigation():
        page.locator("header form[action$='/logout'] button").click()


def test_receiver_scans_gs1_receives_and_inspector_accepts_into_a01(world, live_server, browser_page):
    order = confirmed_order(world)
    (order_line, _drug), = pur.order_lines(world.session, order.id)
    inspector = create_user(world.session, Actor.system("test", world.store.id), username="inspector_wang",
                display_name=INSPECTOR_NAME, password=TEST_PASSWORD, store_id=world.store.id, roles=["inspector"])
    page = browser_page
    scans = []
    page.on("request", lambda r: scans.append(parse_qs(urlparse(r.url).query)["code"][0])
            if f"/procurement/orders/{order.id}/scan?" in r.url else None)

    # --- the receiver ---------------------------------------------------------------------------------------------
    login_as(page, live_server, "receiver", TEST_PASSWORD)
    page.goto(f"{live_server}/procurement/orders/{order.id}/receive")
    expect(page.locator("#scan")).to_be_focused()  # autofocus: the scanner can fire straight away
    row = page.locator(f"#receive-lines tbody tr[data-order-line='{order_line.id}']")
    expect(row).to_have_count(1)

    # (01) GTIN (17) expiry (10) lot GS (21) serial: without the GS the lot would swallow "21SERIAL1".
    wedge(page, f"]d201{LHQW_GTIN}17{EXPIRY:%y%m%d}10{LOT_NO}", GS, f"21{SERIAL}")
    expect(page.locator("#scan-message")).to_have_class(re.compile(r"\bsuccess\b"))
    expect(row.locator("input[name$='-lot_no']")).to_have_value(LOT_NO)
    expect(row.locator("input[name$='-expiry_date']")).to_have_value(EXPIRY.isoformat())
    expect(row.locator("input[name$='-gtin']")).to_have_value(LHQW_GTIN)
    expect(row.locator("input[name$='-production_date']")).to_have_value("")  # not in the code: typed next
    expect(row.locator("input[name$='-production_date']")).to_be_focused()
    expect(page.locator("#scan")).to_have_value("")
    assert scans == [f"]d201{LHQW_GTIN}17{EXPIRY:%y%m%d}10{LOT_NO}{GS}21{SERIAL}"]  # the GS reached the server
    shot = screenshot(page, "procurement-receive-scan")
    assert shot.stat().st_size > 10_000

    row.locator("input[name$='-production_date']").fill(PRODUCTION.isoformat())
    row.locator("input[name$='-packages']").fill(str(PACKAGES))
    row.locator("input[name$='-cases']").fill("1")
    page.locator("#receive-form input[name=delivery_note_no]").fill("DN-E2E-0001")
    with page.expect_navigation():
        page.locator("#receive-submit").click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/procurement/receipts/\d+$"))
    receipt_id = int(page.url.rsplit("/", 1)[1])
    lines = page.locator("#receipt-lines tbody tr")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text(LOT_NO)
    expect(lines.first).to_contain_text(EXPIRY.isoformat())
    expect(lines.first.locator(".inspect-link")).to_have_count(0)  # the receiver does not inspect

    world.session.rollback()
    world.session.expire_all()
    receipt = world.session.get(Receipt, receipt_id)
    assert (receipt.order_id, receipt.delivery_note_no, receipt.received_by_id) == (
        order.id, "DN-E2E-0001", world.users["receiver"].id)
    line = world.session.exec(select(ReceiptLine).where(ReceiptLine.receipt_id == receipt_id)).one()
    lot = world.session.get(Lot, line.lot_id)
    assert (lot.lot_no, lot.expiry_date, lot.production_date, lot.status) == (
        LOT_NO, EXPIRY, PRODUCTION, LotStatus.PENDING_INSPECTION)
    assert (line.quantity_received, line.gtin) == (PACKAGES * 36, LHQW_GTIN)

    # --- the inspector --------------------------------------------------------------------------------------------
    log_out(page)
    login_as(page, live_server, "inspector_wang", TEST_PASSWORD)
    page.goto(f"{live_server}/procurement/receipts/{receipt_id}")
    with page.expect_navigation():
        page.locator(f"#line-{line.id} .inspect-link").click()
    form = page.locator("#inspection-form")
    expect(form).to_be_visible()
    expect(form.locator("input[name=accepted]")).to_have_value(str(PACKAGES))  # everything, by default
    form.locator("input[name=rejected]").fill("0")
    for check in ("appearance_ok", "packaging_ok", "label_ok", "report_ok"):
        form.locator(f"input[name={check}]").check()
    form.locator("select[name=location_id]").select_option(str(world.loc["A01"].id))
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{live_server}/procurement/receipts/{receipt_id}")
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.locator(f"#line-{line.id}")).to_contain_text(INSPECTOR_NAME)
    expect(page.locator(f"#line-{line.id} .inspect-link")).to_have_count(0)

    world.session.rollback()
    world.session.expire_all()
    assert world.session.get(Lot, lot.id).status == LotStatus.RELEASED
    balances = {b.location_id: b.quantity for b in world.session.exec(
        select(StockBalance).where(StockBalance.lot_id == lot.id)).all() if b.quantity}
    assert balances == {world.loc["A01"].id: PACKAGES * 36}
    inspection = world.session.exec(select(Inspection).where(Inspection.receipt_line_id == line.id)).one()
    assert (inspection.conclusion, inspection.accepted_qty, inspection.location_id, inspection.inspector_id) == (
        "accepted", PACKAGES * 36, world.loc["A01"].id, inspector.id)

    # --- the stock-in slip ----------------------------------------------------------------------------------------
    page.goto(f"{live_server}/procurement/receipts/{receipt_id}/slip")
    slip_line = page.locator(f"#slip-line-{line.id}")
    expect(slip_line).to_contain_text(LOT_NO)
    expect(slip_line).to_contain_text(EXPIRY.isoformat())
    expect(slip_line).to_contain_text(INSPECTOR_NAME)
    expect(slip_line).to_contain_text("A01")
    expect(page.locator("#slip-number")).to_have_text(receipt.number)
    shot = screenshot(page, "procurement-slip")
    assert shot.stat().st_size > 10_000
