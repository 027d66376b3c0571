"""`meterd export billing|readings`: the reading of every premises' meters at a cut-off date, or every
stored reading (what arrived, for an operator to check), as CSV or JSON lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from meterd.commands.storeopts import BadArgument, add_store_options, open_store, parse_when

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from meterd.spreadsheet import Dialect

READING_COLUMNS = ("meter_id", "measured_at", "received_at", "total_m3", "source", "gateway", "alarms")


@contextmanager
def output_to(out: str | None, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """The named file, written beside it and renamed over it (a failure leaves the old file whole), or stdout."""
    if not out or out == "-":
        yield sys.stdout
        return
    from pathlib import Path

    from meterd.fileio import atomic_text, check_target

    check_target(Path(out))
    with atomic_text(out, newline="", encoding=encoding) as f:
        yield f


def site_zone(args: argparse.Namespace) -> str:
    """The site's time zone: `[site] timezone` of --config, else Europe/Warsaw."""
    from meterd.config import load_config

    return load_config(args.config).site.timezone if getattr(args, "config", None) else "Europe/Warsaw"


def cutoff_of(text: str, zone: str) -> int:
    """A cut-off: a date is the end of that day in the site's time zone; a time with an offset is exact."""
    import re
    from datetime import date

    from meterd.spreadsheet import end_of_local_day

    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise BadArgument(f"--cutoff {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
        parse_when(text, "--cutoff")  # the same range as every date on the command line
        return end_of_local_day(day, zone)
    return parse_when(text, "--cutoff")


def write_readings(
    conn: Connection, f: IO[str], fmt: str, since: int | None, until: int | None, meter: str | None,
    sheet: Dialect | None = None,
) -> int:  # fmt: skip
    from meterd.jsonio import dumps
    from meterd.reading import iso
    from meterd.spreadsheet import dialect
    from meterd.store.queries import stored_readings
    from meterd.validate.model import alarm_names as names

    n = 0
    sheet = sheet or dialect("plain")
    writer = sheet.writer(f) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(READING_COLUMNS)
    for r in stored_readings(conn, since, until, meter):
        values = (r.meter_id, iso(r.measured_at), iso(r.received_at), r.total_m3, r.source, r.gateway, names(r.alarms))
        if writer is not None:
            writer.writerow((r.meter_id, sheet.time(r.measured_at), sheet.time(r.received_at), sheet.number(r.total_m3),
                             r.source, r.gateway, ";".join(values[6])))  # fmt: skip
        else:  # the documented keys, and the meter's maker (serials are unique per maker only)
            f.write(dumps({**dict(zip(READING_COLUMNS, values, strict=True)), "manufacturer": r.manufacturer}).decode() + "\n")
        n += 1
    return n


def cmd_export(args: argparse.Namespace) -> int:
    from meterd.spreadsheet import dialect
    from meterd.store.queries import export_billing

    zone = site_zone(args)
    sheet = dialect(args.dialect, zone)
    if args.what == "billing":
        if not args.cutoff:
            raise BadArgument("export billing needs --cutoff YYYY-MM-DD")
        cutoff = cutoff_of(args.cutoff, zone)
    else:
        since = parse_when(args.since, "--since") if args.since else None
        until = parse_when(args.until, "--until") if args.until else None
        if args.meter is not None:
            from meterd.ids import parse_meter_ref

            try:
                parse_meter_ref(args.meter)
            except ValueError as e:
                raise BadArgument(f"--meter {e}") from None
    with output_to(args.out) as f:
        store = open_store(args)
        with store.begin() as conn:
            if args.what == "billing":
                n = export_billing(conn, cutoff, f, interpolate=not args.no_interpolate, sheet=sheet)
            else:
                n = write_readings(conn, f, args.format, since, until, args.meter, sheet)
    if args.out and args.out != "-":
        print(f"{n} rows written to {args.out}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="billing export at a cut-off date, or every stored reading (CSV, JSON lines)")
    p.add_argument("what", choices=("billing", "readings"))
    p.add_argument("--cutoff", help="billing: YYYY-MM-DD (the end of that day in the site's time zone) or ISO 8601")
    p.add_argument("--no-interpolate", action="store_true", help="billing: last reading before the cut-off only")
    p.add_argument("--since", help="readings: measured at or after (YYYY-MM-DD or ISO 8601)")
    p.add_argument("--until", help="readings: measured before")
    p.add_argument("--meter", help="readings: of this meter only (its serial, or MAKER:SERIAL where makers share it)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="readings: csv (default) or jsonl")
    p.add_argument("--out", help="file (default: stdout)")
    p.add_argument("--dialect", choices=("plain", "pl"), default="plain",
                   help="CSV for people: plain (comma, decimal point, UTC) or pl (semicolon, decimal comma, BOM, "
                        "CRLF, local times): Polish Excel opens pl into its columns")  # fmt: skip
    p.add_argument("--config", help="TOML configuration: [site] timezone (default Europe/Warsaw)")
    add_store_options(p)
    p.set_defaults(func=cmd_export)
