"""What the account view and billing ask of the store.

Readings are booked to a flat through the assignment valid at their time, so a swapped meter's
readings never land in the wrong flat, and consumption is summed per meter: the new meter's
starting value is never mistaken for use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, bindparam, func, literal, select, text, tuple_

from meterd.errors import MeterdError
from meterd.ids import parse_meter_ref
from meterd.store.models import Assignment, Building, Meter, Premises, Reading

LOCAL = ZoneInfo("Europe/Warsaw")
FAR_FUTURE = 2**62


class NotFound(MeterdError):
    code = "not_found"


@dataclass(frozen=True)
class Segment:
    """One meter in one flat over [start, end)."""

    meter_id: int
    serial: str
    medium: str
    start: int
    end: int


# the statements the account view runs on every request, built once (bound parameters): building a
# SQLAlchemy expression costs more than running the query it makes
_PREMISES_ID = select(Premises.id).where(Premises.code == bindparam("code"))
_SEGMENTS = (
    select(Assignment.meter_id, Meter.serial, Meter.medium, Assignment.valid_from, Assignment.valid_to)
    .join(Meter, Meter.id == Assignment.meter_id)
    .where(Assignment.premises_id == bindparam("pid"))
    .where(Assignment.valid_from < bindparam("end"))
    .where((Assignment.valid_to.is_(None)) | (Assignment.valid_to > bindparam("start")))
    .order_by(Assignment.valid_from)
)
_READINGS = (
    select(Reading.measured_at, Reading.total_m3, Reading.source, Reading.alarms)
    .where(Reading.meter_id == bindparam("mid"))
    .where(Reading.measured_at >= bindparam("start"), Reading.measured_at < bindparam("end"))
    .order_by(Reading.measured_at)
)
_SERIES = (
    select(Reading.measured_at, Reading.total_m3)
    .where(Reading.meter_id == bindparam("mid"))
    .where(Reading.measured_at >= bindparam("start"), Reading.measured_at < bindparam("end"))
    .where(Reading.total_m3.is_not(None))
    .order_by(Reading.measured_at)
)


def premises_id(conn: Connection, code: str) -> int:
    pid = conn.execute(_PREMISES_ID, {"code": code}).scalar()
    if pid is None:
        raise NotFound(f"no premises {code!r}")
    return int(pid)


def segments(conn: Connection, pid: int, start: int, end: int) -> list[Segment]:
    rows = conn.execute(_SEGMENTS, {"pid": pid, "start": start, "end": end}).all()
    return [
        Segment(r[0], r[1], r[2], max(r[3], start), min(r[4] if r[4] is not None else FAR_FUTURE, end)) for r in rows
    ]


@dataclass(frozen=True, slots=True)
class BookedReading:
    """A reading booked to a flat (through the meter that hung there at its time)."""

    meter_id: str  # the meter's serial
    medium: str
    measured_at: int
    total_m3: float | None
    source: str
    alarms: int

    @property
    def estimated(self) -> bool:
        return self.source == "estimate"


def premises_readings(conn: Connection, code: str, start: int, end: int) -> list[BookedReading]:
    """Readings booked to the flat in [start, end), oldest first."""
    out: list[BookedReading] = []
    for seg in segments(conn, premises_id(conn, code), start, end):
        rows = conn.execute(_READINGS, {"mid": seg.meter_id, "start": seg.start, "end": seg.end}).all()
        out += [BookedReading(seg.serial, seg.medium, int(r[0]), r[1], str(r[2] or ""), int(r[3] or 0)) for r in rows]
    out.sort(key=lambda r: (r.measured_at, r.meter_id))
    return out


def _series(conn: Connection, seg: Segment) -> tuple[np.ndarray, np.ndarray]:
    """The meter's readings inside its assignment; the register made monotonic (resets do not count)."""
    rows = conn.execute(_SERIES, {"mid": seg.meter_id, "start": seg.start, "end": seg.end}).all()
    t = np.array([r[0] for r in rows], dtype=np.int64)
    v = np.array([r[1] for r in rows], dtype=np.float64)
    if v.size > 1:
        v = v[0] + np.concatenate([[0.0], np.cumsum(np.maximum(np.diff(v), 0.0))])
    return t, v


