"""Temperature and humidity through the real entry points: hand entry by form, sensor readings by bearer token,
refusals that write nothing, out-of-range alerts closed by a measure, the SVG chart; curing records by form."""
import re

import jsonschema
import pytest
from sqlmodel import func, select

from core.models import AuditEvent, Notification
from gsp.models import CuringRecord, EnvironmentMeasure, EnvironmentReading
from tests.conftest import login, post_form
from tests.integration.curing_helpers import make_plans
from tests.web.test_api import to_json_schema


def counts(db):
    db.rollback()
    return tuple(db.exec(select(func.count()).select_from(m)).one()
                 for m in (EnvironmentReading, EnvironmentMeasure, AuditEvent, Notification))


def readings(db):
    db.rollback()
    return db.exec(select(EnvironmentReading).order_by(EnvironmentReading.id)).all()


def english(app, role):
    """A logged-in client reading English (the msgids), so the assertions do not depend on translations."""
    client = app.test_client()
    assert login(client, role).status_code == 302
    client.get("/lang/en")
    return client


@pytest.fixture
def curator(app, world):
    return english(app, "curator")


def test_hand_entry_is_stamped_by_the_server_and_fills_the_morning(curator, world, db, clock):
    a01 = world.loc["A01"].id
    page = curator.get("/environment").get_data(as_text=True)
    assert "missing" in page  # 10:00 in Shanghai: every location still lacks its morning reading
    response = post_form(curator, f"/environment/locations/{a01}/readings",
                         {"temperature": "22.5", "humidity": "55", "at": "2020-01-01T00:00:00Z", "actor_id": "1"})
    assert response.status_code == 302
    (r,) = readings(db)
    assert (r.location_id, r.temperature_dc, r.humidity_dpct, r.out_of_range, r.source) == (a01, 225, 550, False,
                                                                                            "manual")
    assert r.actor_id == world.users["curator"].id and r.at == clock.now()  # not the form's at / actor_id
    page = curator.get(f"/environment/locations/{a01}").get_data(as_text=True)
    assert "22.5" in page and "55.0" in page
    today = re.search(r"<p>Today:(.*?)</p>", page, re.S).group(1)
    assert re.search(r"morning\s*<span class=\"tag ok\">recorded", today)
    assert re.search(r"afternoon\s*<span class=\"muted\">—", today)  # 10:00: the afternoon has not begun
    overview = curator.get("/environment").get_data(as_text=True)
    row = re.search(r"<tr[^>]*>\s*<td><a href=\"/environment/locations/%d\">.*?</tr>" % a01, overview, re.S).group(0)
    assert "recorded" in row and "missing" not in row
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "environment.reading")).one().actor_name == "curator"


