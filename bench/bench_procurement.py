"""Procurement benchmark: receiving and inspecting a 200-line purchase order through the real HTTP entry points.

Goal (issue): "Receiving and inspecting a 200-line order: report p95 per request on SQLite and PostgreSQL
(goal ≤ 300 ms)".

The script builds its own database with the real migrations (`core.migrate.upgrade`): a fresh SQLite file
(bench/out/procurement.db) or a fresh PostgreSQL database (dropped and re-created; the name must contain "bench").
Through the real services it creates a store with a business scope, its locations, a purchaser / quality manager /
receiver / inspector, every room-temperature drug of inventory/demo_data/nhsa_catalogue_sample.csv as an approved
drug, and an approved supplier. Then, per order (1 warm-up order, not recorded, then --orders measured ones):

1. create + confirm a --lines-line order with `gsp.purchasing` (service calls, timed for information only);
2. through Flask's test client, logged in as the receiver (and, below, the inspector) with the session's CSRF token —
   or with Bearer tokens against the JSON API when gsp/api_procurement.py has the routes (`--path auto`):
   GET the receive page, POST the receipt of all lines (one request), GET the receipt page;
3. per receipt line: GET the inspection page, POST the inspection (every 25th line rejects one package into the red
   area; the rest is accepted into A01); every 10th line, and after the last, GET the receipt page (where the
   browser lands after each inspection); at the end GET the stock-in slip.

Then --receive-orders (default 20) more orders go through steps 1–2 only, so that the receipt request has enough
samples for a p95 (those receipts stay waiting for inspection).

Every request is timed on the client (`time.perf_counter` around the test-client call, redirects not followed) and
its SQL statements are counted. Baseline, same run, interleaved (just before the service request it mirrors): the
same INSERTs / UPDATEs written by hand on the raw DBAPI connection INTO THE REAL TABLES, inside a transaction that is
ROLLED BACK (so nothing of it stays): receipt = 200 lots (one multi-row INSERT … RETURNING), 200 lot status events,
the receipt, 200 receipt lines, the order's UPDATE to closed, the notification and the audit row; inspection = the
lot's status UPDATE, its status event and audit row, the balance upsert and the movement (twice when a package is
rejected), the inspection row and its audit row. The baseline reads nothing it does not need (no validation). Because
it ends in ROLLBACK it does not pay the commit; the cost of a commit on its own is measured separately ("commit
floor": BEGIN, one-row INSERT into a scratch table bench_commit_probe, COMMIT).

With --profile (default) one more order runs under cProfile after the measured ones; the profiles go to bench/out/.
Results: bench/out/procurement_<engine>_<api|html>.json; bench/PROCUREMENT_RESULTS.md is rendered from every such file
present (a hand-written findings section below its marker is kept).

    .venv/bin/python bench/bench_procurement.py --url sqlite:///bench/out/procurement.db
    .venv/bin/python bench/bench_procurement.py --url postgresql://postgres@127.0.0.1:5432/yaofang_bench_procurement
    .venv/bin/python bench/bench_procurement.py --url … --path html   # the HTML forms even when the API exists
    .venv/bin/python bench/bench_procurement.py --render-only         # rewrite bench/PROCUREMENT_RESULTS.md
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (OUT_DIR, REPO_ROOT, engine_kind, normalise_url, recreate, summarize_ms,  # noqa: E402
                    write_results_md)
from pos_common import StatementCounter, md_table, run_facts, sqlite_ts  # noqa: E402

GOAL_P95_MS = 300.0
DEFAULT_SQLITE = f"sqlite:///{OUT_DIR / 'procurement.db'}"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yaofang_bench_procurement"
RESULTS_MD = REPO_ROOT / "bench" / "PROCUREMENT_RESULTS.md"
CATALOGUE = REPO_ROOT / "inventory" / "demo_data" / "nhsa_catalogue_sample.csv"

STORE_CODE = "BP01"
PASSWORD = "bench-password-1"
USERS = {"purchaser": "bench_purchaser", "quality_manager": "bench_qm", "receiver": "bench_receiver",
         "inspector": "bench_inspector"}
SCOPE = "化学药制剂\n中成药\n生物制品\n冷藏冷冻药品"
CREDIT_CODE = "91110000802100433B"  # checksum-valid example (tests/integration/procurement_helpers.py)
REP_ID = "11010519491231002X"
LOCATIONS = [("A01", "货架", "sellable", True, "room"), ("W01", "仓库", "warehouse", False, "room"),
             ("Y01", "待验区", "pending", False, "room"), ("R01", "不合格区", "nonconforming", False, "room"),
             ("C01", "冷藏柜", "cold", True, "cold")]
REJECT_EVERY = 25  # every 25th line: one package rejected into the red area
RECEIPT_PAGE_EVERY = 10
REJECT_REASON = "外包装破损"
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')
API_RECEIVE = "/api/v1/purchase-orders/{order_id}/receipts"
API_INSPECT = "/api/v1/receipt-lines/{line_id}/inspection"

# Request types, in the order they are reported.
KINDS = {
    "receive": "POST receipt (all lines, one request)",
    "inspect": "POST inspection (one line)",
    "receive_page": "GET receive page",
    "receipt_page": "GET receipt page",
    "inspect_page": "GET inspection page",
    "slip_page": "GET stock-in slip",
}
RAW_KINDS = {"receive": "raw_receive", "inspect": "raw_inspect"}


# --- the database ---------------------------------------------------------------------------------------------------

class World:
    """Ids of what build() created."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def build(url: str) -> World:
    """Migrate a fresh database and create store, users, locations, drugs and an approved supplier through the
    services."""
    from sqlmodel import select

    from core.db import make_engine, new_session
    from core.errors import YaofangError
    from core.migrate import upgrade
    from core.services import Actor, actor_for, create_store, create_user
    from gsp import qualification as qual
    from inventory import services as inv
    from inventory.demo import drug_fields_from_catalogue
    from inventory.models import Drug, StorageClass

    recreate(url)
    t0 = time.perf_counter()
    upgrade(url)
    migrated_s = time.perf_counter() - t0
    engine = make_engine(url)
    with new_session(engine) as s:
        system = Actor.system("bench")
        store = create_store(s, system, code=STORE_CODE, name="采购基准药房", timezone="Asia/Shanghai",
                             business_scope=SCOPE)
        actor = Actor.system("bench", store.id)
        users = {role: create_user(s, actor, username=name, display_name=f"基准{role}", password=PASSWORD,
                                   store_id=store.id, roles=[role]).id for role, name in USERS.items()}
        locs = {code: inv.create_location(s, actor, store_id=store.id, code=code, name=name, kind=kind,
                                          sellable=sellable, storage_class=storage).id
                for code, name, kind, sellable, storage in LOCATIONS}
        with CATALOGUE.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        skipped = 0
        for i, row in enumerate(rows):
            fields = drug_fields_from_catalogue(row)
            fields["approval_status"] = "approved"
            try:
                inv.create_drug(s, actor, code=f"BP{i:04d}", **fields)
            except YaofangError:
                skipped += 1
        drugs = s.exec(select(Drug.id, Drug.storage_class).order_by(Drug.id)).all()
        room = [d for d, storage in drugs if storage == StorageClass.ROOM]
        today = inv.store_today(store)
        until = (today + timedelta(days=400)).isoformat()
        purchaser = actor_for(s, _user(s, users["purchaser"]))
        supplier = qual.submit_supplier(
            s, purchaser, code="BSUP1", name="基准医药有限公司", credit_code=CREDIT_CODE, business_scope=SCOPE,
            licences=[{"kind": "trade", "number": "京AA0000001", "valid_until": until, "scope": SCOPE},
                      {"kind": "business", "number": CREDIT_CODE, "valid_until": None}],
            reps=[{"name": "张三", "id_number": REP_ID, "valid_until": (today + timedelta(days=200)).isoformat()}])
        qual.decide_supplier(s, actor_for(s, _user(s, users["quality_manager"])), supplier.id, approve=True)
        world = World(store_id=store.id, users=users, locs=locs, drugs=len(drugs), room_drugs=room,
                      skipped_drugs=skipped, supplier_id=supplier.id, migrated_s=round(migrated_s, 2))
    engine.dispose()
    return world


