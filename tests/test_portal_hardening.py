"""The account view against what a hostile tester tried: account discovery through the login-link
request, sessions and links that outlive a password change, failed-login limits (lock-outs, several
workers, forged X-Forwarded-For, unbounded memory), huge and deeply nested bodies, download names,
security headers, Host-header redirects, weak passwords, the audit log. Through the HTTP API: httpx
against the app, and a real server with two workers for the limits that workers must share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from meterd.config import PortalSection, SmtpSection
from meterd.store import Store
from meterd.store.accounts import add_account, grant, new_link, new_session
from meterd.web.app import create_app

PASSWORD = "Kwiatowa#Brzoza19"
HOST = "https://iok.zgm.example"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    from meterd.store.imports import import_premises

    s = Store.open(tmp_path / "store", create=True)
    register = tmp_path / "register.csv"
    register.write_text("premises_id,address,meter_id,manufacturer,medium,installed\n"
                        "Ł1,ul. Łąkowa 1/1,41000001,ELS,water,2026-01-01\n"
                        "A2,ul. Łąkowa 1/2,41000002,ELS,water,2026-01-01\n", encoding="utf-8")  # fmt: skip
    with s.begin() as conn:
        import_premises(conn, register)
        aid = add_account(conn, "lokator.l1", email="l1@example.invalid", password=PASSWORD)
        grant(conn, aid, "Ł1", 0)
        add_account(conn, "inny.a2", email="a2@example.invalid", password="Jesienna-Mgla-42")
        add_account(conn, "obsluga", role="staff", password="Zimowa-Rzeka-77")
    yield s
    s.close()


def client_for(store: Store, smtp: SmtpSection | None = None, **portal: object) -> TestClient:
    settings = PortalSection(url=f"{HOST}/woda", **portal)  # type: ignore[arg-type]
    return TestClient(create_app(store, smtp=smtp, portal=settings), base_url=HOST)


def login(client: TestClient, name: str, password: str, **headers: str) -> httpx.Response:
    return client.post("/api/v1/login", json={"login": name, "password": password}, headers=headers)


def test_the_login_link_request_is_the_same_for_any_address_and_any_mail_server(store: Store) -> None:
    """Known or unknown address, mail server down or up: 202 and the same body; the request is queued
    (the same work either way) and a worker sends it, retrying while the server is down."""
    from sqlalchemy import select

    from meterd.store.models import QueuedMail
    from meterd.web.links import send_queued

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # nothing listens there
    down = SmtpSection(host="127.0.0.1", port=dead_port, security="none", sender="iok@zgm.example")
    with client_for(store) as client:
        known = client.post("/api/v1/login-link", json={"email": "L1@example.invalid"})
        unknown = client.post("/api/v1/login-link", json={"email": "nobody@example.invalid"})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    with store.begin() as conn:
        queued = conn.execute(select(QueuedMail.address).order_by(QueuedMail.id)).scalars().all()
    assert queued == ["l1@example.invalid", "nobody@example.invalid"]  # both did the same work
    portal = PortalSection(url=f"{HOST}/woda")
    assert send_queued(store, down, portal, int(time.time())) == (0, 1)  # the unknown one is done without mail
    with store.begin() as conn:
        rows = conn.execute(select(QueuedMail.address, QueuedMail.tries, QueuedMail.done_at, QueuedMail.error)).all()
    by = {r[0]: r for r in rows}
    assert by["l1@example.invalid"][1] == 1 and by["l1@example.invalid"][2] is None  # tried again later
    assert by["nobody@example.invalid"][2] is not None and "no account" in by["nobody@example.invalid"][3]


def test_setting_a_password_ends_every_other_session_and_link(store: Store) -> None:
    from sqlalchemy import select

    from meterd.store.models import Account

    with store.begin() as conn:
        aid = conn.execute(select(Account.id).where(Account.login == "lokator.l1")).scalar_one()
        elsewhere = new_session(conn, aid)
        first, second = new_link(conn, aid), new_link(conn, aid)
    with client_for(store) as client:
        auth = {"Authorization": f"Bearer {elsewhere}"}
        assert client.get("/api/v1/premises", headers=auth).status_code == 200
        form = client.get(f"/link/{first}")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        res = client.post(f"/link/{first}", data={"password": "Letnia-Burza-2031", "repeat": "Letnia-Burza-2031",
                                                  "csrf": csrf}, follow_redirects=False)  # fmt: skip
        assert res.status_code == 303
        assert client.get("/api/v1/premises").status_code == 200  # the session the link made
        assert client.get("/api/v1/premises", headers=auth).status_code == 401  # the other one ended
        assert client.get(f"/link/{second}").status_code == 410  # the older link stopped working
        assert login(client, "lokator.l1", PASSWORD).status_code == 401
        assert login(client, "lokator.l1", "Letnia-Burza-2031").status_code == 200


@pytest.mark.parametrize(
    ("password", "reason_pl"),
    [("xxxxxxxxxx", "łatwo odgadnąć"), ("1234567890", "łatwo odgadnąć"), ("qwertyuiop", "łatwo odgadnąć"),
     ("password123", "łatwo odgadnąć"), ("lokator.l1", "nie może być loginem"), ("krótkie", "co najmniej 10")],
)  # fmt: skip
def test_weak_passwords_are_refused_with_the_reason(store: Store, password: str, reason_pl: str) -> None:
    from sqlalchemy import select

    from meterd.store.accounts import AccountError
    from meterd.store.models import Account

    with store.begin() as conn:
        aid = conn.execute(select(Account.id).where(Account.login == "lokator.l1")).scalar_one()
        token = new_link(conn, aid)
    with client_for(store) as client:
        form = client.get(f"/link/{token}")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        res = client.post(f"/link/{token}", data={"password": password, "repeat": password, "csrf": csrf})
        assert res.status_code == 422 and reason_pl in res.text
        assert client.get(f"/link/{token}").status_code == 200  # a refused password does not spend the link
    with store.begin() as conn, pytest.raises(AccountError):
        add_account(conn, "nowe.konto", password=password if password != "lokator.l1" else "nowe.konto")


def test_failed_logins_slow_and_stop_the_guesser_never_the_tenant(store: Store) -> None:
    """Five wrong passwords from one address stop that address for that login; the tenant elsewhere
    logs in (a moment later); forged X-Forwarded-For counts only from a trusted proxy."""
    with client_for(store) as client:
        for _ in range(5):
            assert login(client, "lokator.l1", "wrong-password-1").status_code == 401
        refused = login(client, "lokator.l1", PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        for n in range(3):  # X-Forwarded-For from an untrusted peer changes nothing
            assert login(client, "lokator.l1", PASSWORD, **{"X-Forwarded-For": f"10.9.8.{n}"}).status_code == 429
        assert login(client, "inny.a2", "Jesienna-Mgla-42").status_code == 200  # other accounts: a delay at most
    tenant = TestClient(create_app(store, portal=PortalSection(url=f"{HOST}/woda")), base_url=HOST,
                        client=("192.0.2.7", 40000))  # fmt: skip
    with tenant:
        start = time.monotonic()
        assert login(tenant, "lokator.l1", PASSWORD).status_code == 200  # the real tenant, from home
        assert time.monotonic() - start < 5.0
    proxy = TestClient(create_app(store, portal=PortalSection(url=f"{HOST}/woda", trusted_proxies=["127.0.0.1"])),
                       base_url=HOST, client=("127.0.0.1", 40000))  # fmt: skip
    with proxy:
        for _ in range(5):
            login(proxy, "inny.a2", "wrong-password-2", **{"X-Forwarded-For": "198.51.100.1"})
        assert login(proxy, "inny.a2", "Jesienna-Mgla-42", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429
        # another client behind the same proxy: its own address, a delay at most
        assert login(proxy, "inny.a2", "Jesienna-Mgla-42", **{"X-Forwarded-For": "1.2.3.4, 198.51.100.2"}).status_code == 200


def test_the_failure_table_stays_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import func, select

    from meterd.store import limits
    from meterd.store.models import LoginFailure

    monkeypatch.setattr(limits, "MAX_ROWS", 60)
    now = int(time.time())
    with store.begin() as conn:
        for n in range(100):  # random login names
            limits.record(conn, [f"login:random{n}", "addr:192.0.2.1", f"pair:random{n}|192.0.2.1"], now)
        assert int(conn.execute(select(func.count()).select_from(LoginFailure)).scalar() or 0) <= 60
        limits.record(conn, ["login:old"], now + limits.KEEP_S + 10)
        assert int(conn.execute(select(func.count()).select_from(LoginFailure)).scalar() or 0) == 1


def test_large_and_deep_bodies_are_refused_before_they_are_read(store: Store) -> None:
    with client_for(store) as client:
        big = client.post("/api/v1/login", content=b"{" + b" " * (2 << 20) + b"}", headers={"content-type": "application/json"})
        assert big.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(40):
                yield b" " * 65536

        assert client.post("/api/v1/login", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
        deep = client.post("/api/v1/login", content=b"[" * 50_000, headers={"content-type": "application/json"})
        assert deep.status_code == 422 and "nested" in deep.json()["detail"]
        ok = client.post("/api/v1/login", content=b'{"login": "x", "password": "[[[[[[[[[[[[[[[[[[[[[[[[[["}',
                         headers={"content-type": "application/json"})  # fmt: skip
        assert ok.status_code == 401  # brackets inside a string are no nesting


def test_premises_ids_are_plain_and_download_names_safe(store: Store, tmp_path: Path) -> None:
    from meterd.store.imports import ImportError_, import_premises

    with client_for(store) as client:
        token = login(client, "lokator.l1", PASSWORD).json()["token"]
        res = client.get("/api/v1/premises/%C5%811/readings.csv", headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200
        assert res.headers["content-disposition"] == "attachment; filename=\"odczyty-_1.csv\"; filename*=UTF-8''odczyty-%C5%811.csv"
        page = client.get("/").text
        assert 'href="/api/v1/premises/%C5%811/readings.csv?dialect=pl"' in page
    for bad in ('X"1', "../../staff", "A/B", "A B", "<b>"):
        register = tmp_path / "bad.csv"
        register.write_text(f"premises_id,address,meter_id,manufacturer,medium,installed\n{bad},ul. X 1/1,41000009,ELS,water,2026-01-01\n")
        with store.begin() as conn, pytest.raises(ImportError_) as info:
            import_premises(conn, register)
        assert "bad.csv:2:" in str(info.value) and "only letters" in str(info.value)


def test_every_answer_carries_the_security_headers_and_personal_data_is_not_cached(store: Store) -> None:
    with client_for(store) as client:
        page = client.get("/")
        token = login(client, "lokator.l1", PASSWORD).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        answers = [page, client.get("/api/v1/premises/%C5%811/readings", headers=auth),
                   client.get("/api/v1/premises/%C5%811/readings.csv", headers=auth), client.get("/api/v1/premises"),
                   client.get("/openapi.json")]  # fmt: skip
        for res in answers:
            csp = res.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
            assert res.headers["x-content-type-options"] == "nosniff" and res.headers["referrer-policy"] == "same-origin"
            assert res.headers["strict-transport-security"].startswith("max-age=")  # [portal] url is https
        for res in answers[:4]:
            assert res.headers["cache-control"] == "no-store"
        out = client.post("/api/v1/logout", headers={"x-csrf-token": login(client, "lokator.l1", PASSWORD).json()["csrf"]})
        cookie = out.headers["set-cookie"].lower()
        assert 'meterd_session=""' in cookie and "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
        evil = client.get("/staff/", headers={"host": "evil.example"}, follow_redirects=False)
        assert evil.status_code == 400  # not this portal's host
    open_host = TestClient(create_app(store), base_url="http://evil.example")  # no [portal] url: any host
    with open_host:
        res = open_host.get("/staff/", follow_redirects=False)
        assert res.status_code in (307, 308) and res.headers["location"] == "/staff"  # never http://evil.example/...


def test_viewing_the_audit_log_is_audited(store: Store) -> None:
    from meterd.store.accounts import audit_log

    with client_for(store) as client:
        page = client.get("/")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"login": "obsluga", "password": "Zimowa-Rzeka-77", "csrf": csrf})
        assert client.get("/staff/audit", params={"premises": "Ł1"}).status_code == 200
    with store.begin() as conn:
        assert ("obsluga", "view_audit", "Ł1") in [(e.actor, e.action, e.premises) for e in audit_log(conn)]


def test_limits_are_shared_by_every_worker_of_the_server(store: Store, tmp_path: Path) -> None:
    """`meterd serve --workers 2` behind a proxy on 127.0.0.1 named in trusted_proxies: five failures
    from one address, spread over both workers, stop that address; forged addresses do not help."""
    data = Path(str(store.engine.url.database)).parent
    config = tmp_path / "portal.toml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config.write_text(f'[portal]\nurl = "http://127.0.0.1:{port}"\ntrusted_proxies = ["127.0.0.1"]\n')
    server = subprocess.Popen([sys.executable, "-m", "meterd", "serve", "--data", str(data), "--port", str(port),
                               "--workers", "2", "--config", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env={**os.environ})  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        codes = []
        for _ in range(6):  # new connections: uvicorn hands them to either worker
            with httpx.Client(base_url=base) as c:
                codes.append(c.post("/api/v1/login", json={"login": "inny.a2", "password": "wrong-password-3"},
                                    headers={"X-Forwarded-For": "203.0.113.5"}).status_code)  # fmt: skip
        assert codes == [401] * 5 + [429], codes
        with httpx.Client(base_url=base) as c:
            res = c.post("/api/v1/login", json={"login": "inny.a2", "password": "Jesienna-Mgla-42"},
                         headers={"X-Forwarded-For": "203.0.113.5"})  # fmt: skip
            assert res.status_code == 429
            res = c.post("/api/v1/login", json={"login": "inny.a2", "password": "Jesienna-Mgla-42"},
                         headers={"X-Forwarded-For": "203.0.113.77"})  # fmt: skip
            assert res.status_code == 200
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert f"the account view on http://127.0.0.1:{port}/ (2 workers" in err.decode(), err  # where it listens
