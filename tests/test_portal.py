"""The account view beyond the basics: accounts from the register and their tenancy periods (an ended
tenancy sees its own period only), meters with their swap history, use across a swap and a year
earlier, notices, consent, CSRF, one-time links by e-mail through a real SMTP server on loopback
(aiosmtpd), staff pages with reviews and the audit log; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.mail import Inbox

from meterd.config import PortalSection
from meterd.store import Store
from meterd.store.accounts import add_account, grant
from meterd.store.demo import (
    END,
    LEAK_FROM,
    STAFF_LOGIN,
    STAFF_PASSWORD,
    SWAP_AT,
    SWAPPED_NEW,
    SWAPPED_OLD,
    TENANT_LOGIN,
    TENANT_PASSWORD,
    create_demo,
)
from meterd.web.app import create_app

ROOT = Path(__file__).parent.parent
DAY = 86400


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.stop()


@pytest.fixture
def store(demo_store: Store) -> Iterator[Store]:
    s = demo_store
    with s.begin() as conn:
        # a former tenant of D4 (until 1 October), who now rents D6
        aid = add_account(conn, "byly.najemca", email="byly@example.invalid", password="haslo-bylego-1")
        grant(conn, aid, "D4", ts("2026-08-15T00:00:00"), ts("2026-10-01T00:00:00"))
        grant(conn, aid, "D6", ts("2026-10-01T00:00:00"))
        aid = add_account(conn, "lokator.d3", email="d3@example.invalid", password="haslo-lokatora-3")
        grant(conn, aid, "D3", 0)
    from meterd.store.checks import check_store

    with s.begin() as conn:
        check_store(conn)
    yield s


def client_for(store: Store, inbox: Inbox | None = None) -> TestClient:
    portal = PortalSection(url="https://iok.zgm.example/woda", missing_days=2)
    return TestClient(create_app(store, smtp=inbox.settings() if inbox else None, portal=portal),
                      base_url="https://iok.zgm.example")  # the host of [portal] url: any other is refused


def bearer(client: TestClient, login: str, password: str) -> dict[str, str]:
    res = client.post("/api/v1/login", json={"login": login, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "a form without a CSRF token"
    return found.group(1)


def test_an_ended_tenancy_sees_only_its_own_period(store: Store) -> None:
    with client_for(store) as client:
        auth = bearer(client, "byly.najemca", "haslo-bylego-1")
        premises = client.get("/api/v1/premises", headers=auth).json()
        assert [p["id"] for p in premises] == ["D4", "D6"]
        d4 = premises[0]["tenancies"]
        assert d4 == [{"from": "2026-08-15T00:00:00Z", "to": "2026-10-01T00:00:00Z"}]
        assert premises[1]["tenancies"][0]["to"] is None
        readings = client.get("/api/v1/premises/D4/readings", headers=auth, params={"from": "2026-07-01", "to": "2026-12-01"}).json()
        times = [r["measured_at"] for r in readings]
        assert times and min(times) >= "2026-08-15T00:00:00Z" and max(times) < "2026-10-01T00:00:00Z"
        csv_lines = client.get("/api/v1/premises/D4/readings.csv", headers=auth, params={"from": "2026-07-01"}).text.splitlines()
        assert len(csv_lines) == len(readings) + 1
        months = client.get("/api/v1/premises/D4/consumption", headers=auth, params={"from": "2026-07-01", "to": "2026-12-01"}).json()
        assert [m["from"][:7] for m in months] == ["2026-07", "2026-08", "2026-09"]  # local months touching the period
        assert all(m["last_year"] is None for m in months)  # a year earlier was not theirs
        # the use of August counts from 15 August only: less than the whole month's
        with store.begin() as conn:
            from meterd.store.queries import consumption

            whole = consumption(conn, "D4", ts("2026-08-01T00:00:00"), ts("2026-09-01T00:00:00"))[0]
        assert 0 < months[1]["m3"]["water"] < float(whole["water"])  # type: ignore[arg-type]
        assert client.get("/api/v1/premises/D4/notices", headers=auth).json() == []  # an ended tenancy has none
        meters = client.get("/api/v1/premises/D4/meters", headers=auth).json()
        assert meters and all(m["last_reading_at"] < "2026-10-01T00:00:00Z" for m in meters)
        # the D2 tenant never sees D4, and the former tenant never sees D2
        assert client.get("/api/v1/premises/D2/readings", headers=auth).status_code == 404
        d2 = bearer(client, TENANT_LOGIN, TENANT_PASSWORD)
        assert client.get("/api/v1/premises/D4/readings", headers=d2).status_code == 404


def test_meters_show_the_swap_and_use_is_summed_across_it(store: Store) -> None:
    with client_for(store) as client:
        auth = bearer(client, TENANT_LOGIN, TENANT_PASSWORD)
        meters = client.get("/api/v1/premises/D2/meters", headers=auth).json()
        cold = [m for m in meters if m["medium"] == "water"]
        assert [m["meter_id"] for m in cold] == [SWAPPED_OLD, SWAPPED_NEW]
        swap = datetime.fromtimestamp(SWAP_AT, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert cold[0]["installed_to"] == swap and cold[1]["installed_from"] == swap and cold[1]["installed_to"] is None
        readings = client.get("/api/v1/premises/D2/readings", headers=auth, params={"from": "2026-09-01", "to": "2026-10-01"}).json()
        old = [r["total_m3"] for r in readings if r["meter_id"] == SWAPPED_OLD]
        new = [r["total_m3"] for r in readings if r["meter_id"] == SWAPPED_NEW]
        # the month of the swap: the old meter's use up to it plus the new one's after, never new - old
        res = client.get("/api/v1/premises/D2/consumption", headers=auth, params={"from": "2026-09-05", "to": "2026-09-25", "period": "day"})
        days = res.json()
        assert sum(d["m3"]["water"] for d in days) > 0
        month = client.get("/api/v1/premises/D2/consumption", headers=auth, params={"from": "2026-09-02", "to": "2026-09-29"}).json()
        sep = month[0]["m3"]["water"]
        assert sep == pytest.approx((old[-1] - old[0]) + (new[-1] - new[0]), abs=0.05)
        assert sep < 20  # the new meter starting near 0 is not negative use, the old register not a use of 100 m3


def test_the_same_month_a_year_earlier(store: Store) -> None:
    from meterd.store.ingest import insert_rows, meter_ids

    with store.begin() as conn:  # D2's warm water meter hung there and was read a year before too
        mid = meter_ids(conn, [("", "32000002")])[("", "32000002")]
        conn.exec_driver_sql(f"UPDATE assignments SET valid_from = {ts('2025-01-01T00:00:00')} WHERE meter_id = {mid}")
        insert_rows(conn, [(mid, ts("2025-10-01T00:00:00"), ts("2025-10-01T00:00:00"), 10.0, None, None, "radio", "t",
                            None, None, 0, None, None, None),
                           (mid, ts("2025-11-01T00:00:00"), ts("2025-11-01T00:00:00"), 13.5, None, None, "radio", "t",
                            None, None, 0, None, None, None)])  # fmt: skip
    with client_for(store) as client:
        auth = bearer(client, TENANT_LOGIN, TENANT_PASSWORD)
        months = client.get("/api/v1/premises/D2/consumption", headers=auth, params={"from": "2026-09-15", "to": "2026-11-15"}).json()
        by = {m["from"][:10]: m for m in months}
        october = by["2026-09-30"]  # local October starts at 22:00 UTC the day before
        assert october["last_year"]["warm_water"] == pytest.approx(3.5, abs=0.05)
        assert "water" not in october["last_year"]  # no cold water meter hung there a year before
        assert october["m3"]["warm_water"] > 0
        client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD})
        page = client.get("/").text
        assert "Rok wcześniej [m³]" in page and "<svg" in page and 'role="img"' in page
        # the page shows last year's use and the change where there is data, in Polish numbers and months
        row = re.search(r'<tr><td class="when">10.2026</td>(.*?)</tr>', page, re.S)
        assert row, page
        cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
        assert float(cells[-2].replace(",", ".")) == pytest.approx(3.5, abs=0.05) and "," in cells[-2], cells
        assert re.fullmatch(r"[+-]\d+ %", cells[-1]), cells


def test_notices_name_the_leak_in_plain_words_and_staff_can_reject_it(store: Store) -> None:
    with client_for(store) as client:
        auth = bearer(client, "lokator.d3", "haslo-lokatora-3")
        notices = client.get("/api/v1/premises/D3/notices", headers=auth).json()
        leak = [n for n in notices if n["kind"] == "leak"]
        assert len(leak) == 1 and leak[0]["meter_id"] == "31000003"
        days = (END - LEAK_FROM) // DAY
        assert leak[0]["text"].startswith("Możliwy wyciek: woda płynęła bez przerwy przez ")
        assert abs(int(re.search(r"przez (\d+)", leak[0]["text"]).group(1)) - days) <= 2  # type: ignore[union-attr]
        english = client.get("/api/v1/premises/D3/notices", headers=auth, params={"lang": "en"}).json()
        assert next(n for n in english if n["kind"] == "leak")["text"].startswith("Possible leak: water flowed")
        assert {n["kind"] for n in notices} >= {"leak", "missing"}  # the demo's data ends days ago
        # staff: find the flat, see its anomalies, reject the leak; the tenant's notice goes away
        client.cookies.clear()
        page = client.get("/")
        res = client.post("/login", data={"login": STAFF_LOGIN, "password": STAFF_PASSWORD, "csrf": csrf_of(page.text)},
                          follow_redirects=False)  # fmt: skip
        assert res.status_code == 303 and res.headers["location"] == "/"
        assert "/staff/premises/D3" in client.get("/staff", params={"q": "31000003"}).text
        flat = client.get("/staff/premises/D3")
        assert flat.status_code == 200 and "wyciek" in flat.text
        # a Polish staff page speaks Polish: flags, severities, sources, reasons, alarms, dates of a meter's hanging
        words = " ".join(re.sub(r"<[^>]+>", " ", flat.text).split())
        for english in ("leak", "missing", "critical", "warning", "walkby", "walk-by", "wired", "flowed", "possible",
                        "confirmed", "rejected", "gateway", "low battery", "stuck"):  # fmt: skip
            assert not re.search(rf"\b{english}\b", words, re.IGNORECASE), (english, words[:3000])
        assert "krytyczne" in words and "woda płynęła bez przerwy" in words
        assert re.search(r"Wodomierz APA 31000003 \([^)]*\), \d{2}\.\d{2}\.\d{4} – ", words), words[:600]  # a date, no time
        anomaly = re.search(r'action="/staff/anomalies/(\d+)"', flat.text.split("wyciek", 1)[1])
        assert anomaly
        forged = client.post(f"/staff/anomalies/{anomaly.group(1)}", data={"decision": "rejected", "csrf": "x" * 40})
        assert forged.status_code == 403
        res = client.post(f"/staff/anomalies/{anomaly.group(1)}", follow_redirects=False,
                          data={"decision": "rejected", "csrf": csrf_of(flat.text),
                                "comment": "spłuczka naprawiona\r\n 3 XII"})  # fmt: skip
        assert res.status_code == 303
        assert all(n["kind"] != "leak" for n in client.get("/api/v1/premises/D3/notices", headers=auth).json())
        flat = client.get("/staff/premises/D3")
        assert f"({STAFF_LOGIN}): spłuczka naprawiona 3 XII" in flat.text  # the comment, on one line
        # undone: the review and its comment are gone, the tenant sees the leak again; both are in the log
        res = client.post(f"/staff/anomalies/{anomaly.group(1)}", data={"decision": "undo", "csrf": csrf_of(flat.text)},
                          follow_redirects=False)  # fmt: skip
        assert res.status_code == 303 and "spłuczka naprawiona" not in client.get("/staff/premises/D3").text
        assert any(n["kind"] == "leak" for n in client.get("/api/v1/premises/D3/notices", headers=auth).json())
        assert "cofnięcie oceny" in client.get("/staff/audit").text
        flat = client.get("/staff/premises/D3")
        res = client.post(f"/staff/anomalies/{anomaly.group(1)}", data={"decision": "rejected", "csrf": csrf_of(flat.text)},
                          follow_redirects=False)  # fmt: skip
        assert res.status_code == 303
        assert all(n["kind"] != "leak" for n in client.get("/api/v1/premises/D3/notices", headers=auth).json())
        log = client.get("/staff/audit").text
        assert "podgląd lokalu" in log and "odrzucona" in log and "wyszukiwanie" in log and "view_premises" not in log
        english_log = client.get("/staff/audit", params={"lang": "en"}).text
        assert "premises viewed" in english_log and "rejected" in english_log
        client.get("/staff/audit", params={"lang": "pl"})
        with store.begin() as conn:
            from meterd.store.accounts import audit_log

            actions = [(r.actor, r.action, r.premises) for r in audit_log(conn)]
        assert (STAFF_LOGIN, "view_premises", "D3") in actions and (STAFF_LOGIN, "rejected", "D3") in actions
        # a tenant does not reach the staff pages
        client.cookies.clear()
        tenant = client.get("/staff", headers=auth)
        assert tenant.status_code == 403


def test_staff_see_conflicting_and_refused_readings(store: Store) -> None:
    """A reading that contradicts a stored one and a reading the ingester refused, on the staff page
    `/staff/incoming` (Polish numbers, the reason as the ingester gave it); tenants do not reach it."""
    from sqlalchemy import select

    from meterd.store.central import RefusedRow, keep_refused
    from meterd.store.ingest import ReadingIn, ingest
    from meterd.store.models import Meter, Reading

    with store.begin() as conn:
        meter_id = conn.execute(select(Meter.id).where(Meter.serial == "31000003")).scalar_one()
        at, total = conn.execute(select(Reading.measured_at, Reading.total_m3).where(Reading.meter_id == meter_id)
                                 .order_by(Reading.measured_at.desc()).limit(1)).one()  # fmt: skip
        result = ingest(conn, [ReadingIn("31000003", at, at, 1234.5, gateway="gw-forged")], now=at + 60)
        keep_refused(conn, [RefusedRow(at, "gw7", 42, "bad_total", "total_m3 1e+308 is not from 0 to 99999999 m3",
                                       '{"seq":42,"total_m3":1e308}')])  # fmt: skip
    assert result.conflicts == 1 and result.inserted == 0
    with client_for(store) as client:
        page = client.get("/")
        client.post("/login", data={"login": STAFF_LOGIN, "password": STAFF_PASSWORD, "csrf": csrf_of(page.text)})
        assert "/staff/incoming" in client.get("/staff").text
        text = client.get("/staff/incoming").text
        assert "31000003" in text and "1234,500 m³" in text and "gw-forged" in text
        assert f"{total:.3f}".replace(".", ",") + " m³" in text  # the first stays, and is shown beside it
        assert "bad_total: total_m3 1e+308" in text and "gw7" in text
        client.cookies.clear()
        auth = bearer(client, "lokator.d3", "haslo-lokatora-3")
        assert client.get("/staff/incoming", headers=auth).status_code == 403


def test_csrf_guards_every_form_and_cookie_authenticated_changes(store: Store) -> None:
    with client_for(store) as client:
        res = client.post("/login", data={"login": TENANT_LOGIN, "password": TENANT_PASSWORD}, follow_redirects=False)
        assert res.headers["location"] == "/?error=csrf" and "meterd_session" not in res.cookies
        res = client.post("/login", data={"login": TENANT_LOGIN, "password": TENANT_PASSWORD, "csrf": "f" * 40},
                          follow_redirects=False)  # fmt: skip
        assert res.headers["location"] == "/?error=csrf"
        page = client.get("/")
        res = client.post("/login", data={"login": TENANT_LOGIN, "password": TENANT_PASSWORD, "csrf": csrf_of(page.text)},
                          follow_redirects=False)  # fmt: skip
        assert res.headers["location"] == "/"
        account_page = client.get("/").text
        token = csrf_of(account_page)
        # the session's token differs from the pre-session one
        assert token != csrf_of(page.text)
        # a change by cookie alone without the header is refused; with it, done; by bearer token, no header needed
        assert client.put("/api/v1/account/consent", json={"consent": True}).status_code == 403
        res = client.put("/api/v1/account/consent", json={"consent": True}, headers={"X-CSRF-Token": token})
        assert res.status_code == 200 and res.json()["consent_notices"] is True
        # logout without the token does nothing
        assert client.post("/logout", data={}, follow_redirects=False).headers["location"] == "/?error=csrf"
        assert client.get("/api/v1/premises").status_code == 200
        assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
        assert client.get("/api/v1/premises").status_code == 401


def test_consent_is_shown_given_and_withdrawn(store: Store) -> None:
    with client_for(store) as client:
        page = client.get("/")
        client.post("/login", data={"login": TENANT_LOGIN, "password": TENANT_PASSWORD, "csrf": csrf_of(page.text)})
        html = client.get("/").text
        assert "Nie wysyłamy powiadomień e-mail." in html
        client.post("/consent", data={"consent": "yes", "csrf": csrf_of(html)})
        html = client.get("/").text
        assert "lokator.d2@example.invalid" in html and "zgoda udzielona" in html
        assert client.get("/api/v1/account").json()["consent_notices"] is True
        client.post("/consent", data={"consent": "no", "csrf": csrf_of(html)})
        assert client.get("/api/v1/account").json()["consent_notices"] is False
        with store.begin() as conn:
            from meterd.store.accounts import audit_log

            assert [r.action for r in audit_log(conn)][:2] == ["consent_withdrawn", "consent_given"]
        # an account without an e-mail address cannot consent
        auth = bearer(client, STAFF_LOGIN, STAFF_PASSWORD)
        assert client.put("/api/v1/account/consent", json={"consent": True}, headers=auth).status_code == 409


def test_a_one_time_link_by_email_sets_the_password_and_works_once(store: Store, inbox: Inbox) -> None:
    with store.begin() as conn:
        aid = add_account(conn, "nowy.d5", email="Nowy.D5@Example.invalid")
        grant(conn, aid, "D5", 0)
    with client_for(store, inbox) as client:
        assert client.post("/api/v1/login", json={"login": "nowy.d5", "password": "anything-at-all"}).status_code == 401
        res = client.post("/api/v1/login-link", json={"email": "nowy.d5@example.invalid"})
        assert res.status_code == 202
        unknown = client.post("/api/v1/login-link", json={"email": "nobody@example.invalid"})
        assert unknown.status_code == 202 and unknown.json() == res.json()  # the same answer
        deadline = time.monotonic() + 5
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(inbox.messages) == 1 and inbox.messages[0][1] == ["Nowy.D5@Example.invalid"]
        link = re.search(r"https://iok\.zgm\.example/woda(/link/[\w-]+)", inbox.texts()[0])
        assert link, inbox.texts()[0]
        path = link.group(1)
        form = client.get(path)
        assert form.status_code == 200 and "Ustaw hasło" in form.text
        short = client.post(path, data={"password": "short", "repeat": "short", "csrf": csrf_of(form.text)})
        assert short.status_code == 422
        res = client.post(path, data={"password": "nowe-haslo-d5", "repeat": "nowe-haslo-d5", "csrf": csrf_of(form.text)},
                          follow_redirects=False)  # fmt: skip
        assert res.status_code == 303 and "meterd_session" in res.cookies
        assert [p["id"] for p in client.get("/api/v1/premises").json()] == ["D5"]
        client.cookies.clear()
        assert client.get(path).status_code == 410  # used once
        assert client.post("/api/v1/login", json={"login": "nowy.d5", "password": "nowe-haslo-d5"}).status_code == 200
        assert client.get("/link/" + "A" * 43).status_code == 410
        # link requests are limited per address: beyond 3 an hour the answer is the same, nothing is queued
        for _ in range(5):
            assert client.post("/api/v1/login-link", json={"email": "nowy.d5@example.invalid"}).status_code == 202
        with store.begin() as conn:
            from meterd.store.mail_queue import waiting

            assert waiting(conn) <= 2  # the two allowed beyond the first (being sent meanwhile, or waiting)
    with client_for(store) as client:  # no [smtp] now: still 202, the request waits in the queue
        assert client.post("/api/v1/login-link", json={"email": "nobody.else@example.invalid"}).status_code == 202


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=120)


def test_accounts_from_the_register_by_command(tmp_path: Path, store_args: list[str], inbox: Inbox) -> None:
    if store_args[0] == "--data":
        assert run("demo", *store_args).returncode == 0
    else:  # `meterd demo` makes SQLite stores only
        s = Store.open(db=store_args[1], create=True, kek_path=tmp_path / "kek")
        with s.begin() as conn:
            create_demo(conn, s, tmp_path)
        s.close()
    config = tmp_path / "meterd.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {inbox.port}\nsecurity = "none"\nsender = "iok@zgm.example"\n'
                      '[portal]\nurl = "https://iok.zgm.example"\n')  # fmt: skip
    accounts = tmp_path / "konta.csv"
    accounts.write_text("login;email;name;premises_id;from;to;role\n"
                        "jan.kowalski;jan@example.invalid;Jan Kowalski;D1;2026-01-01;;tenant\n"
                        "jan.kowalski;jan@example.invalid;Jan Kowalski;K1;2026-01-01;2026-09-01;tenant\n"
                        "anna.nowak;anna@example.invalid;Anna Nowak;D6;;;\n", encoding="utf-8")  # fmt: skip
    res = run("account", "import", str(accounts), *store_args, "--invite", "--config", str(config))
    assert res.returncode == 0, res.stderr
    assert "2 accounts created, 3 tenancies granted" in res.stdout
    assert sorted(to for _, tos, _ in inbox.messages for to in tos) == ["anna@example.invalid", "jan@example.invalid"]
    listed = run("account", "list", *store_args, "--json")
    import json

    rows = {a["login"]: a for a in json.loads(listed.stdout)}
    assert [p["id"] for p in rows["jan.kowalski"]["premises"]] == ["D1", "K1"]
    assert rows["jan.kowalski"]["premises"][1]["to"] == "2026-09-01 00:00"
    # a bad file is refused whole, naming each bad line
    bad = tmp_path / "zle.csv"
    bad.write_text("login,email,premises_id,from\nok.login,ok@example.invalid,D2,\n-x,nope,D2,2026-13-01\n,,,\n")
    res = run("account", "import", str(bad), *store_args)
    assert res.returncode == 2 and f"{bad}:3:" in res.stderr and f"{bad}:4:" in res.stderr and "Traceback" not in res.stderr
    assert "ok.login" not in run("account", "list", *store_args).stdout
    unknown = tmp_path / "nieznany.csv"
    unknown.write_text("login,premises_id\nnew.one,NOPE\n")
    res = run("account", "import", str(unknown), *store_args)
    assert res.returncode == 2 and "NOPE" in res.stderr and "nothing imported" in res.stderr
    assert "new.one" not in run("account", "list", *store_args).stdout
    # add one, end its tenancy, see it in the list
    res = run("account", "add", "piotr", "--email", "piotr@example.invalid", "--premises", "D5", "--from", "2026-02-01", *store_args)
    assert res.returncode == 0, res.stderr
    assert run("account", "add", "piotr", "--premises", "D5", *store_args).returncode == 2  # exists already
    assert run("account", "end", "piotr", "--premises", "D5", "--at", "2026-11-01", *store_args).returncode == 0
    rows = {a["login"]: a for a in json.loads(run("account", "list", *store_args, "--json").stdout)}
    assert rows["piotr"]["premises"] == [{"id": "D5", "from": "2026-02-01 00:00", "to": "2026-11-01 00:00"}]
    res = run("account", "invite", "piotr", *store_args)  # no --config: a clear error
    assert res.returncode == 2 and "--config" in res.stderr


@pytest.mark.slow
def test_notices_are_mailed_to_those_who_consented_once_a_day(tmp_path: Path, inbox: Inbox) -> None:
    data = tmp_path / "data"
    assert run("demo", "--data", str(data)).returncode == 0
    assert run("check", "--data", str(data)).returncode in (0, 1)
    run("account", "add", "lokator.d3", "--email", "d3@example.invalid", "--premises", "D3", "--data", str(data))
    run("account", "add", "lokator.d6", "--email", "d6@example.invalid", "--premises", "D6", "--data", str(data))
    store = Store.open(data)
    with store.begin() as conn:
        from meterd.store.accounts import account_id, set_consent

        set_consent(conn, account_id(conn, "lokator.d3"), True)  # D6's tenant did not consent
    store.close()
    config = tmp_path / "meterd.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {inbox.port}\nsecurity = "none"\n')
    dry = run("notices", "send", "--config", str(config), "--data", str(data), "--dry-run")
    assert dry.returncode == 0 and "d3@example.invalid" in dry.stdout and "d6@" not in dry.stdout and not inbox.messages
    res = run("notices", "send", "--config", str(config), "--data", str(data))
    assert res.returncode == 0, res.stderr
    # the notices, and last month's consumption information (tests/test_statements.py)
    assert [tos for _, tos, _ in inbox.messages] == [["d3@example.invalid"], ["d3@example.invalid"]]
    text = inbox.texts()[0]
    assert "Możliwy wyciek: woda płynęła bez przerwy przez" in text and "Brak odczytów" in text
    assert "Informacja o zużyciu wody w lokalu D3" in inbox.texts()[1]
    again = run("notices", "send", "--config", str(config), "--data", str(data))
    assert again.returncode == 0 and "0 e-mails sent" in again.stdout and len(inbox.messages) == 2
    inbox.stop()  # the server is gone: a clear error, nothing recorded as sent
    run("account", "add", "lokator.d5", "--email", "d5@example.invalid", "--premises", "D5", "--data", str(data))
    store = Store.open(data)
    with store.begin() as conn:
        set_consent(conn, account_id(conn, "lokator.d5"), True)
    store.close()
    down = run("notices", "send", "--config", str(config), "--data", str(data))
    assert down.returncode == 2 and "SMTP server" in down.stderr and "Traceback" not in down.stderr
    inbox.restart()
    res = run("notices", "send", "--config", str(config), "--data", str(data))
    assert res.returncode == 0 and [tos for _, tos, _ in inbox.messages][-2:] == [["d5@example.invalid"]] * 2
    store = Store.open(data)  # a login link asked for while the server had no mail: the timer sends it
    with store.begin() as conn:
        from meterd.store.mail_queue import enqueue

        enqueue(conn, "login_link", "d5@example.invalid", int(time.time()))
    store.close()
    res = run("notices", "send", "--config", str(config), "--data", str(data))
    assert res.returncode == 0 and "1 login links sent from the queue" in res.stdout, res.stdout + res.stderr
    assert "/link/" in inbox.texts()[-1] and [tos for _, tos, _ in inbox.messages][-1] == ["d5@example.invalid"]


def test_every_word_of_the_pages_exists_in_polish_and_english() -> None:
    from meterd.validate.flags import ALARMS
    from meterd.web.i18n import NOTICE, TEXT
    from meterd.wmbus.alarms import ALARM_NAMES

    used: set[str] = set()
    for page in (ROOT / "meterd" / "web" / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", page.read_text()))
    for module in ("pages.py", "staff.py", "api.py"):
        used |= set(re.findall(r"""\bt\(\s*lang,\s*["']([a-z_]+)["']""", (ROOT / "meterd" / "web" / module).read_text()))
    assert used and not used - set(TEXT), sorted(used - set(TEXT))
    for table in (TEXT, NOTICE):
        assert all(len(pair) == 2 and all(pair) for pair in table.values())
    assert set(ALARMS) == set(ALARM_NAMES) and all(w.pl and w.en and w.pl != w.en for w in ALARMS.values())
    for key, (pl, en) in NOTICE.items():  # the same placeholders in both languages
        assert set(re.findall(r"{(\w+)}", pl)) == set(re.findall(r"{(\w+)}", en)), key
