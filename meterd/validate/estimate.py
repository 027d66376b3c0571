"""Estimating a register value at a cut-off date when no reading falls on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from meterd.validate.checks import prepare
from meterd.validate.model import Readings


@dataclass
class Estimates:
    """Per meter: value at the cut-off, and how it was obtained."""

    meter: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]
    method: list[str]  # "reading" (exact), "interpolated", "extrapolated", "none"

    @property
    def estimated(self) -> npt.NDArray[np.bool_]:
        return np.array([m in ("interpolated", "extrapolated") for m in self.method], dtype=bool)


def estimate_at(
    readings: Readings, meters: npt.NDArray[np.int32], cutoff: int, history_days: float = 90.0
) -> Estimates:
    """Linear between the readings either side of the cut-off; with readings on one side only, the
    last reading plus the meter's typical daily use (over `history_days`) times the days to the cut-off."""
    p = prepare(readings)
    key = (p.meter.astype(np.int64) << 34) + p.t
    q = (meters.astype(np.int64) << 34) + cutoff
    after = np.searchsorted(key, q, side="left")  # first reading at or after the cut-off
    n = len(key)
    has_after = (
        (after < n) & (np.take(p.meter, np.minimum(after, n - 1), mode="clip") == meters)
        if n
        else np.zeros(len(meters), bool)
    )
    exact = has_after & (np.take(p.t, np.minimum(after, n - 1)) == cutoff) if n else has_after
    before = after - 1
    has_before = (
        (before >= 0) & (np.take(p.meter, np.maximum(before, 0)) == meters) if n else np.zeros(len(meters), bool)
    )
    value = np.full(len(meters), np.nan)
    method = ["none"] * len(meters)
    if n == 0:
        return Estimates(meters, value, method)
    a, b = np.maximum(before, 0), np.minimum(after, n - 1)
    ta, tb, va, vb = p.t[a], p.t[b], p.v[a], p.v[b]
    both = has_before & has_after & ~exact
    with np.errstate(invalid="ignore", divide="ignore"):
        interp = va + (vb - va) * (cutoff - ta) / np.where(tb > ta, tb - ta, 1)
    value = np.where(exact, vb, np.where(both, interp, np.nan))
    # one side only: typical daily use from the meter's own history
    lone = (has_before ^ has_after) & ~exact
    for j in np.flatnonzero(lone):
        side = a[j] if has_before[j] else b[j]
        lo = np.searchsorted(key, (int(meters[j]) << 34) + p.t[side] - int(history_days * 86400), side="left")
        hi = np.searchsorted(key, (int(meters[j]) << 34) + p.t[side] + int(history_days * 86400), side="right")
        rows = np.arange(lo, hi)
        if rows.size >= 2 and p.t[rows[-1]] > p.t[rows[0]]:
            daily = max(0.0, (p.v[rows[-1]] - p.v[rows[0]]) / ((p.t[rows[-1]] - p.t[rows[0]]) / 86400))
        else:
            daily = 0.0
        value[j] = p.v[side] + daily * (cutoff - p.t[side]) / 86400
        method[j] = "extrapolated"
    for j in np.flatnonzero(exact):
        method[j] = "reading"
    for j in np.flatnonzero(both):
        method[j] = "interpolated"
    return Estimates(meters, value, method)
