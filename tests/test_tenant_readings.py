"""Tenant-reported readings: a tenant reports a reading (API and page form with a photo), implausible
ones are refused with the reason in the tenant's language, staff accept or reject on the worklist with
a comment, an accepted one changes the month's use and shows as `tenant`; photos only for staff and
the tenant; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from meterd.config import PortalSection
from meterd.store import Store
from meterd.store.accounts import add_account, grant
from meterd.store.demo import STAFF_LOGIN, STAFF_PASSWORD, TENANT_LOGIN, TENANT_PASSWORD
from meterd.store.ingest import ReadingIn, ingest
from meterd.store.models import Meter, Reading
from meterd.web.app import create_app

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
METER = "31000099"  # D2's cold water meter since the swap


@pytest.fixture
def client(demo_store: Store) -> Iterator[TestClient]:
    now = int(time.time())
    with demo_store.begin() as conn:  # a reading of today, so a report of today has a near last reading
        mid = conn.execute(select(Meter.id).where(Meter.serial == METER)).scalar_one()
        last = conn.execute(select(Reading.total_m3).where(Reading.meter_id == mid)
                            .order_by(Reading.measured_at.desc()).limit(1)).scalar_one()  # fmt: skip
        ingest(conn, [ReadingIn(METER, now - 3600, now - 3600, round(last + 0.5, 3), manufacturer="APA")])
        other = add_account(conn, "lokator.d4", email="d4@example.invalid", password="haslo-lokatora-4")
        grant(conn, other, "D4", 0)
    app = create_app(demo_store, portal=PortalSection(url="https://iok.zgm.example/woda"))
    with TestClient(app, base_url="https://iok.zgm.example") as c:
        yield c


def login(client: TestClient, who: str, password: str) -> dict[str, str]:
    client.cookies.clear()
    res = client.post("/api/v1/login", json={"login": who, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def last_of(client: TestClient, auth: dict[str, str]) -> float:
    meters = client.get("/api/v1/premises/D2/meters", headers=auth).json()
    return next(m["last_total_m3"] for m in meters if m["meter_id"] == METER and m["installed_to"] is None)


def recent_use(client: TestClient, auth: dict[str, str]) -> float:
    """Cold water used over the last 40 days, by the API's daily consumption."""
    since = datetime.fromtimestamp(time.time() - 40 * 86400).strftime("%Y-%m-%d")
    rows = client.get("/api/v1/premises/D2/consumption", params={"period": "day", "from": since}, headers=auth).json()
    return sum((r.get("m3") or {}).get("water") or 0.0 for r in rows)


def test_a_reported_reading_waits_for_staff_and_counts_once_accepted(client: TestClient) -> None:
    auth = login(client, TENANT_LOGIN, TENANT_PASSWORD)
    last = last_of(client, auth)
    before = recent_use(client, auth)
    res = client.post("/api/v1/premises/D2/readings", json={"meter_id": METER, "total_m3": round(last + 0.2, 3)}, headers=auth)
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["source"], body["status"], body["meter_id"], body["manufacturer"]) == ("tenant", "pending", METER, "APA")
    assert recent_use(client, auth) == before  # pending: not counted yet
    # staff see it on the worklist and accept it with a comment
    login(client, STAFF_LOGIN, STAFF_PASSWORD)
    page = client.get("/staff/anomalies").text
    assert "Odczyty zgłoszone przez lokatorów" in page and f"/staff/tenant-readings/{body['id']}" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    res = client.post(f"/staff/tenant-readings/{body['id']}", data={"decision": "accepted", "csrf": csrf,
                      "comment": "zgodne ze zdjęciem"}, follow_redirects=False)  # fmt: skip
    assert res.status_code == 303
    assert client.post(f"/staff/tenant-readings/{body['id']}", data={"decision": "rejected", "csrf": csrf}).status_code == 409
    assert "odczyt lokatora przyjęty" in client.get("/staff/audit").text
    # the tenant: accepted, counted, shown as the tenant's
    auth = login(client, TENANT_LOGIN, TENANT_PASSWORD)
    mine = client.get("/api/v1/premises/D2/reported", headers=auth).json()
    assert [(r["status"], r["comment"]) for r in mine] == [("accepted", "zgodne ze zdjęciem")]
    assert recent_use(client, auth) == pytest.approx(before + 0.2, abs=0.002)
    readings = client.get("/api/v1/premises/D2/readings", headers=auth).json()
    assert any(r["source"] == "tenant" and r["total_m3"] == round(last + 0.2, 3) for r in readings)
    page = client.get("/").text
    assert "przyjęty" in page and "zgodne ze zdjęciem" in page


