"""Store throughput: bulk ingest of N readings of M meters (SQLite and PostgreSQL), the monthly
consumption query of one flat over 3 years at that size, and `meterd import premises` of a register
file (100,000 rows at full size; then the same file again, which changes nothing).

python bench/store.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pgschema import bench_schema
from sqlalchemy import insert

from meterd.store import Store
from meterd.store.imports import import_premises
from meterd.store.ingest import insert_rows
from meterd.store.models import Assignment, Building, Meter, Premises
from meterd.store.queries import consumption

T0 = 1_672_531_200  # 2023-01-01
YEARS3 = 3 * 365 * 86400


def populate_register(store: Store, meters: int) -> None:
    flats = meters // 2
    with store.begin() as conn:
        conn.execute(
            insert(Building),
            [{"id": b + 1, "code": f"B{b}", "address": f"ul. Testowa {b}"} for b in range(flats // 40 + 1)],
        )
        conn.execute(
            insert(Premises),
            [
                {"id": p + 1, "code": f"P{p}", "building_id": p // 40 + 1, "address": f"ul. Testowa {p // 40}/{p % 40}"}
                for p in range(flats)
            ],
        )
        conn.execute(
            insert(Meter),
            [{"id": m + 1, "serial": f"{50_000_000 + m}", "manufacturer": "APA", "medium": "water" if m % 2 == 0 else "warm_water",
              "driver": "auto", "kind": "radio", "q3_m3h": 2.5, "schedule": ""} for m in range(meters)],
        )  # fmt: skip
        conn.execute(
            insert(Assignment),
            [{"meter_id": m + 1, "premises_id": m // 2 + 1, "valid_from": T0 - 86400} for m in range(meters)],
        )


def reading_rows(n: int, meters: int) -> list[tuple[Any, ...]]:
    per = n // meters
    step = YEARS3 // per
    return [
        (m + 1, T0 + k * step, T0 + k * step + 3, 100.0 + k * 0.9 + m % 7, None, None, "radio", "gw1", None, None, 0, None, None, None)
        for m in range(meters)
        for k in range(per)
    ]


def bench_one(store: Store, label: str, n: int, meters: int) -> list[tuple[str, float, str]]:
    populate_register(store, meters)
    rows = reading_rows(n, meters)
    start = time.perf_counter()
    with store.begin() as conn:
        inserted = insert_rows(conn, rows)
    elapsed = time.perf_counter() - start
    assert inserted == len(rows), (inserted, len(rows))
    with store.begin() as conn:  # replay: everything is a duplicate
        again = insert_rows(conn, rows[: n // 10])
    assert again == 0
    times = []
    with store.begin() as conn:
        for i in range(30):
            t = time.perf_counter()
            result = consumption(conn, f"P{(i * 97) % (meters // 2)}", T0, T0 + YEARS3, "month")
            times.append(time.perf_counter() - t)
    assert len(result) >= 36
    return [
        (f"ingest_{label}", len(rows) / elapsed, "rows/s"),
        (f"monthly_query_{label}_median", statistics.median(times) * 1000, "ms"),
        (f"monthly_query_{label}_max", max(times) * 1000, "ms"),
    ]


def register_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("premises_id,address,meter_id,manufacturer,medium,installed,q3_m3h\n")
        for i in range(rows):
            flat = i // 2
            medium = "water" if i % 2 == 0 else "warm_water"
            f.write(f"L{flat},ul. Testowa {flat // 40}/{flat % 40},{60_000_000 + i},APA,{medium},2025-01-01,2.5\n")


def bench_register(store: Store, label: str, path: Path, rows: int) -> list[tuple[str, float, str]]:
    figures = []
    for run in ("import", "reimport"):
        start = time.perf_counter()
        with store.begin() as conn:
            result = import_premises(conn, path)
        elapsed = time.perf_counter() - start
        assert result.rows == rows
        assert result.created["assignments"] == (rows if run == "import" else 0), result.created
        figures.append((f"register_{run}_{label}", rows / elapsed, "rows/s"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, meters = (100_000, 2_000) if args.quick else (1_000_000, 20_000)
    register_rows = 10_000 if args.quick else 100_000
    figures: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        register = Path(tmp) / "register.csv"
        register_csv(register, register_rows)
        store = Store.open(Path(tmp) / "a", create=True)
        figures += bench_one(store, "sqlite", n, meters)
        store.close()
        store = Store.open(Path(tmp) / "b", create=True)
        figures += bench_register(store, "sqlite", register, register_rows)
        store.close()
    with bench_schema() as (db, _, _admin):
        store = Store.open(db=db, create=True)
        figures += bench_one(store, "postgresql", n, meters)
        store.close()
    with bench_schema() as (db, _, _admin), tempfile.TemporaryDirectory() as tmp:
        store = Store.open(db=db, create=True)
        register = Path(tmp) / "register.csv"
        register_csv(register, register_rows)
        figures += bench_register(store, "postgresql", register, register_rows)
        store.close()
    print(f"{n} readings of {meters} meters, 3 years")
    for name, value, unit in figures:
        print(f"{name}: {value:.1f} {unit}" if unit == "ms" else f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
