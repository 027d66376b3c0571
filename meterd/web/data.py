"""What the account view shows of a premises, limited to the account's tenancy periods: readings,
meters with their swap history, monthly or daily use with the same period a year earlier, notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, bindparam, select

from meterd.reading import iso
from meterd.store.models import Reading
from meterd.store.notices import Notice, premises_notices
from meterd.store.queries import LOCAL, BookedReading, premises_id, premises_readings, segments, usage

if TYPE_CHECKING:
    from meterd.store import Store

Period = tuple[int, int]


def clip(periods: list[Period], start: int, end: int) -> list[Period]:
    """The parts of [start, end) inside the periods."""
    return [(max(a, start), min(b, end)) for a, b in periods if max(a, start) < min(b, end)]


def readings(conn: Connection, code: str, periods: list[Period], start: int, end: int) -> list[BookedReading]:
    out: list[BookedReading] = []
    for a, b in clip(periods, start, end):
        out += premises_readings(conn, code, a, b)
    return out


@dataclass(frozen=True, slots=True)
class MeterRow:
    meter_id: str
    medium: str
    installed_from: int
    installed_to: int | None  # None: still in the flat
    last_at: int | None
    last_m3: float | None


_LAST = (
    select(Reading.measured_at, Reading.total_m3)
    .where(Reading.meter_id == bindparam("mid"), Reading.measured_at >= bindparam("start"))
    .where(Reading.measured_at < bindparam("end"))
    .order_by(Reading.measured_at.desc())
    .limit(1)
)


def meters(conn: Connection, code: str, periods: list[Period], now: int) -> list[MeterRow]:
    """The meters that hung in the flat during the periods (swap history), with the last reading of each
    within them."""
    from meterd.store.queries import FAR_FUTURE

    pid = premises_id(conn, code)
    out: list[MeterRow] = []
    seen: set[tuple[str, int]] = set()
    every = segments(conn, pid, 0, FAR_FUTURE)  # the flat's whole history, once
    for a, b in clip(periods, 0, now + 1):
        for whole in every:
            lo, hi = max(whole.start, a), min(whole.end, b)
            if lo >= hi or (whole.serial, whole.start) in seen:
                continue
            seen.add((whole.serial, whole.start))
            last = conn.execute(_LAST, {"mid": whole.meter_id, "start": lo, "end": hi}).first()
            out.append(MeterRow(whole.serial, whole.medium, whole.start, None if whole.end >= FAR_FUTURE else whole.end,
                                int(last[0]) if last else None, last[1] if last else None))  # fmt: skip
    out.sort(key=lambda m: (m.medium, m.installed_from))
    return out


@dataclass(frozen=True, slots=True)
class UseRow:
    start: int
    end: int
    m3: dict[str, float]
    year_ago: dict[str, float] | None  # None: a year earlier lies outside the account's periods, or nothing was read then
    has_data: bool = True  # False: no reading of the flat's meters before or during the bucket (its zero means nothing)


def year_before(t: int) -> int:
    d = datetime.fromtimestamp(t, LOCAL)
    try:
        return int(d.replace(year=d.year - 1).timestamp())
    except ValueError:  # 29 February
        return int(d.replace(year=d.year - 1, day=28).timestamp())


def use(conn: Connection, code: str, periods: list[Period], start: int, end: int, period: str) -> list[UseRow]:
    """Use per local month or day within the periods, each with the same bucket a year earlier (one
    pass over the readings from a year before `start` to `end`)."""
    edges, m3, first, last, firsts = _use(conn, code, periods, year_before(start), end, period)
    index = {int(t): i for i, t in enumerate(edges[:-1])}
    out = []
    for i in range(edges.size - 1):
        b0, b1 = int(edges[i]), int(edges[i + 1])
        if b1 <= start or not clip(periods, b0, b1):
            continue
        now = {k: round(float(v[i]), 6) for k, v in sorted(m3.items())}
        j = index.get(year_before(b0))
        ago = None
        if j is not None and first is not None and int(edges[j + 1]) > first and clip(periods, int(edges[j]), int(edges[j + 1])):
            ago = {k: round(float(v[j]), 6) for k, v in sorted(m3.items()) if firsts[k] < edges[j + 1]} or None
        out.append(UseRow(b0, b1, now, ago, first is not None and last is not None and b1 > first and b0 <= last))
    return out


def _use(conn: Connection, code: str, periods: list[Period], start: int, end: int,
         period: str) -> tuple[np.ndarray, dict[str, np.ndarray], int | None, int | None, dict[str, int]]:  # fmt: skip
    """Bucket edges, use per bucket and medium summed over the periods, first and last reading."""
    # whole periods, not cut to [start, end): a bucket sticking out of the request counts whole
    windows = [(a, b) for a, b in periods if a < end and b > start] or [(start, start)]
    total: dict[str, np.ndarray] = {}
    first: int | None = None
    last: int | None = None
    firsts: dict[str, int] = {}
    edges = np.zeros(0, dtype=np.int64)
    for window in windows:
        u = usage(conn, code, start, end, period, window=window)
        edges = u.edges
        for k, v in u.m3.items():
            total[k] = total[k] + v if k in total else v.copy()
        if u.first is not None:
            first = u.first if first is None else min(first, u.first)
        if u.last is not None:
            last = u.last if last is None else max(last, u.last)
        for k, t in u.firsts.items():
            firsts[k] = min(firsts.get(k, t), t)
    return edges, total, first, last, firsts


def notices(conn: Connection, code: str, periods: list[Period], now: int, missing_days: int = 2) -> list[Notice]:
    """Notices of the premises, for a tenancy that holds it now (an ended one sees none)."""
    live = [p for p in periods if p[0] <= now < p[1]]
    if not live:
        return []
    return premises_notices(conn, code, now, missing_days, live[0][0], live[0][1])


def iso_or_none(t: int | None) -> str | None:
    return None if t is None else iso(t)


def premises_addresses(store: Store, codes: tuple[str, ...]) -> dict[str, str]:
    """The addresses of these premises, by code."""
    from meterd.store.models import Premises

    if not codes:
        return {}
    with store.begin() as conn:
        rows = conn.execute(select(Premises.code, Premises.address).where(Premises.code.in_(codes))).all()
    return {str(c): str(a or "") for c, a in rows}
