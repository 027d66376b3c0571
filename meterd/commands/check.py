"""`meterd check`: run the validation over a CSV of readings or over the store (DESIGN 2.6)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import orjson

from meterd.readings_csv import CsvProblems, load_meters, load_readings, parse_time
from meterd.validate import CheckConfig, findings_as_dicts, run_checks


def check_csv(
    readings_path: Path,
    meters_path: Path | None,
    *,
    lang: str = "en",
    as_of: str | None = None,
    now: str | None = None,
    config: CheckConfig | None = None,
) -> tuple[list[dict[str, Any]], CsvProblems]:
    problems = CsvProblems()
    meters = load_meters(meters_path, problems) if meters_path else None
    readings, meters = load_readings(readings_path, meters, problems)
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
