"""Every CSV meterd writes for people, in the Polish dialect, opened as a spreadsheet would open it
(BOM, `;`, decimal comma, CRLF, local time) and read back; the plain dialect as before; decimal commas
typed by people; a cut-off date is the end of that local day."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from meterd.spreadsheet import dialect, end_of_local_day, parse_number

WARSAW = ZoneInfo("Europe/Warsaw")


def meterd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=120)


def open_as_excel(raw: bytes) -> list[list[str]]:
    """What Polish Excel does with a file: UTF-8 with its BOM, `;` between columns, CRLF rows."""
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:10]
    text = raw[3:].decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=WARSAW)


def test_the_two_dialects_and_numbers_people_type() -> None:
    pl, plain = dialect("pl"), dialect("plain")
    t = int(datetime(2026, 10, 31, 22, 30, tzinfo=UTC).timestamp())
    assert (pl.number(167.126), pl.time(t)) == ("167,126", "2026-10-31 23:30")  # CET, after the change back
    assert (plain.number(167.126), plain.time(t)) == ("167.126", "2026-10-31T22:30:00Z")
    assert pl.time(int(datetime(2026, 7, 1, 10, 0, tzinfo=UTC).timestamp())) == "2026-07-01 12:00"  # CEST
    assert parse_number("12,5") == parse_number("12.5") == 12.5
    for bad in ("1.234,5", "12,5,1", "", "abc"):
        with pytest.raises(ValueError):
            parse_number(bad)
    end = end_of_local_day(date(2026, 10, 31))  # "the end of October", as a clerk means it
    assert datetime.fromtimestamp(end, UTC) == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def test_every_export_opens_in_polish_excel_and_reads_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert meterd("demo", "--data", str(data)).returncode == 0
    plain = tmp_path / "readings.csv"
    assert meterd("export", "readings", "--data", str(data), "--out", str(plain)).returncode == 0
    plain_rows = list(csv.reader(io.StringIO(plain.read_text())))
    pl = tmp_path / "odczyty.csv"
    assert meterd("export", "readings", "--data", str(data), "--dialect", "pl", "--out", str(pl)).returncode == 0
    rows = open_as_excel(pl.read_bytes())
    assert rows[0] == plain_rows[0] and len(rows) == len(plain_rows) > 100  # the same columns, the same rows
    for a, b in zip(plain_rows[1:50], rows[1:50], strict=True):
        assert b[0] == a[0] and float(b[3].replace(",", ".")) == float(a[3])  # the decimal comma reads back
        utc = datetime.strptime(a[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert local(b[1]) == utc.replace(second=0)  # local time of the same moment
    billing = tmp_path / "rozliczenie.csv"
    res = meterd("export", "billing", "--cutoff", "2026-10-31", "--dialect", "pl", "--data", str(data), "--out", str(billing))
    assert res.returncode == 0, res.stderr
    rows = open_as_excel(billing.read_bytes())
    assert rows[0][:3] == ["premises_id", "address", "building"] and len(rows) == 1 + 18
    assert {r[5] for r in rows[1:]} == {"2026-11-01 00:00"}  # the end of 31 October, Warsaw time
    assert any("Długa" in r[1] for r in rows[1:])  # Polish letters intact
    assert all(r[6] == "" or float(r[6].replace(",", ".")) >= 0 for r in rows[1:]) and any("," in r[6] for r in rows[1:])


def test_a_route_exports_as_it_was_imported_and_a_reader_types_a_decimal_comma(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert meterd("demo", "--data", str(data)).returncode == 0
    route = tmp_path / "trasa.csv"
    rows = "\r\n".join(["route_id;order;premises_id;address;meter_id;medium;previous_reading;previous_date",
                        "R1;1;D2;ul. Długa 5/2;31000002;water;12,5;2026-10-01",
                        "R1;2;D3;ul. Długa 5/3;31000003;water;8,25;2026-10-01"]) + "\r\n"  # fmt: skip
    route.write_bytes(rows.encode("cp1250"))
    res = meterd("route", "import", str(route), "--encoding", "cp1250", "--data", str(data))
    assert res.returncode == 0, res.stderr
    res = meterd("route", "manual", "R1", "--meter", "31000003", "--value", "123,456", "--reason", "zalany",
                 "--reader", "Jan", "--data", str(data))  # fmt: skip
    assert res.returncode == 0 and "123.456 m3" in res.stdout, res.stderr
    out = tmp_path / "wynik.csv"
    assert meterd("route", "export", "R1", "--data", str(data), "--out", str(out)).returncode == 0
    raw = out.read_bytes()
    text = raw.decode("cp1250")  # the encoding it came in, no BOM
    assert not raw.startswith(b"\xef\xbb\xbf") and "ul. Długa 5/2" in text and "\r\n" in text
    table = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    stop = next(r for r in table if r[4] == "31000003")
    assert stop[6] == "123,456"
    plain = tmp_path / "wynik-plain.csv"
    assert meterd("route", "export", "R1", "--dialect", "plain", "--data", str(data), "--out", str(plain)).returncode == 0
    assert "123.456" in plain.read_bytes().decode("cp1250")
    bad = meterd("route", "manual", "R1", "--meter", "31000003", "--value", "12,5,1", "--reason", "x", "--reader", "J",
                 "--data", str(data))  # fmt: skip
    assert bad.returncode == 2 and "--value" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_the_tenants_download_in_both_dialects() -> None:
    import tempfile

    from fastapi.testclient import TestClient

    from meterd.store import Store
    from meterd.store.demo import TENANT_LOGIN, TENANT_PASSWORD, create_demo
    from meterd.web.app import create_app

    root = Path(__file__).parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store", create=True)
        with store.begin() as conn:
            create_demo(conn, store, Path(tmp), root / "config" / "sample-keys.csv")
        with TestClient(create_app(store)) as client:
            token = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD}).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            pl = client.get("/api/v1/premises/D2/readings.csv", params={"dialect": "pl"}, headers=auth)
            rows = open_as_excel(pl.content)
            assert rows[0] == ["meter_id", "medium", "measured_at", "total_m3", "source", "estimated"]
            assert "," in rows[1][3] and local(rows[1][2])
            plain = client.get("/api/v1/premises/D2/readings.csv", headers=auth).text
            assert plain.startswith("meter_id,medium,measured_at") and "T" in plain.splitlines()[1].split(",")[2]
            page = client.get("/").text
            assert "readings.csv?dialect=pl" in page
        store.close()
