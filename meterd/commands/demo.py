"""`meterd demo --data DIR`: a demo store with buildings, flats, keys, a tenant and months of readings."""

from __future__ import annotations

import argparse
from pathlib import Path

from meterd.errors import MeterdError

ROOT = Path(__file__).resolve().parents[2]


def cmd_demo(args: argparse.Namespace) -> int:
    from meterd.fileio import private_dir
    from meterd.gateway.capture import ingest_capture
    from meterd.store import Store
    from meterd.store.demo import STAFF_LOGIN, STAFF_PASSWORD, create_demo
    from meterd.store.engine import DB_FILE

    directory = Path(args.data or "data")
    private_dir(directory)
    if (directory / DB_FILE).exists():
        raise MeterdError(f"{directory} already holds a store; remove it or choose another --data")
    store = Store.open(directory, create=True)
    sample_keys = ROOT / "config" / "sample-keys.csv"
    with store.begin() as conn:
        result = create_demo(conn, store, directory, sample_keys if sample_keys.exists() else None)
    print(f"demo store created in {directory}: {result.readings} readings of 10 flats in 2 buildings")
    capture = ROOT / "config" / "sample-capture.hex"
    if capture.exists():
        report = ingest_capture(store, capture, None, "demo-gateway")
        print(f"bundled capture decoded into it: {report.stored.inserted} readings stored of {report.telegrams} telegrams")
    print(f"tenant login: {result.login} / password: {result.password} (flat D2)")
    print(f"staff login: {STAFF_LOGIN} / password: {STAFF_PASSWORD} (staff pages at /staff)")
    print(f"see it: meterd report --data {directory}; check it: meterd check --data {directory}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="create a demo store")
    p.add_argument("--data", help="directory for the demo store (default: ./data)")
    p.set_defaults(func=cmd_demo)
