"""`meterd run` end to end: simulated dongles on two ptys (one unplugged and plugged in again mid-run,
one that goes silent) → the gateway → the SQLite store; every telegram sent is stored exactly once,
telegrams heard by both dongles once, /metrics scraped over HTTP; the systemd notify protocol and the
watchdog on a test socket; SIGTERM flushes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.broker import free_port
from support.dongles import Device, Pty, amber_respond, im871a_respond
from support.gateway import amber_telegram_frame, on_im871a, scrape, setup_store, stored, telegram
from support.waiting import wait_for

from meterd.gateway.dedup import Deduplicator
from meterd.gateway.forward import ForwardPolicy
from meterd.reading import MeterIdentity, Reading, Source, TimeBasis, from_telegram
from meterd.wmbus import Decoder

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_gateway_end_to_end_two_dongles_unplug_silence_metrics(tmp_path: Path) -> None:
    data = setup_store(tmp_path, 30)
    link_a, link_b = tmp_path / "im871a", tmp_path / "amber"
    pty_a, pty_b = Pty(link_a), Pty(link_b)
    first = [on_im871a(telegram(n)) for n in range(20)]
    both = [amber_telegram_frame(telegram(n)) for n in range(10, 15)]  # heard by both dongles
    dev_a = Device(pty_a, im871a_respond, first)
    dev_b = Device(pty_b, amber_respond, both)
    dev_a.start()
    dev_b.start()
    port = free_port()
    config = tmp_path / "meterd.toml"
    config.write_text(
        f'[gateway]\nname = "gw-test"\ndata = "{data}"\nbatch_interval_s = 0.2\nvalidate_every_s = 0\n\n'
        f'[[receiver]]\nname = "roof"\ndongle = "im871a"\nport = "{link_a}"\n\n'
        f'[[receiver]]\nname = "cellar"\ndongle = "amb8465"\nport = "{link_b}"\nsilence_timeout_s = 2\n\n'
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert wait_for(lambda: len(stored(data)) >= 20, 30), proc.stderr
        dev_a.done.set()
        pty_a.unplug()  # unplugged mid-run...
        time.sleep(1.5)
        pty_a2 = Pty(link_a)  # ...and back under the same name, with the rest of the telegrams
        dev_a2 = Device(pty_a2, im871a_respond, [on_im871a(telegram(n)) for n in range(20, 30)])
        dev_a2.start()
        assert wait_for(lambda: len(stored(data)) >= 30, 30)
        metrics = scrape(port)
        assert wait_for(lambda: scrape(port).get('meterd_receiver_resets_total{dongle="amb8465",receiver="cellar"}', 0) >= 1, 15)
        metrics = scrape(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert stored(data) == [(f"{20000000 + n:08d}", 1) for n in range(30)]  # each telegram once, both dongles too
    assert metrics["meterd_readings_stored_total"] == 30
    assert metrics['meterd_telegrams_total{dongle="im871a",receiver="roof",result="ok"}'] == 30
    assert metrics['meterd_telegrams_total{dongle="amb8465",receiver="cellar",result="ok"}'] == 5
    assert metrics['meterd_receiver_resets_total{dongle="im871a",receiver="roof"}'] >= 1
    assert metrics['meterd_receiver_last_telegram_timestamp_seconds{dongle="im871a",receiver="roof"}'] > time.time() - 120
    assert metrics['meterd_receiver_up{dongle="im871a",receiver="roof"}'] == 1.0
    assert metrics['meterd_build_info{version="0.1.0"}'] == 1.0 and "process_resident_memory_bytes" in metrics
    assert not any(name.endswith("_created") or "_created{" in name for name in metrics)
    assert not any(name.startswith(("meterd_ingested", "meterd_mqtt_messages", "meterd_receive_to_commit")) for name in metrics)
    assert metrics['meterd_readings_total{outcome="duplicate_heard"}'] == 5
    assert metrics["meterd_receive_to_store_seconds_count"] == 30
    assert not any(key in name for name in metrics for key in ("20000010", "password"))


@pytest.mark.slow
def test_service_replays_the_sample_capture_from_the_example_config(tmp_path: Path) -> None:
    """A newcomer's first run: the demo store, then `meterd run` on the example configuration (a hex
    receiver replaying the bundled sample capture) stores what the capture holds and ends with it."""
    data = tmp_path / "data"
    assert (
        subprocess.run([sys.executable, "-m", "meterd", "demo", "--data", str(data)], capture_output=True).returncode
        == 0
    )
    text = (ROOT / "config" / "meterd.example.toml").read_text()
    text = text.replace('data = "data"', f'data = "{data}"').replace("pace = 60 ", "pace = 600")
    text = text.replace('"config/', f'"{ROOT}/config/').replace(
        'listen = "127.0.0.1:9108"', f'listen = "127.0.0.1:{free_port()}"'
    )
    config = tmp_path / "meterd.toml"
    config.write_text(text)
    os.chmod(ROOT / "config" / "sample-keys.csv", 0o600)
    res = subprocess.run(
        [sys.executable, "-m", "meterd", "run", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "stopped: 0 readings stored, 18 duplicates" in res.stderr  # the demo had stored the capture already
    check = subprocess.run(
        [sys.executable, "-m", "meterd", "config", "check", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0 and "ok (1 receivers" in check.stdout


def test_systemd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    data = setup_store(tmp_path, 3)
    fifo = tmp_path / "telegrams"
    os.mkfifo(fifo)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20)
    config = tmp_path / "meterd.toml"
    config.write_text(
        f'[gateway]\ndata = "{data}"\nvalidate_every_s = 0\n\n[[receiver]]\ndongle = "hex"\nport = "{fifo}"\n'
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "run", "--config", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    messages: list[str] = []
    try:
        while not any(m.startswith("READY=1") for m in messages):
            messages.append(sock.recv(4096).decode())
        start = time.monotonic()
        while sum(m == "WATCHDOG=1" for m in messages) < 3:
            messages.append(sock.recv(4096).decode())
        assert time.monotonic() - start < 5  # pinged every 0.2 s from the main loop
        with open(fifo, "w") as w:
            w.write(telegram(1).hex() + "\n")
        assert wait_for(lambda: len(stored(data)) == 1, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    while "STOPPING=1" not in messages:
        messages.append(sock.recv(4096).decode())
    assert proc.returncode == 0
    sock.close()


def test_a_config_error_is_named_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[gateway]\nname = "gw 1"\n\n[[receiver]]\ndongle = "im871b"\nport = "/dev/x"\nfoo = 1\n')
    res = subprocess.run(
        [sys.executable, "-m", "meterd", "config", "check", str(config)], capture_output=True, text=True
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(f"{config}:2: gateway.name:")
    assert any(line.startswith(f"{config}:5: receiver.0.dongle:") for line in lines)
    assert any(line.startswith(f"{config}:7: receiver.0.foo:") for line in lines)
    res = subprocess.run(
        [sys.executable, "-m", "meterd", "run", "--config", str(config)], capture_output=True, text=True
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr


# -- the pure parts: dedup and forwarding ------------------------------------------------------------


def _reading(total: float, acc: int, t: int, alarms: tuple[str, ...] = ()) -> Reading:
    obj = Decoder().decode(telegram(7, acc))
    r = from_telegram(obj, t)
    assert r is not None
    return Reading(
        r.meter, r.medium, t, t, total, {}, alarms, basis=r.basis, reading_id=f"{acc}-{total}", access_number=acc
    )


def test_dedup_is_per_meter_and_keyed_on_the_meters_own_counter() -> None:
    """The same telegram from two dongles is one reading; the next telegram with the same value is a new
    one; a busy meter cannot push another meter's recent readings out."""
    d = Deduplicator(60)
    first = from_telegram(Decoder().decode(telegram(1, acc=5)), 1_780_000_000)
    again = from_telegram(Decoder().decode(telegram(1, acc=5)), 1_780_000_003)  # heard by the second dongle
    later = from_telegram(Decoder().decode(telegram(1, acc=6)), 1_780_000_016)  # same value, next telegram
    assert first and again and later and first.basis is TimeBasis.ACCESS_NUMBER
    assert d.is_new(first) and not d.is_new(again) and d.is_new(later)
    for n in range(1000):  # a chatty neighbour
        busy = from_telegram(Decoder().decode(telegram(2, acc=n % 256)), 1_780_000_100 + n)
        assert busy is not None
        d.is_new(busy)
    assert not d.is_new(again)
    clockless = Reading(MeterIdentity("ABC", "1", 1, 7), "water", 0, 0, 1.0, reading_id="x")
    d2 = Deduplicator(60)
    assert d2.is_new(clockless)
    assert not d2.is_new(Reading(clockless.meter, "water", 30, 30, 1.0, reading_id="x"))
    assert d2.is_new(Reading(clockless.meter, "water", 100, 100, 1.0, reading_id="x"))  # past the window


