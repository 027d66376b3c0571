"""Radio coverage: every gateway's hearings count (also when another gateway delivered the reading
first), reach the central store with the gateways' batches, and give the coverage report, the planned
walk of unheard meters, the staff page and the gauges.

Three gateways replay rtl_wmbus captures at known RSSI to a broker of the test's own and a central
ingester; one meter is heard by none, one by a walk only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.broker import Broker
from support.cli import meterd, ok
from support.telegrams import rtl_wmbus_line, water

from meterd.coverage.hearing import DAY_S, BadHearing, Hearing, HearingKind
from meterd.coverage.report import RegisterMeter, coverage, weighted_median
from meterd.coverage.tally import HearingTally
from meterd.metrics import CENTRAL
from meterd.mqtt.ingester import update_coverage_gauges
from meterd.store import Store

# meter → gateway → RSSI; M5 no gateway hears, M6 only the walk
HEARD = {
    "10000001": {"gwa": -60, "gwb": -80, "gwc": -100},
    "10000002": {"gwa": -70, "gwb": -75},
    "10000003": {"gwa": -90},
    "10000004": {"gwc": -85},
}
REGISTER = ("premises_id,address,meter_id,manufacturer,medium,installed,building_id\n"
            "A1,ul. Akacjowa 1/1,10000001,APA,water,2026-01-01,A\n"
            "A2,ul. Akacjowa 1/2,10000002,APA,water,2026-01-01,A\n"
            "A3,ul. Akacjowa 1/3,10000003,APA,water,2026-01-01,A\n"
            "B1,ul. Bukowa 2/1,10000004,DME,water,2026-01-01,B\n"
            "B2,ul. Bukowa 2/2,10000005,DME,water,2026-01-01,B\n"
            "B3,ul. Bukowa 2/3,10000006,DME,water,2026-01-01,B\n")  # fmt: skip
MAKER = {"10000001": "APA", "10000002": "APA", "10000003": "APA", "10000004": "DME", "10000005": "DME", "10000006": "DME"}


def test_a_tally_counts_every_hearing_with_its_median_and_forgets_old_days() -> None:
    t = HearingTally("gw1")
    day = 20_000 * DAY_S
    for k, rssi in enumerate([-80, -70, -90, -71, None]):  # the same meter five times: every hearing counts
        t.add("APA", "10000001", day + 60 * k, rssi)
    t.add("APA", "10000001", day - 10, -50)  # the day before
    t.add("A?B", "10000009", day, -50)  # a garbled maker: counted, never sent
    rows = {(h.day, h.serial): h for h in t.take_changed()}
    assert len(rows) == 2 and len(t) == 3
    today = rows[(20_000, "10000001")]
    assert (today.telegrams, today.rssi_median_dbm, today.last_at) == (5, -80.0, day + 240)
    assert (rows[(19_999, "10000001")].telegrams, rows[(19_999, "10000001")].rssi_median_dbm) == (1, -50.0)
    assert t.take_changed() == []  # nothing changed since
    t.add("APA", "10000001", day + DAY_S, -60)  # the next day: the day before yesterday is let go
    assert len(t) == 3 and [h.day for h in t.take_changed()] == [20_001]
    t.mark_all_changed()  # the hourly resend: everything held
    assert sorted(h.day for h in t.take_changed()) == [20_000, 20_001]


def test_a_tally_goes_on_from_the_stored_totals_after_a_restart() -> None:
    t = HearingTally("gw1")
    t.seed([Hearing("gw1", HearingKind.GATEWAY, "APA", "10000001", 20_000, 10, -70.0, 20_000 * DAY_S + 100)])
    t.add("APA", "10000001", 20_000 * DAY_S + 200, -90)
    (h,) = t.take_changed()
    assert (h.telegrams, h.rssi_median_dbm, h.last_at) == (11, -70.0, 20_000 * DAY_S + 200)


def test_the_median_is_the_days_medians_weighted_by_their_telegrams() -> None:
    assert weighted_median([(-60.0, 1), (-90.0, 10), (-70.0, 1)]) == -90.0
    assert weighted_median([(-60.0, 5), (-90.0, 5)]) == -90.0
    assert weighted_median([]) is None


@pytest.mark.parametrize(("change", "why"), [
    ({"meter_id": "1000000"}, "meter_id"), ({"manufacturer": "apa"}, "manufacturer"), ({"day": 1}, "day"),
    ({"telegrams": 0}, "telegrams"), ({"telegrams": True}, "telegrams"), ({"rssi_median_dbm": 999.0}, "rssi"),
    ({"last": 5}, "last"), ({"kind": "satellite"}, "kind"),
])  # fmt: skip
def test_a_hearing_that_breaks_a_rule_is_refused_by_itself(change: dict[str, object], why: str) -> None:
    from meterd.mqtt.batch import decode

    today = int(time.time()) // DAY_S
    good = {"meter_id": "10000001", "manufacturer": "APA", "day": today, "kind": "gateway", "telegrams": 3,
            "rssi_median_dbm": -70.0, "last": today * DAY_S + 5}  # fmt: skip
    assert Hearing.from_json(good, "gw1", today).telegrams == 3
    with pytest.raises(BadHearing, match=why):
        Hearing.from_json({**good, **change}, "gw1", today)
    payload = json.dumps({"gateway": "gw1", "readings": [], "hearings": [{**good, **change}, good]}).encode()
    batch = decode("meterd/gw1/readings", payload, int(time.time()))
    assert len(batch.hearings) == 1 and batch.hearings[0].gateway == "gw1"
    assert [r.reason for r in batch.refused] == ["bad_hearing"]


def test_the_report_counts_gateways_not_walks_and_a_register_meter_without_maker_takes_any() -> None:
    reg = [RegisterMeter(1, "10000001", "APA", "A1", "A", "a/1", "water"),
           RegisterMeter(2, "10000002", "", "A2", "A", "a/2", "water")]  # fmt: skip
    rows = [("10000001", "APA", "gwa", "gateway", 10, -60.0, 5), ("10000001", "APA", "walk-r1", "walk", 2, -40.0, 6),
            ("10000001", "ELS", "gwb", "gateway", 10, -50.0, 7),  # another maker's meter of that serial
            ("10000002", "DME", "gwb", "gateway", 4, -80.0, 8)]  # fmt: skip
    cov = coverage(reg, rows)
    first, second = cov.meters
    assert [(h.gateway, h.kind.value) for h in first.heard_by] == [("walk-r1", "walk"), ("gwa", "gateway")]
    assert not first.redundant and len(first.gateways) == 1
    assert [h.gateway for h in second.heard_by] == ["gwb"]
    assert {g: [m.meter.serial for m in ms] for g, ms in cov.only_by.items()} == {"gwa": ["10000001"], "gwb": ["10000002"]}


def _capture(tmp: Path, gateway: str, at: datetime) -> Path:
    """Each meter this gateway hears, three times (the same reading: duplicates count as hearings)."""
    lines = []
    for serial, by in HEARD.items():
        if gateway in by:
            frame = water(serial, MAKER[serial], 1000 + int(serial[-1]), acc=7)
            lines += [rtl_wmbus_line(frame, at.strftime("%Y-%m-%d %H:%M:%S.000"), by[gateway])] * 3
    path = tmp / f"{gateway}.rtl"
    path.write_text("".join(lines))
    return path


def _gateway(tmp: Path, name: str, broker: Broker, capture: Path, register: Path) -> Path:
    data = tmp / name
    ok("db", "upgrade", "--data", str(data))
    ok("import", "premises", str(register), "--data", str(data))
    config = tmp / f"{name}.toml"
    config.write_text(f'[gateway]\nname = "{name}"\ndata = "{data}"\nvalidate_every_s = 0\nbatch_interval_s = 0.2\n\n'
                      f'[[receiver]]\ndongle = "rtlwmbus"\nport = "{capture}"\n\n[mqtt]\nurl = "{broker.url}"\n')  # fmt: skip
    return config


@pytest.mark.slow
def test_three_gateways_and_a_walk_give_the_coverage_report_and_the_planned_walk(tmp_path: Path, pg_url: str) -> None:
    broker = Broker(tmp_path)
    broker.start()
    register = tmp_path / "register.csv"
    register.write_text(REGISTER)
    ok("db", "upgrade", "--db", pg_url)
    ok("import", "premises", str(register), "--db", pg_url)
    env = {**os.environ, "TZ": "UTC"}
    log = (tmp_path / "ingest.log").open("w")
    ingester = subprocess.Popen([sys.executable, "-m", "meterd", "ingest", "--mqtt", broker.url, "--db", pg_url],
                                stdout=log, stderr=log, env=env)  # fmt: skip
    try:
        at = datetime.fromtimestamp(int(time.time()) - 600, UTC)
        configs = [_gateway(tmp_path, name, broker, _capture(tmp_path, name, at), register) for name in ("gwa", "gwb", "gwc")]
        gateways = [subprocess.Popen([sys.executable, "-m", "meterd", "run", "--config", str(c)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in configs]  # fmt: skip
        for g in gateways:  # each replays its capture to the end and stops
            _, err = g.communicate(timeout=60)
            assert g.returncode == 0, err
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in ok("report", "--coverage", "--since", "1d", "--format", "jsonl", "--db", pg_url).splitlines()]
            meters = {m["meter_id"]: m for m in lines if "meter_id" in m}
            if sum(len(m["heard_by"]) for m in meters.values()) == 8:
                break
            time.sleep(0.3)
    finally:
        ingester.terminate()
        ingester.wait(30)
        log.close()
        broker.stop()
    heard = {s: {h["gateway"]: (h["telegrams"], h["rssi_median_dbm"]) for h in m["heard_by"]} for s, m in meters.items()}
    assert heard == {
        "10000001": {"gwa": (3, -60.0), "gwb": (3, -80.0), "gwc": (3, -100.0)},
        "10000002": {"gwa": (3, -70.0), "gwb": (3, -75.0)},
        "10000003": {"gwa": (3, -90.0)},
        "10000004": {"gwc": (3, -85.0)},
        "10000005": {},
        "10000006": {},
    }, (tmp_path / "ingest.log").read_text()[-2000:]
    assert [h["gateway"] for h in meters["10000001"]["heard_by"]] == ["gwa", "gwb", "gwc"]  # strongest first
    assert {s: m["redundant"] for s, m in meters.items()} == {
        "10000001": True, "10000002": True, "10000003": False, "10000004": False, "10000005": False, "10000006": False}
    assert meters["10000004"]["premises_id"] == "B1" and meters["10000004"]["manufacturer"] == "DME"
    only = {x["gateway"]: x["only_heard"] for x in lines if "only_heard" in x}
    assert only == {"gwa": ["10000003"], "gwc": ["10000004"]}
    # each gateway's own store keeps its own hearings too (a gateway alone, without a central store)
    own = [json.loads(x) for x in ok("report", "--coverage", "--since", "1d", "--format", "jsonl", "--data",
                                     str(tmp_path / "gwa")).splitlines() if '"meter_id"' in x]  # fmt: skip
    assert {m["meter_id"]: [(h["gateway"], h["telegrams"]) for h in m["heard_by"]] for m in own if m["heard_by"]} == {
        "10000001": [("gwa", 3)], "10000002": [("gwa", 3)], "10000003": [("gwa", 3)]}  # fmt: skip
    table = ok("report", "--coverage", "--since", "1d", "--db", pg_url)
    assert "6 meters: 2 heard by two gateways or more, 2 by one only, 2 by none" in table
    central = Store.open(db=pg_url)
    update_coverage_gauges(central, int(time.time()))
    gauges = {n: CENTRAL.get_sample_value(n) for n in
              ("meterd_meters_heard_by_one_gateway", "meterd_meters_heard_by_no_gateway", "meterd_meters_radio")}
    assert gauges == {"meterd_meters_heard_by_one_gateway": 2.0, "meterd_meters_heard_by_no_gateway": 2.0,
                      "meterd_meters_radio": 6.0}  # fmt: skip

    # a meter reader walks building B: the walk hears M6 (only it), and its bundle brings that to the centre
    laptop = tmp_path / "laptop"
    ok("db", "upgrade", "--data", str(laptop))
    ok("import", "premises", str(register), "--data", str(laptop))
    route = tmp_path / "route.csv"
    route.write_text("route_id,order,premises_id,address,meter_id,medium,previous_reading,previous_date\n"
                     "RB,1,B3,ul. Bukowa 2/3,10000006,water,,\n")  # fmt: skip
    ok("route", "import", str(route), "--data", str(laptop))
    walk_capture = tmp_path / "walk.rtl"
    walk_capture.write_text(rtl_wmbus_line(water("10000006", "DME", 1006, acc=9), at.strftime("%Y-%m-%d %H:%M:%S.000"), -55) * 2)
    _walk(laptop, "RB", walk_capture)
    bundle = tmp_path / "rb.bundle"
    ok("route", "bundle", "RB", "--out", str(bundle), "--data", str(laptop))
    ok("route", "sync", str(bundle), "--db", pg_url)
    lines = [json.loads(x) for x in ok("report", "--coverage", "--since", "1d", "--format", "jsonl", "--db", pg_url).splitlines()]
    m6 = next(m for m in lines if m.get("meter_id") == "10000006")
    assert [(h["gateway"], h["kind"], h["telegrams"], h["rssi_median_dbm"]) for h in m6["heard_by"]] == [
        ("walk-RB", "walk", 2, -55.0)] and m6["redundant"] is False  # fmt: skip

    # the walk to plan: what no gateway heard (M5, and M6 the walk heard), by building and address
    plan = tmp_path / "plan.csv"
    res = meterd("route", "plan", "--unheard-since", "1d", "--route", "P1", "--out", str(plan), "--db", pg_url)
    assert res.returncode == 0 and "2 of 6 meters unheard" in res.stderr, res.stderr
    rows = plan.read_text().splitlines()
    assert rows[0].startswith("route_id,order,premises_id,address,meter_id,medium,previous_reading,previous_date")
    assert [r.split(",")[:5] for r in rows[1:]] == [["P1", "1", "B2", "ul. Bukowa 2/2", "10000005"],
                                                    ["P1", "2", "B3", "ul. Bukowa 2/3", "10000006"]]  # fmt: skip
    assert rows[2].split(",")[6] == "1.006"  # the walk's reading is the previous one
    ok("route", "import", str(plan), "--db", pg_url)  # the plan is a route as billing's are
    only_a = meterd("route", "plan", "--unheard-since", "1d", "--building", "A", "--out", str(plan), "--db", pg_url)
    assert only_a.returncode == 0 and plan.read_text().count("\n") == 1  # building A: everyone heard
    bad = meterd("route", "plan", "--unheard-since", "soon", "--out", str(plan), "--db", pg_url)
    assert bad.returncode == 2 and "is not a duration" in bad.stderr and "Traceback" not in bad.stderr


def _walk(data: Path, route: str, capture: Path) -> None:
    """The walk's pipeline as `meterd walk` runs it (a gateway counting as a walk), over a replayed capture."""
    import threading

    from meterd.config import Config, GatewaySection, ReceiverSection
    from meterd.coverage.hearing import HearingKind
    from meterd.gateway.service import Gateway
    from meterd.store import Store
    from meterd.wmbus import Decoder

    store = Store.open(data=data)
    config = Config(gateway=GatewaySection(name=f"walk-{route}", validate_every_s=0, batch_interval_s=0.1),
                    receivers=[ReceiverSection(dongle="rtlwmbus", port=str(capture), source="walkby")])  # fmt: skip
    Gateway(config, store, Decoder, [], hearing_kind=HearingKind.WALK).run(threading.Event())


