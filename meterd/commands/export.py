"""`meterd export billing|readings`: the reading of every premises' meters at a cut-off date, or every
stored reading (what arrived, for an operator to check), as CSV or JSON lines."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from meterd.commands.storeopts import BadArgument, add_store_options, open_store, parse_when

if TYPE_CHECKING:
    from sqlalchemy import Connection

READING_COLUMNS = ("meter_id", "measured_at", "received_at", "total_m3", "source", "gateway", "alarms")


@contextmanager
def output_to(out: str | None) -> Iterator[IO[str]]:
    """The named file, written beside it and renamed over it (a failure leaves the old file whole), or stdout."""
    if not out or out == "-":
        yield sys.stdout
        return
    from pathlib import Path

    from meterd.fileio import atomic_text, check_target

    check_target(Path(out))
    with atomic_text(out, newline="") as f:
        yield f


def write_readings(conn: Connection, f: IO[str], fmt: str, since: int | None, until: int | None, meter: str | None) -> int:
    from meterd.jsonio import dumps
    from meterd.reading import iso
    from meterd.store.queries import stored_readings
    from meterd.validate.model import alarm_names as names

    n = 0
    writer = csv.writer(f, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(READING_COLUMNS)
    for r in stored_readings(conn, since, until, meter):
        values = (r.meter_id, iso(r.measured_at), iso(r.received_at), r.total_m3, r.source, r.gateway, names(r.alarms))
        if writer is not None:
            writer.writerow((*values[:3], "" if r.total_m3 is None else repr(r.total_m3), *values[4:6], ";".join(values[6])))
        else:
            f.write(dumps(dict(zip(READING_COLUMNS, values, strict=True))).decode() + "\n")
        n += 1
    return n


def cmd_export(args: argparse.Namespace) -> int:
    from meterd.store.queries import export_billing

    if args.what == "billing":
        if not args.cutoff:
            raise BadArgument("export billing needs --cutoff YYYY-MM-DD")
        cutoff = parse_when(args.cutoff, "--cutoff")
    else:
        since = parse_when(args.since, "--since") if args.since else None
        until = parse_when(args.until, "--until") if args.until else None
    with output_to(args.out) as f:
        store = open_store(args)
        with store.begin() as conn:
            if args.what == "billing":
                n = export_billing(conn, cutoff, f, interpolate=not args.no_interpolate)
            else:
                n = write_readings(conn, f, args.format, since, until, args.meter)
    if args.out and args.out != "-":
        print(f"{n} rows written to {args.out}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="billing export at a cut-off date, or every stored reading (CSV, JSON lines)")
    p.add_argument("what", choices=("billing", "readings"))
    p.add_argument("--cutoff", help="billing: YYYY-MM-DD (UTC midnight) or ISO 8601")
    p.add_argument("--no-interpolate", action="store_true", help="billing: last reading before the cut-off only")
    p.add_argument("--since", help="readings: measured at or after (YYYY-MM-DD or ISO 8601)")
    p.add_argument("--until", help="readings: measured before")
    p.add_argument("--meter", help="readings: of this meter only")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="readings: csv (default) or jsonl")
    p.add_argument("--out", help="file (default: stdout)")
    add_store_options(p)
    p.set_defaults(func=cmd_export)
