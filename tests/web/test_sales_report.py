"""The store manager's view of a business day."""
import re

from tests.conftest import login
from tests.integration.pos_helpers import Counter


def test_day_report_by_hour_tender_cashier_and_drug(client, world):
    counter = Counter(world)
    world.lot(qty=3600)
    counter.add(packs=2)
    counter.pay(("cash", 6000, ""))
    counter.add()
    counter.pay(("alipay", 2850, "ALI-1"))
    login(client, "store_manager")
    page = client.get("/reports/sales?date=2026-06-15")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "￥85.50" in text  # net sales: 3 packs × 28.50
    assert "<svg" in text and "10:00 ￥85.50" in text  # sold at 10:00 Shanghai time
    assert "连花清瘟胶囊" in text and re.search(r">3</td>", text)
    assert "收银" in text or "cashier" in text
    assert client.get("/reports/sales?date=2026-13-45").status_code == 422


def test_cashier_cannot_see_the_report(client, world):
    login(client, "cashier")
    assert client.get("/reports/sales").status_code == 403
