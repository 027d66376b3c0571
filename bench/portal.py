"""The account view under load: 200 tenants at once browsing their page and the API of `meterd serve`,
on a store of 20,000 meters (10,000 flats) with 3 years of daily readings, on SQLite and PostgreSQL.

Each tenant logs in first (four logins at a time), then all browse at once: the account page (chart, year before, notices), its
readings, monthly and daily use, notices, meters, the CSV download and last month's statement, and report a reading of their meter, with a think time between
requests of a person reading the page (negative exponential, mean 7 s, as TPC-W's browsing model). Reported: p50/p95/p99 of all browsing requests, per
kind, errors, and the logins (argon2, deliberately slow) apart.

python bench/portal.py [--quick] [--only sqlite|postgresql]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from meterd.store import Store
from meterd.store.ingest import insert_rows
from meterd.store.models import Account, Tenancy
from meterd.store.passwords import hash_password
from meterd.web.statements import previous_month

sys.path.insert(0, str(Path(__file__).parent))
from pgschema import bench_schema
from store import populate_register

DAY = 86400
LAST_MONTH = "{:04d}-{:02d}".format(*previous_month(int(time.time())))  # the statement page asked for
# think time between a person's clicks: negative exponential, mean 7 s, cut at 70 s (TPC-W's browsing model)
THINK_S = 7.0
PASSWORD = "haslo-lokatora-bench"


def populate(store: Store, meters: int, tenants: int, days: int) -> list[tuple[str, str]]:
    """The register, `days` daily readings of every meter up to today, `tenants` accounts; (login, premises)."""
    populate_register(store, meters)  # meters hang in their flats since 2022-12-31
    end = int(time.time()) // DAY * DAY
    first = end - days * DAY
    rng = random.Random(7)
    chunk = 500
    for m0 in range(0, meters, chunk):
        rows: list[tuple[Any, ...]] = []
        for m in range(m0, min(meters, m0 + chunk)):
            value = 50.0 + m % 97
            rate = 0.08 + (m % 13) * 0.02 if m % 2 == 0 else 0.05 + (m % 7) * 0.01
            for d in range(days):
                t = first + d * DAY + 3600
                value += rate * (0.5 + rng.random())
                rows.append((m + 1, t, t + 5, round(value, 3), None, None, "radio", "gw1", None, None, 0, None, None, None))
        with store.begin() as conn:
            insert_rows(conn, rows)
    digest = hash_password(PASSWORD)  # one hash for all: the bench measures browsing, not 200 argon2 runs
    flats = meters // 2
    picks = rng.sample(range(flats), tenants)
    with store.begin() as conn:
        conn.execute(insert(Account), [{"id": i + 1, "login": f"najemca{i}", "password_hash": digest, "role": "tenant",
                                        "email": f"najemca{i}@example.invalid", "created_at": end}
                                       for i in range(tenants)])  # fmt: skip
        conn.execute(insert(Tenancy), [{"account_id": i + 1, "premises_id": p + 1, "valid_from": first - 30 * DAY}
                                       for i, p in enumerate(picks)])  # fmt: skip
    return [(f"najemca{i}", f"P{p}") for i, p in enumerate(picks)]


def serve(store_args: list[str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "serve", *store_args, "--port", str(port),
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"meterd serve did not start: {proc.communicate()[1].decode()[-2000:]}")


KINDS = [("page", 3), ("readings", 2), ("month", 2), ("day", 1), ("notices", 1), ("meters", 1), ("csv", 1), ("report", 1),
         ("statement", 1)]


def path_of(kind: str, pid: str) -> str:
    base = f"/api/v1/premises/{pid}"
    return {"page": "/", "readings": f"{base}/readings", "month": f"{base}/consumption?period=month",
            "day": f"{base}/consumption?period=day", "notices": f"{base}/notices", "meters": f"{base}/meters",
            "csv": f"{base}/readings.csv", "report": f"{base}/readings", "statement": f"/statement/{pid}/{LAST_MONTH}",
            }[kind]  # fmt: skip


async def log_in(url: str, tenants: list[tuple[str, str]], out: dict[str, list[float]]) -> list[str]:
    """Every tenant's session, four logins at a time (argon2 costs ~0.1-0.2 s of CPU each, on purpose)."""
    tokens = [""] * len(tenants)
    gate = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:

        async def one(i: int, login: str) -> None:
            async with gate:
                t = time.perf_counter()
                res = await client.post("/api/v1/login", json={"login": login, "password": PASSWORD})
                out.setdefault("login", []).append(time.perf_counter() - t)
                tokens[i] = res.json()["token"] if res.status_code == 200 else ""

        await asyncio.gather(*(one(i, login) for i, (login, _) in enumerate(tenants)))
    return tokens


async def tenant(client: httpx.AsyncClient, token: str, pid: str, until: float, seed: int,
                 out: dict[str, list[float]], errors: list[str]) -> None:  # fmt: skip
    rng = random.Random(seed)
    kinds = [k for k, w in KINDS for _ in range(w)]
    headers = {"Authorization": f"Bearer {token}"}
    await asyncio.sleep(rng.uniform(0, THINK_S))  # they do not all arrive in the same instant
    meters = (await client.get(path_of("meters", pid), headers=headers)).json()
    mine = next(m for m in meters if m["installed_to"] is None)  # the reading a tenant reports: of this meter
    report = {"meter_id": mine["meter_id"], "total_m3": round((mine["last_total_m3"] or 0.0) + 0.001, 3)}
    while time.perf_counter() < until:
        kind = rng.choice(kinds)
        t = time.perf_counter()
        try:
            if kind == "report":
                res = await client.post(path_of(kind, pid), headers=headers, json=report)
            else:
                res = await client.get(path_of(kind, pid), headers=headers)
        except httpx.HTTPError as e:
            errors.append(f"{kind} {type(e).__name__}")
            continue
        out.setdefault(kind, []).append(time.perf_counter() - t)
        if res.status_code != (201 if kind == "report" else 200):
            errors.append(f"{kind} {res.status_code}")
        think = min(rng.expovariate(1 / THINK_S), 10 * THINK_S)
        await asyncio.sleep(max(0.0, min(think, until - time.perf_counter())))  # no sleeping past the end


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else (values[0] if values else 0.0)


