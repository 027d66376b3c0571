"""The checks on realistic data (meterd.validate.synthetic: night lows, hot-water meters, holidays, partial
months, a clock two days ahead, stuck meters that keep sending and that fall silent): every flag finds
every injected anomaly (recall 1.0) and is rarely wrong (precision ≥ 0.9)."""

from __future__ import annotations

import numpy as np
import pytest

from meterd.validate import Meters, Readings, findings_as_dicts, run_checks
from meterd.validate import synthetic as realistic


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_flag_recall_one_precision_ninety(seed: int) -> None:
    data = realistic.make(seed=seed)
    rows = findings_as_dicts(run_checks(data.readings, data.meters, now=data.now), data.meters)
    for flag, (recall, precision) in realistic.score(rows, data.truth).items():
        assert recall == 1.0 and precision >= 0.9, (flag, recall, precision)


def test_one_clock_ahead_moves_nobody_elses_present() -> None:
    """A meter whose clock runs two days ahead is clock_skew, and nothing else: the others are not
    'missing' for 48 h, and its own readings stay out of the other checks."""
    data = realistic.make(days=20, seed=4)
    rows = findings_as_dicts(run_checks(data.readings, data.meters, now=data.now), data.meters)
    (ahead,) = data.truth["clock_skew"]
    assert {r["meter_id"] for r in rows if r["flag"] == "clock_skew"} == {ahead}
    assert not [r for r in rows if r["meter_id"] == ahead and r["flag"] != "clock_skew"]
    silent = {r["meter_id"] for r in rows if r["flag"] == "missing"}
    assert silent <= data.truth["missing"]


def test_the_present_is_the_latest_receive_time_when_there_is_one() -> None:
    t = np.array([0, 3600, 7200, 0, 3600], dtype=np.int64) + 1_780_000_000
    readings = Readings(np.array([0, 0, 0, 1, 1], dtype=np.int32), t, np.array([1.0, 1.0, 1.0, 5.0, 5.0]), None, t + 5)
    meters = Meters.for_ids(["A", "B"])
    rows = findings_as_dicts(run_checks(readings, meters), meters)  # no --now: the latest receipt is the present
    assert [(r["meter_id"], r["flag"]) for r in rows] == []
    later = findings_as_dicts(run_checks(readings, meters, now=int(t.max()) + 30 * 3600), meters)
    assert {(r["meter_id"], r["flag"]) for r in later} == {("A", "missing"), ("B", "missing")}


def test_outliers_count_in_partial_months() -> None:
    """A data set of 18 days across two calendar months: meters using 8× their building's median are
    outliers in both parts, compared per day of data."""
    data = realistic.make(days=18, seed=5)
    rows = findings_as_dicts(run_checks(data.readings, data.meters, now=data.now), data.meters)
    outliers = {r["meter_id"] for r in rows if r["flag"] == "outlier"}
    assert outliers == data.truth["outlier"]
    months = {r["from"][:7] for r in rows if r["flag"] == "outlier"}
    assert len(months) == 2


def test_stuck_whether_it_kept_sending_or_fell_silent() -> None:
    data = realistic.make(days=30, seed=6)
    rows = findings_as_dicts(run_checks(data.readings, data.meters, now=data.now), data.meters)
    stuck = {r["meter_id"] for r in rows if r["flag"] == "stuck"}
    silent = data.truth["missing"]  # the stuck meters that sent nothing meanwhile
    assert stuck == data.truth["stuck"] and silent and silent < stuck


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_town_of_varied_households_outages_and_meters_stuck_to_the_end(seed: int) -> None:
    """Households of one to five tenants, gateway outages of 4-12 h (one building_silent finding each,
    no meter's missing data for those hours), meters stuck until the data ends, and every injected
    anomaly: precision and recall at least 0.95 for every flag."""
    data = realistic.make(seed=seed, town=True)
    rows = findings_as_dicts(run_checks(data.readings, data.meters, now=data.now), data.meters)
    assert data.truth["building_silent"] and data.truth["stuck"]
    for flag, (recall, precision) in realistic.score(rows, data.truth).items():
        assert recall >= 0.95 and precision >= 0.95, (flag, recall, precision)
    silent = [r for r in rows if r["flag"] == "building_silent"]
    assert all(r["meter_id"] is None for r in silent) and len(silent) == len(data.truth["building_silent"])
