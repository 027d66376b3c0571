"""Inputs and outputs of the checks: readings and meters as arrays, findings as rows.

Times are int64 seconds since the Unix epoch (UTC); volumes float64 m3 (NaN = unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from meterd.validate.flags import NAMES as FLAG_NAMES
from meterd.wmbus.alarms import ALARM_NAMES

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

ALARM_BITS = {name: 1 << i for i, name in enumerate(ALARM_NAMES)}
FLAGS = FLAG_NAMES  # building_silent is a finding of a building (its meter index is -1 - building)
SEVERITIES = ("info", "warning", "critical")


def alarm_names(mask: int) -> list[str]:
    """The alarm names of a bit mask (the inverse of alarm_mask)."""
    return [name for name, bit in ALARM_BITS.items() if mask & bit]


def alarm_mask(names: list[str] | tuple[str, ...]) -> int:
    mask = 0
    for name in names:
        mask |= ALARM_BITS.get(name, 0)
    return mask


@dataclass
class Readings:
    """Readings of many meters: row i is meter `meter[i]` (index into Meters) at time `t[i]`."""

    meter: npt.NDArray[np.int32]
    t: I64
    volume: F64
    alarms: npt.NDArray[np.uint16] | None = None  # bit i = ALARM_NAMES[i]
    received: I64 | None = None  # int64 seconds; missing = no receive time

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class Meters:
    """Per meter (index = position): its id and what the checks need to know about it."""

    ids: list[str]
    q3: F64  # nominal flow, m3/h
    building: npt.NDArray[np.int32]  # -1 = unknown
    medium: npt.NDArray[np.int8]  # 0 cold water, 1 warm water
    schedule: list[str] = field(default_factory=list)  # "" = always active
    premises: list[str] = field(default_factory=list)
    building_names: dict[int, str] = field(default_factory=dict)  # building index → its code

    def building_name(self, b: int) -> str:
        return self.building_names.get(b, str(b))

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def for_ids(cls, ids: list[str], q3: float = 2.5) -> Meters:
        n = len(ids)
        return cls(
            list(ids),
            np.full(n, q3),
            np.full(n, -1, dtype=np.int32),
            np.zeros(n, dtype=np.int8),
            [""] * n,
            [""] * n,
        )


class Thresholds(BaseModel):
    """Limits of the checks; one set per meter class (medium), tunable in config."""

    model_config = ConfigDict(extra="forbid")

    q4_factor: float = Field(1.25, description="overload flow Q4 = factor × Q3 (MID: Q4/Q3 = 1.25)")
    resolution_m3: float = Field(0.001, description="register resolution; smaller changes are noise")
    backflow_tolerance_m3: float = 0.002
    reset_fraction: float = Field(0.5, description="a drop of more than this part of the register is a reset/swap")
    reset_max_new_m3: float = Field(5.0, description="a reset/swapped register restarts near zero")
    leak_window_h: float = 24.0
    leak_max_interval_h: float = Field(
        1.5, description="longer intervals cannot show a break in the flow (meters do not send exactly hourly)"
    )
    night_start_h: int = 2
    night_end_h: int = 5
    night_min_flow_m3h: float = Field(0.012, description="lowest night flow above this is a leak (12 l/h)")
    night_leak_nights: int = Field(2, description="nights in a row the night minimum must exceed it")
    burst_flow_factor: float = Field(0.6, description="flow ≥ factor × Q3 over a short period is a burst")
    burst_max_interval_h: float = 2.0
    stuck_window_d: float = 10.0
    stuck_max_m3_per_day: float = Field(0.005, description="over intervals of days, less than this a day is standing still")
    outlier_z: float = 3.5
    outlier_min_group: int = 5
    outlier_min_abs_m3: float = Field(1.0, description="over a month; per day of data it is this / 30")
    outlier_min_ratio: float = Field(5.0, description="and at least this many times the median: a household of five, thrifty or not, can use up to four times a usual flat")
    missing_grace_h: float = Field(6.0, description="silence beyond this much expected-activity time is missing data")
    missing_interval_factor: float = 3.0
    skew_future_s: float = 600.0
    skew_behind_h: float = 48.0


class CheckConfig(BaseModel):
    cold: Thresholds = Thresholds()
    warm: Thresholds = Thresholds(night_min_flow_m3h=0.006, burst_flow_factor=0.5)

    def for_medium(self, medium: int) -> Thresholds:
        return self.warm if medium == 1 else self.cold


@dataclass
class Findings:
    """Findings as parallel lists (few compared with readings); `value`/`limit` feed the reason texts."""

    meter: list[int] = field(default_factory=list)
    flag: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    limit: list[float] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)

    def add_many(
        self,
        flag: str,
        severity: str | list[str],
        meter: npt.NDArray[np.integer],
        start: I64,
        end: I64,
        value: F64 | None = None,
        limit: F64 | float | None = None,
        detail: list[str] | str = "",
    ) -> None:
        n = len(meter)
        if n == 0:
            return
        self.meter += meter.astype(np.int64).tolist()
        self.flag += [flag] * n
        self.severity += severity if isinstance(severity, list) else [severity] * n
        self.start += np.asarray(start, dtype=np.int64).tolist()
        self.end += np.asarray(end, dtype=np.int64).tolist()
        self.value += (np.asarray(value, dtype=np.float64) if value is not None else np.full(n, np.nan)).tolist()
        lim = np.broadcast_to(np.asarray(limit if limit is not None else np.nan, dtype=np.float64), (n,))
        self.limit += lim.tolist()
        self.detail += detail if isinstance(detail, list) else [detail] * n

    def __len__(self) -> int:
        return len(self.flag)

    def extend(self, other: Findings) -> None:
        for name in ("meter", "flag", "severity", "start", "end", "value", "limit", "detail"):
            getattr(self, name).extend(getattr(other, name))

    def where(self, keep: list[bool]) -> Findings:
        """The findings for which keep is True."""
        out = Findings()
        for name in ("meter", "flag", "severity", "start", "end", "value", "limit", "detail"):
            setattr(out, name, [x for x, k in zip(getattr(self, name), keep, strict=True) if k])
        return out


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