def load(url: str, tenants: list[tuple[str, str]], seconds: float) -> tuple[dict[str, list[float]], list[str], float]:
    out: dict[str, list[float]] = {}
    errors: list[str] = []
    elapsed = 0.0

    async def main() -> None:
        nonlocal elapsed
        tokens = await log_in(url, tenants, out)
        errors.extend("login failed" for t in tokens if not t)
        start = time.perf_counter()
        until = start + seconds
        # one client for all (a connection each): an httpx client costs ~20 ms to make, which 200 of them
        # would take from the event loop, and so from every measured request, in the first seconds
        limits = httpx.Limits(max_connections=len(tenants), max_keepalive_connections=len(tenants))
        async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:
            await asyncio.gather(*(tenant(client, token, pid, until, i, out, errors)
                                   for i, (token, (_, pid)) in enumerate(zip(tokens, tenants, strict=True)) if token))  # fmt: skip
        elapsed = time.perf_counter() - start

    asyncio.run(main())
    return out, errors, elapsed


def run_one(label: str, store_args: list[str], tenants: list[tuple[str, str]], seconds: float,
            workers: int) -> list[tuple[str, float, str]]:  # fmt: skip
    proc, url = serve(store_args, workers)
    try:
        with httpx.Client(base_url=url) as warm:  # one request of each kind first (imports, caches)
            token = warm.post("/api/v1/login", json={"login": tenants[0][0], "password": PASSWORD}).json()["token"]
            for kind, _ in KINDS:
                if kind != "report":
                    warm.get(path_of(kind, tenants[0][1]), headers={"Authorization": f"Bearer {token}"})
        out, errors, _ = load(url, tenants, seconds)
    finally:
        proc.terminate()
        proc.wait(20)
    browse = [v for k, vs in out.items() if k != "login" for v in vs]
    figures = [
        (f"portal_{label}_requests", float(len(browse)), "requests"),
        (f"portal_{label}_rate", len(browse) / seconds, "requests/s"),
        (f"portal_{label}_p50", pct(browse, 50) * 1000, "ms"),
        (f"portal_{label}_p95", pct(browse, 95) * 1000, "ms"),
        (f"portal_{label}_p99", pct(browse, 99) * 1000, "ms"),
        (f"portal_{label}_errors", float(len(errors)), "errors"),
        (f"portal_{label}_login_p95", pct(out.get("login", [0.0]), 95) * 1000, "ms"),
    ]
    for kind, _ in KINDS:
        figures.append((f"portal_{label}_{kind}_p95", pct(out.get(kind, [0.0]), 95) * 1000, "ms"))
    if errors:
        print(f"{label}: errors: {sorted(set(errors))[:10]}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--keep", help="keep the SQLite store in this directory and use it again next time")
    parser.add_argument("--think", type=float, help="mean think time in s (default 7; 0: as fast as answered)")
    args = parser.parse_args()
    meters, tenants, days, seconds = (400, 10, 120, 3.0) if args.quick else (20_000, 200, 3 * 365 + 1, 60.0)
    seconds = args.seconds or seconds
    global THINK_S
    if args.think is not None:
        THINK_S = max(args.think, 0.001)
    figures: list[tuple[str, float, str]] = []
    print(f"{meters} meters, {days} daily readings each, {tenants} tenants browsing for {seconds:.0f} s, "
          f"think time exponential, mean {THINK_S:.0f} s, meterd serve --workers {args.workers}")  # fmt: skip
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(args.keep or tmp) / "data"
            chosen_file = data / "bench-tenants.json"
            if args.keep and chosen_file.exists():  # the store of an earlier run with --keep
                chosen = [tuple(x) for x in json.loads(chosen_file.read_text())]
            else:
                store = Store.open(data, create=True)
                t = time.perf_counter()
                chosen = populate(store, meters, tenants, days)
                store.close()
                chosen_file.write_text(json.dumps(chosen))
                print(f"sqlite store built in {time.perf_counter() - t:.0f} s")
            figures += run_one("sqlite", ["--data", str(data)], chosen, seconds, args.workers)  # type: ignore[arg-type]
    if args.only in (None, "postgresql"):
        with bench_schema() as (db, schema, admin), tempfile.TemporaryDirectory() as tmp:
            store = Store.open(db=db, create=True, kek_path=Path(tmp) / "kek")
            t = time.perf_counter()
            chosen = populate(store, meters, tenants, days)
            store.close()
            admin.execute(f"ANALYZE {schema}.readings")
            print(f"postgresql store built in {time.perf_counter() - t:.0f} s")
            figures += run_one("postgresql", ["--db", db], chosen, seconds, args.workers)
    for name, value, unit in figures:
        print(f"{name}: {value:.1f} {unit}" if unit == "ms" else f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