def _user(session, user_id):
    from core.models import User

    return session.get(User, user_id)


def make_order(engine, world: World, n_lines: int, seq: int) -> tuple[int, list[tuple], dict]:
    """Create and confirm an order of n_lines drugs through gsp.purchasing. Returns the order id, its lines as
    (order_line_id, drug_id, packages, units_per_package) and the service times."""
    from core.db import new_session
    from core.models import Store
    from core.services import actor_for
    from gsp import purchasing as pur

    if n_lines > len(world.room_drugs):
        raise SystemExit(f"only {len(world.room_drugs)} room-temperature drugs: --lines {n_lines} is too many")
    with new_session(engine) as s:
        purchaser = actor_for(s, _user(s, world.users["purchaser"]))
        store = s.get(Store, world.store_id)
        lines = [{"drug_id": drug_id, "packages": 5 + (i * 7 + seq) % 40, "unit_cost_fen": 500 + (i * 37) % 5000}
                 for i, drug_id in enumerate(world.room_drugs[:n_lines])]
        t0 = time.perf_counter()
        order = pur.create_order(s, purchaser, store=store, supplier_id=world.supplier_id, lines=lines)
        t1 = time.perf_counter()
        order = pur.confirm_order(s, purchaser, store=store, order_id=order.id)
        t2 = time.perf_counter()
        rows = [(line.id, drug.id, line.quantity // drug.units_per_package, drug.units_per_package)
                for line, drug in pur.order_lines(s, order.id)]
        return order.id, rows, {"create_s": t1 - t0, "confirm_s": t2 - t1}


# --- what is sent ----------------------------------------------------------------------------------------------------

def receipt_lines(order_lines: list[tuple], seq: int, today, waiting_id: int, prefix: str = "L") -> list[dict]:
    out = []
    for i, (line_id, _drug_id, packages, _units) in enumerate(order_lines):
        out.append({"order_line_id": line_id, "lot_no": f"{prefix}{seq:03d}-{i:03d}",
                    "production_date": (today - timedelta(days=30 + i % 60)).isoformat(),
                    "expiry_date": (today + timedelta(days=720 + i % 90)).isoformat(),
                    "packages": packages, "refused_packages": 0, "refuse_reason": "", "cases": 1 + i % 4,
                    "part_cases": i % 2, "arrival_temp_c": None, "waiting_location_id": waiting_id, "gtin": "",
                    "trace_code": ""})
    return out


def receive_form(lines: list[dict], delivery_note_no: str, client_uuid: str, token: str) -> dict:
    data = {"csrf_token": token, "client_uuid": client_uuid, "delivery_note_no": delivery_note_no}
    for i, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{i}-{key}"] = "" if value is None else str(value)
    return data


def inspection_for(i: int, packages: int, cases: int, part_cases: int, accept_to: int) -> dict:
    from gsp.purchasing import sampling_plan

    rejected = 1 if i % REJECT_EVERY == REJECT_EVERY - 1 else 0
    return {"sampled": sampling_plan(cases, part_cases, received_packages=packages).total,
            "appearance_ok": True, "packaging_ok": True, "label_ok": True, "report_ok": True,
            "accepted": packages - rejected, "rejected": rejected,
            "reject_reason": REJECT_REASON if rejected else "", "location_id": accept_to, "note": ""}


def inspection_form(values: dict, token: str) -> dict:
    data = {"csrf_token": token}
    for key, value in values.items():
        if isinstance(value, bool):
            if value:
                data[key] = "y"
        else:
            data[key] = str(value)
    return data


# --- the raw baseline -----------------------------------------------------------------------------------------------

class Raw:
    """The same writes by hand on one open DBAPI connection, into the real tables, rolled back."""

    def __init__(self, url: str, world: World):
        from core.db import make_engine

        self.engine = make_engine(url)
        self.pg = self.engine.dialect.name == "postgresql"
        self.p = "%s" if self.pg else "?"
        self.world = world
        self.conn = self.engine.raw_connection()
        self.receiver = world.users["receiver"]
        self.inspector = world.users["inspector"]

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def _ts(self):
        from core import clock

        now = clock.now()
        return now if self.pg else sqlite_ts(now)

    def _d(self, iso: str):
        from datetime import date

        return date.fromisoformat(iso) if self.pg else iso

    def _begin(self, cur) -> None:
        if not self.pg:
            cur.execute("BEGIN IMMEDIATE")

    def _sql(self, table: str, cols: tuple, returning: str | None = None, rows: int = 1, extra: str = "") -> str:
        one = "(" + ", ".join([self.p] * len(cols)) + ")"
        sql = f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ' + ", ".join([one] * rows) + extra
        return sql + (f" RETURNING {returning}" if returning else "")

    def _audit(self, cur, actor_id: int, action: str, entity_type: str, entity_id, summary: dict, reason=""):
        cur.execute(self._sql("audit_event", ("store_id", "actor_id", "actor_name", "action", "entity_type",
                                              "entity_id", "summary", "reason", "ip_address", "at")),
                    (self.world.store_id, actor_id, "bench", action, entity_type, str(entity_id),
                     json.dumps(summary, ensure_ascii=False), reason, None, self._ts()))

    def receive(self, order_id: int, lines: list[dict], order_lines: list[tuple], delivery_note_no: str) -> None:
        w, now = self.world, self._ts()
        drug_of = {line_id: drug_id for line_id, drug_id, _p, _u in order_lines}
        units_of = {line_id: units for line_id, _d, _p, units in order_lines}
        cur = self.conn.cursor()
        try:
            self._begin(cur)
            lot_cols = ("store_id", "drug_id", "lot_no", "production_date", "expiry_date", "status", "created_at")
            params = []
            for line in lines:
                params += [w.store_id, drug_of[line["order_line_id"]], line["lot_no"],
                           self._d(line["production_date"]), self._d(line["expiry_date"]), "pending_inspection", now]
            cur.execute(self._sql("lot", lot_cols, "id, drug_id", rows=len(lines)), params)
            lot_of = {drug_id: lot_id for lot_id, drug_id in cur.fetchall()}
            cur.executemany(self._sql("lot_status_event", ("store_id", "lot_id", "from_status", "to_status",
                                                           "reason_category", "note", "actor_id", "at")),
                            [(w.store_id, lot_id, None, "pending_inspection", "received", "", self.receiver, now)
                             for lot_id in lot_of.values()])
            cur.execute(self._sql("receipt", ("store_id", "number", "order_id", "supplier_id", "delivery_note_no",
                                              "client_uuid", "received_by_id", "received_at"), "id"),
                        (w.store_id, f"RAW-{uuid.uuid4().hex[:12]}", order_id, w.supplier_id, delivery_note_no,
                         str(uuid.uuid4()), self.receiver, now))
            receipt_id = cur.fetchone()[0]
            cur.executemany(self._sql("receipt_line", (
                "receipt_id", "store_id", "order_line_id", "drug_id", "lot_no", "production_date", "expiry_date",
                "lot_id", "quantity_received", "quantity_refused", "refuse_reason", "cases", "part_cases",
                "arrival_temp_dc", "waiting_location_id", "needs_decision", "gtin", "trace_code")),
                [(receipt_id, w.store_id, line["order_line_id"], drug_of[line["order_line_id"]], line["lot_no"],
                  self._d(line["production_date"]), self._d(line["expiry_date"]),
                  lot_of[drug_of[line["order_line_id"]]], line["packages"] * units_of[line["order_line_id"]], 0, "",
                  line["cases"], line["part_cases"], None, line["waiting_location_id"], "", "", "")
                 for line in lines])
            cur.execute(f"UPDATE purchase_order SET status = 'closed', closed_at = {self.p}, close_note = {self.p} "
                        f"WHERE id = {self.p}", (now, "received in full", order_id))
            cur.execute(self._sql("notification", ("kind", "dedupe_key", "permission", "title", "body", "store_id",
                                                   "entity_type", "entity_id", "created_at"), "id",
                                  extra=" ON CONFLICT (dedupe_key) DO NOTHING"),
                        ("receipt_to_inspect", f"raw-receipt:{receipt_id}:inspect", "purchase.inspect",
                         "Goods to inspect", "", w.store_id, "receipt", str(receipt_id), now))
            cur.fetchall()
            self._audit(cur, self.receiver, "receipt.create", "receipt", receipt_id,
                        {"after": {"lines": len(lines)}})
        finally:
            cur.close()
            self.conn.rollback()

    def inspect(self, line_id: int, lot_id: int, values: dict, units: int, unit_cost: int | None) -> None:
        w, now = self.world, self._ts()
        accepted, rejected = values["accepted"] * units, values["rejected"] * units
        cur = self.conn.cursor()
        upsert = (self._sql("stock_balance", ("store_id", "lot_id", "location_id", "quantity"), "quantity",
                            extra=" ON CONFLICT (lot_id, location_id) DO UPDATE SET quantity = "
                                  "stock_balance.quantity + excluded.quantity"))
        movement = self._sql("stock_movement", ("store_id", "lot_id", "location_id", "kind", "quantity",
                                                "balance_after", "reference", "reason", "actor_id", "at",
                                                "unit_cost_fen"), "id")
        try:
            self._begin(cur)
            cur.execute(f"UPDATE lot SET status = 'released' WHERE id = {self.p} AND status = 'pending_inspection'",
                        (lot_id,))
            cur.execute(self._sql("lot_status_event", ("store_id", "lot_id", "from_status", "to_status",
                                                       "reason_category", "note", "actor_id", "at")),
                        (w.store_id, lot_id, "pending_inspection", "released", "accepted", "raw", self.inspector, now))
            self._audit(cur, self.inspector, "lot.status", "lot", lot_id,
                        {"before": {"status": "pending_inspection"}, "after": {"status": "released"}})
            for qty, loc, reason in ((accepted, w.locs["A01"], "验收合格"),
                                     (rejected, w.locs["R01"], f"验收不合格：{REJECT_REASON}")):
                if not qty:
                    continue
                cur.execute(upsert, (w.store_id, lot_id, loc, qty))
                balance = cur.fetchone()[0]
                cur.execute(movement, (w.store_id, lot_id, loc, "receipt", qty, balance, "receipt:raw", reason,
                                       self.inspector, now, unit_cost))
                cur.fetchone()
            cur.execute(self._sql("inspection", (
                "store_id", "receipt_line_id", "lot_id", "required_sample", "sampled", "appearance_ok", "packaging_ok",
                "label_ok", "report_ok", "accepted_qty", "rejected_qty", "reject_reason", "conclusion", "location_id",
                "note", "inspector_id", "at")),
                (w.store_id, line_id, lot_id, values["sampled"], values["sampled"], True, True, True, True, accepted,
                 rejected, values["reject_reason"], "partly_accepted" if rejected else "accepted", w.locs["A01"], "",
                 self.inspector, now))
            self._audit(cur, self.inspector, "inspection.create", "lot", lot_id,
                        {"after": {"accepted": accepted, "rejected": rejected}}, values["reject_reason"])
        finally:
            cur.close()
            self.conn.rollback()

    def commit_floor(self, n: int) -> list[float]:
        """BEGIN; one-row INSERT into a scratch table; COMMIT — what a commit costs on its own."""
        ident = "SERIAL PRIMARY KEY" if self.pg else "INTEGER PRIMARY KEY"
        cur = self.conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS bench_commit_probe (id {ident}, at TEXT NOT NULL)")
        self.conn.commit()
        samples = []
        for _ in range(n + 20):
            t0 = time.perf_counter()
            self._begin(cur)
            cur.execute(f"INSERT INTO bench_commit_probe (at) VALUES ({self.p})", (str(time.time()),))
            self.conn.commit()
            samples.append(time.perf_counter() - t0)
        cur.close()
        return samples[20:]


# --- the HTTP side ---------------------------------------------------------------------------------------------------

class Http:
    def __init__(self, url: str, world: World, path: str):
        os.environ["YAOFANG_INSTANCE_DIR"] = str(OUT_DIR / "procurement-instance")
        from core.app import create_app

        self.app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER_IN_PROCESS": False,
                               "PRINT_WORKER_IN_PROCESS": False, "SECRET_KEY": "bench-secret-key-not-for-production"})
        self.engine = self.app.extensions["yaofang.engine"]
        self.statements = StatementCounter(self.engine)
        self.world = world
        rules = {re.sub(r"<(?:\w+:)?(\w+)>", "<x>", r.rule) for r in self.app.url_map.iter_rules()}
        has_api = {"/api/v1/purchase-orders/<x>/receipts", "/api/v1/receipt-lines/<x>/inspection"} <= rules
        if path == "api" and not has_api:
            raise SystemExit("--path api: gsp/api_procurement.py has no receipts / inspection routes in this build")
        self.api = has_api if path == "auto" else path == "api"
        self.path_note = ("JSON API (POST /api/v1/purchase-orders/<id>/receipts, POST "
                          "/api/v1/receipt-lines/<id>/inspection, Bearer token)" if self.api else
                          "HTML forms (POST /procurement/orders/<id>/receive, POST "
                          "/procurement/receipt-lines/<id>/inspection, session cookie + CSRF token)")
        if path == "auto" and not has_api:
            self.path_note += "; the JSON API routes do not exist in this build"
        self.receiver = self._login(USERS["receiver"], world.users["receiver"])
        self.inspector = self._login(USERS["inspector"], world.users["inspector"])
        self.samples: dict[str, list[float]] = {k: [] for k in KINDS}
        self.counts: dict[str, list[int]] = {k: [] for k in KINDS}
        self.record = True

    def _login(self, username: str, user_id: int) -> dict:
        client = self.app.test_client()
        token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
        resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        if resp.status_code != 302:
            raise RuntimeError(f"login as {username} failed: {resp.status_code}")
        page = client.get("/procurement/").get_data(as_text=True)
        who = {"client": client, "csrf": CSRF_RE.search(page).group(1), "headers": {}}
        if self.api:
            from core.db import new_session
            from core.services import Actor, create_token

            with new_session(self.engine) as s:
                plain, _token = create_token(s, Actor.system("bench"), user_id, "bench")
            who["headers"] = {"Authorization": f"Bearer {plain}"}
        return who

    def timed(self, kind: str, call, expect: tuple[int, ...]):
        self.statements.count, self.statements.active = 0, True
        t0 = time.perf_counter()
        resp = call()
        elapsed = time.perf_counter() - t0
        self.statements.active = False
        if resp.status_code not in expect:
            body = resp.get_data(as_text=True)
            flash = re.findall(r'class="flash error"[^>]*>([^<]*)<', body)
            raise RuntimeError(f"{kind}: HTTP {resp.status_code} (expected {expect}): {flash or body[:800]}")
        if self.record:
            self.samples[kind].append(elapsed)
            self.counts[kind].append(self.statements.count)
        return resp

    def get(self, who: dict, kind: str, path: str):
        return self.timed(kind, lambda: who["client"].get(path), (200,))

    def receive(self, order_id: int, lines: list[dict], delivery_note_no: str) -> int:
        who, key = self.receiver, str(uuid.uuid4())
        if self.api:
            resp = self.timed("receive", lambda: who["client"].post(
                API_RECEIVE.format(order_id=order_id), headers=who["headers"],
                json={"delivery_note_no": delivery_note_no, "client_uuid": key, "lines": lines}), (200, 201))
            body = resp.get_json()
            return int(body.get("id") or body["receipt"]["id"])
        resp = self.timed("receive", lambda: who["client"].post(
            f"/procurement/orders/{order_id}/receive", data=receive_form(lines, delivery_note_no, key, who["csrf"])),
            (302,))
        return int(re.search(r"/procurement/receipts/(\d+)$", resp.headers["Location"]).group(1))

    def inspect(self, line_id: int, values: dict) -> None:
        who = self.inspector
        if self.api:
            body = {k: v for k, v in values.items() if k not in ("accepted", "rejected")}
            body.update(accepted_packages=values["accepted"], rejected_packages=values["rejected"])
            self.timed("inspect", lambda: who["client"].post(API_INSPECT.format(line_id=line_id),
                                                              headers=who["headers"], json=body), (200, 201))
            return
        self.timed("inspect", lambda: who["client"].post(f"/procurement/receipt-lines/{line_id}/inspection",
                                                          data=inspection_form(values, who["csrf"])), (302,))

    def close(self) -> None:
        self.engine.dispose()


