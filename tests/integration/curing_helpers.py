"""Curing and temperature/humidity records for tests (real services, real database)."""
from __future__ import annotations

from tests.conftest import TEST_TODAY


def make_plans(world, role: str = "admin"):
    from gsp.curing import generate_plans

    return generate_plans(world.session, world.actor(role), world.store, today=TEST_TODAY)


def curing_url_args(world) -> dict:
    """A plan with an item (needs a lot with stock in the store) and an out-of-range reading at A01."""
    from gsp.curing import plan_items, record_reading

    plan = make_plans(world)[0]
    item = plan_items(world.session, plan.id)[0][0]
    reading = record_reading(world.session, world.actor("curator"), location_id=world.loc["A01"].id,
                             temperature="33.5", humidity="50")
    return {"plan_id": plan.id, "item_id": item.id, "reading_id": reading.id}
