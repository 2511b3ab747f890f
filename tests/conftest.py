"""Test fixtures: every test gets its own database built by the real migrations (never create_all).

Engine: SQLite by default; PostgreSQL when YAOFANG_TEST_DATABASE_URL is set (a server database URL; the suite
creates and drops its own databases beside it). A template database is migrated and seeded once per run; each test
gets a fresh copy (SQLite file copy, PostgreSQL CREATE DATABASE … TEMPLATE).
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("YAOFANG_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_PASSWORD = "test-password-1"
# Tests run at a fixed instant: 2026-06-15 10:00 in Shanghai (02:00 UTC).
TEST_NOW = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)
TEST_TODAY = date(2026, 6, 15)

os.environ.setdefault("YAOFANG_SECRET_KEY", "test-secret-key-not-for-production")


def engine_name() -> str:
    return "postgresql" if PG_URL else "sqlite"


def pytest_report_header(config):
    if PG_URL:
        return f"yaofang database: PostgreSQL ({make_url(PG_URL).render_as_string(hide_password=True)})"
    return ("yaofang database: SQLite (set YAOFANG_TEST_DATABASE_URL=postgresql://… to run on PostgreSQL; "
            "PostgreSQL-only tests are deselected in this run)")


def pytest_collection_modifyitems(config, items):
    """Engine-specific tests run in their engine's run and are deselected (said plainly) in the other."""
    other = "sqlite_only" if PG_URL else "postgres_only"
    keep, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker(other) else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        print(f"\n[yaofang] {engine_name()} run: deselected {len(dropped)} {other.replace('_only', '')}-only "
              "tests: " + ", ".join(i.name for i in dropped))


# --- databases ------------------------------------------------------------------------------------------------------

def _pg_admin_engine():
    from core.config import normalise_database_url

    url = make_url(normalise_database_url(PG_URL))
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT"), url


