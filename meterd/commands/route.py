"""`meterd route import|export|bundle|sync`: walk-by routes from billing, their results back to billing,
and a walk's readings carried from the laptop's store to the central one."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from meterd.commands.storeopts import BadArgument, add_store_options, open_store

EXPORT_COLUMNS = ("route_id", "order", "premises_id", "address", "meter_id", "medium", "reading", "measured_at",
                  "source", "flags")  # fmt: skip


def cmd_route(args: argparse.Namespace) -> int:
    actions = {"import": _import, "export": _export, "bundle": _bundle, "sync": _sync, "manual": _manual, "plan": _plan}
    if args.action != "plan" and not args.target:
        raise BadArgument(f"route {args.action} needs its {'file' if args.action in ('import', 'sync') else 'route id'}")
    return actions[args.action](args)


def _plan(args: argparse.Namespace) -> int:
    """A route of the register's radio meters that no gateway heard for a while, in walking order
    (building, address), each with its last reading as the previous one: the CSV `route import` takes."""

    from meterd.commands.export import output_to, site_zone
    from meterd.coverage.plan_csv import plan_code, write_plan
    from meterd.spreadsheet import dialect
    from meterd.store.hearings import plan_unheard
    from meterd.times import parse_duration

    if not args.unheard_since:
        raise BadArgument("route plan needs --unheard-since DURATION (7d, 36h)")
    if not args.out:
        raise BadArgument("route plan needs --out FILE.csv")
    try:
        since = parse_duration(args.unheard_since)
    except ValueError as e:
        raise BadArgument(f"--unheard-since {e}") from None
    now = int(time.time())
    code = args.route or plan_code(now)
    if len(code) > 64:
        raise BadArgument("--route: at most 64 characters")
    store = open_store(args)
    with store.begin() as conn:
        considered, stops = plan_unheard(conn, now - since, now=now, building=args.building)
    if args.building is not None and not considered:
        raise BadArgument(f"--building {args.building!r}: no radio meters hang there (or no such building)")
    with output_to(args.out) as f:
        write_plan(f, code, stops, dialect(args.dialect or "plain", site_zone(args)))
    print(f"route {code}: {len(stops)} of {considered} meters unheard for {args.unheard_since}, "
          f"written to {args.out}", file=sys.stderr)  # fmt: skip
    return 0


def _manual(args: argparse.Namespace) -> int:
    """A meter that cannot be heard, read off its dial: stored as source `manual` with the reader's name,
    the reason and an optional photo (copied beside the store, its name kept with the reading)."""
    import shutil

    from meterd.store.engine import data_dir
    from meterd.store.ingest import ingest
    from meterd.store.routes import route_stops

    if args.meter is None or args.value is None or not args.reason or not args.reader:
        raise BadArgument("route manual needs --meter, --value, --reason and --reader")
    from meterd.spreadsheet import parse_number

    try:
        value = parse_number(args.value)
    except ValueError as e:
        raise BadArgument(f"--value: {e}") from None
    if not 0 <= value < 1e8:
        raise BadArgument(f"--value {args.value}: 0 to 99999999 m3")
    now = int(time.time())
    store = open_store(args)
    with store.begin() as conn:
        _, stops = route_stops(conn, args.target)
        stop = next((s for s in stops if s.meter == args.meter.upper().zfill(8)), None)
        if stop is None:
            raise BadArgument(f"meter {args.meter} is not on route {args.target}")
        notes: dict[str, str] = {"reason": args.reason[:200], "reader": args.reader[:64]}
        if args.photo:
            photo = Path(args.photo)
            if not photo.is_file():
                raise BadArgument(f"--photo {args.photo}: no such file")
            folder = data_dir(getattr(args, "data", None)) / "photos" / args.target
            folder.mkdir(parents=True, exist_ok=True)
            kept = folder / f"{stop.meter}-{now}{photo.suffix.lower()[:8]}"
            shutil.copyfile(photo, kept)
            notes["photo"] = str(kept)
        from meterd.jsonio import dumps
        from meterd.store.ingest import ReadingIn
        from meterd.store.meters import MeterAmbiguous, MeterNotFound, find_meter

        try:  # the meter of this serial that hangs in the stop's flat: its maker is known there
            maker = find_meter(conn, stop.meter, stop.premises)[1]
        except (MeterNotFound, MeterAmbiguous):
            maker = ""
        result = ingest(conn, [ReadingIn(meter=stop.meter, manufacturer=maker, measured_at=now, received_at=now, total_m3=value,
                                         registers=dumps(notes).decode(), source="manual",
                                         gateway=args.reader[:64])])  # fmt: skip
    print(f"route {args.target} stop {stop.order}: {value:.3f} m3 entered by {args.reader}"
          + ("" if result.inserted else " (not stored: the meter is not in the register)"))  # fmt: skip
    return 0


def _import(args: argparse.Namespace) -> int:
    from meterd.store.routes import import_routes, parse_route_file
    from meterd.textinput import check_encoding

    path = Path(args.target)
    encoding = check_encoding(args.encoding)
    stops = parse_route_file(path, encoding)
    store = open_store(args)
    with store.begin() as conn:
        result = import_routes(conn, path, stops, sniffed_dialect(path, encoding), encoding)
    for code, n in sorted(result.routes.items()):
        print(f"route {code}: {n} stops")
    for warning in result.warnings:
        print(f"meterd: {warning}", file=sys.stderr)
    return 0


def sniffed_dialect(path: Path, encoding: str) -> str:
    """`pl` for a file of Polish Excel (`;` between columns), else `plain`."""
    from meterd.textinput import sniff_delimiter

    with path.open(encoding=encoding, errors="replace") as f:
        header = f.readline().lstrip("\ufeff")
    return "pl" if sniff_delimiter(header) == ";" else "plain"


def flags_of(r: Any, q3_m3h: float | None) -> list[str]:
    """What billing should know of a stop's reading: not read, alarms, or implausible against the last
    billed reading (below it, or above it plus the meter's Q3 running the whole time since)."""
    from meterd.validate.model import alarm_names
    from meterd.validate.plausible import beyond

    if r.total_m3 is None:
        return ["not_read"]
    out = alarm_names(r.alarms)
    prev = r.stop.previous_reading
    found = beyond(prev, r.stop.previous_date, r.total_m3, r.measured_at, q3_m3h) if prev is not None else None
    if found is not None:
        out.append("below_previous" if found[0] == "below" else "too_high")
    if r.source == "manual":
        out.append("entered_by_hand")
    return out


def _export(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from meterd.commands.export import output_to, site_zone
    from meterd.spreadsheet import dialect
    from meterd.store.models import Meter
    from meterd.store.routes import route_format, route_readings

    store = open_store(args)
    with store.begin() as conn:
        q3 = dict(conn.execute(select(Meter.serial, Meter.q3_m3h)).all())
        rows = list(route_readings(conn, args.target))
        imported_as, encoding = route_format(conn, args.target)
    sheet = dialect(args.dialect or imported_as, site_zone(args))  # as the route came, unless told otherwise
    with output_to(args.out, encoding=encoding) as f:
        w = sheet.writer(f) if encoding.replace("-", "").lower() == "utf8" else sheet.writer_without_bom(f)
        w.writerow(EXPORT_COLUMNS)
        for r in rows:
            s = r.stop
            w.writerow((s.route, s.order, s.premises, s.address, s.meter, s.medium, sheet.number(r.total_m3),
                        sheet.time(r.measured_at), r.source, ";".join(flags_of(r, q3.get(s.meter)))))  # fmt: skip
    read = sum(r.total_m3 is not None for r in rows)
    print(f"route {args.target}: {read} of {len(rows)} meters read", file=sys.stderr)
    return 0


def _bundle(args: argparse.Namespace) -> int:
    """Every reading of the route's meters since the route was imported, as JSON lines."""
    from meterd.commands.export import output_to
    from meterd.walk.bundle import write_bundle

    if not args.out:
        raise BadArgument("route bundle needs --out FILE")
    store = open_store(args)
    with store.begin() as conn, output_to(args.out) as f:
        n = write_bundle(conn, args.target, f, int(time.time()))
    print(f"route {args.target}: {n} readings bundled into {args.out}", file=sys.stderr)
    return 0


def _sync(args: argparse.Namespace) -> int:
    """A bundle into this store: readings stored once however often (or overlapping) bundles come."""
    from meterd.store.hearings import put_hearings
    from meterd.store.ingest import IngestResult, ingest
    from meterd.walk.bundle import read_bundle

    path = Path(args.target)
    readings, hearings = read_bundle(path)
    store = open_store(args)
    with store.begin() as conn:
        result: IngestResult = ingest(conn, readings)
        put_hearings(conn, hearings)
    print(f"stored {result.inserted}, duplicates {result.duplicates}, unknown_meter {result.unknown_meter}, "
          f"bad_time {result.bad_time}, hearings {len(hearings)}")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("route", help="walk-by routes: import from billing, export results, bundle and sync")
    p.add_argument("action", choices=("import", "export", "bundle", "sync", "manual", "plan"))
    p.add_argument("target", nargs="?",
                   help="import: the route CSV; export/bundle/manual: the route id; sync: the bundle file")
    p.add_argument("--unheard-since", help="plan: meters no gateway heard for this long (7d, 36h)")
    p.add_argument("--building", help="plan: only this building's meters")
    p.add_argument("--route", help="plan: the new route's id (default plan-YYYY-MM-DD)")
    p.add_argument("--meter", help="manual: the meter read off its dial")
    p.add_argument("--value", help="manual: its reading in m3 (12.5 or 12,5)")
    p.add_argument("--reason", help="manual: why it could not be heard")
    p.add_argument("--reader", help="manual: who read it")
    p.add_argument("--photo", help="manual: a photo of the dial")
    p.add_argument("--format", choices=("csv",), default="csv", help="export: csv")
    p.add_argument("--dialect", choices=("plain", "pl"),
                   help="export: plain or pl (default: as the route was imported); plan: default plain")
    p.add_argument("--config", help="TOML configuration: [site] timezone for the times of the pl dialect")
    p.add_argument("--out", help="export: file (default stdout); bundle, plan: the file to write")
    p.add_argument("--encoding", default="utf-8", help="import: file encoding (cp1250 for Polish Excel exports)")
    add_store_options(p)
    p.set_defaults(func=cmd_route)
