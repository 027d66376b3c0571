"""The central ingester alone: N readings already waiting in the broker for an ingester's session,
drained by one `meterd ingest --mqtt` into PostgreSQL (real Mosquitto, real PostgreSQL).

Figures: readings/s from the ingester's start to the last reading committed, and the ingester's CPU
time per reading (what bounds the chain when broker and database share the machine).

python bench/ingester.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from e2e import BROKER_SETTINGS, cpu_s, free_port, meterd, wait_for
from pgschema import bench_schema


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Every message at QoS 1, acknowledged by the broker, from a client of this process."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for i in range(0, len(messages), 20_000):  # message ids are 16 bits: no more than that in flight
        infos = [client.publish(topic, body, qos=1) for topic, body in messages[i : i + 20_000]]
        for info in infos:
            info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", metavar="SVG", help="record the ingester with py-spy (when installed) into SVG")
    args = parser.parse_args()
    meters = 20_000
    readings = 50_000 if args.quick else 200_000
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    from meterd.mqtt.topics import payload, reading_topic
    from meterd.reading import MeterIdentity, Reading, TimeBasis

    with tempfile.TemporaryDirectory() as tmp_, bench_schema() as (url, schema, admin):
        tmp = Path(tmp_)
        port = free_port()
        (tmp / "broker").mkdir()
        conf = tmp / "mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {tmp}/broker/\n{BROKER_SETTINGS}{user}")
        broker = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ingester: subprocess.Popen[bytes] | None = None
        try:
            register = tmp / "register.csv"
            with register.open("w") as f:
                f.write("premises_id,address,meter_id,manufacturer,medium,installed\n")
                for n in range(meters):
                    f.write(f"P{n},ul. Testowa {n // 40}/{n % 40},{30000000 + n:08d},ELS,water,2025-01-01\n")
            for cmd in (["db", "upgrade"], ["import", "premises", str(register)]):
                subprocess.run([sys.executable, "-m", "meterd", *cmd, "--db", url], check=True, capture_output=True)
            mqtt_url = f"mqtt://127.0.0.1:{port}"
            command = ["ingest", "--mqtt", mqtt_url, "--db", url, "--client-id", "bench-a"]
            log = tmp / "ingest.log"
            ingester = meterd(*command, log=log)  # makes the session and its shared subscription
            assert wait_for(lambda: "connected" in log.read_text(errors="replace"), 30), log.read_text()
            ingester.kill()  # killed, not stopped: the broker keeps the session and queues for it
            ingester.wait()
            now = int(time.time())
            messages = []
            for k in range(readings):
                meter = MeterIdentity("ELS", f"{30000000 + k % meters:08d}", 0x33, 7)
                at = now - 3600 - (k // meters) * 2
                r = Reading(meter, "water", at, at, 500.0 + k / 1000, gateway="bench", access_number=k & 0xFF,
                            basis=TimeBasis.ACCESS_NUMBER, reading_id=f"{k:032x}")  # fmt: skip
                messages.append((reading_topic("bench", meter.id), payload(r)))
            publish(port, messages)

            def count() -> int:
                row = admin.execute(f"SELECT count(*) FROM {schema}.readings").fetchone()
                return int(row[0]) if row else 0

            start = time.monotonic()
            ingester = meterd(*command, log=log)
            spy = None
            if args.profile and shutil.which("py-spy"):
                spy = subprocess.Popen(["py-spy", "record", "-f", "raw" if args.profile.endswith(".txt") else "flamegraph", "-o", args.profile, "-p", str(ingester.pid), "-r", "200"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            ok = wait_for(lambda: count() >= readings, 600, 0.2)
            elapsed = time.monotonic() - start
            cpu = cpu_s(ingester.pid)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            assert ok and count() == readings, (count(), readings)
            print(f"{readings} readings of {meters} meters waiting in the broker, one ingester")
            print(f"ingest_rate: {readings / elapsed:.0f} readings/s (ingester start included)")
            print(f"cpu_ingester: {cpu * 1e6 / readings:.0f} us/reading (start-up included)")
        finally:
            for p in (ingester, broker):
                if p is not None and p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(60)
                    except subprocess.TimeoutExpired:
                        p.kill()
            print(f"[ingest.log] {' | '.join((tmp / 'ingest.log').read_text(errors='replace').splitlines()[-3:])}", file=sys.stderr)


if __name__ == "__main__":
    main()
