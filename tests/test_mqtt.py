"""Readings over MQTT on real brokers and a real PostgreSQL: `meterd run` → broker → two `meterd ingest
--mqtt` → the central store, with readings sent before any ingester subscribed, the broker stopped
and started again, an ingester killed, and the gateway restarted with readings in its spool.
Everything sent is stored exactly once."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_service
from test_gateway import free_port, scrape, setup_store, stored
from test_serial_ports import wait_for

from meterd.wmbus import builder as b

# the machine's broker is one for all: its shared subscription would split one test's readings with
# another's, so these tests run one after another on one test worker
pytestmark = pytest.mark.xdist_group("machine-broker")
METERS = 20
MQTT_URL = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")


def telegram(k: int) -> bytes:
    """Telegram k: meter k % METERS, access number k // METERS, a value of its own."""
    m, a = b.address(f"{20000000 + k % METERS:08d}", "ELS", 0x33, 0x07)
    apl = bytes.fromhex("0413") + (5000 + k).to_bytes(4, "little")
    return b.wmbus_frame(0x44, m, a, b.short_tpl((k // METERS) & 0xFF, 0) + apl)


class Broker:
    """A Mosquitto of the test's own, on its own port, that can be stopped and started again."""

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            require_service("Mosquitto", "no mosquitto binary to start a broker of the test's own")
        self.exe = exe
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        (tmp / "broker").mkdir()
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {tmp / 'broker'}/\nmax_queued_messages 0\nmax_inflight_messages 0\n"
            "autosave_interval 1\n" + ("user root\n" if os.geteuid() == 0 else "")  # as root it would drop to `mosquitto`
        )  # and could not write its sessions to the test's folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(self._listening, 10), "the test's broker did not start"

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    br = Broker(tmp_path)
    br.start()
    yield br
    br.stop()


LOGS: list[Path] = []


def meterd(*args: str, log: Path, own_group: bool = False) -> subprocess.Popen[str]:
    """A meterd process, its output appended to `log` (read when something fails); with `own_group`
    in a process group of its own (with its children), as systemd runs a service."""
    LOGS.append(log)
    out = log.open("a")
    return subprocess.Popen([sys.executable, "-m", "meterd", *args], stdout=out, stderr=out, text=True,
                            start_new_session=own_group)  # fmt: skip


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def logs() -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in dict.fromkeys(LOGS) if p.exists())


def exported(db: str) -> list[dict[str, str]]:
    res = subprocess.run([sys.executable, "-m", "meterd", "export", "readings", "--db", db],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return list(csv.DictReader(io.StringIO(res.stdout)))


def test_every_reading_reaches_the_central_store_exactly_once(broker: Broker, tmp_path: Path, pg_url: str) -> None:
    data = setup_store(tmp_path, METERS)  # the gateway's own store (its register)
    register = tmp_path / "register.csv"
    for args in (("db", "upgrade"), ("import", "premises", str(register))):
        res = subprocess.run([sys.executable, "-m", "meterd", *args, "--db", pg_url], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    fifo = tmp_path / "telegrams"
    os.mkfifo(fifo)
    config = tmp_path / "meterd.toml"
    gw_metrics, ing_metrics = free_port(), free_port()
    config.write_text(
        f'[gateway]\nname = "gw1"\ndata = "{data}"\nvalidate_every_s = 0\n\n'
        f'[[receiver]]\ndongle = "hex"\nport = "{fifo}"\n\n[mqtt]\nurl = "{broker.url}"\n\n'
        f'[metrics]\nlisten = "127.0.0.1:{gw_metrics}"\n'
    )
    sent = 0

    def send(rounds: int) -> None:
        """Rounds of one telegram per meter, a second apart (a meter's readings are a second apart at least);
        each telegram twice, as two dongles would hear it."""
        nonlocal sent
        for _ in range(rounds):
            with open(fifo, "w") as w:
                for k in range(sent, sent + METERS):
                    w.write(telegram(k).hex() + "\n" + telegram(k).hex() + "\n")
            sent += METERS
            time.sleep(1.05)

    def local() -> int:
        return sum(n for _, n in stored(data))

    gateway = meterd("run", "--config", str(config), log=tmp_path / "gateway.log", own_group=True)
    procs = [gateway]
    ingest = [f"ingest --mqtt {broker.url} --db {pg_url} --client-id ing-{x}".split() for x in "ab"]
    ingest[1] += ["--metrics", f"127.0.0.1:{ing_metrics}"]
    try:
        # before any ingester subscribed, the broker has nobody to give readings to: they stay in the spool
        send(1)
        assert wait_for(lambda: local() == sent, 20), logs()
        ingesters = [meterd(*args, log=tmp_path / f"ingest-{x}.log") for args, x in zip(ingest, "ab", strict=True)]
        procs += ingesters
        send(2)
        assert wait_for(lambda: len(exported(pg_url)) == sent, 30), (len(exported(pg_url)), sent, logs())
        broker.stop()  # the broker away: reception and the local store go on, the spool fills
        send(3)
        assert wait_for(lambda: local() == sent, 20), (len(exported(pg_url)), local(), sent, logs())
        assert len(exported(pg_url)) == sent - 3 * METERS
        broker.start()
        assert wait_for(lambda: len(exported(pg_url)) == sent, 60), (len(exported(pg_url)), local(), sent, logs())
        ingesters[0].send_signal(signal.SIGKILL)  # one ingester dies mid-run and comes back
        ingesters[0].wait(10)
        send(3)
        ingesters[0] = procs[1] = meterd(*ingest[0], log=tmp_path / "ingest-a.log")
        assert wait_for(lambda: len(exported(pg_url)) == sent, 60), (len(exported(pg_url)), local(), sent, logs())
        broker.stop()  # the gateway restarted with readings in its spool
        send(2)
        assert wait_for(lambda: local() == sent, 20), (len(exported(pg_url)), local(), sent, logs())
        os.killpg(gateway.pid, signal.SIGTERM)  # as systemd stops it: the gateway and its publisher process
        assert gateway.wait(30) == 0
        assert wait_for(lambda: group_gone(gateway.pid), 10)  # the publisher process went with it
        assert len(list((data).glob("spool.sqlite"))) == 1
        broker.start()
        gateway = procs[0] = meterd("run", "--config", str(config), log=tmp_path / "gateway.log", own_group=True)
        assert wait_for(lambda: len(exported(pg_url)) == sent, 60), (len(exported(pg_url)), sent)
        assert wait_for(lambda: scrape(gw_metrics).get("meterd_spool_readings") == 0.0, 10)
        gw = scrape(gw_metrics)  # the restarted gateway: what waited in its spool went out as replayed
        assert gw["meterd_readings_replayed_total"] >= 2 * METERS, gw
        assert gw['meterd_mqtt_connected{role="publisher"}'] == 1.0
        assert gw["meterd_readings_acknowledged_total"] >= 2 * METERS
        ing = scrape(ing_metrics)
        assert ing['meterd_mqtt_messages_total{outcome="stored"}'] > 0
        assert ing['meterd_mqtt_connected{role="ingester"}'] == 1.0 and "meterd_receive_to_commit_seconds_count" in ing
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
    assert all(p.returncode == 0 for p in procs), logs()
    assert "Traceback" not in logs(), logs()
    rows = exported(pg_url)
    assert sorted(float(r["total_m3"]) for r in rows) == [(5000 + k) / 1000 for k in range(sent)]
    assert all(r["gateway"] == "gw1" and r["source"] == "radio" for r in rows)
    assert local() == sent


def test_status_is_retained_online_and_offline_is_the_last_will(tmp_path: Path) -> None:
    """On the machine's own broker: `online` (retained) while the gateway runs, `offline` after it stops."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from meterd.mqtt.connection import parse_url

    address = parse_url(MQTT_URL)
    with socket.socket() as s:
        if s.connect_ex((address.host, address.port)) != 0:
            require_service("Mosquitto", f"nothing listens on {MQTT_URL}")
    data = setup_store(tmp_path, 2)
    fifo = tmp_path / "telegrams"
    os.mkfifo(fifo)
    name = f"gwtest{os.getpid()}"
    config = tmp_path / "meterd.toml"
    config.write_text(
        f'[gateway]\nname = "{name}"\ndata = "{data}"\nvalidate_every_s = 0\n\n'
        f'[[receiver]]\ndongle = "hex"\nport = "{fifo}"\n\n[mqtt]\nurl = "{MQTT_URL}"\nhomeassistant = true\n'
    )
    seen: dict[str, bytes] = {}
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: seen.__setitem__(msg.topic, msg.payload)
    client.connect(address.host, address.port)
    client.subscribe([(f"meterd/{name}/#", 1), ("homeassistant/sensor/meterd_20000001/#", 1)])
    client.loop_start()
    gateway = meterd("run", "--config", str(config), log=tmp_path / "gateway.log")
    try:
        assert wait_for(lambda: seen.get(f"meterd/{name}/status") == b"online", 20), logs()
        with open(fifo, "w") as w:
            w.write(telegram(1).hex() + "\n")
        assert wait_for(lambda: f"meterd/{name}/reading/20000001" in seen, 20)
        import json

        reading = json.loads(seen[f"meterd/{name}/reading/20000001"])
        assert reading["meter_id"] == "20000001" and reading["total_m3"] == 5.001 and reading["gateway"] == name
        assert set(reading) >= {"reading_id", "manufacturer", "medium", "measured_at", "received_at", "registers",
                                "alarms", "rssi_dbm", "source"}  # fmt: skip
        assert wait_for(lambda: "homeassistant/sensor/meterd_20000001/volume/config" in seen, 10)
        ha = json.loads(seen["homeassistant/sensor/meterd_20000001/volume/config"])
        assert (ha["device_class"], ha["state_class"], ha["unit_of_measurement"]) == ("water", "total_increasing", "m³")
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(30)
    assert gateway.returncode == 0, logs()
    assert wait_for(lambda: seen.get(f"meterd/{name}/status") == b"offline", 10)
    client.publish(f"meterd/{name}/status", b"", retain=True).wait_for_publish(5)  # leave the broker clean
    for what in ("volume", "rssi", "alarms"):
        client.publish(f"homeassistant/sensor/meterd_20000001/{what}/config", b"", retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


# -- the pure and local parts ------------------------------------------------------------------------


def test_spool_keeps_order_survives_reopening_and_drops_the_oldest_when_full(tmp_path: Path) -> None:
    from meterd.sinks.spool import Spool

    spool = Spool(tmp_path, max_messages=1000)
    spool.append([(f"t/{i}", str(i).encode()) for i in range(600)])
    first = spool.after(0, 5)
    assert [m.payload for m in first] == [b"0", b"1", b"2", b"3", b"4"]
    spool.remove([m.seq for m in first])
    spool.close()
    again = Spool(tmp_path, max_messages=1000)  # a restart (or a power cut after the append returned)
    assert len(again) == 595 and again.after(0, 1)[0].payload == b"5"
    again.append([(f"t/{i}", str(i).encode()) for i in range(600, 1500)])  # 405 too many: the oldest go
    assert len(again) == 1000 and again.dropped == 495 and again.dropped_total() == 495
    assert again.after(0, 1)[0].payload == b"500"
    again.remove([m.seq for m in again.after(0, 1000)])
    again.append([("t/x", b"next")])  # an emptied spool never hands out a number already passed
    assert again.after(1500, 10)[0].payload == b"next"
    again.close()
    assert (tmp_path / "spool.sqlite").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://broker:1883", "expected mqtt://"),
        ("mqtt://user:secret@broker", "no password in the URL"),
        ("mqtt://broker:99999", "broker URL"),
        ("mqtt://broker/path", "no path"),
    ],
)
def test_bad_broker_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    from meterd.mqtt.connection import MqttError, parse_url

    with pytest.raises(MqttError) as info:
        parse_url(url)
    assert problem in info.value.message and "secret" not in info.value.message


def test_broker_urls() -> None:
    from meterd.mqtt.connection import parse_url

    assert str(parse_url("mqtts://broker.example")) == "mqtts://broker.example:8883"
    a = parse_url("mqtt://gw%40zgm@10.0.0.5:1884")
    assert (a.host, a.port, a.tls, a.username) == ("10.0.0.5", 1884, False, "gw@zgm")


def test_a_bad_broker_url_in_ingest_is_one_line(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "meterd", "ingest", "--mqtt", "mqtt://u:pw@host", "--data",
                          str(tmp_path / "d")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr and "pw" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_a_missing_tls_file_stops_run_and_ingest_before_their_store_is_created(tmp_path: Path) -> None:
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


def _machine_broker() -> tuple[str, int]:
    from meterd.mqtt.connection import parse_url

    address = parse_url(MQTT_URL)
    with socket.socket() as s:
        if s.connect_ex((address.host, address.port)) != 0:
            require_service("Mosquitto", f"nothing listens on {MQTT_URL}")
    return address.host, address.port


def test_ingester_keeps_unknown_meters_apart_and_counts_what_is_no_reading(tmp_path: Path, pg_url: str) -> None:
    """On the machine's broker and PostgreSQL: garbage and half readings are counted and acknowledged
    (no crash, nothing else lost); readings of meters not in the register are listed by report --unknown."""
    import json

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = _machine_broker()
    data = setup_store(tmp_path, 2)
    del data
    register = tmp_path / "register.csv"
    for args in (("db", "upgrade"), ("import", "premises", str(register))):
        subprocess.run([sys.executable, "-m", "meterd", *args, "--db", pg_url], check=True, capture_output=True)
    client_id = f"ing-{os.getpid()}"
    ingester = meterd("ingest", "--mqtt", MQTT_URL, "--db", pg_url, "--client-id", client_id, log=tmp_path / "ing.log")
    gw = f"hostile{os.getpid()}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    good = {"reading_id": "ab" * 16, "meter_id": "20000001", "manufacturer": "ELS", "version": 1, "device_type": 7,
            "medium": "water", "measured_at": now, "received_at": now, "total_m3": 1.25, "registers": {},
            "alarms": [], "rssi_dbm": -70, "gateway": gw, "source": "radio"}  # fmt: skip
    unknown = {**good, "reading_id": "cd" * 16, "meter_id": "77777777"}
    try:
        assert wait_for(lambda: "connected to" in (tmp_path / "ing.log").read_text(), 20), logs()
        time.sleep(0.5)
        pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        pub.connect(host, port)
        pub.loop_start()
        for body in (b"\xff\xfe not json", b"[1, 2]", json.dumps({**good, "total_m3": "lots"}).encode(),
                     json.dumps({**good, "meter_id": None}).encode(), b"{" * 100_000, json.dumps(good).encode(),
                     json.dumps(unknown).encode()):  # fmt: skip
            pub.publish(f"meterd/{gw}/reading/x", body, qos=1).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        assert wait_for(lambda: len(exported(pg_url)) == 1, 20), logs()
        res = subprocess.run([sys.executable, "-m", "meterd", "report", "--unknown", "--db", pg_url],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert wait_for(lambda: "77777777" in subprocess.run(
            [sys.executable, "-m", "meterd", "report", "--unknown", "--db", pg_url], capture_output=True, text=True
        ).stdout, 10), res.stdout  # fmt: skip
    finally:
        ingester.send_signal(signal.SIGTERM)
        ingester.wait(30)
    text = (tmp_path / "ing.log").read_text()
    assert ingester.returncode == 0 and "Traceback" not in text, text
    assert "stored 1," in text and "unknown_meter 1," in text and "bad_payload 5" in text, text
    assert exported(pg_url)[0]["total_m3"] == "1.25"


def test_an_ingester_killed_while_its_transaction_waits_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    """Readings arrive while the central table is locked (the transaction cannot commit): nothing is
    acknowledged; the ingester is killed; the broker gives the messages to the restarted ingester."""
    import psycopg

    from meterd.mqtt.connection import Credentials, parse_url
    from meterd.mqtt.sink import MqttSink
    from meterd.reading import MeterIdentity, Reading, TimeBasis

    _machine_broker()
    setup_store(tmp_path, METERS)
    for args in (("db", "upgrade"), ("import", "premises", str(tmp_path / "register.csv"))):
        subprocess.run([sys.executable, "-m", "meterd", *args, "--db", pg_url], check=True, capture_output=True)
    client_id = f"ing-kill-{os.getpid()}"
    args = ["ingest", "--mqtt", MQTT_URL, "--db", pg_url, "--client-id", client_id]
    ingester = meterd(*args, log=tmp_path / "ing.log")
    assert wait_for(lambda: "connected to" in (tmp_path / "ing.log").read_text(), 20), logs()
    time.sleep(0.5)
    lock = psycopg.connect(pg_url)
    lock.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")  # held until rollback
    gw = f"kill{os.getpid()}"
    sink = MqttSink(parse_url(MQTT_URL), Credentials(), gw, tmp_path / "gw")
    now = int(time.time())
    readings = [Reading(MeterIdentity("ELS", f"{20000000 + k % METERS:08d}", 0x33, 7), "water", now - k, now - k,
                        float(k), gateway=gw, basis=TimeBasis.ACCESS_NUMBER, access_number=k,
                        reading_id=f"{k:02x}" * 16) for k in range(40)]  # fmt: skip
    try:
        sink.write(readings)
        assert wait_for(lambda: sink.spooled == 0, 20)  # the broker has them (and gave them to the ingester)
        time.sleep(1.0)
        ingester.send_signal(signal.SIGKILL)
        ingester.wait(10)
    finally:
        lock.rollback()
        lock.close()
        sink.close()
    assert exported(pg_url) == []
    ingester = meterd(*args, log=tmp_path / "ing.log")
    try:
        assert wait_for(lambda: len(exported(pg_url)) == 40, 30), logs()
    finally:
        ingester.send_signal(signal.SIGTERM)
        ingester.wait(30)
    assert sorted(float(r["total_m3"]) for r in exported(pg_url)) == [float(k) for k in range(40)]


def test_the_buffered_client_takes_every_kind_of_message_and_acknowledges_by_hand(broker: Broker) -> None:
    """The client's own decoding (QoS 1 without properties) and paho's (properties, QoS 0, a message
    larger than one socket read) give the same messages, in order; acknowledgements held back until
    `ack` reach the broker, so nothing comes again to a resumed session."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from meterd.mqtt.connection import Credentials, NetworkLoop, new_client, parse_url

    address = parse_url(broker.url)
    got: list[tuple[str, bytes, int]] = []
    mids: list[int] = []

    def receiver() -> tuple[object, NetworkLoop]:
        client = new_client(address, Credentials(), "buffered-test", v5=True, manual_ack=True)
        client.on_connect = lambda c, *_: c.subscribe("bt/#", qos=1)

        def on_message(_c: object, _u: object, msg: object) -> None:
            got.append((msg.topic, msg.payload, msg.qos))  # type: ignore[attr-defined]
            mids.append(msg.mid)  # type: ignore[attr-defined]

        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        client.connect_async(address.host, address.port, clean_start=False, properties=props)
        return client, NetworkLoop(client, address, lambda *_: None)

    stop = threading.Event()
    client, net = receiver()
    assert wait_for(lambda: net.step(stop, 0.05) and client.is_connected(), 10)
    for _ in range(20):
        net.step(stop, 0.05)  # the subscription is answered

    sender = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bt-sender", protocol=mqtt.MQTTv5)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    user = Properties(PacketTypes.PUBLISH)
    user.UserProperty = ("k", "v")
    sent = [(f"bt/small/{k}", f"message {k}".encode(), 1, None) for k in range(300)]
    sent += [("bt/big", bytes(range(256)) * 800, 1, None), ("bt/props", b"with properties", 1, user),
             ("bt/qos0", b"at most once", 0, None), ("bt/last", b"", 1, None)]  # fmt: skip
    for topic, body, qos, props in sent:
        sender.publish(topic, body, qos=qos, properties=props).wait_for_publish(10)
    sender.loop_stop()
    sender.disconnect()
    client.drive(2.0, max_messages=7)
    assert 1 <= len(got) <= 7  # one turn takes no more than it is asked to
    assert wait_for(lambda: net.step(stop, 0.05) and len(got) == len(sent), 20), len(got)
    assert got == [(t, b, q) for t, b, q, _ in sent]
    for mid, (_, _, qos, _) in zip(mids, sent, strict=True):
        if qos:
            client.ack(mid, 1)
    for _ in range(10):
        net.step(stop, 0.05)
    client.disconnect()
    client.drive(0.1)

    got.clear()
    client, net = receiver()  # the same session again: the acknowledged messages do not come back
    assert wait_for(lambda: net.step(stop, 0.05) and client.is_connected(), 10)
    for _ in range(20):
        net.step(stop, 0.05)
    assert got == []
    client.disconnect()
    client.drive(0.1)


def test_messages_the_caller_tracks_are_sent_and_acknowledged_to_it(broker: Broker) -> None:
    """`publish_qos1` (no copy kept by paho) between paho's own publishes: every message arrives, in
    order, and every packet id is acknowledged once to `on_publish`, paho's as well as ours; after
    the connection is gone nothing of ours is left waiting."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from meterd.mqtt.connection import Credentials, NetworkLoop, new_client, parse_url

    address = parse_url(broker.url)
    got: list[tuple[str, bytes]] = []
    listener = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="own-listener", protocol=mqtt.MQTTv5)
    listener.on_message = lambda _c, _u, msg: got.append((msg.topic, msg.payload))
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.connect("127.0.0.1", broker.port)
    listener.subscribe("own/#", qos=1)
    listener.loop_start()
    assert subscribed.wait(10)

    acked: list[tuple[int, int]] = []
    client = new_client(address, Credentials(), "own-sender", v5=True)
    client.on_publish = lambda _c, _u, mid, reason, _p: acked.append((mid, reason.value))
    client.connect_async(address.host, address.port)
    stop = threading.Event()
    net = NetworkLoop(client, address, lambda *_: None)
    assert wait_for(lambda: net.step(stop, 0.05) and client.is_connected(), 10)
    sent, mids = [], []
    for k in range(3000):
        topic, body = f"own/{k % 7}", (b"x" * (k % 300)) + str(k).encode()  # lengths over one and two bytes
        if k % 500 == 0:  # paho's own publish, tracked by paho
            mids.append(client.publish(topic, body, qos=1).mid)
        else:
            mid = client.publish_qos1(topic, body)
            assert mid is not None
            mids.append(mid)
        sent.append((topic, body))
        if k % 200 == 0:
            net.step(stop, 0.0)
    assert wait_for(lambda: net.step(stop, 0.05) and len(acked) == len(sent), 20), len(acked)
    assert sorted(m for m, _ in acked) == sorted(mids) and {code for _, code in acked} == {0}
    assert wait_for(lambda: len(got) == len(sent), 10), len(got)
    assert got == sent
    client.publish_qos1("own/late", b"unacknowledged")
    client.disconnect()
    client.drive(0.1)
    assert client.publish_qos1("own/after", b"not connected") is None
    assert not client._own_mids
    listener.loop_stop()
    listener.disconnect()


def test_a_killed_publisher_process_is_started_again_and_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    """The gateway's publisher runs as a process of its own: killed, it is started again (from the
    spool on disk, where it left off) and every reading still reaches the broker."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from meterd.mqtt.connection import Credentials, parse_url
    from meterd.mqtt.sink import MqttSink
    from meterd.reading import MeterIdentity, Reading, TimeBasis

    heard: set[str] = set()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="pk-sub")
    sub.on_connect = lambda c, *_: c.subscribe("meterd/pk/reading/#", qos=1)
    sub.on_message = lambda _c, _u, msg: heard.add(json.loads(msg.payload)["reading_id"])
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    time.sleep(0.5)
    now = int(time.time())

    def batch(first: int) -> list[Reading]:
        return [Reading(MeterIdentity("ELS", f"{20000000 + k % METERS:08d}", 0x33, 7), "water", now - k, now - k,
                        float(k), gateway="pk", basis=TimeBasis.ACCESS_NUMBER, access_number=k & 0xFF,
                        reading_id=f"{k:032x}") for k in range(first, first + 50)]  # fmt: skip

    sink = MqttSink(parse_url(broker.url), Credentials(), "pk", tmp_path / "gw")
    try:
        sink.write(batch(0))
        assert wait_for(lambda: len(heard) == 50, 20), len(heard)
        first = sink.publisher_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        sink.write(batch(50))  # taken by a new publisher process
        assert sink.publisher_pid not in (None, first)
        assert wait_for(lambda: len(heard) == 100 and sink.spooled == 0, 20), (len(heard), sink.spooled)
    finally:
        sink.close()
        sub.loop_stop()
        sub.disconnect()
    assert heard == {f"{k:032x}" for k in range(100)}


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
    """mqtts:// with a CA file: the gateway's publisher and a subscribing client of meterd's own
    (buffered reads through TLS) on a Mosquitto TLS listener; a CA file that is none stops the start."""
    import threading

    from meterd.mqtt.connection import Credentials, MqttError, NetworkLoop, new_client, parse_url
    from meterd.mqtt.sink import MqttSink
    from meterd.reading import MeterIdentity, Reading, TimeBasis

    ca, cert, key = _tls_files(tmp_path)
    broker = Broker(tmp_path)
    broker.conf.write_text(broker.conf.read_text() + f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    broker.start()
    address = parse_url(f"mqtts://127.0.0.1:{broker.port}")
    heard: list[bytes] = []
    sub = new_client(address, Credentials(ca_file=str(ca)), "tls-sub", v5=True)
    sub.on_connect = lambda c, *_: c.subscribe("meterd/tls/reading/#", qos=1)
    sub.on_message = lambda _c, _u, msg: heard.append(msg.payload)
    sub.connect_async(address.host, address.port)
    net, stop = NetworkLoop(sub, address, lambda *_: None), threading.Event()
    sink = None
    try:
        assert wait_for(lambda: net.step(stop, 0.05) and sub.is_connected(), 10)
        for _ in range(20):
            net.step(stop, 0.05)
        sink = MqttSink(address, Credentials(ca_file=str(ca)), "tls", tmp_path / "gw")
        now = int(time.time())
        sink.write([Reading(MeterIdentity("ELS", f"{20000000 + k:08d}", 0x33, 7), "water", now, now, float(k),
                            gateway="tls", basis=TimeBasis.ACCESS_NUMBER, access_number=k, reading_id=f"{k:032x}")
                    for k in range(200)])  # fmt: skip
        assert wait_for(lambda: net.step(stop, 0.05) and len(heard) == 200, 20), len(heard)
        assert sorted(json.loads(p)["total_m3"] for p in heard) == [float(k) for k in range(200)]
        with pytest.raises(MqttError):  # a CA file that is no CA file is refused at start
            MqttSink(address, Credentials(ca_file=str(key)), "tls2", tmp_path / "gw2")
    finally:
        if sink is not None:
            sink.close()
        sub.disconnect()
        sub.drive(0.1)
        broker.stop()
