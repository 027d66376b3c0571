"""Store commands: db upgrade/status, import, ingest, report, export, retention, demo, check over the store."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterd.errors import MeterdError

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported only by the commands that use it
    from meterd.store import Store


def _open(args: argparse.Namespace, *, check: bool = True, create: bool = False) -> Store:
    from meterd.store import Store

    return Store.open(getattr(args, "data", None), getattr(args, "db", None), check=check, create=create)


def _date(text: str) -> int:
    from meterd.readings_csv import parse_time

    try:
        return parse_time(text if "T" in text else text + "T00:00:00+00:00")
    except ValueError:
        raise MeterdError(f"{text!r} is not a date (YYYY-MM-DD or ISO 8601)") from None


def _iso(t: int | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def cmd_db(args: argparse.Namespace) -> int:
    from meterd.store.engine import current_revision, head_revision

    store = _open(args, check=False)
    if args.action == "upgrade":
        before, after = store.upgrade()
        print(f"schema {before or '(empty)'} -> {after}" if before != after else f"schema already at {after}")
    else:
        current, head = current_revision(store.engine), head_revision()
        print(f"store {store}: schema {current or '(empty)'}, this meterd needs {head}")
        return 0 if current == head else 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from meterd.store.imports import import_keys, import_premises

    store = _open(args)
    with store.begin() as conn:
        if args.kind == "premises":
            result = import_premises(conn, Path(args.file))
        else:
            result = import_keys(conn, Path(args.file), allow_insecure=args.insecure_keys)
    extra = ", ".join(f"{k} {v}" for k, v in result.created.items())
    print(f"imported {result.rows} rows from {args.file} (batch {result.batch_id}{', ' + extra if extra else ''})")
    return 0


def ingest_capture(
    store: Store, path: Path, keys_file: Path | None, gateway: str, insecure: bool = False
) -> dict[str, int]:
    """Decode a hex capture with the store's keys (plus a key file) and store its readings."""
    from meterd.drivers.frame import Frame
    from meterd.drivers.hexfile import read_capture
    from meterd.keyfile import load_keys
    from meterd.pipeline import reading_from_telegram
    from meterd.store.imports import current_keys
    from meterd.store.ingest import ingest
    from meterd.wmbus import Decoder

    with store.begin() as conn:
        keys = current_keys(conn)
    if keys_file is not None:
        keys.update(load_keys(keys_file, allow_insecure=insecure))
    from meterd.store.state import restore, save

    decoder = Decoder(keys)
    with store.begin() as conn:
        restore(conn, decoder)
    counts = {"telegrams": 0, "decoded": 0, "errors": 0}
    readings = []
    with path.open(encoding="utf-8") as f:
        for item in read_capture(f):
            counts["telegrams"] += 1
            if not isinstance(item, Frame):
                counts["errors"] += 1
                continue
            obj = decoder.decode_hex(item.data.hex())
            reading = reading_from_telegram(obj, int(item.received_at.timestamp()), gateway=gateway, raw=item.data)
            if reading is None:
                counts["errors"] += 1
                continue
            counts["decoded"] += 1
            readings.append(reading)
    with store.begin() as conn:
        result = ingest(conn, readings)
        save(conn, decoder)
    counts.update(stored=result.inserted, duplicates=result.duplicates, unknown_meter=result.unknown_meter)
    from meterd.metrics import READINGS

    for outcome in ("stored", "duplicates", "unknown_meter"):
        READINGS.labels(outcome=outcome).inc(counts[outcome])
    return counts


def cmd_ingest(args: argparse.Namespace) -> int:
    counts = ingest_capture(
        _open(args), Path(args.capture), Path(args.keys) if args.keys else None, args.gateway, args.insecure_keys
    )
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def report(store: Store, codes: list[str] | None, months: int, out: Any = sys.stdout) -> None:
    """Readings and monthly consumption of flats: what a tenant sees in the account view."""
    from sqlalchemy import select

    from meterd.store.models import Premises
    from meterd.store.queries import consumption, premises_readings

    with store.begin() as conn:
        all_codes = conn.execute(select(Premises.code).order_by(Premises.code)).scalars().all()
        chosen = codes or list(all_codes)
        end = int(time.time())
        newest = conn.exec_driver_sql("SELECT max(measured_at) FROM readings").scalar()
        if newest:
            end = int(newest) + 1
        start = end - months * 31 * 86400
        for code in chosen:
            readings = premises_readings(conn, code, start, end)
            latest: dict[str, dict[str, Any]] = {}
            for r in readings:
                latest[str(r["meter_id"])] = r
            out.write(f"\n== {code}: {len(readings)} readings\n")
            for serial, r in sorted(latest.items()):
                out.write(f"   meter {serial} ({r['medium']}): {r['total_m3']} m3 at {_iso(r['measured_at'])} UTC\n")  # type: ignore[arg-type]
            rows = consumption(conn, code, start, end, "month")
            media = sorted({k for row in rows for k in row if k not in ("from", "to")})
            if media:
                out.write("   month      " + "  ".join(f"{m:>12}" for m in media) + "\n")
                for row in rows:
                    month = datetime.fromtimestamp(int(row["to"]) - 1, UTC).strftime("%Y-%m")  # type: ignore[call-overload]
                    values = "  ".join(f"{row.get(m, 0.0):>9.3f} m3" for m in media)
                    out.write(f"   {month}    {values}\n")


