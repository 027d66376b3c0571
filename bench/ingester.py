"""The central ingester alone: N readings published as a gateway's batches as fast as the broker takes
them, stored by one `meterd ingest --mqtt` into PostgreSQL (real Mosquitto, real PostgreSQL).

Figures: readings/s from the first batch published to the last reading committed, and the
ingester's CPU time per reading (what bounds the chain when broker and database share the machine).

python bench/ingester.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from e2e import batch_messages, cpu_s, meterd, start_broker, wait_for, write_register
from pgschema import bench_schema


def publish(port: int, messages: list[bytes]) -> None:
    """Every batch at QoS 1 on the topic of gateway `bench`, acknowledged by the broker."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish("meterd/bench/readings", body, qos=1) for body in messages]
    for info in infos:
        info.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", metavar="SVG", help="record the ingester with py-spy (when installed) into SVG")
    args = parser.parse_args()
    meters = 20_000
    readings = 50_000 if args.quick else 200_000
    with tempfile.TemporaryDirectory() as tmp_, bench_schema() as (url, schema, admin):
        tmp = Path(tmp_)
        broker, port = start_broker(tmp)
        ingester: subprocess.Popen[bytes] | None = None
        try:
            register = write_register(tmp / "register.csv", meters)
            for cmd in (["db", "upgrade"], ["import", "premises", str(register)]):
                subprocess.run([sys.executable, "-m", "meterd", *cmd, "--db", url], check=True, capture_output=True)
            mqtt_url = f"mqtt://127.0.0.1:{port}"
            command = ["ingest", "--mqtt", mqtt_url, "--db", url]
            log = tmp / "ingest.log"
            ingester = meterd(*command, log=log)
            assert wait_for(lambda: "connected" in log.read_text(errors="replace"), 30), log.read_text()
            messages = batch_messages(readings, meters, 3600)

            def count() -> int:
                row = admin.execute(f"SELECT count(*) FROM {schema}.readings").fetchone()
                return int(row[0]) if row else 0

            cpu_before = cpu_s(ingester.pid)
            start = time.monotonic()
            publish(port, messages)
            spy = None
            if args.profile and shutil.which("py-spy"):
                spy = subprocess.Popen(["py-spy", "record", "-f", "raw" if args.profile.endswith(".txt") else "flamegraph", "-o", args.profile, "-p", str(ingester.pid), "-r", "200"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            ok = wait_for(lambda: count() >= readings, 600, 0.2)
            elapsed = time.monotonic() - start
            cpu = cpu_s(ingester.pid) - cpu_before
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            assert ok and count() == readings, (count(), readings)
            print(f"{readings} readings of {meters} meters in {len(messages)} batches, one ingester")
            print(f"ingest_rate: {readings / elapsed:.0f} readings/s")
            print(f"cpu_ingester: {cpu * 1e6 / readings:.0f} us/reading")
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
