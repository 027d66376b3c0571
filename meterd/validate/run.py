"""Running all checks over a batch of readings."""

from __future__ import annotations

import time

import numpy as np

from meterd.validate.checks import (
    check_alarms,
    check_clock_skew,
    check_decreases,
    check_jumps_and_bursts,
    check_leaks,
    check_missing,
    check_outliers,
    check_stuck,
    prepare,
    take,
    without_unknown_volumes,
)
from meterd.validate.model import I64, CheckConfig, Findings, Meters, Readings, iso
from meterd.validate.reasons import reason


def run_checks(
    readings: Readings,
    meters: Meters,
    config: CheckConfig | None = None,
    *,
    as_of: int | None = None,
    now: int | None = None,
    swaps: I64 | None = None,
) -> Findings:
    """All checks. The present is the check's own clock: `now` (to replay old data), else the latest
    receive time when readings carry one, else the system clock; never the newest measurement, which
    one wrong meter clock would move. Readings stamped ahead of it beyond the tolerance are clock_skew
    findings and are left out of every other check. `as_of` ends the missing-data window (default:
    the present); `swaps` are (meter, time) rows."""
    config = config or CheckConfig()
    out = Findings()
    every = prepare(readings)
    if len(every.t) == 0:
        return out
    if now is None:
        received = every.received[every.received > 0] if every.received is not None else None
        now = int(received.max()) if received is not None and received.size else int(time.time())
    check_clock_skew(every, meters, config, out, now)
    tolerance = _future_tolerance(meters, config)[every.meter]
    ahead = every.t > now + tolerance
    if every.received is not None:  # and readings stamped ahead of their own receipt
        ahead |= (every.received > 0) & (every.t - every.received > tolerance)
    if ahead.any():
        every = take(every, ~ahead)
        if len(every.t) == 0:
            return out
    p = without_unknown_volumes(every)
    if len(p.t):
        check_decreases(p, meters, config, out, swaps)
        check_jumps_and_bursts(p, meters, config, out)
        check_leaks(p, meters, config, out)
        check_stuck(p, meters, config, out)
        check_outliers(p, meters, config, out, explained=out)
    check_missing(every, meters, config, out, as_of if as_of is not None else now)
    check_alarms(every, meters, out)
    # a meter whose clock is days off has its times wrong: its gaps say nothing of missing data
    skewed = {m for m, f in zip(out.meter, out.flag, strict=True) if f == "clock_skew"}
    if skewed:
        out = out.where([not (f == "missing" and m in skewed) for m, f in zip(out.meter, out.flag, strict=True)])
    return out


def _future_tolerance(meters: Meters, config: CheckConfig) -> np.ndarray:
    return np.where(meters.medium == 1, config.warm.skew_future_s, config.cold.skew_future_s).astype(np.int64)


def findings_as_dicts(findings: Findings, meters: Meters, lang: str = "en") -> list[dict[str, object]]:
    """Finding objects (docs/interfaces.md, `meterd check`), ordered by meter, start and flag."""
    if not len(findings):
        return []
    # a building's finding (meter index -1 - building) sorts before every meter's, by its building
    keys = [meters.ids[m] if m >= 0 else "" for m in findings.meter]
    places = [meters.building_name(-1 - m) if m < 0 else "" for m in findings.meter]
    order = np.lexsort((findings.flag, findings.start, places, keys))
    rows: list[dict[str, object]] = []
    for i in order:
        m = findings.meter[i]
        row: dict[str, object] = {"meter_id": meters.ids[m] if m >= 0 else None}
        if m < 0:
            row["building_id"] = meters.building_name(-1 - m)
        row.update({
            "flag": findings.flag[i],
            "severity": findings.severity[i],
            "from": iso(findings.start[i]),
            "to": iso(findings.end[i]),
            "reason": reason(findings.flag[i], findings.detail[i], findings.value[i], findings.limit[i], lang),
        })  # fmt: skip
        rows.append(row)
    return rows
