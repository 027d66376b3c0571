"""Readings over MQTT on brokers of the tests' own and a real PostgreSQL: `meterd run` → broker → two
`meterd ingest --mqtt` → the central store, with readings sent before any ingester subscribed, the
broker SIGKILLed without persistence and started again empty, an ingester SIGKILLed for good while
the other carries on, and the gateway restarted mid-stream. Everything sent is stored exactly once;
nothing hostile is, and no message stops the ingester.

Every test starts a Mosquitto of its own on a free port: no test sees another test's or another
process's messages (the machine's broker and a fixed share group would let them)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from support.broker import Broker, free_port
from support.gateway import scrape, setup_store, stored
from support.waiting import wait_for

from meterd.wmbus import builder as b

METERS = 20


def telegram(k: int) -> bytes:
    """Telegram k: meter k % METERS, access number k // METERS, a value of its own."""
    m, a = b.address(f"{20000000 + k % METERS:08d}", "ELS", 0x33, 0x07)
    apl = bytes.fromhex("0413") + (5000 + k).to_bytes(4, "little")
    return b.wmbus_frame(0x44, m, a, b.short_tpl((k // METERS) & 0xFF, 0) + apl)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    br = Broker(tmp_path)
    br.start()
    yield br
    br.stop()


def client(port: int, name: str, **kw: Any) -> Any:
    """A plain paho client of the test (MQTT 5), connected, its network loop running."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    if "username" in kw:
        c.username_pw_set(kw["username"], kw.get("password"))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


LOGS: list[Path] = []


def meterd(*args: str, log: Path, own_group: bool = False) -> subprocess.Popen[str]:
    """A meterd process, its output appended to `log` (read when something fails); with `own_group`
    in a process group of its own, as systemd runs a service."""
    LOGS.append(log)
    out = log.open("a")
    return subprocess.Popen([sys.executable, "-m", "meterd", *args], stdout=out, stderr=out, text=True,
                            start_new_session=own_group)  # fmt: skip


def logs() -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in dict.fromkeys(LOGS) if p.exists())


def run_meterd(*args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res


def exported(db: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(run_meterd("export", "readings", "--db", db).stdout)))


def central_store(tmp_path: Path, pg_url: str, meters: int = METERS) -> Path:
    """The gateway's store in tmp_path/data and the central store on PostgreSQL, one register for both."""
    data = setup_store(tmp_path, meters)
    run_meterd("db", "upgrade", "--db", pg_url)
    run_meterd("import", "premises", str(tmp_path / "register.csv"), "--db", pg_url)
    return data


def gateway_config(tmp_path: Path, data: Path, broker: Broker, name: str = "gw1", extra: str = "") -> tuple[Path, Path, int]:
    """A gateway reading hex telegrams from a FIFO: (config, fifo, metrics port)."""
    fifo = tmp_path / f"telegrams-{name}"
    os.mkfifo(fifo)
    port = free_port()
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[gateway]\nname = "{name}"\ndata = "{data}"\nvalidate_every_s = 0\nbatch_interval_s = 0.2\n\n'
        f'[[receiver]]\ndongle = "hex"\nport = "{fifo}"\n\n[mqtt]\nurl = "{broker.url}"\n{extra}\n'
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )
    return config, fifo, port


def stop_all(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


@pytest.mark.slow
def test_every_reading_reaches_the_central_store_exactly_once(broker: Broker, tmp_path: Path, pg_url: str) -> None:
    data = central_store(tmp_path, pg_url)
    config, fifo, gw_metrics = gateway_config(tmp_path, data, broker)
    ing_metrics = free_port()
    sent = 0

    def send(rounds: int) -> None:
        """Rounds of one telegram per meter, a second apart; each telegram twice, as two dongles hear it."""
        nonlocal sent
        for _ in range(rounds):
            with open(fifo, "w") as w:
                for k in range(sent, sent + METERS):
                    w.write(telegram(k).hex() + "\n" + telegram(k).hex() + "\n")
            sent += METERS
            time.sleep(1.05)

    def local() -> int:
        return sum(n for _, n in stored(data))

    def central() -> int:
        return len(exported(pg_url))

    gateway = meterd("run", "--config", str(config), log=tmp_path / "gateway.log", own_group=True)
    procs = [gateway]
    ingest = [f"ingest --mqtt {broker.url} --db {pg_url}".split() for _ in "ab"]
    ingest[1] += ["--metrics", f"127.0.0.1:{ing_metrics}"]
    try:
        send(1)  # before any ingester subscribed: the broker drops the batch, the spool keeps it
        assert wait_for(lambda: local() == sent, 20), logs()
        ingesters = [meterd(*args, log=tmp_path / f"ingest-{x}.log") for args, x in zip(ingest, "ab", strict=True)]
        procs += ingesters
        send(2)
        assert wait_for(lambda: central() == sent, 40), (central(), sent, logs())
        broker.stop(signal.SIGKILL)  # no persistence: it comes back with nothing, retained messages gone
        send(2)
        broker.start()
        send(1)
        assert wait_for(lambda: central() == sent, 60), (central(), local(), sent, logs())
        ingesters[0].send_signal(signal.SIGKILL)  # one ingester dies for good, with its share of messages
        ingesters[0].wait(10)
        send(3)
        assert wait_for(lambda: central() == sent, 60), (central(), local(), sent, logs())
        send(1)
        gateway.send_signal(signal.SIGKILL)  # the gateway killed mid-stream, started again
        gateway.wait(10)
        gateway = procs[0] = meterd("run", "--config", str(config), log=tmp_path / "gateway.log", own_group=True)
        send(2)
        assert wait_for(lambda: central() == sent, 60), (central(), sent, logs())
        assert wait_for(lambda: scrape(gw_metrics).get("meterd_spool_readings") == 0.0, 20), logs()
        gw = scrape(gw_metrics)
        assert gw['meterd_mqtt_connected{role="publisher"}'] == 1.0
        assert gw["meterd_readings_committed_total"] > 0
        ing = scrape(ing_metrics)
        assert ing['meterd_ingested_readings_total{outcome="stored"}'] > 0, ing
        assert ing['meterd_mqtt_connected{role="ingester"}'] == 1.0 and "meterd_receive_to_commit_seconds_count" in ing
    finally:
        stop_all(procs)
    assert all(p.returncode == 0 for p in procs[:1] + procs[2:]), logs()
    assert "Traceback" not in logs(), logs()
    rows = exported(pg_url)
    assert sorted(float(r["total_m3"]) for r in rows) == [(5000 + k) / 1000 for k in range(sent)]
    assert all(r["gateway"] == "gw1" and r["source"] == "radio" for r in rows)
    assert local() == sent


def reading(k: int, gateway: str = "gw9", **changes: Any) -> dict[str, Any]:
    """The JSON of a valid reading of meter 20000000 + k % METERS, seq k + 1."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600 + k))
    body = {"seq": k + 1, "reading_id": f"{k:032x}", "meter_id": f"{20000000 + k % METERS:08d}", "manufacturer": "ELS",
            "version": 0x33, "device_type": 7, "medium": "water", "measured_at": now, "received_at": now,
            "total_m3": 100.0 + k, "registers": {"flow_temperature": 12.5}, "alarms": [], "rssi_dbm": -70.0,
            "gateway": gateway, "source": "radio", "access_number": k % 256, "basis": "access_number"}  # fmt: skip
    body.update(changes)
    return body


def batch(readings: list[dict[str, Any]], gateway: str = "gw9", **extra: Any) -> bytes:
    return json.dumps({"gateway": gateway, "readings": readings, **extra}).encode()


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"x": value}
    return value


def committed_seqs(port: int, gateways: list[str]) -> dict[str, int]:
    """What the broker holds, retained, on each gateway's committed topic."""
    seen: dict[str, int] = {}
    c = client(port, f"look-{os.getpid()}-{time.monotonic_ns()}")
    c.on_message = lambda _c, _u, m: seen.__setitem__(m.topic.split("/")[1], json.loads(m.payload)["seq"])
    c.subscribe([(f"meterd/{g}/committed", 1) for g in gateways])
    wait_for(lambda: len(seen) == len(gateways), 5)
    c.loop_stop()
    c.disconnect()
    return seen


@pytest.mark.slow
def test_no_message_stops_the_ingester_and_nothing_hostile_is_stored(broker: Broker, tmp_path: Path, pg_url: str) -> None:
    """Every kind of hostile message, each followed by valid readings that must be stored; refused
    readings are kept with their reasons (report --rejected) and still count as handled."""
    import psycopg

    central_store(tmp_path, pg_url)
    ing = meterd("ingest", "--mqtt", broker.url, "--db", pg_url, log=tmp_path / "ing.log")
    k = iter(range(1000))
    good: list[float] = []

    def valid(n: int = 1, gateway: str = "gw9") -> list[dict[str, Any]]:
        out = [reading(next(k), gateway) for _ in range(n)]
        good.extend(r["total_m3"] for r in out)
        return out

    messages: list[tuple[str, bytes]] = [
        ("meterd/gw9/readings", b"\xff\xfe not json"),
        ("meterd/gw9/readings", b"[1, 2]"),
        ("meterd/gw9/readings", b"{" * 100_000),
        ("meterd/gw9/readings", batch([*valid(2), reading(next(k), registers=deep(300))])),  # orjson writes 254 levels
        ("meterd/gw9/readings", batch([*valid(1), reading(next(k), meter_id="2000\x0000")])),  # PostgreSQL refuses NUL
        ("meterd/gw9/readings", batch([reading(next(k), medium="wat\x07er"), *valid(1)])),
        ("meterd/gw9/readings", batch([reading(next(k), total_m3=1e+308), *valid(1)])),  # the tenant page drew nan
        ("meterd/gw9/readings", batch([reading(next(k), total_m3=-1.0), *valid(1)])),
        ("meterd/gw9/readings", b'{"gateway": "gw9", "readings": [{"seq": 999999, "total_m3": 1e999}]}'),
        ("meterd/gw9/readings", batch([reading(next(k), measured_at="2099-01-01T00:00:00Z"), *valid(1)])),
        ("meterd/gw9/readings", batch([reading(next(k), source="manual"), *valid(1)])),
        ("meterd/gw9/readings", batch([reading(next(k), alarms=["leak"] * 50), *valid(1)])),
        ("meterd/gw9/readings", batch([reading(next(k), gateway="gw8"), *valid(1)])),  # a reading naming another
        ("meterd/gw9/readings", batch([{**reading(next(k)), "seq": "one"}, *valid(1)])),
        ("meterd/gw9/readings", batch(valid(1), gateway="gw8")),  # a batch naming another gateway: refused whole
        ("meterd/gw9/readings", batch(valid(3))),
        ("meterd/gw9/readings", batch([*valid(1), reading(0, extra="x" * 300000)])),  # over 256 KiB: the broker drops it
    ]
    good = good[:-5] + good[-4:-1]  # the batch naming gw8 and the oversized one are not stored
    try:
        assert wait_for(lambda: "connected to" in (tmp_path / "ing.log").read_text(), 20), logs()
        pub = client(broker.port, "hostile")
        time.sleep(0.5)
        for topic, body in messages[:-1]:
            pub.publish(topic, body, qos=1).wait_for_publish(5)
        pub.publish(*messages[-1], qos=1)  # the broker hangs up on a client that sends a message too large
        assert wait_for(lambda: len(exported(pg_url)) == len(good), 30), (len(exported(pg_url)), len(good), logs())
        time.sleep(1)
        assert ing.poll() is None, logs()
        pub.loop_stop()
        pub.disconnect()
        report = run_meterd("report", "--rejected", "--db", pg_url).stdout
        committed = committed_seqs(broker.port, ["gw9"])
    finally:
        stop_all([ing])
    assert ing.returncode == 0 and "Traceback" not in logs(), logs()
    assert sorted(float(r["total_m3"]) for r in exported(pg_url)) == sorted(good)
    for reason in ("not_json", "not_batch", "too_deep", "bad_text", "bad_total", "bad_time", "bad_source",
                   "bad_alarms", "wrong_gateway", "bad_seq"):  # fmt: skip
        assert f": {reason}: " in report, (reason, report)
    assert "\x00" not in report and "\\u0000" in report  # the NUL is kept as text that can be shown
    # refused readings count as handled (the gateway may drop them), up to the one whose seq was no number
    assert committed["gw9"] == 19
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM readings WHERE total_m3 > 1e7 OR total_m3 < 0").fetchone() == (0,)


@pytest.mark.slow
def test_a_conflict_is_kept_for_review_and_a_store_fault_in_the_data_does_not_stop_the_rest(
    broker: Broker, tmp_path: Path, pg_url: str
) -> None:
    """The same reading key with another total is a conflict (the first stays); a reading the
    database itself refuses (here a trigger stands for any fault tied to the data) is found by
    splitting its batch and kept apart, and the rest of the batch is stored."""
    import psycopg

    central_store(tmp_path, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION refuse_666() RETURNS trigger AS $$ BEGIN "
                     "IF NEW.total_m3 = 666 THEN RAISE EXCEPTION 'the database refuses 666'; END IF; "
                     "RETURN NEW; END $$ LANGUAGE plpgsql")  # fmt: skip
        conn.execute("CREATE TRIGGER refuse_666 BEFORE INSERT ON readings FOR EACH ROW EXECUTE FUNCTION refuse_666()")
    ing = meterd("ingest", "--mqtt", broker.url, "--db", pg_url, "--metrics", f"127.0.0.1:{(mport := free_port())}",
                 log=tmp_path / "ing.log")  # fmt: skip
    first = [reading(k) for k in range(10)]
    forged = {**first[3], "seq": 11, "total_m3": 5.0}  # the same key (meter, time, reading id), another total
    faulty = [reading(k) for k in range(11, 19)] + [reading(19, total_m3=666.0)] + [reading(k) for k in range(20, 26)]
    try:
        assert wait_for(lambda: "connected to" in (tmp_path / "ing.log").read_text(), 20), logs()
        pub = client(broker.port, "conflicts")
        time.sleep(0.5)
        pub.publish("meterd/gw9/readings", batch(first, first=1), qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(exported(pg_url)) == 10, 20), logs()
        pub.publish("meterd/gw9/readings", batch([forged]), qos=1).wait_for_publish(5)
        pub.publish("meterd/gw9/readings", batch(faulty), qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(exported(pg_url)) == 24, 30), (len(exported(pg_url)), logs())
        assert wait_for(lambda: committed_seqs(broker.port, ["gw9"]).get("gw9") == 26, 10), logs()
        metrics = scrape(mport)
        pub.loop_stop()
        pub.disconnect()
        report = run_meterd("report", "--rejected", "--db", pg_url).stdout
    finally:
        stop_all([ing])
    assert ing.returncode == 0 and "Traceback" not in logs(), logs()
    totals = sorted(float(r["total_m3"]) for r in exported(pg_url))
    assert 103.0 in totals and 5.0 not in totals and 666.0 not in totals
    assert "conflict  meter 20000003" in report and "5.0 m3" in report and "stored first: 103.0 m3" in report, report
    assert "reading seq 20: store_refused: " in report and "666" in report, report
    assert metrics["meterd_readings_conflicts_total"] == 1.0
    assert metrics['meterd_readings_rejected_total{reason="store_refused"}'] == 1.0
    assert "the store refused a reading" in (tmp_path / "ing.log").read_text()


def readings_of(gateway: str, ks: range) -> list[Any]:
    from meterd.reading import MeterIdentity, Reading, TimeBasis

    now = int(time.time())
    return [Reading(MeterIdentity("ELS", f"{20000000 + k % METERS:08d}", 0x33, 7), "water", now - 3600 + k, now,
                    float(k), gateway=gateway, basis=TimeBasis.ACCESS_NUMBER, access_number=k & 0xFF,
                    reading_id=f"{k:032x}") for k in ks]  # fmt: skip


@pytest.mark.slow
def test_an_ingester_killed_while_its_transaction_waits_loses_nothing(broker: Broker, tmp_path: Path, pg_url: str) -> None:
    """Readings arrive while the central table is locked (nothing can commit); that ingester is killed
    and never comes back; the gateway sends what was not confirmed again and the other ingester stores it."""
    import psycopg

    from meterd.mqtt.connection import Credentials, parse_url
    from meterd.mqtt.sink import MqttSink

    central_store(tmp_path, pg_url)
    first = meterd("ingest", "--mqtt", broker.url, "--db", pg_url, log=tmp_path / "ing-a.log")
    assert wait_for(lambda: "connected to" in (tmp_path / "ing-a.log").read_text(), 20), logs()
    lock = psycopg.connect(pg_url)
    lock.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")  # held until rollback
    sink = MqttSink(parse_url(broker.url), Credentials(), "gwk", tmp_path / "gw", resend_after_s=2.0)
    second = None
    try:
        assert wait_for(lambda: sink.connected, 10)
        sink.write(readings_of("gwk", range(40)))
        time.sleep(1.5)  # the batch is with the first ingester, waiting for the lock
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        lock.rollback()
        assert sink.spooled == 40  # nothing confirmed: the spool keeps every reading
        second = meterd("ingest", "--mqtt", broker.url, "--db", pg_url, log=tmp_path / "ing-b.log")
        assert wait_for(lambda: len(exported(pg_url)) == 40, 40), logs()
        assert wait_for(lambda: sink.spooled == 0, 20), sink.spooled
        sink.write(readings_of("gwk", range(40, 60)))
        assert wait_for(lambda: len(exported(pg_url)) == 60 and sink.spooled == 0, 20), logs()
    finally:
        lock.close()
        sink.close()
        stop_all([second] if second else [])
    assert sorted(float(r["total_m3"]) for r in exported(pg_url)) == [float(k) for k in range(60)]


def test_status_per_meter_states_and_home_assistant_discovery(broker: Broker, tmp_path: Path) -> None:
    """The bundled capture through a gateway with discovery: `online` then `offline` (retained, the last
    will); each meter's latest reading on its own topic; a sensor per meter and medium with the device
    class of its medium (a gas and a water meter sharing an id stay apart), no volume sensor for a
    heat cost allocator, no dangling via_device."""
    data = tmp_path / "data"
    config = tmp_path / "gw.toml"
    config.write_text(
        f'[gateway]\nname = "gwha"\ndata = "{data}"\nvalidate_every_s = 0\nbatch_interval_s = 0.2\n\n'
        f'[[receiver]]\ndongle = "hex"\nport = "{ROOT / "config" / "sample-capture.hex"}"\n\n'
        f'[keys]\nfile = "{tmp_path / "keys.csv"}"\n\n[mqtt]\nurl = "{broker.url}"\nhomeassistant = true\n'
    )
    shutil.copy(ROOT / "config" / "sample-keys.csv", tmp_path / "keys.csv")
    (tmp_path / "keys.csv").chmod(0o600)
    seen: dict[str, bytes] = {}
    sub = client(broker.port, "ha")
    sub.on_message = lambda _c, _u, msg: seen.__setitem__(msg.topic, msg.payload)
    sub.subscribe([("meterd/#", 1), ("homeassistant/#", 1)])
    time.sleep(0.3)
    gateway = meterd("run", "--config", str(config), log=tmp_path / "gateway.log")
    try:
        assert wait_for(lambda: seen.get("meterd/gwha/status") == b"online", 20), logs()
        assert wait_for(lambda: any(t.endswith("/config") for t in seen) and len(seen) > 10, 20), logs()
        time.sleep(2)
    finally:
        stop_all([gateway])
    assert gateway.returncode == 0, logs()
    assert wait_for(lambda: seen.get("meterd/gwha/status") == b"offline", 10)
    sub.loop_stop()
    sub.disconnect()
    states = {t: json.loads(p) for t, p in seen.items() if t.startswith("meterd/meter/")}
    configs = {t: json.loads(p) for t, p in seen.items() if t.startswith("homeassistant/")}
    assert states and all(t == f"meterd/meter/{s['meter_id']}/{s['medium']}/state" for t, s in states.items())
    media = {s["medium"] for s in states.values()}
    assert {"gas", "heat_cost_allocator"} <= media and media & {"water", "warm_water", "cold_water"}, media
    ids = {}
    for topic, c in configs.items():
        assert "via_device" not in c["device"] and c["state_topic"] in states, c
        assert c["expire_after"] > 0 and c["origin"]["name"] == "meterd" and c["availability"][0]["topic"] == "meterd/gwha/status"
        assert c["unique_id"] not in ids, c  # one unique id per meter, medium and sensor
        ids[c["unique_id"]] = topic
        medium = states[c["state_topic"]]["medium"]
        if topic.endswith("/volume/config"):
            assert c["device_class"] == ("gas" if medium == "gas" else "water") and c["unit_of_measurement"] == "m³"
            assert states[c["state_topic"]]["total_m3"] is not None
    hca = [t for t, s in states.items() if s["medium"] == "heat_cost_allocator"]
    assert hca and not any(c["state_topic"] in hca and t.endswith("/volume/config") for t, c in configs.items())
    shared = {s["meter_id"] for s in states.values() if s["medium"] == "gas"} & {
        s["meter_id"] for s in states.values() if s["medium"] != "gas"}  # fmt: skip
    for meter in shared:  # one id, two makers and media: two devices, two state topics
        assert len([t for t in states if f"/{meter}/" in t]) == 2


def test_the_acl_lets_a_gateway_write_only_its_own_topics(tmp_path: Path) -> None:
    """The documented broker settings (meterd/share/mosquitto): a gateway's batches on another gateway's
    topic, or a `committed` of its own making, never reach the ingesters; its own batches do."""
    passwd = tmp_path / "passwd"
    for user in ("gw1", "central"):
        subprocess.run(["mosquitto_passwd", "-b", *([] if passwd.exists() else ["-c"]), str(passwd), user, f"pw-{user}"],
                       check=True, capture_output=True)  # fmt: skip
    acl = tmp_path / "acl"
    shutil.copy(ROOT / "meterd" / "share" / "mosquitto" / "meterd.acl", acl)
    shown = (ROOT / "meterd" / "share" / "mosquitto" / "meterd.conf").read_text()
    assert "acl_file" in shown and "message_size_limit 262144" in shown and "allow_anonymous false" in shown
    br = Broker(tmp_path, f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n")
    br.start()
    try:
        heard: list[str] = []
        told: list[bytes] = []
        central = client(br.port, "central-1", username="central", password="pw-central")
        central.on_message = lambda _c, _u, m: heard.append(m.topic)
        central.subscribe("$share/meterd/meterd/+/readings", 1)
        gw = client(br.port, "gw1", username="gw1", password="pw-gw1")
        gw.on_message = lambda _c, _u, m: told.append(m.payload)
        gw.subscribe("meterd/gw1/committed", 1)
        time.sleep(0.5)
        for topic in ("meterd/gw2/readings", "meterd/gw1/committed", "meterd/gw1/readings"):
            gw.publish(topic, b"{}", qos=1).wait_for_publish(5)
        central.publish("meterd/gw1/committed", b'{"seq": 1}', qos=1, retain=True).wait_for_publish(5)
        assert wait_for(lambda: heard and told, 5)
        time.sleep(0.5)
        assert heard == ["meterd/gw1/readings"] and told == [b'{"seq": 1}'], (heard, told)
        for c in (central, gw):
            c.loop_stop()
            c.disconnect()
    finally:
        br.stop()


# -- the pure and local parts ------------------------------------------------------------------------


def test_spool_numbers_for_good_drops_what_is_committed_and_the_oldest_when_full(tmp_path: Path) -> None:
    from meterd.sinks.spool import Spool

    spool = Spool(tmp_path, max_readings=1000)
    spool.append([str(i).encode() for i in range(600)])
    assert [m.payload for m in spool.after(0, 3)] == [b"0", b"1", b"2"] and spool.first_seq() == 1
    assert spool.remove_upto(5) == 5
    spool.close()
    again = Spool(tmp_path, max_readings=1000)  # a restart (or a power cut after the append returned)
    assert len(again) == 595 and again.after(0, 1)[0].payload == b"5" and again.first_seq() == 6
    again.append([str(i).encode() for i in range(600, 1500)])  # 495 too many: the oldest go
    assert len(again) == 1000 and again.dropped == 495 and again.dropped_total() == 495
    assert again.first_seq() == 501 and again.after(0, 1)[0].payload == b"500"
    again.remove_upto(1500)
    assert len(again) == 0 and again.first_seq() == 1501  # an emptied spool never hands out a number again
    again.append([b"next"])
    assert again.after(0, 10)[0].seq == 1501
    again.renumber_after(5000)  # the central side has seen more than this spool ever handed out
    assert [(m.seq, m.payload) for m in again.after(0, 10)] == [(5001, b"next")]
    again.append([b"after"])
    assert again.after(5001, 10)[0].seq == 5002 and again.last_issued() == 5002
    again.close()
    assert (tmp_path / "spool.sqlite").stat().st_mode & 0o777 == 0o600


def test_batches_are_split_under_the_size_limit_and_read_back_whole() -> None:
    from meterd.jsonio import dumps
    from meterd.mqtt.batch import MAX_MESSAGE_BYTES, BatchRefused, decode, encode, split
    from meterd.sinks.spool import Spooled

    rows = [Spooled(k + 1, dumps(r.to_json())) for k, r in enumerate(readings_of("gwb", range(2000)))]
    runs = list(split("gwb", rows))
    assert len(runs) > 1 and [r.seq for run in runs for r in run] == list(range(1, 2001))
    now = int(time.time())
    back = []
    for run in runs:
        payload = encode("gwb", 1, run)
        assert len(payload) <= MAX_MESSAGE_BYTES
        got = decode("meterd/gwb/readings", payload, now)
        assert got.gateway == "gwb" and got.first == 1 and not got.refused
        back += got.readings
    assert [(s, r.total_m3, r.reading_id) for s, r in back] == [(k + 1, float(k), f"{k:032x}") for k in range(2000)]
    with pytest.raises(BatchRefused) as info:
        decode("meterd/gwb/readings", b" " * (MAX_MESSAGE_BYTES + 1), now)
    assert info.value.code == "too_large"
    with pytest.raises(BatchRefused) as info:
        decode("meterd/a/b/readings", b"{}", now)
    assert info.value.code == "bad_topic"
    hint = decode("meterd/gwb/readings", batch([reading(4, "gwb")], "gwb", first=50), now)
    assert hint.first is None  # a hint above the batch's own readings is ignored


def test_committed_seqs_merge_out_of_order_batches() -> None:
    from meterd.store.central import merge, runs

    assert runs([5, 1, 2, 3, 7, 8, 3]) == [(1, 3), (5, 5), (7, 8)]
    assert merge(0, [(5, 5), (7, 8), (1, 3)]) == (3, [(5, 5), (7, 8)])
    assert merge(3, [(5, 5), (7, 8), (4, 4)]) == (5, [(7, 8)])
    assert merge(10, [(1, 3), (12, 14), (15, 20), (11, 11)]) == (20, [])
    assert merge(0, [(2, 4), (6, 6), (5, 5)]) == (0, [(2, 6)])


def _tls_files(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA of the test's own and a server certificate for 127.0.0.1 signed by it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("meterd test CA")).issuer_name(name("meterd test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
              .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .sign(ca_key, hashes.SHA256()))  # fmt: skip
    paths = (tmp / "ca.pem", tmp / "server.pem", tmp / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


def test_readings_go_over_tls_to_a_broker_checked_against_its_ca(tmp_path: Path) -> None:
    """mqtts:// with a CA file: the gateway's publisher on a Mosquitto TLS listener, heard by a client
    checking the same CA; a CA file that is none stops the start."""
    from meterd.mqtt.connection import Credentials, MqttError, new_client, parse_url
    from meterd.mqtt.sink import MqttSink

    ca, cert, key = _tls_files(tmp_path)
    broker = Broker(tmp_path, f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    broker.start()
    address = parse_url(f"mqtts://127.0.0.1:{broker.port}")
    heard: list[Any] = []
    sub = new_client(address, Credentials(ca_file=str(ca)), "tls-sub")
    sub.on_connect = lambda c, *_: c.subscribe("meterd/tls/readings", qos=1)
    sub.on_message = lambda _c, _u, msg: heard.extend(json.loads(msg.payload)["readings"])
    sub.connect(address.host, address.port)
    sub.loop_start()
    sink = None
    try:
        assert wait_for(sub.is_connected, 10)
        time.sleep(0.3)
        sink = MqttSink(address, Credentials(ca_file=str(ca)), "tls", tmp_path / "gw")
        sink.write(readings_of("tls", range(200)))
        assert wait_for(lambda: len(heard) >= 200, 20), len(heard)
        assert sorted(r["total_m3"] for r in heard[:200]) == [float(k) for k in range(200)]
        assert [r["seq"] for r in heard[:200]] == list(range(1, 201))
        with pytest.raises(MqttError):  # a CA file that is no CA file is refused at start
            MqttSink(address, Credentials(ca_file=str(key)), "tls2", tmp_path / "gw2")
    finally:
        if sink is not None:
            sink.close(0)
        sub.loop_stop()
        sub.disconnect()
        broker.stop()


def test_bad_broker_urls_are_refused_with_the_reason() -> None:
    from meterd.mqtt.connection import MqttError, parse_url

    for url, problem in (("http://broker:1883", "expected mqtt://"), ("mqtt://user:secret@broker", "no password in the URL"),
                         ("mqtt://broker:99999", "broker URL"), ("mqtt://broker/path", "no path")):  # fmt: skip
        with pytest.raises(MqttError) as info:
            parse_url(url)
        assert problem in info.value.message and "secret" not in info.value.message
    assert str(parse_url("mqtts://broker.example")) == "mqtts://broker.example:8883"
    a = parse_url("mqtt://gw%40zgm@10.0.0.5:1884")
    assert (a.host, a.port, a.tls, a.username) == ("10.0.0.5", 1884, False, "gw@zgm")


def test_a_bad_broker_url_or_missing_tls_file_is_one_line_and_creates_no_store(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "meterd", "ingest", "--mqtt", "mqtt://u:pw@host", "--data",
                          str(tmp_path / "d")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr and "pw" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    config = tmp_path / "meterd.toml"
    config.write_text(f'[gateway]\nname = "t"\ndata = "{tmp_path / "gw"}"\n\n[[receiver]]\ndongle = "hex"\n'
                      f'port = "/dev/null"\n\n[mqtt]\nurl = "mqtts://127.0.0.1:8883"\nca_file = "{tmp_path / "ca.pem"}"\n')  # fmt: skip
    runs = [["run", "--config", str(config)],
            ["ingest", "--mqtt", "mqtts://127.0.0.1:8883", "--ca-file", str(tmp_path / "ca.pem"), "--data", str(tmp_path / "c")]]  # fmt: skip
    for args in runs:
        res = subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert f"{tmp_path / 'ca.pem'}: no such file" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "gw").exists() and not (tmp_path / "c").exists()


def test_a_reading_from_a_building_its_gateway_hardly_hears_is_stored_counted_and_noted(tmp_path: Path) -> None:
    """Once a gateway has delivered enough readings, one of a meter in another building is stored all the
    same, counted, and noted (once a day per meter) for `report --rejected` and the staff page."""
    from meterd.mqtt.connection import Credentials, parse_url
    from meterd.mqtt.ingester import Group, Ingester
    from meterd.mqtt.usual import UsualBuildings
    from meterd.store import Store

    usual = UsualBuildings(warmup=10, share=0.1)
    assert [usual.observe("gw1", "A") for _ in range(10)] == [False] * 10
    assert usual.observe("gw1", "B") and not usual.observe("gw1", "A") and usual.usual("gw1") == ["A"]
    data = tmp_path / "central"
    register = tmp_path / "register.csv"
    register.write_text("premises_id,address,meter_id,manufacturer,medium,installed\n" + "".join(
        f"F{n},ul. {'Długa 1' if n < 19 else 'Krótka 9'}/{n},{20000000 + n:08d},ELS,water,2026-01-01\n" for n in range(20)))  # fmt: skip
    run_meterd("db", "upgrade", "--data", str(data))
    run_meterd("import", "premises", str(register), "--data", str(data))
    store = Store.open(data)
    ingester = Ingester(parse_url("mqtt://127.0.0.1:1"), Credentials(), store, "test")
    ingester.usual = UsualBuildings(warmup=100, share=0.05)
    now = int(time.time())
    readings = readings_of("gw1", range(400))  # meter 20000019 (ul. Krótka 9) only in the last batch
    usual_ones = [(k, r) for k, r in enumerate(readings) if r.meter.id != "20000019"]
    ingester._transaction(Group([("gw1", k + 1, r) for k, r in usual_ones[:300]]), now)
    far = [(k, r) for k, r in enumerate(readings) if r.meter.id == "20000019"]
    ingester._transaction(Group([("gw1", k + 1, r) for k, r in far]), now)
    report = run_meterd("report", "--rejected", "--data", str(data)).stdout
    store.close()
    assert report.count("noted") >= 1 and "unusual_building: stored; meter 20000019 hangs in ul. Krótka 9" in report
    assert "gw1 usually delivers ul. Długa 1" in report and "1 noted (stored)" in report, report
    assert len(exported_data(data)) == 300 + len(far)  # stored all the same


def exported_data(data: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(run_meterd("export", "readings", "--data", str(data)).stdout)))
