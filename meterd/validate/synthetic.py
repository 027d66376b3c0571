"""Realistic readings with known anomalies (synthetic), for the validation tests and bench/validate.py.

Flats of several buildings, each with a cold and a hot water meter read hourly over a period that
starts and ends inside calendar months. Households use water mornings and evenings, now and then at
night (a toilet flushed, a late shower on the hot meter), and some go on holiday (both meters idle).
Injected, each on meters of its own: leaks (a steady trickle for days), stuck cold meters (the register
stops for 12 days while the flat's hot water and the building go on; some keep sending the same value,
some send nothing meanwhile), cold meters using 8× their neighbours, and one meter whose clock runs two
days ahead. `truth` names the meters of each flag. Holidays fall only in flats without an injected
anomaly: a stuck meter in an empty flat cannot be told from an empty flat.

`town=True` makes it harder, as a housing manager's data is: households of one to five tenants (use
scaled by the tenants), some stuck meters that stay stuck until the data ends, and gateway outages
(every meter of a building silent for 4-12 h at once, `truth["building_silent"]` names the buildings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from meterd.validate import Meters, Readings

T0 = int(datetime(2026, 10, 20, 7, tzinfo=UTC).timestamp())  # so that any period starts and ends inside a month
HOUR = 3600


@dataclass
class Dataset:
    readings: Readings
    meters: Meters
    now: int
    truth: dict[str, set[str]] = field(default_factory=dict)


def household(rng: np.random.Generator, hours: np.ndarray, hot: bool) -> np.ndarray:
    """m3 per hour: mornings and evenings, a little at night now and then."""
    hod = (hours // HOUR) % 24
    busy = ((hod >= 5) & (hod < 8)) | ((hod >= 16) & (hod < 22))
    scale = 0.5 if hot else 1.0
    day_use = rng.choice(np.array([0.0, 0.0, 0.005, 0.015, 0.04]), size=hours.size) * scale
    night = (hod < 5) | (hod >= 22)
    night_use = np.where(rng.random(hours.size) < (0.03 if hot else 0.05), 0.004 * scale, 0.0)
    return np.where(busy, day_use, np.where(night, night_use, day_use * 0.3))


def make(flats: int = 200, buildings: int = 10, days: int = 45, seed: int = 11, town: bool = False) -> Dataset:
    rng = np.random.default_rng(seed)
    hours = np.arange(T0, T0 + days * 86400, HOUR, dtype=np.int64)
    ids: list[str] = []
    building: list[int] = []
    medium: list[int] = []
    premises: list[str] = []
    meter_idx: list[np.ndarray] = []
    times: list[np.ndarray] = []
    volumes: list[np.ndarray] = []
    flags = ("leak", "stuck", "outlier", "clock_skew", "missing", "backflow", "jump", "burst", "counter_reset")
    truth: dict[str, set[str]] = {flag: set() for flag in flags}
    n_leak, n_stuck, n_outlier = 10, 10, 10
    outages: dict[int, tuple[int, int]] = {}  # building → hours [from, to) its gateway was out
    if town:
        truth["building_silent"] = set()
        for bldg in range(0, buildings, 3):  # every third building loses its gateway once
            start = int(rng.integers(2 * 24, (days - 3) * 24))
            outages[bldg] = (start, start + int(rng.integers(4, 13)))
            truth["building_silent"].add(f"B{bldg}")
    for f in range(flats):
        tenants = int(rng.integers(1, 6)) if town else 3
        vacation = np.zeros(hours.size, dtype=bool)
        last_injected = n_leak + n_stuck + n_outlier + (4 if town else 0)
        ordinary = f > last_injected  # holidays only where nothing is injected: a stuck meter
        if rng.random() < 0.12 and ordinary:  # in an empty flat looks exactly like an empty flat
            start = int(rng.integers(0, days - 16)) * 24
            vacation[start : start + int(rng.integers(5, 16)) * 24] = True
        for hot in (False, True):
            m = len(ids)
            ids.append(f"{70_000_000 + m}")
            building.append(f % buildings)
            medium.append(1 if hot else 0)
            premises.append(f"F{f}")
            use = np.where(vacation, 0.0, household(rng, hours, hot)) * (tenants / 3)
            t = hours + rng.integers(0, 300, hours.size)  # the meters do not all send on the hour
            keep = np.ones(hours.size, dtype=bool)
            if not hot and f < n_leak:
                start = int(rng.integers(3, max(4, days - 8))) * 24
                use[start:] += rng.uniform(0.005, 0.01)
                truth["leak"].add(ids[m])
            elif not hot and n_leak <= f < n_leak + n_stuck:
                start = int(rng.integers(3, max(4, days - 14))) * 24
                to_end = town and f % 3 == 0  # stuck until the data ends (and sending: else it is just silent)
                if to_end:
                    start = (days - 12) * 24
                use[start : start + 12 * 24] = 0.0
                if f % 2 and not to_end:  # sends nothing while stuck: missing data as well
                    keep[start + 1 : start + 12 * 24] = False
                    truth["missing"].add(ids[m])
                truth["stuck"].add(ids[m])
            elif not hot and n_leak + n_stuck <= f < n_leak + n_stuck + n_outlier:
                use *= 8.0 * 3 / tenants  # eight times a usual flat, whatever this one's tenants
                truth["outlier"].add(ids[m])
            elif not hot and f == n_leak + n_stuck + n_outlier:
                t = t + 2 * 86400
                truth["clock_skew"].add(ids[m])
            if f % buildings in outages:
                a, z = outages[f % buildings]
                keep[a:z] = False
            v = 20.0 + 10.0 * rng.random() + np.cumsum(use)
            at = int(rng.integers(5 * 24, (days - 5) * 24)) if town else 0
            first = n_leak + n_stuck + n_outlier + 1  # town: one flat each of backflow, jump, burst, reset
            if town and not hot and f == first:
                v[at:] -= 0.05  # water pushed back through the meter
                truth["backflow"].add(ids[m])
            elif town and not hot and f == first + 1:
                v[at:] += 50.0  # more than the meter can pass in an hour: a fault, not use
                truth["jump"].add(ids[m])
            elif town and not hot and f == first + 2:
                v[at:] += 2.0  # 2 m3 in an hour: a burst pipe
                truth["burst"].add(ids[m])
            elif town and not hot and f == first + 3:
                v[at:] -= v[at - 1] - 0.01  # the register starts again near zero
                truth["counter_reset"].add(ids[m])
            meter_idx.append(np.full(int(keep.sum()), m, dtype=np.int32))
            times.append(t[keep])
            volumes.append(np.round(v[keep], 3))
    meters = Meters(
        ids,
        np.full(len(ids), 2.5),
        np.array(building, dtype=np.int32),
        np.array(medium, dtype=np.int8),
        [""] * len(ids),
        premises,
        {b: f"B{b}" for b in range(buildings)},
    )
    readings = Readings(np.concatenate(meter_idx), np.concatenate(times), np.concatenate(volumes), None, None)
    now = int(hours[-1]) + 1800
    return Dataset(readings, meters, now, truth)


def score(found: list[dict[str, object]], truth: dict[str, set[str]]) -> dict[str, tuple[float, float]]:
    """flag → (recall, precision) over meters; a flag with nothing injected must find nothing."""
    out = {}
    for flag, expected in truth.items():
        key = "building_id" if flag == "building_silent" else "meter_id"  # a building's finding names it
        got = {str(f[key]) for f in found if f["flag"] == flag}
        hit = len(got & expected)
        out[flag] = (hit / len(expected) if expected else 1.0, hit / len(got) if got else 1.0)
    return out
