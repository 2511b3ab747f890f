"""Drug search and the drug page in real headless Chromium: pinyin live search (htmx), the lots table, CJK
rendering, and the language switch."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD, TEST_TODAY
from tests.e2e.browser import glyph_report, login_as, screenshot

pytestmark = pytest.mark.browser

LHQW = "连花清瘟胶囊"
LOT_NO = "E2E-LHQW-2601"
EXPIRY_DAYS = 400
QTY = 120
CJK = re.compile(r"[\u4e00-\u9fff]")


def _stock_lhqw(world):
    """A released lot of 连花清瘟胶囊 with stock on the A01 shelf, committed before the browser looks."""
    lot = world.lot("LHQW", expiry_days=EXPIRY_DAYS, qty=QTY, location="A01", lot_no=LOT_NO)
    return lot, world.drug["LHQW"].id


def test_pinyin_live_search_opens_drug_with_its_lots(world, live_server, browser_page):
    lot, drug_id = _stock_lhqw(world)
    page = browser_page

    login_as(page, live_server, "cashier", TEST_PASSWORD)
    page.goto(f"{live_server}/drugs")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.evaluate("window.__sameDocument = true")  # survives htmx swaps, not a page load

    search = page.locator("#drug-search")
    search.click()
    with page.expect_response(lambda r: "/drugs?q=lhqw" in r.url and r.request.headers.get("hx-request") == "true"):
        page.keyboard.type("lhqw", delay=60)  # key by key, as a cashier types; htmx fires on input
    row = page.locator("#drug-results tbody tr", has_text=LHQW)
    expect(row).to_have_count(1)
    expect(page.locator("#drug-results tbody tr")).to_have_count(1)  # nothing else has the initials lhqw
    expect(row).to_contain_text("LHQW")
    assert page.evaluate("window.__sameDocument === true"), "the search reloaded the page instead of swapping results"
    expect(page).to_have_url(re.compile(r"/drugs\?q=lhqw$"))  # hx-push-url

    with page.expect_navigation():
        row.get_by_role("link", name=LHQW).click()
    expect(page).to_have_url(f"{live_server}/drugs/{drug_id}")

    expect(page.locator("main h1")).to_contain_text(LHQW)
    expect(page).to_have_title(re.compile(LHQW))
    expect(page.locator("main")).to_contain_text("石家庄以岭药业股份有限公司")
    expect(page.locator("main")).to_contain_text("国药准字Z20040063")
    lot_row = page.locator("table.lots tbody tr", has_text=LOT_NO)
    expect(lot_row).to_have_count(1)
    expect(lot_row).to_contain_text(str(TEST_TODAY + timedelta(days=EXPIRY_DAYS)))
    expect(lot_row.locator("td.num")).to_have_text(f"{QTY} 粒")
    expect(lot_row.get_by_role("link", name=LOT_NO)).to_have_attribute("href", f"/lots/{lot.id}")
    shelf = page.locator("tbody tr", has=page.get_by_role("link", name="A01 货架"))  # stock by location
    expect(shelf).to_have_count(1)
    expect(shelf).to_contain_text(LOT_NO)
    expect(shelf.locator("td.num")).to_have_text(f"{QTY} 粒")

    shot = screenshot(page, "drug-detail-zh")
    assert shot.is_file() and shot.stat().st_size > 10_000

    # The Chinese must be drawn with real glyphs, not tofu boxes. (Measured widths alone cannot tell: here a
    # missing-glyph box is exactly as wide as a CJK character. Glyph bitmaps can.)
    report = glyph_report(page, "main h1", "连花清瘟")
    assert not report.problems(), (f"CJK text is not rendered: {report.problems()}; font-family "
                                   f"{report.font_family}; platform fonts {report.platform_fonts}")
    used = [f["familyName"] for f in report.platform_fonts if f.get("glyphCount")]
    assert any(name in report.font_family for name in used), (
        f"连花清瘟 is drawn with {used}, none of them in the stylesheet's font-family {report.font_family}")
    # Control: the same check does see tofu, e.g. for private-use code points no installed font draws.
    assert glyph_report(page, "main h1", "\ue000\ue001\ue002\ue003").problems()


def test_language_link_switches_drug_page_to_english(world, live_server, browser_page):
    _, drug_id = _stock_lhqw(world)
    page = browser_page

    login_as(page, live_server, "cashier", TEST_PASSWORD)
    page.goto(f"{live_server}/drugs/{drug_id}")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    with page.expect_navigation():
        page.locator(".lang").get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(rf"/drugs/{drug_id}\??$"))  # back on the same page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".lang a.on")).to_have_text("English")
    expect(page.get_by_role("heading", name="Lots", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Stock by location", exact=True)).to_be_visible()
    expect(page.locator("table.lots thead")).to_contain_text("Expiry")
    expect(page.locator("table.lots thead")).to_contain_text("On hand")
    expect(page.locator(".topbar nav")).to_contain_text("Drugs")
    expect(page.locator("main h1")).to_contain_text(LHQW)  # data stays as entered
    expect(page.locator("table.lots tbody tr", has_text=LOT_NO)).to_contain_text("Released")
    screenshot(page, "drug-detail-en")

    # The choice sticks for the session ...
    page.goto(f"{live_server}/drugs")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # ... and the other link brings Chinese back.
    with page.expect_navigation():
        page.locator(".lang").get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_drug_page_labels_are_chinese_by_default(world, live_server, browser_page):
    """The Chinese catalogue is really loaded (Babel resolves zh_CN to zh_Hans_CN: a catalogue filed under zh_CN/
    would silently leave every label in English)."""
    _, drug_id = _stock_lhqw(world)
    page = browser_page

    login_as(page, live_server, "cashier", TEST_PASSWORD)
    page.goto(f"{live_server}/drugs/{drug_id}")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    headings = page.locator("main h2").all_inner_texts()
    assert headings and all(CJK.search(h) for h in headings), f"section headings not in Chinese: {headings}"


def test_chinese_link_is_marked_as_the_chosen_language(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server}/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".lang a.on")).to_have_text("中文", timeout=2_000)
