"""Walk-by routes in the store: imported from billing's CSV (refused whole when a row is bad), checked
against the register, exported back with what was read, bundled for the central store."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, delete, insert, or_, select, update

from meterd.ids import METER_ID, normalise_meter_id
from meterd.store.imports import MEDIA, ImportError_, _rows
from meterd.store.ingest import TimeWindow
from meterd.store.keys import current_key_meters
from meterd.store.models import Assignment, Meter, Premises, Reading, Route, RouteStop
from meterd.times import parse_time

REQUIRED = {"route_id", "order", "premises_id", "address", "meter_id", "medium", "previous_reading", "previous_date"}


@dataclass(frozen=True)
class Stop:
    route: str
    order: int
    premises: str
    address: str
    meter: str
    medium: str
    previous_reading: float | None
    previous_date: int | None


@dataclass
class RouteImport:
    routes: dict[str, int]  # route → stops
    warnings: list[str]  # what the walk should know before it starts


def parse_route_file(path: Path, encoding: str = "utf-8") -> list[Stop]:
    """Every row checked; any bad one refuses the file, naming every bad row as FILE:LINE: problem."""
    stops: list[Stop] = []
    problems: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    window = TimeWindow.around(int(time.time()))
    for line, row in _rows(path, REQUIRED, encoding):
        problem, stop = _stop(row, window)
        if stop is not None and (stop.route, stop.order) in seen:
            problem = f"order {stop.order} of route {stop.route} is used on line {seen[(stop.route, stop.order)]} too"
        if problem:
            problems.append(f"{path}:{line}: {problem}")
            continue
        assert stop is not None
        seen[(stop.route, stop.order)] = line
        stops.append(stop)
    if problems:
        raise ImportError_(f"{path}: {len(problems)} bad rows, nothing imported", problems)
    if not stops:
        raise ImportError_(f"{path}: no stops")
    return stops


def _stop(row: dict[str, str], window: TimeWindow) -> tuple[str, Stop | None]:
    route, premises, meter = row["route_id"], row["premises_id"], row["meter_id"]
    if not route or len(route) > 64:
        return "route_id: 1 to 64 characters", None
    if not premises or len(premises) > 64:
        return "premises_id: 1 to 64 characters", None
    if not METER_ID.fullmatch(meter):
        return f"meter_id {meter[:20]!r}: up to 8 digits", None
    try:
        order = int(row["order"])
    except ValueError:
        return f"order {row['order'][:20]!r} is not a whole number", None
    if not 0 <= order < 1_000_000:
        return f"order {order}: 0 to 999999", None
    medium = (row["medium"] or "water").lower()
    if medium not in MEDIA:
        return f"medium {medium[:30]!r} is unknown (one of {', '.join(sorted(MEDIA))})", None
    previous: float | None = None
    if row["previous_reading"]:
        try:
            previous = float(row["previous_reading"].replace(",", "."))
        except ValueError:
            return f"previous_reading {row['previous_reading'][:20]!r} is not a number", None
        if not math.isfinite(previous) or not 0 <= previous < 1e8:
            return f"previous_reading {row['previous_reading'][:20]!r}: 0 to 99999999 m3", None
    when: int | None = None
    if row["previous_date"]:
        try:
            when = parse_time(row["previous_date"])
        except (ValueError, OverflowError):
            return f"previous_date {row['previous_date'][:30]!r} is not a date (YYYY-MM-DD)", None
        if not window.holds(when):
            return f"previous_date {row['previous_date'][:30]!r} lies before 2000 or in the future", None
    if len(row["address"]) > 200:
        return "address: at most 200 characters", None
    stop = Stop(route, order, premises, row["address"], normalise_meter_id(meter), medium, previous, when)
    return "", stop


def import_routes(
    conn: Connection, path: Path, stops: list[Stop], csv_dialect: str = "plain", csv_encoding: str = "utf-8"
) -> RouteImport:
    """Store the routes of a file (a route imported again is replaced: billing's file is the truth),
    with what the walk should know: meters swapped out, meters without a key, unknown premises. The
    file's spreadsheet dialect and encoding are kept: the route's export is written the same way."""
    now = int(time.time())
    counts: dict[str, int] = {}
    by_route: dict[str, list[Stop]] = {}
    for s in stops:
        by_route.setdefault(s.route, []).append(s)
    for code, route_stops in by_route.items():
        rid = conn.execute(select(Route.id).where(Route.code == code)).scalar()
        if rid is None:
            rid = conn.execute(insert(Route).values(code=code, imported_at=now, source=str(path)[:300],
                                                    csv_dialect=csv_dialect, csv_encoding=csv_encoding)
                               ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        else:
            conn.execute(delete(RouteStop).where(RouteStop.route_id == rid))
            conn.execute(update(Route).where(Route.id == rid).values(imported_at=now, source=str(path)[:300], heard_from=None,
                                                                     csv_dialect=csv_dialect, csv_encoding=csv_encoding))  # fmt: skip
        conn.execute(insert(RouteStop), [
            {"route_id": rid, "ord": s.order, "premises": s.premises, "address": s.address, "meter": s.meter,
             "medium": s.medium, "previous_reading": s.previous_reading, "previous_date": s.previous_date}
            for s in route_stops
        ])  # fmt: skip
        counts[code] = len(route_stops)
    return RouteImport(counts, route_warnings(conn, stops))


def route_warnings(conn: Connection, stops: list[Stop]) -> list[str]:
    premises = set(conn.execute(select(Premises.code)).scalars())
    hanging = {
        (m, p)
        for m, p in conn.execute(
            select(Meter.serial, Premises.code)
            .join(Assignment, Assignment.meter_id == Meter.id)
            .join(Premises, Premises.id == Assignment.premises_id)
            .where(Assignment.valid_to.is_(None))
        ).all()
    }
    known = set(conn.execute(select(Meter.serial)).scalars())
    with_key = current_key_meters(conn)
    out: list[str] = []
    for s in stops:
        where = f"route {s.route} stop {s.order}"
        if s.premises not in premises:
            out.append(f"{where}: premises {s.premises} is not in the register")
        elif s.meter not in known:
            out.append(f"{where}: meter {s.meter} is not in the register")
        elif (s.meter, s.premises) not in hanging:
            out.append(f"{where}: meter {s.meter} no longer hangs in {s.premises} (swapped since the file was made?)")
        elif s.meter not in with_key:
            out.append(f"{where}: meter {s.meter} has no key (its encrypted telegrams cannot be read)")
    return out


def route_format(conn: Connection, code: str) -> tuple[str, str]:
    """(spreadsheet dialect, encoding) of the route's import; ImportError_ when there is no such route."""
    row = conn.execute(select(Route.csv_dialect, Route.csv_encoding).where(Route.code == code)).first()
    if row is None:
        raise ImportError_(f"no route {code!r} in the store (meterd route import FILE.csv)")
    return str(row[0]), str(row[1])


def route_stops(conn: Connection, code: str) -> tuple[int, list[Stop]]:
    """(when its readings count from, stops in walking order); ImportError_ when the route is not in
    the store. Readings count from a day before the route's import (a walk may begin before the file is
    loaded), or from the earliest a walk of it heard, when that is earlier (a replayed capture)."""
    row = conn.execute(select(Route.id, Route.imported_at, Route.heard_from).where(Route.code == code)).first()
    if row is None:
        raise ImportError_(f"no route {code!r} in the store (meterd route import FILE.csv)")
    t = RouteStop
    stops = conn.execute(
        select(t.ord, t.premises, t.address, t.meter, t.medium, t.previous_reading, t.previous_date)
        .where(t.route_id == row[0])
        .order_by(t.ord)
    ).all()
    start = int(row[1]) - 86400
    if row[2] is not None:
        start = min(start, int(row[2]))
    return start, [Stop(code, *s) for s in stops]


def note_heard(conn: Connection, code: str, received_at: int) -> None:
    """A walk of route `code` heard one of its meters at `received_at` (kept when the earliest yet)."""
    conn.execute(
        update(Route)
        .where(Route.code == code, or_(Route.heard_from.is_(None), Route.heard_from > received_at))
        .values(heard_from=received_at)
    )


@dataclass(frozen=True)
class StopReading:
    stop: Stop
    total_m3: float | None
    measured_at: int | None
    received_at: int | None
    source: str
    gateway: str
    alarms: int


def route_readings(conn: Connection, code: str, since: int | None = None) -> Iterator[StopReading]:
    """Each stop with the meter's latest reading heard since the route was imported (or `since`).

    "Heard" is the receive time: a meter whose own clock is wrong (or a replayed capture) still
    counts as read on the walk that heard it."""
    counts_from, stops = route_stops(conn, code)
    start = counts_from if since is None else since
    for s in stops:
        row = conn.execute(
            select(Reading.total_m3, Reading.measured_at, Reading.received_at, Reading.source, Reading.gateway,
                   Reading.alarms)
            .join(Meter, Meter.id == Reading.meter_id)
            .where(Meter.serial == s.meter, Reading.received_at >= start)
            .order_by(Reading.received_at.desc(), Reading.measured_at.desc())
            .limit(1)
        ).first()  # fmt: skip
        if row is None:
            yield StopReading(s, None, None, None, "", "", 0)
        else:
            yield StopReading(s, row[0], int(row[1]), int(row[2]), str(row[3] or ""), str(row[4] or ""), int(row[5] or 0))