def test_sensor_posts_readings_with_a_bearer_token(client, world, db, token_for):
    c01 = world.loc["C01"].id
    headers = token_for("curator")
    response = client.post(f"/api/v1/locations/{c01}/readings", headers=headers,
                           json={"temperature_c": 5.2, "humidity_pct": 60, "sensor": "S-C01"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["temperature_c"], body["humidity_pct"], body["out_of_range"], body["source"], body["sensor"]) == \
        (5.2, 60.0, False, "sensor", "S-C01")
    spec = client.get("/api/v1/openapi.json").get_json()
    definitions = to_json_schema(spec["components"]["schemas"])
    op = spec["paths"]["/api/v1/locations/{location_id}/readings"]
    jsonschema.validate(body, {**to_json_schema(op["post"]["responses"]["201"]["content"]["application/json"]
                                                ["schema"]), "definitions": definitions})
    listed = client.get(f"/api/v1/locations/{c01}/readings", headers=headers)
    assert listed.status_code == 200
    jsonschema.validate(listed.get_json(), {**to_json_schema(op["get"]["responses"]["200"]["content"]
                                                             ["application/json"]["schema"]),
                                            "definitions": definitions})
    assert [i["id"] for i in listed.get_json()["items"]] == [body["id"]]
    assert listed.get_json()["allowed"]["temperature_max_c"] == 10
    (r,) = readings(db)
    assert r.actor_id == world.users["curator"].id
    # Without a token, with a token lacking the permission, or for another store's location: refused.
    assert client.post(f"/api/v1/locations/{c01}/readings", json={"temperature_c": 5, "humidity_pct": 50}
                       ).status_code == 401
    assert client.post(f"/api/v1/locations/{c01}/readings", headers=token_for("cashier"),
                       json={"temperature_c": 5, "humidity_pct": 50}).status_code == 403
    other = client.post(f"/api/v1/locations/{c01}/readings", headers=token_for("other_admin"),
                        json={"temperature_c": 5, "humidity_pct": 50})
    assert other.status_code == 404
    assert len(readings(db)) == 1


BAD_API = {
    "too_hot": ({"temperature_c": 500, "humidity_pct": 50}, 422, "implausible_reading"),
    "too_cold": ({"temperature_c": -100, "humidity_pct": 50}, 422, "implausible_reading"),
    "humidity_over_100": ({"temperature_c": 20, "humidity_pct": 100.5}, 422, "implausible_reading"),
    "humidity_negative": ({"temperature_c": 20, "humidity_pct": -1}, 422, "implausible_reading"),
    "string": ({"temperature_c": "20", "humidity_pct": 50}, 422, "invalid_field"),
    "boolean": ({"temperature_c": True, "humidity_pct": 50}, 422, "invalid_field"),
    "missing_temperature": ({"humidity_pct": 50}, 422, "missing_field"),
    "missing_humidity": ({"temperature_c": 20}, 422, "missing_field"),
    "null": ({"temperature_c": None, "humidity_pct": 50}, 422, "missing_field"),
    "sensor_not_text": ({"temperature_c": 20, "humidity_pct": 50, "sensor": 7}, 422, "invalid_field"),
    "sensor_too_long": ({"temperature_c": 20, "humidity_pct": 50, "sensor": "s" * 65}, 422, "invalid_field"),
}


@pytest.mark.parametrize("case", [*BAD_API, "malformed_json", "not_an_object", "nan", "unknown_location"])
def test_bad_sensor_readings_are_refused_and_write_nothing(client, world, db, token_for, case):
    headers = token_for("curator")
    url = f"/api/v1/locations/{world.loc['A01'].id}/readings"
    before = counts(db)
    if case == "malformed_json":
        response = client.post(url, headers=headers, data="{temperature_c: 1", content_type="application/json")
        expected = (400, "invalid_json")
    elif case == "not_an_object":
        response = client.post(url, headers=headers, json=[20, 50])
        expected = (400, "invalid_json")
    elif case == "nan":
        response = client.post(url, headers=headers, data='{"temperature_c": NaN, "humidity_pct": 50}',
                               content_type="application/json")
        expected = (422, "invalid_field")
    elif case == "unknown_location":
        response = client.post("/api/v1/locations/987654/readings", headers=headers,
                               json={"temperature_c": 20, "humidity_pct": 50})
        expected = (404, "not_found")
    else:
        body, *expected = BAD_API[case]
        response = client.post(url, headers=headers, json=body)
    assert (response.status_code, response.get_json()["error"]["code"]) == tuple(expected), response.get_json()
    assert response.get_json()["error"]["message"]
    assert counts(db) == before


@pytest.mark.parametrize("temperature, humidity", [("500", "50"), ("-100", "50"), ("20", "101"), ("20", "-0.5"),
                                                   ("abc", "50"), ("20", "五十"), ("", "50"), ("20", ""),
                                                   ("nan", "50"), ("Infinity", "50"), (None, "50")])
def test_bad_hand_entries_are_refused_and_write_nothing(curator, world, db, temperature, humidity):
    before = counts(db)
    data = {"humidity": humidity}
    if temperature is not None:
        data["temperature"] = temperature
    response = post_form(curator, f"/environment/locations/{world.loc['A01'].id}/readings", data)
    assert response.status_code == 422
    assert "<svg" in response.get_data(as_text=True)  # the page comes back with the form and an error
    assert counts(db) == before


def test_out_of_range_raises_one_alert_until_a_measure_is_recorded(app, curator, world, db):
    a01 = world.loc["A01"].id
    assert post_form(curator, f"/environment/locations/{a01}/readings",
                     {"temperature": "33.5", "humidity": "50"}).status_code == 302
    first = readings(db)[-1]
    assert first.out_of_range
    notes = db.exec(select(Notification).where(Notification.kind == "environment_out_of_range")).all()
    assert sorted(n.permission for n in notes) == ["environment.record", "quality.lock"]
    assert "A01" in notes[0].title and "33.5" in notes[0].title
    # Still out of range (humidity now): the same excursion, no new alert.
    assert post_form(curator, f"/environment/locations/{a01}/readings",
                     {"temperature": "25", "humidity": "80"}).status_code == 302
    second = readings(db)[-1]
    assert second.out_of_range
    assert db.exec(select(func.count()).select_from(Notification)
                   .where(Notification.kind == "environment_out_of_range")).one() == 2
    qm = english(app, "quality_manager")
    assert "Out-of-range readings waiting for a measure" in qm.get("/").get_data(as_text=True)
    page = curator.get(f"/environment/locations/{a01}").get_data(as_text=True)
    assert page.count("alert open") == 2
    # An empty measure is refused; a measure on an in-range reading is refused.
    assert post_form(curator, f"/environment/readings/{second.id}/measures", {"measure": ""}).status_code == 422
    assert post_form(curator, f"/environment/locations/{a01}/readings",
                     {"temperature": "22", "humidity": "50"}).status_code == 302
    fine = readings(db)[-1]
    assert post_form(curator, f"/environment/readings/{fine.id}/measures", {"measure": "x"}).status_code == 409
    assert db.exec(select(func.count()).select_from(EnvironmentMeasure)).one() == 0
    # The measure on the latest out-of-range reading answers the excursion.
    response = post_form(curator, f"/environment/readings/{second.id}/measures", {"measure": "开启除湿机，30分钟后复测"})
    assert response.status_code == 302
    db.rollback()
    measure = db.exec(select(EnvironmentMeasure)).one()
    assert (measure.reading_id, measure.actor_id) == (second.id, world.users["curator"].id)
    assert "alert open" not in curator.get(f"/environment/locations/{a01}").get_data(as_text=True)
    assert "Out-of-range readings waiting for a measure" not in qm.get("/").get_data(as_text=True)
    assert all(n.done_at for n in notes)  # the alerts raised by the first reading are done too
    # A new excursion after the measure alerts again.
    post_form(curator, f"/environment/locations/{a01}/readings", {"temperature": "9", "humidity": "50"})
    db.rollback()
    assert db.exec(select(func.count()).select_from(Notification)
                   .where(Notification.kind == "environment_out_of_range")).one() == 4


def test_the_chart_shades_the_allowed_band_and_marks_out_of_range_points(curator, world, db, clock):
    c01 = world.loc["C01"].id
    for t in ("4", "12.5"):
        post_form(curator, f"/environment/locations/{c01}/readings", {"temperature": t, "humidity": "50"})
        clock.advance(hours=3)
    page = curator.get(f"/environment/locations/{c01}").get_data(as_text=True)
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 2  # temperature and humidity
    temp = svgs[0]
    assert 'class="band"' in temp and "<polyline" in temp
    assert temp.count('class="out"') == 1 and temp.count('class="in"') == 1
    assert svgs[1].count('class="out"') == 0
    assert "2–10 °C, RH 35–75 %" in page and "12.5" in page
    # A chosen period without readings; a bad period is a clear 422.
    empty = curator.get(f"/environment/locations/{c01}?start=2026-01-01&end=2026-01-07")
    assert empty.status_code == 200 and "No readings in this period." in empty.get_data(as_text=True)
    assert curator.get(f"/environment/locations/{c01}?start=2026-13-01").status_code == 422
    assert curator.get(f"/environment/locations/{c01}?start=2026-06-10&end=2026-06-01").status_code == 422
    assert curator.get("/environment/locations/987654").status_code == 404


def test_cashiers_can_look_but_not_record(app, world, db):
    cashier = english(app, "cashier")
    a01 = world.loc["A01"].id
    page = cashier.get(f"/environment/locations/{a01}")
    assert page.status_code == 200 and 'id="reading-form"' not in page.get_data(as_text=True)
    before = counts(db)
    assert post_form(cashier, f"/environment/locations/{a01}/readings",
                     {"temperature": "20", "humidity": "50"}).status_code == 403
    assert counts(db) == before


# --- curing records through the pages -----------------------------------------------------------------------------------

def test_curing_record_by_form_and_a_problem_reported_to_quality(app, curator, world, db):
    world.lot("LHQW", lot_no="WEB1", qty=36, expiry_days=400)
    assert post_form(curator, "/curing/plans/generate", {}).status_code == 302
    plan = make_plans(world) or None
    assert plan is None  # the button made them already
    listing = curator.get("/curing").get_data(as_text=True)
    plan_url = re.search(r'href="(/curing/plans/\d+)"', listing).group(1)
    page = curator.get(plan_url).get_data(as_text=True)
    item_url = re.search(r'action="(/curing/items/\d+/records)"', page).group(1)
    bad = post_form(curator, item_url, {"appearance": "ok", "packaging": "problem", "storage": "ok", "result": "ok"})
    assert bad.status_code == 422
    assert db.exec(select(func.count()).select_from(CuringRecord)).one() == 0
    good = post_form(curator, item_url, {"appearance": "ok", "packaging": "problem", "storage": "ok",
                                         "result": "problem", "measures": "外盒受潮，移至待处理"})
    assert good.status_code == 302
    db.rollback()
    rec = db.exec(select(CuringRecord)).one()
    assert (rec.follow_up, rec.actor_id, rec.packaging_ok) == ("reported", world.users["curator"].id, False)
    qm = english(app, "quality_manager")
    assert "Suspect lot found in curing" in qm.get("/").get_data(as_text=True)


def test_overdue_plans_and_missing_readings_show_on_the_dashboard(app, world, clock):
    world.lot("LHQW", lot_no="DUE1", qty=36, expiry_days=400)
    make_plans(world)
    curator = english(app, "curator")
    page = curator.get("/").get_data(as_text=True)
    assert "Overdue curing plans" not in page
    assert "readings missing" in page and "A01" in page  # nothing recorded this morning
    clock.advance(days=16)  # 2026-07-01: the June plans are past due with nothing recorded
    page = curator.get("/").get_data(as_text=True)
    panel = re.search(r'<section class="card" id="curing-panel">.*?</section>', page, re.S).group(0)
    assert "Overdue curing plans" in panel and "1 unrecorded" in panel
    assert "curing-panel" not in english(app, "cashier").get("/").get_data(as_text=True)
