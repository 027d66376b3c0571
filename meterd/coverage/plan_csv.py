"""A planned walk as the route CSV that `meterd route import` takes (and billing's tools read)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from meterd.spreadsheet import Dialect
    from meterd.store.hearings import PlannedStop

PLAN_COLUMNS = ("route_id", "order", "premises_id", "address", "meter_id", "medium", "previous_reading",
                "previous_date", "manufacturer", "building_id")  # fmt: skip


def plan_code(now: int) -> str:
    """A planned route's id when none is given: `plan-YYYY-MM-DD` of the local day."""
    from datetime import datetime

    return f"plan-{datetime.fromtimestamp(now).strftime('%Y-%m-%d')}"


def write_plan(f: IO[str], code: str, stops: Sequence[PlannedStop], sheet: Dialect) -> None:
    """The route's rows, numbered in walking order; the previous reading's date as YYYY-MM-DD."""
    w = sheet.writer(f)
    w.writerow(PLAN_COLUMNS)
    for order, s in enumerate(stops, start=1):
        m = s.meter
        day = "" if s.previous_at is None else sheet.time(s.previous_at)[:10]
        w.writerow((code, order, m.premises, m.address, m.serial, m.medium, sheet.number(s.previous_reading), day,
                    m.manufacturer, m.building))  # fmt: skip
