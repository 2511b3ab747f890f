"""Demo counter activity: a closed shift with a few real-looking sales and a return, so the manager's view, the
journal and the receipts have something to show. Runs after the inventory demo, through the same services."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session, select

from core import clock
from core.clock import FixedClock, use
from core.models import User
from core.services import actor_for
from inventory.models import Drug, Lot, LotStatus, RxClass, SpecialClass, StockBalance
from inventory.services import store_today
from pos import services as pos
from pos.models import Register, SaleLine


def load_pos_demo(session: Session, config: dict) -> str:
    register = session.exec(select(Register).order_by(Register.id)).first()
    if register is None:
        return "pos demo: no register"
    users = {u.username: u for u in session.exec(select(User)).all()}
    cashier = actor_for(session, users["cashier"])
    from core.models import Store

    store = session.get(Store, register.store_id)
    # Oral drugs with sellable stock on the shelf, none of the special classes
    sellable = session.exec(
        select(Drug).join(Lot, Lot.drug_id == Drug.id).join(StockBalance, StockBalance.lot_id == Lot.id)
        .where(Drug.special_class == SpecialClass.NONE, Lot.status == LotStatus.RELEASED,
               Drug.dosage_form.contains("片") | Drug.dosage_form.contains("胶囊") | Drug.dosage_form.contains("颗粒"),
               Lot.expiry_date > store_today(store) + timedelta(days=30), StockBalance.quantity > 0,
               Drug.retail_price_fen > 0)
        .distinct()).all()
    if not sellable:
        return "pos demo: nothing sellable"
    # Yesterday morning in the store: the shift and its sales are stamped then (the clock is the source of time).
    start = clock.now() - timedelta(days=1, hours=2)
    sales = []
    with use(FixedClock(start)) as fixed:
        pos.open_shift(session, cashier, register, 50000)
        for i in range(6):
            fixed.advance(minutes=37)
            drug = sellable[i % len(sellable)]
            pos.add_item(session, cashier, register, drug_id=drug.id, packs=1 + i % 2)
            if drug.rx_class == RxClass.RX:  # reviewed by the demo pharmacist at this register
                pos.record_prescription(session, cashier, register, number=f"演示处方-{i + 1:03d}",
                                        prescriber="演示医师", institution="演示社区卫生服务中心",
                                        issued_on=store_today(store), diagnosis="演示诊断")
                pos.review_prescription(session, cashier, register, pharmacist_username="pharmacist",
                                        password=config.get("DEMO_PASSWORD", "yaofang-demo"), approve=True)
            total = sum(l.unit_price_fen * l.pack_quantity for l, _d, _lot in
                        pos.cart_lines(session, pos.current_cart(session, register).id))
            tenders = [("cash", (total // 1000 + 1) * 1000, "")] if i % 3 != 1 else \
                [("wechat", total, f"4200002026{i:014d}")]
            sales.append(pos.commit_sale(session, cashier, register, tenders=tenders, client_uuid=str(uuid.uuid4())))
        fixed.advance(minutes=20)
        first_line = session.exec(select(SaleLine).where(SaleLine.sale_id == sales[0].id)).first()
        pos.create_return(session, cashier, register, sale_number_or_code=sales[0].sale_number,
                          packs_by_line={first_line.id: 1}, reason="quality_problem", note="演示：包装破损",
                          approver_username="manager", approver_password=config.get("DEMO_PASSWORD", "yaofang-demo"),
                          client_uuid=str(uuid.uuid4()))
        fixed.advance(hours=6)
        report = pos.shift_report(session, pos.open_shift_of(session, register.id))
        pos.close_shift(session, cashier, register, report["expected_cash_fen"])
    return f"pos demo: {len(sales)} sales and 1 return on {register.code} (yesterday)"