# --- one order, end to end ------------------------------------------------------------------------------------------

def run_order(http: Http, raw: Raw, engine, world: World, n_lines: int, seq: int, raw_samples: dict | None,
              order_times: list, *, inspect: bool = True) -> dict:
    from core.db import new_session
    from core.models import Store
    from inventory import services as inv

    order_id, order_lines, times = make_order(engine, world, n_lines, seq)
    order_times.append(times)
    with new_session(engine) as s:
        today = inv.store_today(s.get(Store, world.store_id))
    lines = receipt_lines(order_lines, seq, today, world.locs["Y01"])
    note = f"DN-{seq:03d}-{uuid.uuid4().hex[:6]}"
    perf = time.perf_counter

    http.get(http.receiver, "receive_page", f"/procurement/orders/{order_id}/receive")
    t0 = perf()
    raw.receive(order_id, receipt_lines(order_lines, seq, today, world.locs["Y01"], prefix="RAW"), order_lines,
                note + "-raw")
    if raw_samples is not None:
        raw_samples["receive"].append(perf() - t0)
    receipt_id = http.receive(order_id, lines, note)
    http.get(http.receiver, "receipt_page", f"/procurement/receipts/{receipt_id}")
    if not inspect:
        return {"order_id": order_id, "receipt_id": receipt_id}

    with engine.connect() as conn:
        received = conn.exec_driver_sql(
            "SELECT rl.id, rl.lot_id, rl.quantity_received, rl.cases, rl.part_cases, d.units_per_package, "
            "pol.unit_cost_fen FROM receipt_line rl JOIN drug d ON d.id = rl.drug_id "
            "JOIN purchase_order_line pol ON pol.id = rl.order_line_id "
            f"WHERE rl.receipt_id = {int(receipt_id)} ORDER BY rl.id").all()
    if len(received) != n_lines:
        raise RuntimeError(f"receipt {receipt_id} has {len(received)} lines, expected {n_lines}")
    for i, (line_id, lot_id, qty, cases, part_cases, units, cost) in enumerate(received):
        values = inspection_for(i, qty // units, cases, part_cases, world.locs["A01"])
        t0 = perf()
        raw.inspect(line_id, lot_id, values, units, round(cost / units) if cost else None)
        if raw_samples is not None:
            raw_samples["inspect"].append(perf() - t0)
        http.get(http.inspector, "inspect_page", f"/procurement/receipt-lines/{line_id}/inspection")
        http.inspect(line_id, values)
        if (i + 1) % RECEIPT_PAGE_EVERY == 0 or i == len(received) - 1:
            http.get(http.inspector, "receipt_page", f"/procurement/receipts/{receipt_id}")
    http.get(http.inspector, "slip_page", f"/procurement/receipts/{receipt_id}/slip")
    return {"order_id": order_id, "receipt_id": receipt_id}


def check(engine, world: World, receipts: list[int], n_lines: int) -> dict:
    """What the service runs left behind: every line inspected, lots released, balances equal their movements."""
    from sqlalchemy import text

    ids = ", ".join(str(int(r)) for r in receipts)
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        out = {
            "inspections": q(f"SELECT count(*) FROM inspection i JOIN receipt_line rl ON rl.id = i.receipt_line_id "
                             f"WHERE rl.receipt_id IN ({ids})").scalar(),
            "lots_released": q(f"SELECT count(*) FROM lot l JOIN receipt_line rl ON rl.lot_id = l.id "
                               f"WHERE rl.receipt_id IN ({ids}) AND l.status = 'released'").scalar(),
            "balance_mismatches": q(
                "SELECT count(*) FROM stock_balance b LEFT JOIN (SELECT lot_id, location_id, sum(quantity) AS t "
                "FROM stock_movement GROUP BY lot_id, location_id) m ON m.lot_id = b.lot_id AND "
                "m.location_id = b.location_id WHERE b.quantity <> coalesce(m.t, 0)").scalar(),
            "raw_rows_left": conn.execute(text("SELECT count(*) FROM receipt WHERE number LIKE :p"),
                                          {"p": "RAW-%"}).scalar(),
            "expected_inspections": len(receipts) * n_lines,
        }
    out["ok"] = (out["inspections"] == out["expected_inspections"] == out["lots_released"]
                 and out["balance_mismatches"] == 0 and out["raw_rows_left"] == 0)
    return out


# --- profiling -------------------------------------------------------------------------------------------------------

def _where(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        parts = path.parts
        if "site-packages" in parts:
            return "/".join(parts[parts.index("site-packages") + 1:])
        return filename


def profile_order(http: Http, raw: Raw, engine, world: World, n_lines: int, seq: int, kind: str) -> dict:
    """cProfile around the POSTs of one more order: the receipt request alone, and the inspection requests."""
    import cProfile
    import io
    import pstats

    profiles = {name: cProfile.Profile() for name in ("receive", "inspect", "receipt_page", "inspect_page")}
    original = http.timed

    def timed(kind_, call, expect):
        prof = profiles.get(kind_)
        if prof is None:
            return original(kind_, call, expect)
        prof.enable()
        try:
            return original(kind_, call, expect)
        finally:
            prof.disable()

    http.timed, http.record = timed, False
    try:
        run_order(http, raw, engine, world, n_lines, seq, None, [])
    finally:
        http.timed, http.record = original, True
    out = {}
    for name, prof in profiles.items():
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("cumulative").print_stats(70)
        stats.sort_stats("tottime").print_stats(40)
        path = OUT_DIR / f"procurement_cprofile_{kind}_{'api' if http.api else 'html'}_{name}.txt"
        path.write_text(buf.getvalue(), encoding="utf-8")
        total = max(ct for (_f, _l, _n), (_cc, _nc, _tt, ct, _c) in stats.stats.items())
        ours = sorted(((ct, tt, nc, f"{_where(f)}:{fn}") for (f, _l, fn), (_cc, nc, tt, ct, _c) in stats.stats.items()
                       if _where(f).split("/")[0] in ("core", "gsp", "inventory", "pos", "hardware", "templates")),
                      reverse=True)[:25]
        by_self = sorted(((tt, ct, nc, f"{_where(f)}:{fn}") for (f, _l, fn), (_cc, nc, tt, ct, _c)
                          in stats.stats.items()), reverse=True)[:25]
        out[name] = {"file": str(path), "profiled_s": round(total, 3),
                     "ours_by_cumulative": [{"where": w, "cum_s": round(ct, 4), "self_s": round(tt, 4), "calls": nc}
                                            for ct, tt, nc, w in ours],
                     "by_self_time": [{"where": w, "self_s": round(tt, 4), "cum_s": round(ct, 4), "calls": nc}
                                      for tt, ct, nc, w in by_self]}
    return out


# --- main -----------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=DEFAULT_SQLITE, help=f"database to (re)create; e.g. {DEFAULT_PG}")
    ap.add_argument("--orders", type=int, default=5, help="measured orders (after one warm-up order)")
    ap.add_argument("--lines", type=int, default=200, help="lines per order")
    ap.add_argument("--receive-orders", type=int, default=20,
                    help="further orders only received (not inspected), for more samples of the receipt request")
    ap.add_argument("--path", choices=("auto", "api", "html"), default="auto",
                    help="auto: the JSON API if gsp/api_procurement.py has the routes, else the HTML forms")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--json", default=None)
    ap.add_argument("--render-only", action="store_true", help="rewrite bench/PROCUREMENT_RESULTS.md and stop")
    args = ap.parse_args(argv)
    if args.render_only:
        write_results()
        return 0
    url = normalise_url(args.url)
    kind = engine_kind(url)

    from core.db import make_engine

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"{kind}: building a migrated database ({url.split('@')[-1]}) …", flush=True)
    t0 = time.perf_counter()
    world = build(url)
    print(f"  built in {time.perf_counter() - t0:.1f} s: {world.drugs} approved drugs "
          f"({len(world.room_drugs)} room temperature, {world.skipped_drugs} catalogue rows refused)", flush=True)
    engine = make_engine(url)
    facts = run_facts(engine)
    facts["load_avg_before"] = load_before
    http = Http(url, world, args.path)
    raw = Raw(url, world)
    print(f"  path: {http.path_note}", flush=True)
    raw_samples = {"receive": [], "inspect": []}
    order_times, receipts = [], []

    http.record = False
    warm = run_order(http, raw, engine, world, args.lines, 0, None, [])  # warm-up: compiles, caches, templates
    http.record = True
    receipts.append(warm["receipt_id"])
    t_run = time.perf_counter()
    for seq in range(1, args.orders + 1):
        t1 = time.perf_counter()
        done = run_order(http, raw, engine, world, args.lines, seq, raw_samples, order_times)
        receipts.append(done["receipt_id"])
        print(f"  order {seq}/{args.orders}: receipt {done['receipt_id']} done in {time.perf_counter() - t1:.1f} s; "
              f"last receive {http.samples['receive'][-1] * 1000:.0f} ms", flush=True)
    for seq in range(args.orders + 1, args.orders + args.receive_orders + 1):
        run_order(http, raw, engine, world, args.lines, seq, raw_samples, order_times, inspect=False)
    if args.receive_orders:
        print(f"  {args.receive_orders} more orders received (not inspected); receive p50 "
              f"{summarize_ms(http.samples['receive'])['p50_ms']:.0f} ms", flush=True)
    run_s = time.perf_counter() - t_run
    floor = raw.commit_floor(200)
    load_after = [round(x, 2) for x in os.getloadavg()]
    profile = None
    if args.profile:
        print("  profiling one more order (cProfile) …", flush=True)
        profile = profile_order(http, raw, engine, world, args.lines, args.orders + args.receive_orders + 1, kind)
    verified = check(engine, world, receipts, args.lines)

    requests = {}
    for name in KINDS:
        if http.samples[name]:
            s = summarize_ms(http.samples[name])
            s["statements_p50"] = sorted(http.counts[name])[len(http.counts[name]) // 2]
            s["statements_max"] = max(http.counts[name])
            requests[name] = s
    baseline = {name: summarize_ms(v) for name, v in raw_samples.items()}
    ratios = {name: {"p50": round(requests[name]["p50_ms"] / baseline[name]["p50_ms"], 1),
                     "p95": round(requests[name]["p95_ms"] / baseline[name]["p95_ms"], 1)} for name in baseline}
    worst = max(requests.values(), key=lambda s: s["p95_ms"])
    result = {
        "engine": kind, "facts": facts, "load_avg_after": load_after, "description": DESCRIPTION,
        "path": http.path_note, "api": http.api, "path_kind": "api" if http.api else "html", "orders": args.orders,
        "receive_orders": args.receive_orders, "lines": args.lines,
        "world": {"drugs": world.drugs, "room_drugs": len(world.room_drugs), "skipped": world.skipped_drugs,
                  "migrate_s": world.migrated_s},
        "requests": requests, "baseline": baseline,
        "baseline_note": "real tables, one transaction per request, ROLLED BACK (commit not included)",
        "commit_floor": summarize_ms(floor), "ratio_service_over_baseline": ratios,
        "order_service_s": {"create": summarize_ms([t["create_s"] for t in order_times]),
                            "confirm": summarize_ms([t["confirm_s"] for t in order_times])},
        "measured_run_s": round(run_s, 1), "goal_p95_ms": GOAL_P95_MS,
        "goal_met": {name: s["p95_ms"] <= GOAL_P95_MS for name, s in requests.items()},
        "check": verified, "profile": profile,
    }
    http.close()
    raw.close()
    engine.dispose()
    out = Path(args.json) if args.json else json_path(kind, "api" if http.api else "html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")

    print()
    print(md_table(["Request", "n", "p50 ms", "p95 ms", "max ms", "SQL stmts (p50)", "≤ 300 ms"],
                   [[KINDS[k], s["n"], s["p50_ms"], s["p95_ms"], s["max_ms"], s["statements_p50"],
                     result["goal_met"][k]] for k, s in requests.items()]))
    print()
    print(md_table(["Baseline (raw SQL, rolled back)", "n", "p50 ms", "p95 ms", "max ms", "service/raw p50",
                    "service/raw p95"],
                   [[k, s["n"], s["p50_ms"], s["p95_ms"], s["max_ms"], f"{ratios[k]['p50']}×",
                     f"{ratios[k]['p95']}×"] for k, s in baseline.items()]))
    floor_s = result["commit_floor"]
    print(f"\ncommit floor p50 {floor_s['p50_ms']:.2f} ms, p95 {floor_s['p95_ms']:.2f} ms; "
          f"slowest request type by p95: {worst['p95_ms']:.0f} ms; check: {verified}; load {load_before} → "
          f"{load_after}; written {out}")
    if profile:
        for name, p in profile.items():
            print(f"\nprofile {name} ({p['profiled_s']} s profiled, {p['file']}), our code by cumulative time:")
            for row in p["ours_by_cumulative"][:12]:
                print(f"  {row['cum_s']:8.3f} s cum {row['self_s']:8.3f} s self {row['calls']:>7} calls  "
                      f"{row['where']}")
    if not args.json:
        write_results()
    return 0 if verified["ok"] else 1


DESCRIPTION = (
    "Per order: create + confirm (service calls), then through Flask's test client as the receiver: GET the receive "
    "page, POST the receipt of all lines in one request, GET the receipt page; as the inspector, per line: GET the "
    "inspection page, POST the inspection (every 25th line rejects one package into the red area, the rest goes to "
    "A01); every 10th line and after the last GET the receipt page; finally GET the stock-in slip. One warm-up order "
    "first (not recorded); after the measured orders, further orders are only received (more samples of the receipt "
    "request). Client-side wall clock per request, redirects not followed. Baseline: the same INSERTs / "
    "UPDATEs by hand on the raw DBAPI connection into the real tables in one transaction per request, rolled back, "
    "run just before the service request it mirrors.")


# --- bench/PROCUREMENT_RESULTS.md ------------------------------------------------------------------------------------

def json_path(kind: str, path_kind: str) -> Path:
    return OUT_DIR / f"procurement_{kind}_{path_kind}.json"


def render_results() -> str:
    results = {}
    for path_kind in ("api", "html"):
        for kind in ("sqlite", "postgresql"):
            p = json_path(kind, path_kind)
            if p.exists():
                results[f"{kind} · {path_kind}"] = json.loads(p.read_text(encoding="utf-8"))
    if not results:
        return ""
    first = next(iter(results.values()))
    m = first["facts"]["machine"]
    lines = ["# Procurement benchmark: receiving and inspecting a 200-line order", "",
             f"Goal (issue): p95 per request ≤ {GOAL_P95_MS:.0f} ms on SQLite and PostgreSQL. Script: "
             "`bench/bench_procurement.py` (one engine per run; this file is re-rendered from "
             "`bench/out/procurement_<engine>_<api|html>.json`).", "",
             f"- Machine: {m['nproc']} CPUs, {m['mem_gib']} GiB, {m['cpu']}; Python {m['python']}; client, app "
             "and database server on the same machine (shared)."]
    for kind, r in results.items():
        f = r["facts"]
        lines.append(f"- {kind}: {f['engine_version']}; run at {f['at']}; code {f['git_head']}"
                     + (f" + uncommitted changes in {', '.join(f['uncommitted_code'])}" if f.get("uncommitted_code")
                        else "") + f"; load average before {f['load_avg_before']}, after {r['load_avg_after']}; "
                     f"{r['orders']} orders × {r['lines']} lines received and inspected after one warm-up order, "
                     f"then {r.get('receive_orders', 0)} more orders only received; path: {r['path']}.")
    lines += ["", first["description"], "", "## Per request", ""]
    rows = []
    for kind, r in results.items():
        for name, label in KINDS.items():
            s = r["requests"].get(name)
            if s:
                rows.append([kind, label, s["n"], s["p50_ms"], s["p95_ms"], s["max_ms"], s["statements_p50"],
                             r["goal_met"][name]])
    lines.append(md_table(["Engine", "Request", "n", "p50 ms", "p95 ms", "max ms", "SQL statements (p50)",
                           f"p95 ≤ {GOAL_P95_MS:.0f} ms"], rows))
    lines += ["", "## Against the raw-SQL baseline (same run)", ""]
    rows = []
    for kind, r in results.items():
        for name in ("receive", "inspect"):
            s, b, q = r["requests"][name], r["baseline"][name], r["ratio_service_over_baseline"][name]
            rows.append([kind, KINDS[name], s["p50_ms"], s["p95_ms"], b["p50_ms"], b["p95_ms"], f"{q['p50']}×",
                         f"{q['p95']}×"])
        c = r["commit_floor"]
        rows.append([kind, "commit floor (BEGIN; 1-row INSERT; COMMIT)", "–", "–", c["p50_ms"], c["p95_ms"], "–", "–"])
    lines.append(md_table(["Engine", "Request", "service p50 ms", "service p95 ms", "raw p50 ms", "raw p95 ms",
                           "ratio p50", "ratio p95"], rows))
    lines += ["", "Baseline: " + first["baseline_note"] + "; the commit floor row shows what a COMMIT adds.", ""]
    for kind, r in results.items():
        c = r["check"]
        o = r["order_service_s"]
        lines.append(f"- {kind}: check after the run — {c['inspections']} inspections of {c['expected_inspections']} "
                     f"lines, {c['lots_released']} lots released, {c['balance_mismatches']} balances differing from "
                     f"their movements, {c['raw_rows_left']} baseline rows left; order create p50 "
                     f"{o['create']['p50_ms']:.0f} ms, confirm p50 {o['confirm']['p50_ms']:.0f} ms (service calls, "
                     "not requests).")
    lines.append("")
    return "\n".join(lines)


def write_results() -> None:
    write_results_md(RESULTS_MD, render_results())


if __name__ == "__main__":
    raise SystemExit(main())