def test_staff_see_coverage_per_building_and_download_the_planned_walk(demo_store: Store) -> None:
    """The demo's two gateways: Długa's nearer flats heard by both, the rest by one; in Polish, the walk
    to plan as a Polish spreadsheet; tenants do not reach it."""
    import re

    from fastapi.testclient import TestClient

    from meterd.config import PortalSection
    from meterd.store.demo import STAFF_LOGIN, STAFF_PASSWORD, TENANT_LOGIN, TENANT_PASSWORD
    from meterd.web.app import create_app

    app = create_app(demo_store, portal=PortalSection(url="https://iok.zgm.example/woda"))
    with TestClient(app, base_url="https://iok.zgm.example") as client:
        assert client.post("/api/v1/login", json={"login": STAFF_LOGIN, "password": STAFF_PASSWORD}).status_code == 200
        assert "/staff/coverage" in client.get("/staff").text
        page = client.get("/staff/coverage", params={"since": "3650d"}).text  # all the demo's days
        rows = {m.group(1): m.group(2) for m in re.finditer(r'<th scope="row">([^<]+)</th>(.*?)</tr>', page)}
        cells = {b: re.findall(r'<td class="num">([^<]+)</td>', r) for b, r in rows.items()}
        assert cells == {"ul. Długa 5": ["12", "5 (42 %)", "7", "0"], "ul. Krótka 1": ["6", "0 (0 %)", "6", "0"]}
        assert "Zasięg radiowy" in page and "Najsłabsze połączenia" in page and "gw-krotka" in page
        weakest = re.search(r"Najsłabsze połączenia.*?<tbody><tr><td>([^<]+)</td><td>[^<]+</td><td>([^<]+)</td>"
                            r'<td class="num">([^<]+)</td>', page, re.S)  # fmt: skip
        assert weakest is not None and weakest.group(2) == "gw-krotka"  # Krótka's one gateway, the farther
        assert weakest.group(3) in ("−80", "−79", "−78", "−77", "−76")  # a minus sign as Polish type has it
        silent = client.get("/staff/coverage/plan.csv", params={"since": "1d"})  # the demo ended: nothing heard now
        assert silent.status_code == 200 and silent.headers["content-type"].startswith("text/csv")
        text = silent.content.decode("utf-8")
        assert text.startswith("\ufeffroute_id;order;premises_id;address;meter_id;medium;previous_reading;previous_date")
        lines = text.splitlines()
        assert len(lines) == 19 and lines[1].split(";")[2:5] == ["D1", "ul. Długa 5/1", "31000001"]
        assert re.fullmatch(r"\d+,\d{3}", lines[1].split(";")[6])  # the previous reading with a decimal comma
        client.cookies.clear()
        token = client.post("/api/v1/login", json={"login": TENANT_LOGIN, "password": TENANT_PASSWORD}).json()["token"]
        assert client.get("/staff/coverage", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_old_hearings_go_with_retention(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    ok("demo", "--data", str(data))
    with Store.open(data=data).begin() as conn:
        from sqlalchemy import text

        held = conn.execute(text("SELECT count(*) FROM hearings")).scalar()
    assert held and held > 500
    res = meterd("retention", "--hearing-days", "1", "--data", str(data))  # no terminal: asks for --yes
    assert res.returncode != 0 and f"{held} daily hearings" in res.stdout
    out = ok("retention", "--hearing-days", "1", "--yes", "--data", str(data))
    assert f"and {held} daily hearings" in out
    assert "18 meters: 0 heard by two gateways or more, 0 by one only, 18 by none" in ok("report", "--coverage", "--since", "3650d", "--data", str(data))
