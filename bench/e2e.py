"""End to end over MQTT: simulated dongle (hex lines on a FIFO) → `meterd run` → Mosquitto → two `meterd
ingest --mqtt` → PostgreSQL, all real processes on this machine.

Figures: sustained readings/s from the first telegram sent to the last reading committed centrally
(every reading checked present exactly once), the rate of commits in the steady part of the run (from
5 s in to the last telegram sent), p50, p99 and mean of receive-to-commit latency (the ingesters'
histogram) and of receive-to-store at the gateway, how busy the machine was and the CPU time per
reading of each process, and
readings/s replayed from a spool filled while the broker was away.

python bench/e2e.py [--quick] [--rate N] [--readings N] [--no-spool] [--profile FILE [--idle] [--gil]]
last lines: `name: value unit`
(--profile records the gateway with py-spy, when it is installed; --idle records waiting threads too,
--gil only what holds the interpreter lock)
Needs mosquitto (Debian package) and PostgreSQL at DATABASE_URL (default 127.0.0.1:5432, database test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from pgschema import bench_schema

from meterd.wmbus import builder as b

BROKER_SETTINGS = "persistence false\nmessage_size_limit 262144\n"  # what BENCHMARKS.md quotes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A Mosquitto of the bench's own with BROKER_SETTINGS, its files in tmp; (process, port)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    (tmp / "broker").mkdir()
    conf = tmp / "mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {tmp}/broker/\n{BROKER_SETTINGS}{user}")
    return subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port


def write_register(path: Path, meters: int) -> Path:
    """A register of `meters` water meters 30000000, 30000001, ... one per flat."""
    with path.open("w") as f:
        f.write("premises_id,address,meter_id,manufacturer,medium,installed\n")
        for n in range(meters):
            f.write(f"P{n},ul. Testowa {n // 40}/{n % 40},{30000000 + n:08d},ELS,water,2025-01-01\n")
    return path


def reading_payloads(count: int, meters: int, before_s: int) -> Iterator[bytes]:
    """The JSON of `count` readings of the register's meters (as the spool keeps them, without seq),
    from `before_s` seconds ago on, two seconds apart per meter, each with an id of its own."""
    from meterd.jsonio import dumps
    from meterd.reading import MeterIdentity, Reading, TimeBasis

    now = int(time.time())
    for k in range(count):
        meter = MeterIdentity("ELS", f"{30000000 + k % meters:08d}", 0x33, 7)
        at = now - before_s - (k // meters) * 2
        r = Reading(meter, "water", at, at, 500.0 + k / 1000, gateway="bench", access_number=k & 0xFF,
                    basis=TimeBasis.ACCESS_NUMBER, reading_id=f"{k:032x}")  # fmt: skip
        yield dumps(r.to_json())


def batch_messages(count: int, meters: int, before_s: int) -> list[bytes]:
    """The readings of reading_payloads as the gateway `bench` publishes them: batches of at most 256 KiB."""
    from meterd.mqtt.batch import encode, split
    from meterd.sinks.spool import Spooled

    rows = [Spooled(k + 1, p) for k, p in enumerate(reading_payloads(count, meters, before_s))]
    return [encode("bench", 1, run) for run in split("bench", rows)]


def telegram_hex(k: int, meters: int) -> str:
    m, a = b.address(f"{30000000 + k % meters:08d}", "ELS", 0x33, 0x07)
    apl = bytes.fromhex("0413") + (100_000 + k).to_bytes(4, "little")
    return b.wmbus_frame(0x44, m, a, b.short_tpl((k // meters) & 0xFF, 0) + apl).hex()


def meterd(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "meterd", *args], stdout=out, stderr=out, env=env)


def wait_for(check, timeout: float, step: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return bool(check())


class Central:
    """The central PostgreSQL schema of this run (from bench_schema), counted over its admin connection."""

    def __init__(self, url: str, schema: str, admin: Any) -> None:
        self.url, self.schema, self.admin = url, schema, admin

    def count(self) -> int:
        row = self.admin.execute(f"SELECT count(*) FROM {self.schema}.readings").fetchone()
        return int(row[0]) if row else 0

    def distinct(self) -> int:
        row = self.admin.execute(f"SELECT count(DISTINCT (meter_id, total_m3)) FROM {self.schema}.readings").fetchone()
        return int(row[0]) if row else 0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children."""
    total = cpu_s(pid)
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        total += sum(tree_cpu_s(int(c)) for c in children)
    return total


