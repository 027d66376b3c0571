"""The account view's API (`meterd serve`, docs/interfaces.md): sessions by cookie or bearer token, a tenant sees
only its own premises (404 for any other, as for one that does not exist), 401 without a session,
login attempts limited, bad input answered 4xx with a message; on the demo store (SQLite and
PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from meterd.store import Store
from meterd.store.demo import TENANT_LOGIN, TENANT_PASSWORD
from meterd.web.app import create_app

ROOT = Path(__file__).parent.parent


@pytest.fixture
def client(demo_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(demo_store)) as c:
        yield c


def login(client: TestClient) -> str:
    res = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD})
    assert res.status_code == 200, res.text
    return str(res.json()["token"])


def test_a_tenant_sees_its_own_flat_by_token_and_by_cookie(client: TestClient) -> None:
    token = login(client)
    bearer = {"Authorization": f"Bearer {token}"}
    premises = client.get("/api/v1/premises", headers=bearer).json()
    assert [p["id"] for p in premises] == ["D2"]
    readings = client.get("/api/v1/premises/D2/readings", headers=bearer, params={"from": "2026-08-01"}).json()
    assert readings and {r["medium"] for r in readings} <= {"water", "warm_water"}
    assert all(r["measured_at"].endswith("Z") for r in readings)
    months = client.get("/api/v1/premises/D2/consumption", headers=bearer, params={"period": "month"}).json()
    assert months and all(set(m) == {"from", "to", "m3", "last_year"} for m in months)
    assert sum((m["m3"] or {}).get("water", 0.0) for m in months) > 0
    # a month before the flat's first reading has no data: null, as the page's dash, never 0.0
    assert months[0]["m3"] is None and any(m["m3"] is not None for m in months), months
    # the login also set the session cookie: the same works without the header
    assert client.get("/api/v1/premises").status_code == 200
    page = client.get("/").text
    assert "Lokal D2" in page
    # Polish pages write decimal commas (the meter's reading and each month's use), English ones points
    import re

    assert re.search(r">\s*\d+,\d{3}\s*<", page) and not re.search(r">\s*\d+\.\d{3}\s*<", page), page
    english = client.get("/", params={"lang": "en"}).text
    assert re.search(r">\s*\d+\.\d{3}\s*<", english) and not re.search(r">\s*\d+,\d{3}\s*<", english)
    client.get("/", params={"lang": "pl"})
    csv_res = client.get("/api/v1/premises/D2/readings.csv", params={"from": "2026-08-01"})
    assert csv_res.status_code == 200 and csv_res.headers["content-type"].startswith("text/csv")
    lines = csv_res.text.splitlines()
    assert lines[0] == "meter_id,medium,measured_at,total_m3,source,estimated" and len(lines) == len(readings) + 1
    assert client.get("/api/v1/premises/D3/readings.csv").status_code == 404
    assert client.get("/api/v1/premises/D2/prepaid").json() == []  # no prepaid meter in D2


def test_other_premises_are_404_like_those_that_do_not_exist(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {login(client)}"}
    for pid in ("D3", "K1", "NOPE", "D2%00", "../D3"):
        for what in ("readings", "consumption", "readings.csv", "prepaid", "meters", "notices"):
            res = client.get(f"/api/v1/premises/{pid}/{what}", headers=bearer)
            assert res.status_code == 404, (pid, what, res.status_code)


def test_no_session_is_401_and_a_logout_ends_it(client: TestClient) -> None:
    client.cookies.clear()
    for path in ("/api/v1/premises", "/api/v1/premises/D2/readings", "/api/v1/premises/D2/consumption"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer " + "x" * 5000}).status_code == 401
    token = login(client)
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/logout", headers=bearer).status_code == 204
    assert client.get("/api/v1/premises", headers=bearer).status_code == 401


def test_a_session_expires_after_eight_hours(client: TestClient) -> None:
    from meterd.store.accounts import session_account

    token = login(client)
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    with store.begin() as conn:
        assert session_account(conn, token) is not None
        assert session_account(conn, token, now=int(time.time()) + 9 * 3600) is None
        conn.exec_driver_sql("UPDATE sessions SET expires_at = 0")
    assert client.get("/api/v1/premises", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_wrong_passwords_are_401_then_limited_and_bad_input_is_4xx(client: TestClient) -> None:
    for _ in range(5):
        res = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": "wrong"})
        assert res.status_code == 401 and res.json()["detail"] == "wrong login or password"
    res = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD})
    assert res.status_code == 429 and int(res.headers["Retry-After"]) > 0
    for body in ({}, {"login": "", "password": "x"}, {"login": "a" * 1000, "password": "x"}, [1, 2], "text"):
        assert client.post("/api/v1/login", json=body).status_code == 422
    res = client.post("/api/v1/login", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert res.status_code in (400, 422) and res.json()["detail"]


def test_bad_query_values_are_422_with_a_reason(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {login(client)}"}
    for params in ({"from": "yesterday"}, {"from": "1850-01-01"}, {"period": "week"}, {"from": "2026-10-01", "to": "2026-09-01"},
                   {"from": "2000-01-01", "to": "2026-01-01"}):  # fmt: skip
        res = client.get("/api/v1/premises/D2/consumption", headers=bearer, params=params)
        assert res.status_code == 422 and res.json()["detail"], (params, res.text)


def test_openapi_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/login", "/api/v1/premises", "/api/v1/premises/{pid}/readings",
            "/api/v1/premises/{pid}/consumption"} <= set(spec["paths"])  # fmt: skip


def test_a_prepaid_meters_credit_reaches_the_api(client: TestClient) -> None:
    from meterd.reading import MeterIdentity, Reading, TimeBasis
    from meterd.sinks.store import StoreSink
    from meterd.store.queries import premises_id, segments

    store: Store = client.app.state.store  # type: ignore[attr-defined]
    now = int(time.time())
    with store.begin() as conn:
        serial = segments(conn, premises_id(conn, "D2"), now - 10, now)[0].serial
    sink = StoreSink(store)
    sink.write([Reading(MeterIdentity("APA", serial, 1, 7), "water", now - 30, now - 30, 500.0, {"credit": 37.5},
                        basis=TimeBasis.ACCESS_NUMBER, reading_id="credit-1")])  # fmt: skip
    sink.flush()
    res = client.get("/api/v1/premises/D2/prepaid", headers={"Authorization": f"Bearer {login(client)}"})
    assert res.status_code == 200 and res.json()[0]["meter_id"] == serial and res.json()[0]["credit"] == 37.5


def test_every_json_answer_honours_its_declared_response_model(client: TestClient) -> None:
    """The answers written straight to JSON for speed (readings, consumption) are exactly what their
    response models in the OpenAPI say; the others are built from those models anyway."""
    from pydantic import TypeAdapter

    from meterd.web.api import ConsumptionOut, MeterOut, NoticeOut, PremisesOut, ReadingOut

    auth = {"Authorization": f"Bearer {login(client)}"}
    checks = {
        "/api/v1/premises": list[PremisesOut], "/api/v1/premises/D2/readings": list[ReadingOut],
        "/api/v1/premises/D2/consumption?period=month": list[ConsumptionOut],
        "/api/v1/premises/D2/consumption?period=day": list[ConsumptionOut],
        "/api/v1/premises/D2/meters": list[MeterOut], "/api/v1/premises/D2/notices": list[NoticeOut],
    }  # fmt: skip
    spec = client.get("/openapi.json").json()["paths"]
    for path, model in checks.items():
        res = client.get(path, headers=auth)
        assert res.status_code == 200, (path, res.text)
        body = res.json()
        assert body, path
        parsed = TypeAdapter(model).validate_python(body)  # every field there, of its type
        fields = set(model.__args__[0].model_fields) | {f.alias for f in model.__args__[0].model_fields.values() if f.alias}  # type: ignore[attr-defined]
        assert all(set(row) <= fields for row in body), (path, body[0])  # and nothing more
        assert len(parsed) == len(body)
        template = path.split("?")[0].replace("/D2/", "/{pid}/")
        assert "200" in spec[template]["get"]["responses"], template
