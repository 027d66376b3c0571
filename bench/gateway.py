"""Gateway throughput: telegrams from simulated receivers through the gateway's own pipeline (decode,
Reading, dedup, forwarding, batches into the SQLite store), with 20,000 meters in the register.

Two receivers hear the same meters (a tenth of the telegrams twice, as neighbouring dongles do); half
the meters send AES mode 5. Reported: sustained telegrams/s on one core, the p99 of receive-to-store
latency, and the process's RSS.

python bench/gateway.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from meterd.collector import quiet_collector
from meterd.config import Config, GatewaySection, ReceiverSection
from meterd.drivers.frame import Frame
from meterd.gateway.service import Gateway, ReceiverThread
from meterd.metrics import LATENCY
from meterd.store import Store
from meterd.store.imports import import_premises
from meterd.wmbus import Decoder
from meterd.wmbus import builder as b

KEY = bytes(range(16))
T0 = int(time.time()) - 86400


def meter_telegram(n: int, acc: int) -> bytes:
    m, a = b.address(f"{30000000 + n:08d}", "ELS", 0x33, 0x07)
    apl = bytes.fromhex("0413") + (100_000 + n + acc).to_bytes(4, "little") + bytes.fromhex("02FD170000")
    if n % 2:
        return b.wmbus_frame(0x44, m, a, b.mode5_payload(KEY, m, a, acc, 0, apl))
    return b.wmbus_frame(0x44, m, a, b.short_tpl(acc, 0) + apl)


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    meters = 20_000
    telegrams = 100_000 if args.quick else 600_000
    with tempfile.TemporaryDirectory() as tmp:
        register = Path(tmp) / "register.csv"
        with register.open("w") as f:
            f.write("premises_id,address,meter_id,manufacturer,medium,installed\n")
            for n in range(meters):
                f.write(f"P{n},ul. Testowa {n // 40}/{n % 40},{30000000 + n:08d},ELS,water,2025-01-01\n")
        store = Store.open(Path(tmp) / "store", create=True)
        with store.begin() as conn:
            import_premises(conn, register)
        keys = {f"{30000000 + n:08d}": KEY for n in range(1, meters, 2)}
        config = Config(gateway=GatewaySection(name="bench", validate_every_s=0))
        gateway = Gateway(config, store, lambda: Decoder(keys))
        quiet_collector()  # as `meterd run` does once start-up is done
        receivers = [ReceiverThread(ReceiverSection(name=f"r{i}", dongle="hex", port="-")) for i in range(2)]
        rng = random.Random(7)
        start_rss = rss_mb()
        done = heard = 0
        batch_started = time.monotonic()
        gw = config.gateway
        elapsed = 0.0
        chunk = 10_000
        # receive-to-store latency in wall time (the frames carry radio time, days ago): when each run
        # of telegrams was handled, and how long until the flush that stored its readings ended
        pending: list[tuple[float, int]] = []
        latencies: list[tuple[float, int]] = []

        def flush() -> None:
            gateway.flush()
            done_at = time.time()
            latencies.extend((done_at - at, n) for at, n in pending)
            pending.clear()

        for first in range(0, telegrams, chunk):
            # the simulated receivers' telegrams, made outside the timed part: it measures the gateway
            frames = [meter_telegram(i % meters, (i // meters) & 0xFF) for i in range(first, min(telegrams, first + chunk))]
            twice = [rng.random() < 0.1 for _ in frames]  # the neighbouring dongle heard it too
            start = time.perf_counter()
            queued: list[tuple[ReceiverThread, Frame]] = []
            for k, (data, again) in enumerate(zip(frames, twice, strict=True)):
                # radio time: each meter every 16 s (as walk-by meters send); latency is measured in wall time
                at = datetime.fromtimestamp(T0 + (first + k) * 16 // meters, UTC)
                queued.append((receivers[0], Frame(data, at, -70.0, "r0")))
                if again:
                    queued.append((receivers[1], Frame(data, at, -80.0, "r1")))
                if len(queued) < 500 and k < len(frames) - 1:
                    continue
                size = len(gateway._batch)
                handled_at = time.time()
                gateway.handle_many(queued)  # what the main loop takes from the queue at once
                heard += len(queued)
                queued = []
                pending.append((handled_at, len(gateway._batch) - size))
                if len(gateway._batch) >= gw.batch_max or time.monotonic() - batch_started >= gw.batch_interval_s:
                    flush()
                    batch_started = time.monotonic()
            elapsed += time.perf_counter() - start
            done += len(frames)
        start = time.perf_counter()
        flush()
        elapsed += time.perf_counter() - start
        totals = gateway.store_sink.totals
        assert totals.inserted == telegrams, (totals, gateway.pipeline.dedup.duplicates, telegrams)
        # p99, given as the gateway's latency histogram would: the smallest of its buckets that holds it
        total, seen, p99_s = sum(n for _, n in latencies), 0, 0.0
        for value, n in sorted(latencies):
            seen += n
            if seen >= 0.99 * total:
                p99_s = value
                break
        bounds = sorted(float(s.labels["le"]) for m in LATENCY.collect() for s in m.samples if s.name.endswith("_bucket"))
        p99 = next(le for le in bounds if le >= p99_s)
        store.close()
    print(f"{done} telegrams of {meters} meters ({heard} heard, duplicates from a second receiver), one core")
    print(f"gateway_rate: {heard / elapsed:.0f} telegrams/s")
    print(f"gateway_stored_rate: {totals.inserted / elapsed:.0f} readings/s")
    print(f"gateway_latency_p99_le: {p99:.2f} s")
    print(f"gateway_rss_start: {start_rss:.0f} MB")
    print(f"peak_rss: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
