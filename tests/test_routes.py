"""Walk-by routes: import from billing (refused whole with FILE:LINE for every bad row), the check
against the register, export back to billing, and bundles synced idempotently into a central store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

from meterd.reading import MeterIdentity, Reading, Source, TimeBasis
from meterd.sinks.store import StoreSink
from meterd.store import Store

REGISTER = """premises_id,address,meter_id,manufacturer,medium,installed
A1,ul. Polna 1/1,51000001,ELS,water,2025-01-01
A2,ul. Polna 1/2,51000002,ELS,water,2025-01-01
A3,ul. Polna 1/3,51000003,ELS,warm_water,2025-01-01
A4,ul. Polna 1/4,51000004,ELS,water,2025-01-01
A4,ul. Polna 1/4,51000009,ELS,water,2026-06-01
"""
HEADER = "route_id;order;premises_id;address;meter_id;medium;previous_reading;previous_date"


def meterd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=120)


def setup(tmp_path: Path, store_args: list[str]) -> None:
    (tmp_path / "register.csv").write_text(REGISTER)
    assert meterd("db", "upgrade", *store_args).returncode == 0
    res = meterd("import", "premises", str(tmp_path / "register.csv"), *store_args)
    assert res.returncode == 0, res.stderr


def route_file(tmp_path: Path, rows: list[str], name: str = "route.csv") -> Path:
    """As Polish Excel saves it: a BOM, `;` between fields, CRLF, decimal commas."""
    path = tmp_path / name
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode())
    return path


def open_store(store_args: list[str]) -> Store:
    kind, where = store_args
    return Store.open(where) if kind == "--data" else Store.open(db=where)


def test_a_route_is_imported_checked_against_the_register_and_exported_with_what_was_read(
    store_args: list[str], tmp_path: Path
) -> None:
    setup(tmp_path, store_args)
    path = route_file(tmp_path, [
        "R7;1;A1;ul. Polna 1/1;51000001;water;100,5;2026-06-30",
        "R7;2;A2;ul. Polna 1/2;51000002;water;50;2026-06-30",
        "R7;3;A3;ul. Polna 1/3;51000003;warm_water;20;2026-06-30",
        "R7;4;A4;ul. Polna 1/4;51000004;water;;",
        "R7;5;X9;ul. Nowa 1;51000005;water;;",
    ])  # fmt: skip
    res = meterd("route", "import", str(path), *store_args)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "route R7: 5 stops"
    assert "route R7 stop 4: meter 51000004 no longer hangs in A4" in res.stderr
    assert "route R7 stop 5: premises X9 is not in the register" in res.stderr
    assert "route R7 stop 1: meter 51000001 has no key" in res.stderr

    now = int(time.time())
    store = open_store(store_args)
    sink = StoreSink(store)
    sink.write([
        Reading(MeterIdentity("ELS", "51000001", 1, 7), "water", now - 60, now - 60, 101.25, source=Source.WALKBY,
                basis=TimeBasis.ACCESS_NUMBER, reading_id="r1"),
        # this meter's own clock is years behind: the walk heard it now, so it counts as read
        Reading(MeterIdentity("ELS", "51000002", 1, 7), "water", now - 5 * 365 * 86400, now - 50, 49.0, alarms=("leak",),
                source=Source.WALKBY, basis=TimeBasis.METER_CLOCK, reading_id="r2"),
    ])
    sink.flush()
    store.close()
    res = meterd("route", "export", "R7", "--format", "csv", *store_args)
    assert res.returncode == 0, res.stderr
    # imported from Polish Excel (`;`, BOM, decimal commas): it comes back the same way
    assert res.stdout.startswith("\ufeffroute_id;order;")
    rows = {r["order"]: r for r in csv.DictReader(io.StringIO(res.stdout.lstrip("\ufeff")), delimiter=";")}
    assert (rows["1"]["reading"], rows["1"]["flags"], rows["1"]["source"]) == ("101,25", "", "walkby")
    assert (rows["2"]["reading"], rows["2"]["flags"]) == ("49,0", "leak;below_previous")
    assert rows["3"]["flags"] == "not_read" and rows["3"]["reading"] == ""
    assert "2 of 5 meters read" in res.stderr

    again = route_file(tmp_path, ["R7;1;A1;ul. Polna 1/1;51000001;water;100,5;2026-06-30"], "again.csv")
    assert meterd("route", "import", str(again), *store_args).stdout.strip() == "route R7: 1 stops"  # replaced


def test_a_bad_route_file_is_refused_whole_naming_every_bad_row(store_args: list[str], tmp_path: Path) -> None:
    setup(tmp_path, store_args)
    path = route_file(tmp_path, [
        "R8;1;A1;ul. Polna 1/1;51000001;water;100;2026-06-30",
        "R8;x;A2;ul. Polna 1/2;51000002;water;50;2026-06-30",
        "R8;3;A3;ul. Polna 1/3;5100000Z;water;20;2026-06-30",
        "R8;4;A4;ul. Polna 1/4;51000004;lava;;",
        "R8;5;A1;ul. Polna 1/1;51000001;water;-3;",
        "R8;6;A1;ul. Polna 1/1;51000001;water;3;2099-01-01",
        "R8;1;A2;ul. Polna 1/2;51000002;water;;",
    ])  # fmt: skip
    res = meterd("route", "import", str(path), *store_args)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    for line in (3, 4, 5, 6, 7, 8):
        assert f"{path}:{line}: " in res.stderr, (line, res.stderr)
    assert f"{path}:2: " not in res.stderr and "6 bad rows, nothing imported" in res.stderr
    assert "order 1 of route R8 is used on line 2 too" in res.stderr
    assert meterd("route", "export", "R8", *store_args).returncode == 2  # nothing was imported


def test_bundles_sync_into_the_central_store_once_however_often_they_come(tmp_path: Path, pg_url: str) -> None:
    laptop = ["--data", str(tmp_path / "laptop")]
    central = ["--db", pg_url]
    for args in (laptop, central):
        setup(tmp_path, args)
    path = route_file(tmp_path, ["R9;1;A1;ul. Polna 1/1;51000001;water;;", "R9;2;A2;ul. Polna 1/2;51000002;water;;"])
    assert meterd("route", "import", str(path), *laptop).returncode == 0
    now = int(time.time())
    store = open_store(laptop)
    sink = StoreSink(store)
    first = [Reading(MeterIdentity("ELS", f"5100000{m}", 1, 7), "water", now - 100 + m, now - 100 + m, 10.0 + m,
                     source=Source.WALKBY, basis=TimeBasis.ACCESS_NUMBER, reading_id=f"a{m}") for m in (1, 2)]  # fmt: skip
    sink.write(first)
    sink.flush()
    assert meterd("route", "bundle", "R9", "--out", str(tmp_path / "b1.jsonl"), *laptop).returncode == 0
    sink.write([Reading(MeterIdentity("ELS", "51000001", 1, 7), "water", now - 10, now - 10, 11.5, source=Source.WALKBY,
                        basis=TimeBasis.ACCESS_NUMBER, reading_id="a3")])  # fmt: skip
    sink.flush()
    store.close()
    assert meterd("route", "bundle", "R9", "--out", str(tmp_path / "b2.jsonl"), *laptop).returncode == 0  # overlaps b1
    head = json.loads((tmp_path / "b2.jsonl").read_text().splitlines()[0])
    assert head["route"] == "R9" and head["readings"] == 3
    outs = [meterd("route", "sync", str(tmp_path / name), *central).stdout.strip() for name in ("b1.jsonl", "b1.jsonl",
                                                                                              "b2.jsonl")]  # fmt: skip
    assert outs == ["stored 2, duplicates 0, unknown_meter 0, bad_time 0, hearings 0",
                    "stored 0, duplicates 2, unknown_meter 0, bad_time 0, hearings 0",
                    "stored 1, duplicates 2, unknown_meter 0, bad_time 0, hearings 0"]  # fmt: skip
    res = meterd("export", "readings", *central)
    assert sorted(float(r["total_m3"]) for r in csv.DictReader(io.StringIO(res.stdout))) == [11.0, 11.5, 12.0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text((tmp_path / "b1.jsonl").read_text() + '{"meter_id": 5}\nnot json\n')
    res = meterd("route", "sync", str(bad), *central)
    assert res.returncode == 2 and f"{bad}:4: " in res.stderr and f"{bad}:5: " in res.stderr and "nothing stored" in res.stderr
