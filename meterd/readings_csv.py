"""CSV files of readings and meters (`meterd check --readings/--meters`) into the arrays the checks take."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meterd.errors import MeterdError
from meterd.textinput import CsvFile, InputFileError
from meterd.times import parse_time
from meterd.validate.model import Meters, Readings, alarm_mask
from meterd.validate.schedule import ScheduleError, parse_schedule
from meterd.wmbus.alarms import ALARM_NAMES, status_alarms

DEFAULT_Q3 = 2.5
MEDIA = {"water": 0, "cold_water": 0, "": 0, "warm_water": 1, "hot_water": 1}


class CsvError(MeterdError):
    code = "bad_csv"


@dataclass
class CsvProblems:
    """Rows skipped with their line numbers (counted and shown, never silently dropped)."""

    messages: list[str] = field(default_factory=list)

    def add(self, line: int, text: str) -> None:
        self.messages.append(f"line {line}: {text}")


def _time(text: str) -> int:
    """parse_time for one CSV field: any failure (no time, outside the calendar) is a ValueError."""
    try:
        return parse_time(text)
    except (ValueError, OverflowError, OSError):
        raise ValueError(text) from None


def _rows(path: Path, required: set[str], encoding: str) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        yield from CsvFile(path, encoding).rows(required)
    except InputFileError as e:
        raise CsvError(e.message) from None


def load_meters(path: Path, problems: CsvProblems, encoding: str = "utf-8") -> Meters:
    ids: list[str] = []
    q3: list[float] = []
    buildings: list[str] = []
    media: list[int] = []
    schedules: list[str] = []
    premises: list[str] = []
    seen: set[str] = set()
    for line, row in _rows(path, {"meter_id"}, encoding):
        meter_id = (row.get("meter_id") or "").strip()
        if not meter_id:
            problems.add(line, "empty meter_id")
            continue
        if meter_id in seen:
            problems.add(line, f"meter {meter_id} listed twice; first row kept")
            continue
        try:
            q = float(row.get("q3_m3h") or DEFAULT_Q3)
            if not (math.isfinite(q) and q > 0):
                raise ValueError
        except ValueError:
            problems.add(line, f"meter {meter_id}: q3_m3h {row.get('q3_m3h')!r} is not a positive number")
            continue
        medium = (row.get("medium") or "").strip().lower()
        if medium not in MEDIA:
            problems.add(line, f"meter {meter_id}: medium {medium!r} (use water or warm_water)")
            continue
        schedule = (row.get("schedule") or "").strip()
        try:
            parse_schedule(schedule)
        except ScheduleError as e:
            problems.add(line, f"meter {meter_id}: {e}")
            continue
        seen.add(meter_id)
        ids.append(meter_id)
        q3.append(q)
        buildings.append((row.get("building_id") or "").strip())
        media.append(MEDIA[medium])
        schedules.append(schedule)
        premises.append((row.get("premises_id") or "").strip())
    codes = {b: i for i, b in enumerate(sorted({b for b in buildings if b}))}
    return Meters(
        ids,
        np.array(q3, dtype=np.float64),
        np.array([codes[b] if b else -1 for b in buildings], dtype=np.int32),
        np.array(media, dtype=np.int8),
        schedules,
        premises,
        {i: b for b, i in codes.items()},
    )


def _alarm_names(text: str) -> list[str]:
    for sep in ";,| ":
        text = text.replace(sep, " ")
    return [a for a in text.lower().split() if a]


def _chain(
    first: tuple[int, dict[str, str]] | None, rest: Iterator[tuple[int, dict[str, str]]]
) -> Iterator[tuple[int, dict[str, str]]]:
    if first is None:
        return
    yield first
    try:
        yield from rest
    except InputFileError as e:
        raise CsvError(e.message) from None


def load_readings(
    path: Path, meters: Meters | None, problems: CsvProblems, encoding: str = "utf-8"
) -> tuple[Readings, Meters]:
    """Readings plus the meter table, extended with defaults for meters the meters CSV lacks."""
    source = CsvFile(path, encoding)
    rows = source.rows({"meter_id", "measured_at", "total_m3"})
    try:
        first = next(rows, None)
    except InputFileError as e:
        raise CsvError(e.message) from None
    fields = source.columns
    meters = meters or Meters.for_ids([], DEFAULT_Q3)
    index = {m: i for i, m in enumerate(meters.ids)}
    new_ids: list[str] = []
    m_idx: list[int] = []
    times: list[int] = []
    volumes: list[float] = []
    alarms: list[int] = []
    received: list[int] = []
    has_alarms = "status" in fields or "alarms" in fields
    has_received = "received_at" in fields
    known_alarms = set(ALARM_NAMES)
    for line, row in _chain(first, rows):
        meter_id = (row.get("meter_id") or "").strip()
        if not meter_id:
            problems.add(line, "empty meter_id")
            continue
        try:
            t = _time(row.get("measured_at") or "")
        except ValueError:
            problems.add(line, f"measured_at {row.get('measured_at')!r} is not ISO 8601")
            continue
        text = (row.get("total_m3") or "").strip()
        try:
            v = float(text) if text else float("nan")
        except ValueError:
            problems.add(line, f"total_m3 {text[:40]!r} is not a number")
            continue
        if text and not (math.isfinite(v) and v >= 0):
            problems.add(line, f"total_m3 {text[:40]!r} is not a register value (finite, not negative)")
            continue
        mask = 0
        if has_alarms:
            status_text = (row.get("status") or "").strip()
            try:
                status = int(status_text, 0) if status_text else 0
            except ValueError:
                problems.add(line, f"status {status_text!r} is not an integer")
                continue
            names = status_alarms(status) + _alarm_names(row.get("alarms") or "")
            unknown = [a for a in names if a not in known_alarms]
            if unknown:
                problems.add(line, f"unknown alarm {unknown[0]!r} ignored")
            mask = alarm_mask([a for a in names if a in known_alarms])
        r = 0
        if has_received and (row.get("received_at") or "").strip():
            try:
                r = _time(row["received_at"])
            except ValueError:
                problems.add(line, f"received_at {row.get('received_at')!r} is not ISO 8601")
                continue
        i = index.get(meter_id)
        if i is None:
            i = index[meter_id] = len(meters.ids) + len(new_ids)
            new_ids.append(meter_id)
        m_idx.append(i)
        times.append(t)
        volumes.append(v)
        alarms.append(mask)
        received.append(r)
    if new_ids:
        extra = Meters.for_ids(new_ids, DEFAULT_Q3)
        meters = Meters(
            meters.ids + extra.ids,
            np.concatenate([meters.q3, extra.q3]),
            np.concatenate([meters.building, extra.building]),
            np.concatenate([meters.medium, extra.medium]),
            (meters.schedule or [""] * len(meters.ids)) + extra.schedule,
            (meters.premises or [""] * len(meters.ids)) + extra.premises,
            meters.building_names,
        )
    readings = Readings(
        np.array(m_idx, dtype=np.int32),
        np.array(times, dtype=np.int64),
        np.array(volumes, dtype=np.float64),
        np.array(alarms, dtype=np.uint16) if has_alarms else None,
        np.array(received, dtype=np.int64) if has_received else None,
    )
    return readings, meters
