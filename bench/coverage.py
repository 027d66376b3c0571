"""Radio coverage at a housing manager's size: `meterd report --coverage` over 40,000 meters and 30 days
of hearings from 50 gateways (each meter heard by one to three of them, a few by none), on SQLite and
PostgreSQL. Timed: the command as a user runs it (a process of its own, jsonl to a file), and the
planned walk of the meters no gateway heard.

python bench/coverage.py [--quick] [--only sqlite|postgresql]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from meterd.coverage.hearing import DAY_S
from meterd.store import Store
from meterd.store.ingest import bulk_insert

sys.path.insert(0, str(Path(__file__).parent))
from pgschema import bench_schema
from store import populate_register


def populate_hearings(store: Store, meters: int, gateways: int, days: int) -> int:
    """Each meter heard by one to three gateways near it (its building's), every day; 1 % by none."""
    rng = random.Random(11)
    today = int(time.time()) // DAY_S
    rows: list[tuple[object, ...]] = []
    total = 0
    for m in range(meters):
        if m % 100 == 99:
            continue  # heard by nobody
        home = (m // 80) % gateways
        near = [home, *[(home + k) % gateways for k in (1, 2)][: rng.randrange(0, 3)]]
        serial = f"{50_000_000 + m}"
        for g in near:
            base = -65.0 - 12 * near.index(g) - rng.randrange(0, 15)
            for d in range(today - days + 1, today + 1):
                rows.append((serial, "APA", f"gw{g:02d}", d, "gateway", rng.randrange(60, 240), base + rng.randrange(-2, 3),
                             d * DAY_S + 80_000))  # fmt: skip
        if len(rows) >= 200_000:
            total += _flush(store, rows)
            rows = []
    return total + _flush(store, rows)


def _flush(store: Store, rows: list[tuple[object, ...]]) -> int:
    with store.begin() as conn:
        columns = ("serial", "manufacturer", "gateway", "day", "kind", "telegrams", "rssi_median_dbm", "last_at")
        bulk_insert(conn, "hearings", columns, rows)
    return len(rows)


def timed(args: list[str], runs: int) -> float:
    """Median seconds of a meterd command run `runs` times (each a process of its own)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"meterd {' '.join(args)}: {res.stderr}")
    return statistics.median(times)


def bench(kind: str, store_args: list[str], store: Store, meters: int, gateways: int, days: int, runs: int,
          out: Path) -> list[str]:  # fmt: skip
    populate_register(store, meters)
    t0 = time.perf_counter()
    n = populate_hearings(store, meters, gateways, days)
    built = time.perf_counter() - t0
    print(f"# {kind}: {meters} meters, {gateways} gateways, {days} days: {n} hearing rows in {built:.0f} s", flush=True)
    report = timed(["report", "--coverage", "--since", f"{days}d", "--format", "jsonl", *store_args], runs)
    plan = timed(["route", "plan", "--unheard-since", f"{days}d", "--out", str(out / f"plan-{kind}.csv"), *store_args], runs)
    unheard = (out / f"plan-{kind}.csv").read_text().count("\n") - 1
    return [f"coverage_report_{kind}: {report:.2f} s", f"route_plan_{kind}: {plan:.2f} s",
            f"coverage_hearing_rows_{kind}: {n} rows", f"route_plan_stops_{kind}: {unheard} stops"]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=("sqlite", "postgresql"))
    a = p.parse_args()
    meters, gateways, days, runs = (4_000, 10, 7, 3) if a.quick else (40_000, 50, 30, 3)
    results: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if a.only in (None, "sqlite"):
            data = out / "data"
            store = Store.open(data=data, create=True, kek_path=out / "kek")
            results += bench("sqlite", ["--data", str(data)], store, meters, gateways, days, runs, out)
        if a.only in (None, "postgresql"):
            with bench_schema() as (url, _, _):
                store = Store.open(db=url, create=True, kek_path=out / "kek")
                results += bench("postgresql", ["--db", url], store, meters, gateways, days, runs, out)
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
