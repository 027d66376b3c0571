"""Monthly consumption information: the statement page of a past month (each meter's month-end reading,
the month's use, the month before, a year earlier) agrees with the API's monthly use; `meterd notices
send` mails last month's statement once to tenants who consented, in their language, with the link."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from support.mail import Inbox

from meterd.config import PortalSection
from meterd.store import Store
from meterd.store.demo import TENANT_LOGIN, TENANT_PASSWORD
from meterd.store.models import Account
from meterd.web.app import create_app
from meterd.web.statements import previous_month


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.stop()


def test_the_statement_page_of_a_month_agrees_with_the_monthly_use(demo_store: Store) -> None:
    app = create_app(demo_store, portal=PortalSection(url="https://iok.zgm.example/woda"))
    with TestClient(app, base_url="https://iok.zgm.example") as client:
        token = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        months = client.get("/api/v1/premises/D2/consumption", params={"period": "month", "from": "2026-09-01",
                                                                         "to": "2026-11-01"}, headers=auth).json()  # fmt: skip
        october = next(m for m in months if m["from"].startswith("2026-09-30T22"))
        september = next(m for m in months if m["from"].startswith("2026-08-31T22"))
        page = client.get("/statement/D2/2026-10")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        rows = {re.sub(r"<[^>]+>", "", r[0]).split(",")[0]: [re.sub(r"<[^>]+>", " ", c).split()[0] for c in r[1:]]
                for r in re.findall(r'<tr><td>(.*?)</td><td class="num">(.*?)</td><td class="num">(.*?)</td>'
                                    r'<td class="num">(.*?)</td><td class="num">(.*?)</td></tr>', page.text)}  # fmt: skip
        assert set(rows) == {"APA 31000099", "APA 32000002"}  # the meters hanging at October's end
        for meter, med in (("APA 31000099", "water"), ("APA 32000002", "warm_water")):
            end, use, before, _ = rows[meter]
            assert float(use.replace(",", ".")) == pytest.approx(october["m3"][med], abs=0.0015)
            assert float(before.replace(",", ".")) == pytest.approx(september["m3"][med], abs=0.0015)
            assert re.fullmatch(r"\d+,\d{3}", end)
        assert "Informacja o zużyciu wody za 10.2026" in page.text and '<a href="/statement/D2/2026-09">09.2026</a>' in page.text
        assert client.get("/statement/D2/2026-13").status_code == 404
        assert client.get("/statement/D4/2026-10").status_code == 404  # not this tenant's flat
        english = client.get("/statement/D2/2026-10", params={"lang": "en"}).text
        assert "." in re.findall(r'<td class="num">([^<]+)', english)[1]


def test_last_months_statement_is_mailed_once_to_those_who_consented(tmp_path: Path, inbox: Inbox) -> None:
    data = tmp_path / "demo"
    assert subprocess.run([sys.executable, "-m", "meterd", "demo", "--data", str(data)], capture_output=True).returncode == 0
    store = Store.open(data=data)
    with store.begin() as conn:
        conn.execute(update(Account).where(Account.login == TENANT_LOGIN).values(consent_notices=True))
    store.close()
    config = tmp_path / "meterd.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {inbox.port}\nsecurity = "none"\n\n'
                      '[portal]\nurl = "https://iok.zgm.example/woda"\n')  # fmt: skip
    year, month = previous_month(int(time.time()))
    key = f"statement:D2:{year:04d}-{month:02d}"

    def send(*extra: str) -> str:
        res = subprocess.run([sys.executable, "-m", "meterd", "notices", "send", "--config", str(config), "--data",
                              str(data), *extra], capture_output=True, text=True)  # fmt: skip
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert key in send("--dry-run") and not inbox.messages
    send()
    mails = [t for t in inbox.texts() if "Informacja o zużyciu wody" in t]
    assert len(mails) == 1, inbox.texts()
    assert "lokal D2" in mails[0] or "lokalu D2" in mails[0]
    assert f"https://iok.zgm.example/woda/statement/D2/{year:04d}-{month:02d}" in mails[0]
    assert "stan na koniec miesiąca" in mails[0] and "rok wcześniej" in mails[0]
    assert key not in send("--dry-run")  # once per flat and month
    send()
    assert len([t for t in inbox.texts() if "Informacja o zużyciu wody" in t]) == 1
