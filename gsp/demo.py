"""Demo quality work, loaded after the demo store through the same services: a suspect report from the counter,
a non-conforming lot in the red area with a destruction waiting for approval, and the nightly expiry jobs run once
(expired lots locked, tier notices on the dashboard). Lots the counter demo sells are left alone."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import Session, select

from core.models import Store, User
from core.services import Actor, actor_for
from gsp import quality as q
from inventory.models import Drug, Location, LocationKind, Lot, LotStatus, StockBalance
from inventory.services import create_lot, receive_opening_stock, store_today


def load_quality_demo(session: Session, config: dict) -> str:
    users = {u.username: u for u in session.exec(select(User)).all()}
    if "quality" not in users or "cashier" not in users:
        return "quality demo: no demo users"
    quality, cashier = actor_for(session, users["quality"]), actor_for(session, users["cashier"])
    store = session.get(Store, quality.store_id)
    today = store_today(store)
    warehouse = session.exec(select(Location).where(Location.store_id == store.id,
                                                    Location.kind == LocationKind.WAREHOUSE)).first()
    # A lot in the warehouse the counter spotted a problem with (reported, not yet decided).
    reported = session.exec(select(Lot).join(StockBalance, StockBalance.lot_id == Lot.id)
                            .where(Lot.store_id == store.id, Lot.status == LotStatus.RELEASED,
                                   StockBalance.location_id == warehouse.id, StockBalance.quantity > 0)
                            .order_by(Lot.id)).first()
    if reported is not None:
        q.flag_suspect(session, cashier, reported.id, found_where="display",
                       note="演示：同批号两盒铝塑板颜色不一致，请质量负责人核查")
    # A damaged lot declared non-conforming: its stock sits in the red area, a destruction waits for the manager.
    drug = session.exec(select(Drug).where(Drug.approval_status == "approved", Drug.retail_price_fen > 0)
                        .order_by(Drug.id.desc())).first()
    damaged = create_lot(session, Actor.system("demo", store.id), store_id=store.id, drug_id=drug.id,
                         lot_no="NC24003", expiry_date=today + timedelta(days=420),
                         production_date=today - timedelta(days=300), status=LotStatus.RELEASED)
    receive_opening_stock(session, Actor.system("demo", store.id), lot=damaged, location=warehouse,
                          quantity=drug.units_per_package * 4)
    q.declare_nonconforming(session, quality, damaged.id, reason="suspected_quality",
                            note="演示：运输途中受潮，外包装霉变")
    q.request_destruction(session, quality, damaged.id, quantity=drug.units_per_package * 4, method="交有资质单位焚烧",
                          reason="受潮霉变，不得销售")
    readings = _demo_readings(session, actor_for(session, users["curator"]), store)
    system = Actor.system("demo", store.id)
    from gsp.curing import generate_plans

    generate_plans(session, system, store)
    locked = q.lock_expired_lots(session, system)
    marks = q.mark_expiry_tiers(session, system, config.get("EXPIRY_TIERS_DAYS", (180, 90, 30)))
    return (f"quality demo: 1 suspect report, 1 non-conforming lot with a destruction request, {locked} expired lots "
            f"locked, {sum(marks.values())} expiry-tier marks, {readings} temperature/humidity readings, curing plans")


def _demo_readings(session: Session, curator: Actor, store: Store) -> int:
    """The last seven days of readings, 09:00 and 15:00 at every location in use, as the curator records them;
    the counter fridge ran warm once (a measure was taken). Stamped at those times through the clock."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from core.clock import FixedClock, use
    from gsp.curing import record_measure, record_reading

    base = {"cold": (5.0, 52), "cool": (16.5, 55), "room": (22.0, 50)}
    rng = random.Random(7)
    tz = ZoneInfo(store.timezone)
    today = store_today(store)
    locations = session.exec(select(Location).where(Location.store_id == store.id, Location.active.is_(True))
                             .order_by(Location.code)).all()
    count = 0
    for days_ago in range(7, 0, -1):
        for hour in (9, 15):
            at = datetime.combine(today - timedelta(days=days_ago), time(hour, 0), tz)
            with use(FixedClock(at)):
                for loc in locations:
                    t, h = base.get(loc.storage_class, base["room"])
                    t, h = round(t + rng.uniform(-1.5, 1.5), 1), round(h + rng.uniform(-6, 6))
                    if loc.code == "C01" and days_ago == 3 and hour == 15:
                        t = 11.4  # the fridge door was left open
                    reading = record_reading(session, curator, location_id=loc.id, temperature=t, humidity=h)
                    count += 1
                    if reading.out_of_range:
                        record_measure(session, curator, reading.id,
                                       "演示：冰柜门未关严，已关闭并复测 4.8 °C，柜内药品已检查无异常")
    return count