@pytest.mark.parametrize(("lang", "needle"), [("pl", "jest niższy niż ostatni odczyt"), ("en", "is below this meter's last")])
def test_implausible_readings_are_refused_in_the_tenants_language(client: TestClient, lang: str, needle: str) -> None:
    auth = login(client, TENANT_LOGIN, TENANT_PASSWORD)
    client.get("/", params={"lang": lang}, headers=auth)  # the account's language
    last = last_of(client, auth)
    below = client.post("/api/v1/premises/D2/readings", json={"meter_id": METER, "total_m3": last - 1}, headers=auth)
    assert below.status_code == 422 and below.json()["code"] == "below_last" and needle in below.json()["detail"]
    if lang == "pl":
        assert f"{last:.3f}".replace(".", ",") in below.json()["detail"]  # a Polish number
    above = client.post("/api/v1/premises/D2/readings", json={"meter_id": METER, "total_m3": last + 500}, headers=auth)
    assert above.status_code == 422 and above.json()["code"] == "above_q3"
    other = client.post("/api/v1/premises/D2/readings", json={"meter_id": "31000004", "total_m3": 1}, headers=auth)
    assert other.status_code == 422 and other.json()["code"] == "unknown_meter"  # D4's meter, not this flat's
    old = client.post("/api/v1/premises/D2/readings", json={"meter_id": METER, "total_m3": last, "measured_at": "2019-01-01"},
                      headers=auth)  # fmt: skip
    assert old.status_code == 422 and old.json()["code"] == "bad_time"
    assert client.post("/api/v1/premises/D4/readings", json={"meter_id": "31000004", "total_m3": 1}, headers=auth).status_code == 404
    assert client.get("/api/v1/premises/D2/reported", headers=auth).json() == []  # nothing refused was kept


def test_the_page_form_takes_a_photo_that_only_staff_and_the_tenant_see(client: TestClient) -> None:
    login(client, TENANT_LOGIN, TENANT_PASSWORD)
    page = client.get("/").text
    assert 'action="/premises/D2/report"' in page and 'enctype="multipart/form-data"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    auth_value = None
    last = last_of(client, {})
    value = f"{last + 0.1:.3f}".replace(".", ",")  # typed with a decimal comma
    res = client.post("/premises/D2/report", data={"csrf": csrf, "meter_id": METER, "total_m3": value},
                      files={"photo": ("tarcza.png", PNG, "image/png")}, follow_redirects=False)  # fmt: skip
    assert res.status_code == 303 and "report=ok" in res.headers["location"]
    page = client.get("/?report=ok").text
    assert "odczyt czeka na sprawdzenie" in page and "czeka na sprawdzenie" in page
    (mine,) = client.get("/api/v1/premises/D2/reported").json()
    assert mine["photo"] is True and mine["total_m3"] == pytest.approx(last + 0.1, abs=0.0005)
    photo = client.get(f"/api/v1/premises/D2/reported/{mine['id']}/photo")
    assert photo.status_code == 200 and photo.content == PNG and photo.headers["content-type"] == "image/png"
    assert photo.headers["cache-control"] == "no-store"
    # not an image, or too large: refused with the reason
    bad = client.post("/premises/D2/report", data={"csrf": csrf, "meter_id": METER, "total_m3": value},
                      files={"photo": ("x.png", b"<svg onload=alert(1)>", "image/png")}, follow_redirects=False)  # fmt: skip
    assert "report=bad_photo" in bad.headers["location"]
    assert "JPEG lub PNG" in client.get("/?report=bad_photo").text
    for code in ("below_last", "above_q3", "above_later", "unknown_meter", "bad_time", "bad_value", "nonsense"):
        assert client.get("/", params={"report": code}).status_code == 200  # every outcome the form comes back with
    huge = client.post("/premises/D2/report", data={"csrf": csrf, "meter_id": METER, "total_m3": value},
                       files={"photo": ("big.png", PNG + bytes(6_000_000), "image/png")}, follow_redirects=False)  # fmt: skip
    assert huge.status_code == 413 or "report=bad_photo" in huge.headers.get("location", "")
    assert client.post("/premises/D2/report", data={"csrf": "x" * 40, "meter_id": METER, "total_m3": value},
                       follow_redirects=False).headers["location"] == "/?error=csrf"  # fmt: skip
    # another tenant sees no photo of D2; staff do (and it is audited)
    d4 = login(client, "lokator.d4", "haslo-lokatora-4")
    assert client.get(f"/api/v1/premises/D2/reported/{mine['id']}/photo", headers=d4).status_code == 404
    login(client, STAFF_LOGIN, STAFF_PASSWORD)
    assert client.get(f"/staff/tenant-readings/{mine['id']}/photo").content == PNG
    assert "podgląd zdjęcia" in client.get("/staff/audit").text
    page = client.get("/staff/anomalies").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    res = client.post(f"/staff/tenant-readings/{mine['id']}", data={"decision": "rejected", "csrf": csrf,
                      "comment": "zdjęcie nieczytelne"}, follow_redirects=False)  # fmt: skip
    assert res.status_code == 303 and f"/staff/tenant-readings/{mine['id']}" not in client.get("/staff/anomalies").text
    del auth_value