def machine_busy_s() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL process on this machine (the server's backends included)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += cpu_s(int(stat.parent.name))
    return total


def latency_histogram(ports: list[int], metric: str = "meterd_receive_to_commit_seconds") -> tuple[dict[float, float], float]:
    """A latency histogram's cumulative bucket counts and its sum, added up over the processes serving
    metrics on `ports`."""
    buckets: dict[float, float] = {}
    total = 0.0
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(metric + "_bucket"):
                le = line.split('le="')[1].split('"')[0]
                bound = float("inf") if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
            elif line.startswith(metric + "_sum "):
                total += float(line.rsplit(" ", 1)[1])
    return buckets, total


def mean_of(histogram: tuple[dict[float, float], float]) -> float:
    buckets, total = histogram
    count = buckets.get(float("inf"), 0.0)
    return total / count if count else float("nan")


def quantile_le(buckets: dict[float, float], q: float, since: dict[float, float] | None = None) -> float:
    """The upper bound of the bucket that holds the q quantile (of what was counted after `since`)."""
    counts = {le: c - (since or {}).get(le, 0.0) for le, c in buckets.items()}
    total = counts.get(float("inf"), 0.0)
    return next(le for le, c in sorted(counts.items()) if c >= q * total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=int, default=12_000, help="telegrams/s offered (default 12000)")
    parser.add_argument("--readings", type=int, help="telegrams sent (default 300000, 60000 with --quick)")
    parser.add_argument("--no-spool", action="store_true", help="skip the spool replay")
    parser.add_argument("--profile", metavar="FILE", help="record the gateway with py-spy (when installed): "
                        "raw stacks when FILE ends in .txt, else a flame graph")  # fmt: skip
    parser.add_argument("--idle", action="store_true", help="with --profile: waiting threads too (where a thread waits)")
    parser.add_argument("--gil", action="store_true", help="with --profile: only samples holding the interpreter lock")
    args = parser.parse_args()
    meters = 20_000
    readings = args.readings or (60_000 if args.quick else 300_000)
    spooled = 100_000 if args.quick else 1_000_000
    rate = args.rate  # telegrams/s offered: above what the chain takes, the sustained rate is what gets through
    with tempfile.TemporaryDirectory() as tmp_, bench_schema() as schema:
        tmp = Path(tmp_)
        broker, port = start_broker(tmp)
        central = Central(*schema)
        procs: list[subprocess.Popen[bytes]] = [broker]
        try:
            register = write_register(tmp / "register.csv", meters)
            data = tmp / "gw"
            for store in (["--db", central.url], ["--data", str(data)]):
                for cmd in (["db", "upgrade"], ["import", "premises", str(register)]):
                    subprocess.run([sys.executable, "-m", "meterd", *cmd, *store], check=True, capture_output=True)
            url = f"mqtt://127.0.0.1:{port}"
            metric_ports = [free_port(), free_port()]
            gateway_port = free_port()
            for x, mport in zip("ab", metric_ports, strict=True):
                procs.append(meterd("ingest", "--mqtt", url, "--db", central.url, "--metrics", f"127.0.0.1:{mport}",
                                    log=tmp / f"ingest-{x}.log"))  # fmt: skip
            fifo = tmp / "telegrams"
            os.mkfifo(fifo)
            config = tmp / "meterd.toml"
            config.write_text(f'[gateway]\nname = "bench"\ndata = "{data}"\nvalidate_every_s = 0\nbatch_interval_s = 0.2\n\n'
                              f'[[receiver]]\ndongle = "hex"\nport = "{fifo}"\n\n[mqtt]\nurl = "{url}"\n\n'
                              f'[metrics]\nlisten = "127.0.0.1:{gateway_port}"\n')  # fmt: skip
            procs.append(meterd("run", "--config", str(config), log=tmp / "gateway.log"))
            lines = [telegram_hex(k, meters) + "\n" for k in range(readings)]
            time.sleep(3)  # the ingesters subscribe
            spy = None
            spy_exe = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
            if args.profile and spy_exe:
                fmt = "raw" if args.profile.endswith(".txt") else "flamegraph"
                idle = (["--idle"] if args.idle else []) + (["--gil"] if args.gil else [])
                spy = subprocess.Popen([spy_exe, "record", "-f", fmt, "-o", args.profile, "-p", str(procs[-1].pid), "-r", "200", *idle],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            cpu_before = [tree_cpu_s(p.pid) for p in procs]
            busy_before = machine_busy_s()
            pg_before = postgres_cpu_s()
            start = time.monotonic()
            steady: list[tuple[float, int]] = []  # (when, readings committed) 5 s in and when all were sent
            early: dict[float, float] = {}  # the ingesters' latency histogram 5 s in
            with open(fifo, "w") as w:
                chunk = rate // 10
                for i in range(0, readings, chunk):
                    w.write("".join(lines[i : i + chunk]))
                    w.flush()
                    if not steady and time.monotonic() - start >= 5:
                        steady.append((time.monotonic(), central.count()))
                        early, _ = latency_histogram(metric_ports)
                    ahead = start + (i + chunk) / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            steady.append((time.monotonic(), central.count()))
            sent_in = time.monotonic() - start
            ok = wait_for(lambda: central.count() >= readings, 600, 0.5)
            elapsed = time.monotonic() - start
            assert ok and central.count() == readings == central.distinct(), (central.count(), readings)
            commit_h = latency_histogram(metric_ports)
            stored_h = latency_histogram([gateway_port], "meterd_receive_to_store_seconds")
            commit, stored = commit_h[0], stored_h[0]
            p50, p99, steady_p99 = quantile_le(commit, 0.5), quantile_le(commit, 0.99), quantile_le(commit, 0.99, early)
            gw_p50, gw_p99 = quantile_le(stored, 0.5), quantile_le(stored, 0.99)
            cpu = [tree_cpu_s(p.pid) - b for p, b in zip(procs, cpu_before, strict=True)]
            busy = [a - b for a, b in zip(machine_busy_s(), busy_before, strict=True)]
            pg_cpu = postgres_cpu_s() - pg_before
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            print(f"{readings} readings of {meters} meters offered at {rate}/s (sent in {sent_in:.1f} s), one gateway, two ingesters")
            print(f"e2e_rate: {readings / elapsed:.0f} readings/s")
            (t0, n0), (t1, n1) = steady[0], steady[-1]
            if t1 - t0 >= 1.0:  # a run that sends for longer than 5 s
                print(f"e2e_steady_rate: {(n1 - n0) / (t1 - t0):.0f} readings/s (committed from 5 s in to the last telegram sent)")
            print(f"e2e_latency_p50_le: {p50:.2f} s")
            print(f"e2e_latency_p99_le: {p99:.2f} s")
            print(f"e2e_latency_steady_p99_le: {steady_p99:.2f} s (readings committed from 5 s in)")
            print(f"gateway_store_latency_p50_le: {gw_p50:.2f} s (receipt to the gateway's own store and spool)")
            print(f"gateway_store_latency_p99_le: {gw_p99:.2f} s")
            print(f"gateway_store_latency_mean: {mean_of(stored_h):.3f} s")
            print(f"e2e_latency_mean: {mean_of(commit_h):.3f} s")
            per = 1e6 / readings
            print(f"machine_busy: {100 * busy[0] / busy[1]:.0f} % of {os.cpu_count()} cores")
            print(f"cpu_gateway: {cpu[3] * per:.0f} us/reading")
            print(f"cpu_ingesters: {(cpu[1] + cpu[2]) * per:.0f} us/reading")
            print(f"cpu_broker: {cpu[0] * per:.0f} us/reading")
            print(f"cpu_postgres: {pg_cpu * per:.0f} us/reading")

            if args.no_spool:
                return
            # the spool: the gateway stopped, its spool filled with readings the broker never saw, then
            # the gateway started again: how fast it empties to the central store
            gateway = procs.pop()
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(60)
            from meterd.sinks.spool import Spool

            spool = Spool(data, spooled + 1)
            batch = []
            for payload in reading_payloads(spooled, meters, 86_400):
                batch.append(payload)
                if len(batch) == 50_000:
                    spool.append(batch)
                    batch = []
            spool.append(batch)
            spool.close()
            before = central.count()
            start = time.monotonic()
            procs.append(meterd("run", "--config", str(config), log=tmp / "gateway.log"))
            ok = wait_for(lambda: central.count() >= before + spooled, 1200, 1.0)
            elapsed = time.monotonic() - start
            assert ok and central.count() == before + spooled, (central.count() - before, spooled)
            print(f"spool_replay_rate: {spooled / elapsed:.0f} readings/s (spool of {spooled}, gateway start included)")
        finally:
            for group in (procs[1:], procs[:1]):  # the gateway and the ingesters first, the broker last
                for p in group:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                for p in group:
                    try:
                        p.wait(60)
                    except subprocess.TimeoutExpired:
                        p.kill()
            for log in sorted(tmp.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-3:]
                print(f"[{log.name}] " + " | ".join(tail), file=sys.stderr)


if __name__ == "__main__":
    main()
