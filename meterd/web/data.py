"""What the account view shows of a premises, limited to the account's tenancy periods: readings,
meters with their swap history, monthly or daily use with the same period a year earlier, notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from meterd.reading import iso
from meterd.store.models import Reading
from meterd.store.notices import Notice, premises_notices
from meterd.store.queries import LOCAL, consumption, premises_id, premises_readings, segments

Period = tuple[int, int]


def clip(periods: list[Period], start: int, end: int) -> list[Period]:
    """The parts of [start, end) inside the periods."""
    return [(max(a, start), min(b, end)) for a, b in periods if max(a, start) < min(b, end)]


@dataclass(frozen=True, slots=True)
class ReadingRow:
    meter_id: str
    medium: str
    measured_at: int
    total_m3: float | None
    source: str
    alarms: int

    @property
    def estimated(self) -> bool:
        return self.source == "estimate"


def readings(conn: Connection, code: str, periods: list[Period], start: int, end: int) -> list[ReadingRow]:
    out: list[ReadingRow] = []
    for a, b in clip(periods, start, end):
        out += [ReadingRow(str(r["meter_id"]), str(r["medium"]), int(r["measured_at"]), r["total_m3"],  # type: ignore[call-overload,arg-type]
                           str(r["source"]), int(r["alarms"] or 0)) for r in premises_readings(conn, code, a, b)]  # type: ignore[call-overload]  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class MeterRow:
    meter_id: str
    medium: str
    installed_from: int
    installed_to: int | None  # None: still in the flat
    last_at: int | None
    last_m3: float | None


def meters(conn: Connection, code: str, periods: list[Period], now: int) -> list[MeterRow]:
    """The meters that hung in the flat during the periods (swap history), with the last reading of each
    within them."""
    from meterd.store.queries import FAR_FUTURE

    pid = premises_id(conn, code)
    out: list[MeterRow] = []
    seen: set[tuple[str, int]] = set()
    for a, b in clip(periods, 0, now + 1):
        for whole in segments(conn, pid, 0, FAR_FUTURE):
            lo, hi = max(whole.start, a), min(whole.end, b)
            if lo >= hi or (whole.serial, whole.start) in seen:
                continue
            seen.add((whole.serial, whole.start))
            last = conn.execute(
                select(Reading.measured_at, Reading.total_m3)
                .where(Reading.meter_id == whole.meter_id, Reading.measured_at >= lo, Reading.measured_at < hi)
                .order_by(Reading.measured_at.desc())
                .limit(1)
            ).first()
            out.append(MeterRow(whole.serial, whole.medium, whole.start, None if whole.end >= FAR_FUTURE else whole.end,
                                int(last[0]) if last else None, last[1] if last else None))  # fmt: skip
    out.sort(key=lambda m: (m.medium, m.installed_from))
    return out


@dataclass(frozen=True, slots=True)
class UseRow:
    start: int
    end: int
    m3: dict[str, float]
    year_ago: dict[str, float] | None  # None: a year earlier lies outside the account's periods, or no meter hung there


def year_before(t: int) -> int:
    d = datetime.fromtimestamp(t, LOCAL)
    try:
        return int(d.replace(year=d.year - 1).timestamp())
    except ValueError:  # 29 February
        return int(d.replace(year=d.year - 1, day=28).timestamp())


def use(conn: Connection, code: str, periods: list[Period], start: int, end: int, period: str) -> list[UseRow]:
    """Use per local month or day within the periods, each with the same bucket a year earlier."""
    now_rows = _use(conn, code, periods, start, end, period)
    ago_rows = {r[0]: r for r in _use(conn, code, periods, year_before(start), year_before(end), period)}
    out = []
    for b_start, b_end, m3, inside in now_rows:
        if not inside:
            continue
        ago = ago_rows.get(year_before(b_start))
        out.append(UseRow(b_start, b_end, m3, ago[2] if ago is not None and ago[3] and ago[2] else None))
    return out


def _use(conn: Connection, code: str, periods: list[Period], start: int, end: int,
         period: str) -> list[tuple[int, int, dict[str, float], bool]]:  # fmt: skip
    """(from, to, m3 by medium, overlaps a period) per bucket, summed over the periods."""
    rows: dict[int, tuple[int, int, dict[str, float], bool]] = {}
    # whole periods, not cut to [start, end): a bucket sticking out of the request counts whole
    windows = [(a, b) for a, b in periods if a < end and b > start]
    base = consumption(conn, code, start, end, period, window=windows[0] if windows else (start, start))
    for r in base:
        b0, b1 = int(r["from"]), int(r["to"])  # type: ignore[call-overload]
        inside = any(a < b1 and b > b0 for a, b in windows)
        rows[b0] = (b0, b1, {k: float(v) for k, v in r.items() if k not in ("from", "to")}, inside)  # type: ignore[arg-type]
    for window in windows[1:]:
        for r in consumption(conn, code, start, end, period, window=window):
            b0 = int(r["from"])  # type: ignore[call-overload]
            m3 = rows[b0][2]
            for k, v in r.items():
                if k not in ("from", "to"):
                    m3[k] = round(m3.get(k, 0.0) + float(v), 6)  # type: ignore[arg-type]
    return [rows[k] for k in sorted(rows)]


def notices(conn: Connection, code: str, periods: list[Period], now: int, missing_days: int = 2) -> list[Notice]:
    """Notices of the premises, for a tenancy that holds it now (an ended one sees none)."""
    live = [p for p in periods if p[0] <= now < p[1]]
    if not live:
        return []
    return premises_notices(conn, code, now, missing_days, live[0][0], live[0][1])


def iso_or_none(t: int | None) -> str | None:
    return None if t is None else iso(t)
