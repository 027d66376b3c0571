"""The staff's worklist over all premises: the demo's leak and silent meter are on it, most severe
first, in Polish; filters by flag, severity, building, status and age; a reviewed finding leaves the
open list; tenants do not reach it; every view is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from meterd.config import PortalSection
from meterd.store import Store
from meterd.store.checks import check_store
from meterd.store.demo import STAFF_LOGIN, STAFF_PASSWORD, TENANT_LOGIN, TENANT_PASSWORD
from meterd.web.app import create_app


@pytest.fixture
def client(demo_store: Store) -> Iterator[TestClient]:
    with demo_store.begin() as conn:
        check_store(conn)
    app = create_app(demo_store, portal=PortalSection(url="https://iok.zgm.example/woda"))
    with TestClient(app, base_url="https://iok.zgm.example") as c:
        assert c.post("/api/v1/login", json={"login": STAFF_LOGIN, "password": STAFF_PASSWORD}).status_code == 200
        yield c


def text_of(cell: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def rows(html: str) -> list[list[str]]:
    """The worklist's rows as the text of their cells."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [[text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]  # fmt: skip


def test_the_worklist_lists_the_demos_leak_and_silent_meter_most_severe_first(client: TestClient) -> None:
    assert "/staff/anomalies" in client.get("/staff").text
    page = client.get("/staff/anomalies", params={"age": "all"})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    found = rows(page.text)
    assert [r[0] for r in found][:2] == ["wyciek krytyczne", "brak odczytów ostrzeżenie"]
    leak, silent = found[0], found[1]
    assert leak[1].startswith("D3") and "ul. Długa 5" in leak[1] and leak[2].startswith("APA 31000003")
    assert silent[1].startswith("D5") and silent[2].startswith("APA 32000005") and "ciepła" in silent[2]
    assert 'href="/staff/premises/D3"' in page.text and "otwarta" in leak[4]
    assert "Znaleziono: 2." in page.text
    assert re.match(r"\d{2}\.\d{2}\.2026 \d{2}:\d{2} – \d{2}\.\d{2}\.2026", leak[3]), leak  # dates the Polish way
    english = rows(client.get("/staff/anomalies", params={"age": "all", "lang": "en"}).text)
    assert english[0][0] == "leak critical" and re.match(r"2026-\d{2}-\d{2} \d{2}:\d{2} – ", english[0][3])
    client.get("/staff/anomalies", params={"lang": "pl"})


def test_the_filters_narrow_it_and_a_review_takes_a_finding_off_the_open_list(client: TestClient) -> None:
    def listed(**params: str) -> list[str]:
        return [r[0] for r in rows(client.get("/staff/anomalies", params={"age": "all", **params}).text)]

    assert listed(flag="leak") == ["wyciek krytyczne"]
    assert listed(severity="warning") == ["brak odczytów ostrzeżenie"]
    assert listed(building="ul. Krótka 1") == []
    assert listed(building="ul. Długa 5") == ["wyciek krytyczne", "brak odczytów ostrzeżenie"]
    assert listed(age="7") == []  # the demo ended weeks ago
    flat = client.get("/staff/premises/D3").text
    anomaly = re.search(r'action="/staff/anomalies/(\d+)"', flat.split("wyciek", 1)[1])
    csrf = re.search(r'name="csrf" value="([^"]+)"', flat)
    assert anomaly and csrf
    res = client.post(f"/staff/anomalies/{anomaly.group(1)}", data={"decision": "rejected", "csrf": csrf.group(1),
                      "comment": "spłuczka naprawiona"}, follow_redirects=False)  # fmt: skip
    assert res.status_code == 303
    assert listed(flag="leak") == []  # open only, by default
    rejected = rows(client.get("/staff/anomalies", params={"age": "all", "status": "rejected"}).text)
    assert [r[0] for r in rejected] == ["wyciek krytyczne"] and "spłuczka naprawiona" in rejected[0][4]
    # hostile filters are just no match, never an error
    for params in ({"flag": "x" * 500}, {"severity": "<script>"}, {"page": "-5"}, {"status": "'; DROP TABLE"}):
        res = client.get("/staff/anomalies", params=params)
        assert res.status_code in (200, 422) and "<script>" not in res.text
    log = client.get("/staff/audit").text
    assert "podgląd listy zgłoszeń" in log


def test_tenants_do_not_reach_the_worklist(client: TestClient) -> None:
    client.cookies.clear()
    token = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD}).json()["token"]
    assert client.get("/staff/anomalies", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    client.cookies.clear()  # the API login set the tenant's session cookie too
    assert client.get("/staff/anomalies", follow_redirects=False).status_code == 303  # not logged in: to the login


def test_a_meters_whole_history_with_the_swaps_readings(client: TestClient) -> None:
    """D2's cold water meter was swapped: the flat's page shows each meter's initial and final reading
    and links to the whole history (chart, table by month, every reading paged)."""
    flat = client.get("/staff/premises/D2").text
    assert "Odczyt początkowy" in flat and "Odczyt końcowy" in flat
    links = re.findall(r'href="/staff/meters/(\d+)"', flat)
    assert len(links) == 3  # the swapped-out cold meter, its successor, the warm one
    section = flat.split("APA 31000002", 1)[1]
    swapped = re.search(r'href="/staff/meters/(\d+)"', section).group(1)  # type: ignore[union-attr]
    old = client.get(f"/staff/meters/{swapped}").text
    assert "APA 31000002" in old and "Gdzie wisiał" in old and 'href="/staff/premises/D2"' in old
    hung = rows(old.split("Gdzie wisiał", 1)[1])[0]
    assert hung[1] == "01.01.2026" and hung[2] == "15.09.2026"  # installed, taken out on the swap day
    assert re.fullmatch(r"\d+,\d{3} m³ \(\d{2}\.\d{2}\.2026 \d{2}:\d{2}\)", hung[4]), hung  # the final reading
    assert "<svg" in old and 'class="chart wide"' in old and "Wszystkie odczyty (" in old
    total = int(re.search(r"Wszystkie odczyty \((\d+)\)", old).group(1))  # type: ignore[union-attr]
    assert total > 100 and f"1 / {-(-total // 100)}" in old and "?page=2" in old
    second = client.get(f"/staff/meters/{swapped}", params={"page": 2}).text
    assert total > 200 and "?page=1" in second and "?page=3" in second
    assert client.get("/staff/meters/999999").status_code == 404
    assert "podgląd wodomierza" in client.get("/staff/audit").text
