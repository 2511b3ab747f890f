"""Licence expiry warnings: one notification per staff licence ending within LICENCE_WARNING_DAYS (or ended), for
the holder's store and the people who manage staff; re-running notifies nothing new."""
from datetime import timedelta

from sqlmodel import select

from core.models import Notification
from core.scheduler import run_slot
from core.services import Actor, add_licence, notifications_for
from tests.conftest import TEST_TODAY


def licence(world, username, kind, days, number=None):
    return add_licence(world.session, Actor.system("test"), world.users[username].id, kind=kind,
                       number=number or f"N-{username}-{days}", valid_until=TEST_TODAY + timedelta(days=days))


def notices(db):
    db.rollback()
    return {n.dedupe_key: n for n in db.exec(select(Notification).where(Notification.kind == "licence_expiry"))}


def test_licences_ending_soon_are_notified_once(app, world):
    db = world.session
    soon = licence(world, "pharmacist", "pharmacist", 10)
    ended = licence(world, "store_manager", "training", -5)
    later = licence(world, "cashier", "health_certificate", 60)
    licence(world, "curator", "health_certificate", 5)  # renewed: a newer certificate of the same kind exists
    licence(world, "curator", "health_certificate", 3 * 365)
    elsewhere = licence(world, "other_admin", "training", 30)  # the last day of the window counts

    run = run_slot(app, "licence_expiry")
    assert run.status == "ok", run.message
    got = notices(db)
    assert set(got) == {f"licence:{lic.id}:{lic.valid_until.isoformat()}" for lic in (soon, ended, elsewhere)}
    n = got[f"licence:{soon.id}:{soon.valid_until.isoformat()}"]
    assert (n.permission, n.store_id, n.entity_type, n.entity_id) == ("user.read", world.store.id, "staff_licence",
                                                                      str(soon.id))
    assert soon.number in n.body and "pharmacist" in n.title
    assert got[f"licence:{elsewhere.id}:{elsewhere.valid_until.isoformat()}"].store_id == world.other_store.id
    assert "3 new" in run.message

    again = run_slot(app, "licence_expiry", slot="again")
    assert again.status == "ok" and "0 new" in again.message
    assert len(notices(db)) == 3

    # A longer window reaches the cashier's certificate: only that one is new.
    app.config["LICENCE_WARNING_DAYS"] = 90
    wider = run_slot(app, "licence_expiry", slot="wider")
    assert "1 new" in wider.message
    assert f"licence:{later.id}:{later.valid_until.isoformat()}" in notices(db)


def test_the_notice_reaches_staff_managers_of_the_store_only(app, world):
    db = world.session
    licence(world, "pharmacist", "pharmacist", 7)
    run_slot(app, "licence_expiry")
    db.rollback()
    assert [n.kind for n in notifications_for(db, world.actor("store_manager"), world.store.id)] == ["licence_expiry"]
    assert notifications_for(db, world.actor("cashier"), world.store.id) == []
    other = world.actor("other_admin")
    assert [n for n in notifications_for(db, other, world.other_store.id) if n.kind == "licence_expiry"] == []