def test_forwarding_policy_every_change_interval_alarms_pass() -> None:
    change = ForwardPolicy("change")
    assert [change.passes(_reading(v, i, 1000 + i)) for i, v in enumerate([1.0, 1.0, 1.5, 1.5])] == [
        True,
        False,
        True,
        False,
    ]
    interval = ForwardPolicy("interval", interval_s=900)
    times = [0, 300, 900, 1000, 1800]
    assert [interval.passes(_reading(1.0 + t, 1, 1_780_000_000 + t)) for t in times] == [True, False, True, False, True]
    assert interval.passes(_reading(9.0, 2, 1_780_001_801, alarms=("leak",)))  # alarms always pass


@pytest.mark.parametrize("basis", list(TimeBasis))
def test_reading_json_round_trip(basis: TimeBasis) -> None:
    r = from_telegram(Decoder().decode(telegram(3)), 1_780_000_000, gateway="gw1", rssi=-70.5)
    assert r is not None
    r = Reading(r.meter, r.medium, r.measured_at, r.received_at, r.total_m3, {"flow_temperature": 12.5}, ("leak",),
                r.rssi_dbm, r.source, r.gateway, "", r.access_number, basis, r.reading_id)  # fmt: skip
    assert Reading.from_json(r.to_json()) == r