def _pg_url_for(dbname: str) -> str:
    from core.config import normalise_database_url

    return make_url(normalise_database_url(PG_URL)).set(database=dbname).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_url(tmp_path_factory):
    """Migrated (alembic upgrade head) and seeded with the test store, once per run."""
    from core.clock import FixedClock, use
    from core.migrate import upgrade

    if PG_URL:
        admin, base = _pg_admin_engine()
        name = f"{base.database}_tpl_{os.getpid()}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _pg_url_for(name)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('tpl') / 'template.db'}"
    upgrade(url)
    from core.db import make_engine, new_session

    engine = make_engine(url)
    with use(FixedClock(TEST_NOW)):
        with new_session(engine) as session:
            seed_world(session)
    engine.dispose()
    yield url
    if PG_URL:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(template_url, tmp_path):
    """A fresh copy of the template database for one test."""
    if PG_URL:
        admin, base = _pg_admin_engine()
        name = f"{base.database}_t_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template_url).database}"'))
        yield _pg_url_for(name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        src = sqlite3.connect(make_url(template_url).database)
        target = tmp_path / "test.db"
        dst = sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        yield f"sqlite:///{target}"


@pytest.fixture
def clock():
    from core.clock import FixedClock, use

    with use(FixedClock(TEST_NOW)) as fixed:
        yield fixed


@pytest.fixture
def app(db_url, clock, tmp_path):
    from core.app import create_app

    os.environ["YAOFANG_INSTANCE_DIR"] = str(tmp_path / "instance")
    application = create_app({"DATABASE_URL": db_url, "TESTING": True, "SCHEDULER_IN_PROCESS": False,
                              "SECRET_KEY": "test-secret"})
    yield application
    application.extensions["yaofang.engine"].dispose()


@pytest.fixture
def db(app):
    """A session of the test's own, outside any app context: requests made by the test client must not share
    the test's `g` (Flask reuses a pushed app context for requests)."""
    from core.db import new_session

    session = new_session(app.extensions["yaofang.engine"])
    yield session
    session.close()


@pytest.fixture
def client(app):
    return app.test_client()


# --- the test store ---------------------------------------------------------------------------------------------------

ROLES = ["admin", "quality_manager", "purchaser", "receiver", "inspector", "curator", "pharmacist", "cashier",
         "store_manager", "finance"]
CATALOGUE = Path(__file__).resolve().parent.parent / "inventory" / "demo_data" / "nhsa_catalogue_sample.csv"


def catalogue_rows() -> list[dict]:
    import csv

    with CATALOGUE.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def seed_world(session) -> None:
    """One store with every location kind, a user per role, a few real catalogue drugs (approved and not)."""
    from core.services import Actor, create_store, create_user
    from inventory.demo import drug_fields_from_catalogue
    from inventory.services import create_drug, create_location

    system = Actor.system("test")
    store = create_store(session, system, code="T001", name="测试药房", timezone="Asia/Shanghai")
    other = create_store(session, system, code="T002", name="另一家药房", timezone="Asia/Shanghai")
    actor = Actor.system("test", store.id)
    for role in ROLES:
        create_user(session, actor, username=role, display_name=role, password=TEST_PASSWORD, store_id=store.id,
                    roles=[role])
    create_user(session, Actor.system("test", other.id), username="other_admin", display_name="other",
                password=TEST_PASSWORD, store_id=other.id, roles=["admin"])
    for code, name, kind, sellable, storage in [("A01", "货架", "sellable", True, "room"),
                                                ("A02", "处方柜", "sellable", True, "room"),
                                                ("W01", "仓库", "warehouse", False, "room"),
                                                ("Y01", "待验区", "pending", False, "room"),
                                                ("R01", "不合格区", "nonconforming", False, "room"),
                                                ("C01", "冷藏柜", "cold", True, "cold")]:
        create_location(session, actor, store_id=store.id, code=code, name=name, kind=kind, sellable=sellable,
                        storage_class=storage)
    create_location(session, Actor.system("test", other.id), store_id=other.id, code="A01", name="货架",
                    kind="sellable")
    from pos.services import create_register

    create_register(session, actor, store_id=store.id, code="POS1", name="1号收银台",
                    printer_url="network://127.0.0.1:9100")
    rows = catalogue_rows()
    picks = {"INSULIN": next(r for r in rows if "胰岛素" in r["generic_name"]),
             "EPH": next(r for r in rows if "伪麻" in r["generic_name"]),
             "PLAIN": rows[2], "PENDING": rows[3]}
    for code, row in picks.items():
        fields = drug_fields_from_catalogue(row)
        fields["approval_status"] = "pending" if code == "PENDING" else "approved"
        create_drug(session, actor, code=code, **fields)
    # A real EAN-13 and its product (drug_barcodes_cn.csv): 连花清瘟胶囊, 12 capsules x 3 blisters per box; the
    # price is a test value (the source gives none).
    create_drug(session, actor, code="LHQW", generic_name="连花清瘟胶囊", specification="0.35g*12S*3板",
                package_unit="盒", smallest_unit="粒", units_per_package=36, manufacturer="石家庄以岭药业股份有限公司",
                approval_no="国药准字Z20040063", category="patent", rx_class="otc_a", approval_status="approved",
                retail_price_fen=2850, barcodes=[("6920855052082", "ean13")])


@dataclass
class World:
    session: object
    store: object
    other_store: object
    loc: dict
    drug: dict
    users: dict

    def actor(self, role: str = "admin"):
        from core.services import actor_for

        return actor_for(self.session, self.users[role])

    def lot(self, drug_code: str = "LHQW", *, expiry_days: int | None = 365, status: str = "released",
            qty: int = 0, location: str = "A01", lot_no: str | None = None, production_days_ago: int = 300):
        from core.services import Actor
        from inventory.services import create_lot, receive_opening_stock

        actor = Actor.system("test", self.store.id)
        lot = create_lot(self.session, actor, store_id=self.store.id, drug_id=self.drug[drug_code].id,
                         lot_no=lot_no or f"L{uuid.uuid4().hex[:8].upper()}",
                         expiry_date=None if expiry_days is None else TEST_TODAY + timedelta(days=expiry_days),
                         production_date=TEST_TODAY - timedelta(days=production_days_ago), status=status)
        if qty:
            receive_opening_stock(self.session, actor, lot=lot, location=self.loc[location], quantity=qty)
        return lot


@pytest.fixture
def world(db):
    from sqlmodel import select

    from core.models import Store, User
    from inventory.models import Drug, Location

    stores = {s.code: s for s in db.exec(select(Store)).all()}
    store = stores["T001"]
    return World(session=db, store=store, other_store=stores["T002"],
                 loc={l.code: l for l in db.exec(select(Location).where(Location.store_id == store.id)).all()},
                 drug={d.code: d for d in db.exec(select(Drug)).all()},
                 users={u.username: u for u in db.exec(select(User)).all()})


# --- web helpers ------------------------------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_token(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return CSRF_RE.search(page).group(1)


def login(client, username: str, password: str = TEST_PASSWORD):
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client)})
    return response


def post_form(client, url: str, data: dict):
    return client.post(url, data={**data, "csrf_token": csrf_token(client)})


@pytest.fixture
def token_for(db, world):
    from core.services import Actor, create_token

    def make(username: str) -> dict:
        plain, _ = create_token(db, Actor.system("test"), world.users[username].id, "test")
        return {"Authorization": f"Bearer {plain}"}

    return make


# --- browser (Chromium) ------------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium_available() -> bool:
    if not Path(CHROMIUM).exists():
        return False
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return True


def require_browser():
    """Skip locally (saying why); in CI a browser test that cannot run is a failure."""
    if chromium_available():
        return
    message = f"Chromium not found at {CHROMIUM} (install Debian's chromium package) or playwright missing"
    if IN_CI:
        pytest.fail("CI: " + message)
    pytest.skip(message)
