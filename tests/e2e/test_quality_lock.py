"""A quality manager locks a lot from its quality page in real headless Chromium; the counter then refuses it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from inventory.models import LotStatus, LotStatusEvent
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import login_as, screenshot

pytestmark = pytest.mark.browser

LOT_NO = "E2E-LOCK-01"


def test_quality_manager_locks_a_lot_from_its_page(world, live_server, browser_page):
    lot = world.lot("LHQW", qty=72, lot_no=LOT_NO)
    page = browser_page
    login_as(page, live_server, "quality_manager", TEST_PASSWORD)

    # From the drug's lot page to its quality page, as a user would.
    page.goto(f"{live_server}/lots/{lot.id}")
    with page.expect_navigation():
        page.locator("#quality-link").click()
    expect(page.locator("main h1")).to_contain_text(LOT_NO)
    expect(page.locator("#lot-status")).to_have_text("已放行")

    form = page.locator("#lock-form")
    form.locator("select[name=reason]").select_option("suspected_counterfeit")
    form.locator("textarea[name=note]").fill("外包装印刷模糊，疑似假冒")
    with page.expect_navigation():
        form.get_by_role("button").click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.locator("#lot-status")).to_have_text("锁定")
    expect(page.locator("#status-history tbody tr").first).to_contain_text("外包装印刷模糊，疑似假冒")
    expect(page.locator("#unlock-form")).to_be_visible()
    shot = screenshot(page, "quality-lot-locked")
    assert shot.stat().st_size > 10_000

    world.session.rollback()
    world.session.expire_all()
    assert world.session.get(type(lot), lot.id).status == LotStatus.LOCKED
    event = world.session.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == lot.id)
                               .order_by(LotStatusEvent.id.desc())).first()
    assert (event.reason_category, event.actor_id) == ("suspected_counterfeit", world.users["quality_manager"].id)

    # The quality overview lists it among the locked lots.
    page.goto(f"{live_server}/quality/")
    expect(page.locator("#locked-lots tbody tr", has_text=LOT_NO)).to_have_count(1)