@pytest.mark.parametrize("source", list(Source))
def test_a_reading_from_json_takes_every_source_and_refuses_what_is_none(source: Source) -> None:
    from meterd.reading import BadReading

    r = from_telegram(Decoder().decode(telegram(3)), 1_780_000_000, gateway="gw1", source=source)
    assert r is not None and Reading.from_json(r.to_json()).source is source
    for field, value in (("source", "satellite"), ("source", ["radio"]), ("basis", "guess"), ("basis", 1), ("basis", None)):
        with pytest.raises(BadReading, match=f"^{field} is not one of "):
            Reading.from_json({**r.to_json(), field: value})


def test_the_receive_time_to_the_millisecond_travels_with_a_reading() -> None:
    r = from_telegram(Decoder().decode(telegram(3)), 1_780_000_000, gateway="gw1", received_ms=1_780_000_000_734)
    assert r is not None and r.to_json()["received_at_ms"] == 1_780_000_000_734
    assert Reading.from_json(r.to_json()).received_ms == 1_780_000_000_734
    other_second = {**r.to_json(), "received_at_ms": 1_780_000_005_000}
    assert Reading.from_json(other_second).received_ms is None  # not the same second: received_at alone
    plain = from_telegram(Decoder().decode(telegram(3)), 1_780_000_000, gateway="gw1")
    assert plain is not None and "received_at_ms" not in plain.to_json()
    assert Reading.from_json(plain.to_json()).received_ms is None


@pytest.mark.slow
def test_a_receiver_whose_port_never_opens_is_down_from_start_up_and_said_once(tmp_path: Path) -> None:
    """A dongle missing at boot: the service starts (and says so), meterd_receiver_up is 0 from the
    first scrape on, and the log names the problem once, with what to check."""
    data = setup_store(tmp_path, 2)
    port = free_port()
    config = tmp_path / "meterd.toml"
    config.write_text(
        f'[gateway]\nname = "gw-dead"\ndata = "{data}"\nvalidate_every_s = 0\n\n'
        f'[[receiver]]\nname = "roof"\ndongle = "im871a"\nport = "{tmp_path / "no-such-port"}"\n\n'
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        def up() -> float | None:
            try:
                return scrape(port).get('meterd_receiver_up{dongle="im871a",receiver="roof"}')
            except OSError:
                return None

        assert wait_for(lambda: up() == 0.0, 30)
        time.sleep(3)  # several more tries to open the port
        assert up() == 0.0
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert err.count("cannot open") == 1 and "meterd probe" in err and "dialout" in err, err
    assert "0 of 1 receivers open (waiting for the port of roof)" in err, err