def cmd_report(args: argparse.Namespace) -> int:
    report(_open(args), args.premises, args.months)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from meterd.store.queries import export_billing

    store = _open(args)
    cutoff = _date(args.cutoff)
    with store.begin() as conn:
        if args.out and args.out != "-":
            with open(args.out, "w", newline="", encoding="utf-8") as f:
                n = export_billing(conn, cutoff, f, interpolate=not args.no_interpolate)
            print(f"{n} rows written to {args.out}", file=sys.stderr)
        else:
            export_billing(conn, cutoff, sys.stdout, interpolate=not args.no_interpolate)
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from meterd.store.queries import thin

    now = int(time.time())
    store = _open(args)
    with store.begin() as conn:
        done = thin(
            conn,
            now - args.raw_days * 86400 if args.raw_days is not None else None,
            now - args.detail_days * 86400 if args.detail_days is not None else None,
        )
    print(f"removed {done['telegrams']} raw telegrams and {done['readings']} sub-daily readings")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from meterd.store.demo import create_demo

    directory = Path(args.data or "data")
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "meterd.sqlite").exists():
        raise MeterdError(f"{directory} already holds a store; remove it or choose another --data")
    store = _open(argparse.Namespace(data=directory, db=None), create=True)
    root = Path(__file__).resolve().parents[2]
    sample_keys = root / "config" / "sample-keys.csv"
    with store.begin() as conn:
        result = create_demo(conn, directory, sample_keys if sample_keys.exists() else None)
    print(f"demo store created in {directory}: {result.readings} readings of 10 flats in 2 buildings")
    capture = root / "config" / "sample-capture.hex"
    if capture.exists():
        counts = ingest_capture(store, capture, None, "demo-gateway")
        print(f"bundled capture decoded into it: {counts['stored']} readings stored of {counts['telegrams']} telegrams")
    print(f"tenant login: {result.login} / password: {result.password} (flat D2)")
    print(f"see it: meterd report --data {directory}; check it: meterd check --data {directory}")
    return 0


def check_store(args: argparse.Namespace, lang: str = "en") -> list[dict[str, Any]]:
    from meterd.store.checks import check_store as run
    from meterd.validate import findings_as_dicts

    store = _open(args)
    with store.begin() as conn:
        findings, meters = run(conn)
    return findings_as_dicts(findings, meters, lang)


def register(sub: argparse._SubParsersAction, add_store_options: Any) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("db", help="create, upgrade or inspect the store's schema")
    p.add_argument("action", choices=("upgrade", "status"))
    add_store_options(p)
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("import", help="import premises/meters or keys from CSV (all or nothing)")
    p.add_argument("kind", choices=("premises", "keys"))
    p.add_argument("file")
    p.add_argument("--insecure-keys", action="store_true", help="accept a key file readable by others")
    add_store_options(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("ingest", help="decode a hex capture into the store")
    p.add_argument("capture")
    p.add_argument("--keys", help="CSV meter_id,key in addition to the store's keys")
    p.add_argument("--insecure-keys", action="store_true")
    p.add_argument("--gateway", default="capture")
    add_store_options(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("report", help="readings and monthly consumption per flat")
    p.add_argument("--premises", nargs="*", help="premises codes (default: all)")
    p.add_argument("--months", type=int, default=4)
    add_store_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="billing export: readings at a cut-off date per premises (CSV)")
    p.add_argument("what", choices=("billing",))
    p.add_argument("--cutoff", required=True, help="YYYY-MM-DD (UTC midnight) or ISO 8601")
    p.add_argument("--out", help="file (default: stdout)")
    p.add_argument("--no-interpolate", action="store_true", help="last reading before the cut-off only")
    add_store_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("retention", help="thin raw telegrams and sub-daily readings")
    p.add_argument("--raw-days", type=int, help="drop raw telegrams older than this")
    p.add_argument("--detail-days", type=int, help="keep one reading per meter and day beyond this age")
    add_store_options(p)
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("demo", help="create a demo store (DESIGN 2.5)")
    p.add_argument("--data", help="directory for the demo store (default: ./data)")
    p.set_defaults(func=cmd_demo)
