"""`meterd check`: run the validation over a CSV of readings or over the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the checks are imported when the command runs, not when the parser is built
    from meterd.readings_csv import CsvProblems
    from meterd.validate import CheckConfig


def check_csv(
    readings_path: Path,
    meters_path: Path | None,
    *,
    lang: str = "en",
    as_of: str | None = None,
    now: str | None = None,
    config: CheckConfig | None = None,
    encoding: str = "utf-8",
) -> tuple[list[dict[str, Any]], CsvProblems]:
    from meterd.readings_csv import CsvProblems, load_meters, load_readings
    from meterd.times import parse_time
    from meterd.validate import findings_as_dicts, run_checks

    problems = CsvProblems()
    meters = load_meters(meters_path, problems, encoding) if meters_path else None
    readings, meters = load_readings(readings_path, meters, problems, encoding)
    findings = run_checks(
        readings,
        meters,
        config,
        as_of=parse_time(as_of) if as_of else None,
        now=parse_time(now) if now else None,
    )
    from meterd.metrics import count_findings

    count_findings(zip(findings.flag, findings.severity, strict=True))
    return findings_as_dicts(findings, meters, lang), problems


def print_findings(rows: list[dict[str, Any]], fmt: str, out: IO[str]) -> None:
    import orjson

    if fmt == "jsonl":
        for row in rows:
            out.write(orjson.dumps(row).decode() + "\n")
        return
    headers = ("meter_id", "flag", "severity", "from", "to", "reason")
    table = [headers] + [tuple(str(r[h]) for h in headers) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers) - 1)]
    for r in table:
        out.write("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] + "\n")
    if not rows:
        out.write("no findings\n")


def report_problems(problems: CsvProblems, err: IO[str] = sys.stderr) -> None:
    for msg in problems.messages[:20]:
        err.write(f"meterd: skipped {msg}\n")
    if len(problems.messages) > 20:
        err.write(f"meterd: ... and {len(problems.messages) - 20} more problems\n")
    if problems.messages:
        err.write(f"meterd: {len(problems.messages)} rows skipped\n")


def check_store(args: argparse.Namespace, lang: str = "en") -> list[dict[str, Any]]:
    from sqlalchemy.exc import OperationalError

    from meterd.commands.storeopts import open_store
    from meterd.store.checks import check_store as run
    from meterd.store.engine import describe
    from meterd.validate import findings_as_dicts

    store = open_store(args)
    try:
        with store.begin() as conn:
            findings, meters = run(conn)
    except OperationalError as e:  # a read-only store is still checked; its findings cannot be kept
        if "read-only" not in describe(e):
            raise
        with store.begin() as conn:
            findings, meters = run(conn, save=False)
        print("meterd: the store is read-only: findings shown, not kept", file=sys.stderr)
    from meterd.metrics import count_findings

    count_findings(zip(findings.flag, findings.severity, strict=True))
    return findings_as_dicts(findings, meters, lang)


def cmd_check(args: argparse.Namespace) -> int:
    from meterd.commands.storeopts import BadArgument, parse_when

    for option in ("as_of", "now"):
        value = getattr(args, option)
        if value is not None:
            parse_when(value, "--" + option.replace("_", "-"))
    if args.readings is None:
        if args.meters:
            raise BadArgument("--meters goes with --readings (the store has its own meters)")
        print_findings(check_store(args, lang=args.lang), args.format, sys.stdout)
        return 0
    from meterd.config import load_config
    from meterd.textinput import check_encoding

    config = load_config(args.config).check_config()
    rows, problems = check_csv(
        Path(args.readings),
        Path(args.meters) if args.meters else None,
        lang=args.lang,
        as_of=args.as_of,
        now=args.now,
        config=config,
        encoding=check_encoding(args.encoding),
    )
    report_problems(problems)
    print_findings(rows, args.format, sys.stdout)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from meterd.commands.storeopts import add_store_options

    p = sub.add_parser("check", help="validate readings and print findings")
    p.add_argument("--readings", help="CSV meter_id,measured_at,total_m3[,status,alarms,received_at]")
    p.add_argument("--meters", help="CSV meter_id,premises_id,building_id,q3_m3h,schedule,medium")
    p.add_argument("--format", choices=("table", "jsonl"), default="table")
    p.add_argument("--lang", choices=("en", "pl"), default="en", help="language of the reasons")
    p.add_argument("--as-of", help="end of the missing-data window (default: the check's clock)")
    p.add_argument("--now", help="the check's clock, ISO 8601 (default: the system clock), to replay old data")
    p.add_argument("--encoding", default="utf-8", help="CSV encoding: utf-8 (default, BOM allowed) or cp1250")
    p.add_argument("--config", help="TOML configuration (thresholds in [checks.cold] / [checks.warm])")
    add_store_options(p)
    p.set_defaults(func=cmd_check)
