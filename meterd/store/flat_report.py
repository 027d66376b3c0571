"""What `meterd report` tells of a flat: its readings over the last months (the latest per meter, with a
prepaid meter's credit and bits), and its use per month and medium, as a tenant sees them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, select

from meterd.store.ingest import TimeWindow
from meterd.store.models import Premises, Reading
from meterd.store.prepaid import PrepaidState, latest_state
from meterd.store.queries import BookedReading, premises_readings, usage

MONTH_S = 31 * 86400


@dataclass(frozen=True)
class MeterLatest:
    reading: BookedReading
    prepaid: tuple[PrepaidState, int] | None  # a prepaid meter's last state and its time


@dataclass(frozen=True)
class MonthUse:
    start: int
    end: int
    m3: dict[str, float]  # medium → use in the month


@dataclass(frozen=True)
class FlatReport:
    code: str
    readings: int  # booked to the flat in the period
    meters: list[MeterLatest]  # by serial
    months: list[MonthUse]
    media: list[str]


def flat_reports(conn: Connection, codes: list[str] | None, months: int) -> list[FlatReport]:
    """The flats (all when `codes` is None or empty) over the `months` before the newest reading."""
    window = TimeWindow.around(int(time.time()))
    chosen = codes or list(conn.execute(select(Premises.code).order_by(Premises.code)).scalars())
    newest = conn.execute(
        select(Reading.measured_at).where(Reading.measured_at <= window.latest).order_by(Reading.measured_at.desc()).limit(1)
    ).scalar()
    end = int(newest) + 1 if newest else int(time.time())
    start = end - months * MONTH_S
    out = []
    for code in chosen:
        readings = premises_readings(conn, code, start, end)
        latest = {r.meter_id: r for r in readings}
        meters = [MeterLatest(r, latest_state(conn, serial)) for serial, r in sorted(latest.items())]
        use = usage(conn, code, start, end, "month")
        media = sorted(use.m3)
        rows = [MonthUse(int(use.edges[i]), int(use.edges[i + 1]), {m: round(float(use.m3[m][i]), 6) for m in media})
                for i in range(use.edges.size - 1)]  # fmt: skip
        out.append(FlatReport(code, len(readings), meters, rows, media))
    return out