def bucket_edges(start: int, end: int, period: str, tz: ZoneInfo = LOCAL) -> list[int]:
    """Epoch seconds of local day or month starts covering [start, end]."""
    if period not in ("day", "month"):
        raise MeterdError(f"period must be day or month, not {period!r}")
    first = datetime.fromtimestamp(start, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        first = first.replace(day=1)
    edges = []
    cur = first
    while True:
        edges.append(int(cur.timestamp()))
        if edges[-1] >= end:
            break
        if period == "day":
            cur = (cur + timedelta(days=1, hours=2)).replace(hour=0)
        else:
            cur = (cur.replace(day=28) + timedelta(days=4)).replace(day=1)
    return edges


@dataclass(frozen=True)
class Usage:
    """Use per bucket [edges[i], edges[i + 1]) and medium, and the span of the readings it came from."""

    edges: np.ndarray  # int64 epoch seconds, local day or month starts
    m3: dict[str, np.ndarray]  # medium → use per bucket
    first: int | None  # the first and last reading that counted
    last: int | None
    firsts: dict[str, int]  # medium → its first reading that counted


def usage(conn: Connection, code: str, start: int, end: int, period: str = "month",
          window: tuple[int, int] | None = None) -> Usage:  # fmt: skip
    """Use per local day or month and medium, summed over the meters that hung in the flat; with a
    window (a tenancy), only the use inside it counts."""
    edges = np.array(bucket_edges(start, end, period), dtype=np.int64)
    totals: dict[str, np.ndarray] = {}
    lo, hi = window if window is not None else (int(edges[0]), int(edges[-1]))
    first: int | None = None
    last: int | None = None
    firsts: dict[str, int] = {}
    for whole in segments(conn, premises_id(conn, code), max(int(edges[0]), lo), min(int(edges[-1]), hi)):
        seg = Segment(whole.meter_id, whole.serial, whole.medium, max(whole.start, lo), min(whole.end, hi))
        t, v = _series(conn, seg)
        if t.size:
            first = int(t[0]) if first is None else min(first, int(t[0]))
            last = int(t[-1]) if last is None else max(last, int(t[-1]))
            firsts[seg.medium] = min(firsts.get(seg.medium, int(t[0])), int(t[0]))
        if t.size < 2:
            continue
        # register at each bucket edge clipped to the segment; np.interp holds the ends flat
        at = np.interp(np.clip(edges, seg.start, seg.end).astype(np.float64), t.astype(np.float64), v)
        totals.setdefault(seg.medium, np.zeros(edges.size - 1))
        totals[seg.medium] += np.diff(at)
    return Usage(edges, totals, first, last, firsts)


def consumption(conn: Connection, code: str, start: int, end: int, period: str = "month",
                window: tuple[int, int] | None = None) -> list[dict[str, object]]:  # fmt: skip
    """`usage` as rows: {"from", "to", medium: m3, ...} per bucket."""
    use = usage(conn, code, start, end, period, window)
    out = []
    for i in range(use.edges.size - 1):
        row: dict[str, object] = {"from": int(use.edges[i]), "to": int(use.edges[i + 1])}
        for medium, values in sorted(use.m3.items()):
            row[medium] = round(float(values[i]), 6)
        out.append(row)
    return out


def reading_at(conn: Connection, code: str, cutoff: int, interpolate: bool = False) -> list[dict[str, object]]:
    """Per meter hanging in the flat at the cut-off: the last reading before it, or interpolated."""
    out = []
    for seg in segments(conn, premises_id(conn, code), cutoff, cutoff + 1):
        before = conn.execute(
            select(Reading.measured_at, Reading.total_m3)
            .where(Reading.meter_id == seg.meter_id, Reading.measured_at <= cutoff, Reading.total_m3.is_not(None))
            .order_by(Reading.measured_at.desc())
            .limit(1)
        ).first()
        after = conn.execute(
            select(Reading.measured_at, Reading.total_m3)
            .where(Reading.meter_id == seg.meter_id, Reading.measured_at > cutoff, Reading.total_m3.is_not(None))
            .order_by(Reading.measured_at)
            .limit(1)
        ).first()
        row: dict[str, object] = {"meter_id": seg.serial, "medium": seg.medium, "cutoff": cutoff}
        if before is not None and before[0] == cutoff:
            row.update(total_m3=before[1], measured_at=before[0], method="reading")
        elif interpolate and before is not None and after is not None:
            frac = (cutoff - before[0]) / (after[0] - before[0])
            v0, v1 = float(before[1] or 0.0), float(after[1] or 0.0)  # both queries ask total_m3 IS NOT NULL
            row.update(total_m3=round(v0 + (v1 - v0) * frac, 3), measured_at=cutoff, method="interpolated")
        elif before is not None:
            row.update(total_m3=before[1], measured_at=before[0], method="last_before")
        else:
            row.update(total_m3=None, measured_at=None, method="none")
        out.append(row)
    return out


def silent_meters(conn: Connection, since: int) -> list[dict[str, object]]:
    """Meters hanging in a flat now whose newest reading is older than `since` (or that never sent one)."""
    last = select(Reading.meter_id, func.max(Reading.measured_at).label("last")).group_by(Reading.meter_id).subquery()
    rows = conn.execute(
        select(Meter.serial, Premises.code, last.c.last)
        .join(Assignment, (Assignment.meter_id == Meter.id) & Assignment.valid_to.is_(None))
        .join(Premises, Premises.id == Assignment.premises_id)
        .outerjoin(last, last.c.meter_id == Meter.id)
        .where((last.c.last.is_(None)) | (last.c.last < since))
        .order_by(Meter.serial)
    ).all()
    return [{"meter_id": r[0], "premises_id": r[1], "last_reading_at": r[2]} for r in rows]


def export_billing(conn: Connection, cutoff: int, out: IO[str], interpolate: bool = True, sheet: Any = None) -> int:
    """CSV per premises and meter with the reading at the cut-off; keys and other secrets never appear.
    `sheet`: the spreadsheet dialect (meterd.spreadsheet; default plain)."""
    from meterd.spreadsheet import dialect

    sheet = sheet or dialect("plain")
    writer = sheet.writer(out)
    writer.writerow(
        ["premises_id", "address", "building", "meter_id", "medium", "cutoff", "total_m3", "measured_at", "method"]
    )
    count = 0
    premises = conn.execute(
        select(Premises.code, Premises.address, Building.code)
        .join(Building, Building.id == Premises.building_id)
        .order_by(Premises.code)
    ).all()
    for code, address, building in premises:
        for r in reading_at(conn, code, cutoff, interpolate):
            measured = r["measured_at"]
            total = r["total_m3"]
            writer.writerow(
                [code, address, building, r["meter_id"], r["medium"], sheet.time(cutoff),
                 sheet.number(total) if isinstance(total, int | float) else "",
                 sheet.time(measured) if isinstance(measured, int) else "", r["method"]]
            )  # fmt: skip
            count += 1
    return count


_SUPERSEDED = (
    "FROM readings WHERE measured_at < :c AND EXISTS ("
    " SELECT 1 FROM readings r2 WHERE r2.meter_id = readings.meter_id AND r2.measured_at < :c"
    " AND r2.measured_at / 86400 = readings.measured_at / 86400 AND r2.measured_at > readings.measured_at)"
)


def thin(conn: Connection, raw_before: int | None, detail_before: int | None, *, count_only: bool = False) -> dict[str, int]:
    """Retention: drop raw telegrams older than raw_before; keep one reading per meter and UTC day
    (the day's last) for readings older than detail_before. Daily and monthly values survive.
    `count_only` says how many would go and changes nothing."""
    done = {"telegrams": 0, "readings": 0}
    if raw_before is not None:
        if count_only:
            done["telegrams"] = int(
                conn.execute(text("SELECT count(*) FROM telegrams WHERE received_at < :c"), {"c": raw_before}).scalar() or 0
            )
        else:
            conn.execute(
                text(
                    "UPDATE readings SET telegram_id = NULL"
                    " WHERE telegram_id IN (SELECT id FROM telegrams WHERE received_at < :c)"
                ),
                {"c": raw_before},
            )
            done["telegrams"] = conn.execute(
                text("DELETE FROM telegrams WHERE received_at < :c"), {"c": raw_before}
            ).rowcount
    if detail_before is not None:
        if count_only:
            done["readings"] = int(conn.execute(text("SELECT count(*) " + _SUPERSEDED), {"c": detail_before}).scalar() or 0)
        else:
            done["readings"] = conn.execute(text("DELETE " + _SUPERSEDED), {"c": detail_before}).rowcount
    return done


@dataclass(frozen=True, slots=True)
class StoredReading:
    meter_id: str
    measured_at: int
    received_at: int
    total_m3: float | None
    source: str
    gateway: str
    alarms: int  # bit mask (meterd.validate.model.ALARM_BITS)
    manufacturer: str = ""


def stored_readings(
    conn: Connection, since: int | None = None, until: int | None = None, meter: str | None = None, chunk: int = 10_000
) -> Iterator[StoredReading]:
    """Every stored reading in [since, until), ordered by meter (serial, then maker) and time, read in
    chunks (keyset pagination: a store of millions of readings streams in flat memory). `meter` is a
    serial (of any maker) or `MAKER:SERIAL`."""
    after: tuple[str, str, int] | None = None
    while True:
        q = select(Meter.serial, Reading.measured_at, Reading.received_at, Reading.total_m3, Reading.source,
                   Reading.gateway, Reading.alarms, Meter.manufacturer).join(Meter, Meter.id == Reading.meter_id)  # fmt: skip
        if since is not None:
            q = q.where(Reading.measured_at >= since)
        if until is not None:
            q = q.where(Reading.measured_at < until)
        if meter is not None:
            maker, serial = parse_meter_ref(meter)
            q = q.where(Meter.serial == serial)
            if maker:
                q = q.where(Meter.manufacturer == maker)
        if after is not None:
            q = q.where(tuple_(Meter.serial, Meter.manufacturer, Reading.measured_at)
                        > tuple_(literal(after[0]), literal(after[1]), literal(after[2])))  # fmt: skip
        rows = conn.execute(q.order_by(Meter.serial, Meter.manufacturer, Reading.measured_at).limit(chunk)).all()
        for r in rows:
            yield StoredReading(str(r[0]), int(r[1]), int(r[2]), r[3], str(r[4] or ""), str(r[5] or ""), int(r[6] or 0),
                                str(r[7] or ""))  # fmt: skip
        if len(rows) < chunk:
            return
        after = (str(rows[-1][0]), str(rows[-1][7] or ""), int(rows[-1][1]))


@dataclass(frozen=True, slots=True)
class UnknownMeter:
    serial: str
    manufacturer: str
    readings: int
    first_at: int
    last_at: int
    gateways: str
    register_makers: str = ""  # makers the register lists this serial for (another maker's meter)


def unknown_meters(conn: Connection) -> list[UnknownMeter]:
    """Meters (maker and serial) not in the register whose readings were kept apart, most readings
    first; with the makers the register lists the same serial for (a register naming the wrong maker)."""
    from meterd.store.models import Meter
    from meterd.store.models import UnknownReading as U

    rows = conn.execute(
        select(U.serial, U.manufacturer, func.count(), func.min(U.received_at), func.max(U.received_at))
        .group_by(U.serial, U.manufacturer)
        .order_by(func.count().desc(), U.serial, U.manufacturer)
    ).all()
    makers: dict[str, list[str]] = {}
    serials = sorted({str(r[0]) for r in rows})
    for i in range(0, len(serials), 500):
        for serial, maker in conn.execute(select(Meter.serial, Meter.manufacturer).where(Meter.serial.in_(serials[i : i + 500]))):
            makers.setdefault(serial, []).append(maker or "?")
    out = []
    for serial, manufacturer, n, first, last in rows:
        gateways = conn.execute(
            select(U.gateway).where(U.serial == serial, U.manufacturer == manufacturer).distinct().order_by(U.gateway)
        ).scalars()
        out.append(UnknownMeter(str(serial), str(manufacturer or ""), int(n), int(first), int(last), ",".join(gateways),
                                ",".join(sorted(makers.get(str(serial), [])))))  # fmt: skip
    return out


def first_and_last(conn: Connection, meter_id: int, start: int, end: int | None) -> tuple[Any, Any]:
    """The meter's first and last readings with a total within [start, end): taken in, taken out."""
    base = select(Reading.measured_at, Reading.total_m3).where(
        Reading.meter_id == meter_id, Reading.total_m3.is_not(None), Reading.measured_at >= start,
        Reading.measured_at < (end if end is not None else FAR_FUTURE))  # fmt: skip
    first = conn.execute(base.order_by(Reading.measured_at).limit(1)).first()
    last = conn.execute(base.order_by(Reading.measured_at.desc()).limit(1)).first()
    return first, last
