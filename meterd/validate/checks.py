"""The anomaly checks, each a few numpy expressions over all readings at once.

Readings are sorted by (meter, time) once; interval i is (row i-1, row i) and exists where both rows
belong to the same meter. Runs of flagged rows or intervals are merged per meter into one finding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from meterd.validate.model import ALARM_BITS, F64, I64, CheckConfig, Findings, Meters, Readings
from meterd.validate.schedule import active_seconds_before, parse_schedule

B = npt.NDArray[np.bool_]
HOUR = 3600.0


@dataclass
class Prepared:
    """Sorted, de-duplicated readings with their intervals and per-row thresholds."""

    meter: npt.NDArray[np.int32]
    t: I64
    v: F64
    same: B  # row i continues the meter of row i-1
    dv: F64  # v[i] - v[i-1] (0 where not same)
    dt: I64  # t[i] - t[i-1] (0 where not same)
    alarms: npt.NDArray[np.uint16] | None
    received: I64 | None


def _param(meters: Meters, config: CheckConfig, name: str) -> F64:
    """One threshold per meter, chosen by its medium."""
    cold, warm = getattr(config.cold, name), getattr(config.warm, name)
    values: F64 = np.where(meters.medium == 1, warm, cold).astype(np.float64)
    return values


def prepare(readings: Readings) -> Prepared:
    meter = readings.meter.astype(np.int32, copy=False)
    t = readings.t.astype(np.int64, copy=False)
    if len(t):
        key = (meter.astype(np.int64) << 34) | (t - t.min())
        if not (key[1:] >= key[:-1]).all():
            order = np.argsort(key, kind="stable")
            meter, t, key = meter[order], t[order], key[order]
            readings = Readings(
                meter,
                t,
                readings.volume[order],
                readings.alarms[order] if readings.alarms is not None else None,
                readings.received[order] if readings.received is not None else None,
            )
        # duplicate timestamps of one meter: the last one given wins
        keep = np.ones(len(t), dtype=bool)
        keep[:-1] = key[1:] != key[:-1]
        if not keep.all():
            meter, t = meter[keep], t[keep]
            readings = Readings(
                meter,
                t,
                readings.volume[keep],
                readings.alarms[keep] if readings.alarms is not None else None,
                readings.received[keep] if readings.received is not None else None,
            )
    return _with_intervals(meter, t, readings.volume.astype(np.float64, copy=False), readings.alarms, readings.received)


def without_unknown_volumes(p: Prepared) -> Prepared:
    """The rows with a volume: volume checks skip readings that carry only alarms or times."""
    known = np.isfinite(p.v)
    if known.all():
        return p
    return _with_intervals(
        p.meter[known],
        p.t[known],
        p.v[known],
        p.alarms[known] if p.alarms is not None else None,
        p.received[known] if p.received is not None else None,
    )


def _with_intervals(
    meter: npt.NDArray[np.int32],
    t: I64,
    v: F64,
    alarms: npt.NDArray[np.uint16] | None,
    received: I64 | None,
) -> Prepared:
    same = np.zeros(len(t), dtype=bool)
    same[1:] = meter[1:] == meter[:-1]
    dv = np.zeros(len(t))
    dv[1:] = v[1:] - v[:-1]
    dt = np.zeros(len(t), dtype=np.int64)
    dt[1:] = t[1:] - t[:-1]
    dv[~same] = 0.0
    dt[~same] = 0
    return Prepared(meter, t, v, same, dv, dt, alarms, received)


def runs(cond: B) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last index of each run of True."""
    padded = np.zeros(len(cond) + 2, dtype=np.int8)
    padded[1:-1] = cond
    d = np.diff(padded)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def check_decreases(p: Prepared, meters: Meters, config: CheckConfig, out: Findings, swaps: I64 | None = None) -> None:
    """Counter went down: backflow, or a reset / swapped meter (known swaps or a drop to near zero)."""
    tol = _param(meters, config, "backflow_tolerance_m3")[p.meter]
    idx = np.flatnonzero(p.same & (p.dv < -tol) & np.isfinite(p.dv))
    if idx.size == 0:
        return
    prev, new = p.v[idx - 1], p.v[idx]
    frac = _param(meters, config, "reset_fraction")[p.meter[idx]]
    max_new = _param(meters, config, "reset_max_new_m3")[p.meter[idx]]
    reset = (-p.dv[idx] > frac * np.abs(prev)) & (new <= max_new)
    swapped = np.zeros(idx.size, dtype=bool)
    if swaps is not None and len(swaps):
        # swaps: rows of (meter, time); a swap inside the interval explains the drop
        sw_key = (swaps[:, 0].astype(np.int64) << 34) + swaps[:, 1]
        sw_key.sort()
        lo = (p.meter[idx].astype(np.int64) << 34) + p.t[idx - 1]
        hi = (p.meter[idx].astype(np.int64) << 34) + p.t[idx]
        swapped = np.searchsorted(sw_key, hi, side="right") > np.searchsorted(sw_key, lo, side="right")
    is_reset = reset | swapped
    r = idx[is_reset]
    severity = np.where(swapped[is_reset], "info", "warning").tolist()
    detail = np.where(swapped[is_reset], "swap", "reset").tolist()
    out.add_many("counter_reset", severity, p.meter[r], p.t[r - 1], p.t[r], p.v[r - 1], p.v[r], detail)
    b = idx[~is_reset]
    out.add_many("backflow", "warning", p.meter[b], p.t[b - 1], p.t[b], -p.dv[b], tol[b])


def check_jumps_and_bursts(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> B:
    """Consumption above what Q4 allows (jump) and very high flow over a short time (burst)."""
    q3 = meters.q3[p.meter]
    hours = p.dt / HOUR
    res = _param(meters, config, "resolution_m3")[p.meter]
    limit = _param(meters, config, "q4_factor")[p.meter] * q3 * hours + res
    jump = p.same & (p.dv > limit)
    j = np.flatnonzero(jump)
    out.add_many("jump", "critical", p.meter[j], p.t[j - 1], p.t[j], p.dv[j], limit[j])
    with np.errstate(divide="ignore", invalid="ignore"):
        flow = np.where(p.dt > 0, p.dv / np.maximum(hours, 1e-9), 0.0)
    burst = (
        p.same
        & ~jump
        & (p.dv > res)
        & (hours <= _param(meters, config, "burst_max_interval_h")[p.meter])
        & (flow >= _param(meters, config, "burst_flow_factor")[p.meter] * q3)
    )
    starts, ends = runs(burst)  # a run never spans meters: `same` is False at a meter's first row
    if starts.size:
        peak = np.maximum.reduceat(flow, starts) if len(flow) else np.zeros(0)
        lim = _param(meters, config, "burst_flow_factor")[p.meter[starts]] * meters.q3[p.meter[starts]]
        out.add_many("burst", "critical", p.meter[starts], p.t[starts - 1], p.t[ends], peak, lim)
    return jump


def check_leaks(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> None:
    """Continuous flow: no interval without consumption for the whole window; and high night minimum flow."""
    res = _param(meters, config, "resolution_m3")[p.meter]
    short = p.dt <= _param(meters, config, "leak_max_interval_h")[p.meter] * HOUR
    flowing = p.same & short & (p.dv >= res * 0.5)
    starts, ends = runs(flowing)
    if starts.size:
        duration = p.t[ends] - p.t[starts - 1]
        window = _param(meters, config, "leak_window_h")[p.meter[starts]] * HOUR
        hit = duration >= window
        s, e = starts[hit], ends[hit]
        if s.size:
            used = p.v[e] - p.v[s - 1]
            rate = used / (duration[hit] / HOUR)
            out.add_many("leak", "critical", p.meter[s], p.t[s - 1], p.t[e], rate, window[hit] / HOUR, "continuous")
    # night minimum flow, per meter and night (intervals whose midpoint falls in the night hours)
    ns, ne = config.cold.night_start_h, config.cold.night_end_h
    mid = p.t - p.dt // 2
    hour = (mid % 86400) // 3600
    night = p.same & short & (p.dt > 0) & (hour >= ns) & (hour < ne)
    idx = np.flatnonzero(night)
    if idx.size == 0:
        return
    day = mid[idx] // 86400
    flow = p.dv[idx] / (p.dt[idx] / HOUR)
    group = (p.meter[idx].astype(np.int64) << 24) + day  # idx is sorted by meter then time
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    min_flow = np.minimum.reduceat(flow, bounds)
    count = np.diff(np.r_[bounds, idx.size])
    g_meter = p.meter[idx[bounds]]
    limit = _param(meters, config, "night_min_flow_m3h")[g_meter]
    leaking = (min_flow > limit) & (count >= 2)
    if not leaking.any():
        return
    # merge consecutive leaking nights of a meter into one finding
    g_day = day[bounds]
    li = np.flatnonzero(leaking)
    new = np.r_[True, (g_meter[li][1:] != g_meter[li][:-1]) | (g_day[li][1:] - g_day[li][:-1] > 1)]
    first = li[new]
    last = li[np.r_[np.flatnonzero(new)[1:] - 1, li.size - 1]]
    worst = np.maximum.reduceat(min_flow[li], np.flatnonzero(new))
    start_t = g_day[first] * 86400 + ns * 3600
    end_t = g_day[last] * 86400 + ne * 3600
    out.add_many("leak", "warning", g_meter[first], start_t, end_t, worst, limit[first], "night_flow")


def check_stuck(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> None:
    """No consumption for a long window while other flats of the building consume."""
    res = _param(meters, config, "resolution_m3")[p.meter]
    idle = p.same & (np.abs(p.dv) < res * 0.5)
    starts, ends = runs(idle)
    if starts.size == 0:
        return
    duration = p.t[ends] - p.t[starts - 1]
    hit = duration >= _param(meters, config, "stuck_window_d")[p.meter[starts]] * 86400
    s, e = starts[hit], ends[hit]
    if s.size == 0:
        return
    # building-days with consumption by anyone (the stuck meter itself consumed nothing in its window)
    building = meters.building[p.meter].astype(np.int64)
    consuming = p.same & (p.dv >= res)
    keys = np.unique((building[consuming] << 20) + (p.t[consuming] // 86400))
    b = building[s]
    first_day = p.t[s - 1] // 86400 + 1
    last_day = p.t[e] // 86400 - 1
    active_days = np.searchsorted(keys, (b << 20) + last_day, side="right") - np.searchsorted(
        keys, (b << 20) + first_day, side="left"
    )
    span = np.maximum(last_day - first_day + 1, 1)
    neighbours = active_days >= np.maximum(1, span // 2)
    s, e = s[neighbours], e[neighbours]
    out.add_many("stuck", "warning", p.meter[s], p.t[s - 1], p.t[e], (p.t[e] - p.t[s - 1]) / 86400.0)


def monthly_consumption(p: Prepared) -> tuple[npt.NDArray[np.int32], I64, F64]:
    """(meter, month index, consumption) from the last reading of each month to that of the next."""
    month = p.t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    group = (p.meter.astype(np.int64) << 24) + month
    last = np.flatnonzero(np.r_[group[1:] != group[:-1], True]) if len(group) else np.zeros(0, dtype=np.intp)
    g_meter, g_month, g_v = p.meter[last], month[last], p.v[last]
    ok = np.r_[False, (g_meter[1:] == g_meter[:-1]) & (g_month[1:] == g_month[:-1] + 1)]
    use = np.r_[0.0, g_v[1:] - g_v[:-1]]
    ok &= use >= 0
    return g_meter[ok], g_month[ok], use[ok]


def check_outliers(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> None:
    """Monthly use far from the building's median for the same medium (median / MAD)."""
    m, month, use = monthly_consumption(p)
    building = meters.building[m].astype(np.int64)
    known = building >= 0
    m, month, use, building = m[known], month[known], use[known], building[known]
    if use.size == 0:
        return
    group = (building << 26) + (meters.medium[m].astype(np.int64) << 24) + month
    order = np.lexsort((use, group))
    g, x, mm, mo = group[order], use[order], m[order], month[order]
    bounds = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[bounds, g.size])
    median = _group_median(x, bounds, counts)
    med_row = np.repeat(median, counts)
    dev = np.abs(x - med_row)
    # MAD: median of deviations within each group
    order2 = np.lexsort((dev, np.repeat(np.arange(bounds.size), counts)))
    mad = _group_median(dev[order2], bounds, counts)
    mean_ad = np.add.reduceat(dev, bounds) / counts
    scale = np.where(mad > 0, mad / 0.6745, mean_ad * 1.253314)
    scale_row = np.repeat(scale, counts)
    th = config.cold
    z_limit = np.repeat(np.where(counts >= th.outlier_min_group, th.outlier_z, np.inf), counts)
    outlier = (scale_row > 0) & (dev > z_limit * scale_row) & (dev >= th.outlier_min_abs_m3)
    i = np.flatnonzero(outlier)
    if i.size == 0:
        return
    start = mo[i].astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    end = (mo[i] + 1).astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    out.add_many("outlier", "info", mm[i], start, end, x[i], med_row[i])


def _group_median(sorted_x: F64, bounds: npt.NDArray[np.intp], counts: npt.NDArray[np.intp]) -> F64:
    lo = bounds + (counts - 1) // 2
    hi = bounds + counts // 2
    result: F64 = (sorted_x[lo] + sorted_x[hi]) / 2.0
    return result


def check_missing(
    p: Prepared, meters: Meters, config: CheckConfig, out: Findings, as_of: int | None = None, since: int | None = None
) -> None:
    """Silence longer than the expected-activity schedule allows (plus grace), incl. meters never heard."""
    n_m = len(meters)
    if as_of is None:
        as_of = int(p.t.max()) if len(p.t) else 0
    # active seconds before each reading, by the meter's schedule
    active = np.zeros(len(p.t), dtype=np.int64)
    schedules = meters.schedule or [""] * n_m
    distinct = sorted(set(schedules))
    sched_of_meter = np.array([distinct.index(s) for s in schedules], dtype=np.int32)
    weeks = [parse_schedule(s) for s in distinct]
    row_sched = sched_of_meter[p.meter]
    for k, week in enumerate(weeks):
        rows = row_sched == k if len(weeks) > 1 else slice(None)
        active[rows] = active_seconds_before(week, p.t[rows])
    gap = np.zeros(len(p.t), dtype=np.int64)
    gap[1:] = active[1:] - active[:-1]
    gap[~p.same] = 0
    # typical interval per meter: mean of the intervals not far above the plain mean (big gaps excluded)
    count = np.bincount(p.meter[p.same], minlength=n_m).astype(np.float64)
    total = np.bincount(p.meter[p.same], weights=gap[p.same], minlength=n_m)
    mean1 = np.divide(total, count, out=np.zeros(n_m), where=count > 0)
    regular = p.same & (gap <= 3 * mean1[p.meter])
    c2 = np.bincount(p.meter[regular], minlength=n_m).astype(np.float64)
    t2 = np.bincount(p.meter[regular], weights=gap[regular], minlength=n_m)
    typical = np.divide(t2, c2, out=mean1.copy(), where=c2 > 0)
    grace = _param(meters, config, "missing_grace_h") * HOUR
    factor = _param(meters, config, "missing_interval_factor")
    allowed = np.maximum(grace, factor * typical)
    i = np.flatnonzero(p.same & (gap > allowed[p.meter]))
    out.add_many("missing", "warning", p.meter[i], p.t[i - 1], p.t[i], gap[i] / HOUR, allowed[p.meter[i]] / HOUR)
    # silence from each meter's last reading to as_of
    if len(p.t):
        last = np.flatnonzero(np.r_[p.meter[1:] != p.meter[:-1], True])
        lm = p.meter[last]
        end_by_schedule = np.array([active_seconds_before(w, np.array([as_of]))[0] for w in weeks], dtype=np.int64)
        end_active = end_by_schedule[sched_of_meter[lm]]
        tail = end_active - active[last]
        hit = tail > allowed[lm]
        out.add_many(
            "missing", "warning", lm[hit], p.t[last][hit], np.full(int(hit.sum()), as_of), tail[hit] / HOUR,
            allowed[lm][hit] / HOUR, "silent",
        )  # fmt: skip
    heard = np.zeros(n_m, dtype=bool)
    heard[p.meter] = True
    never = np.flatnonzero(~heard)
    if never.size and len(p.t):
        start = since if since is not None else int(p.t.min())
        out.add_many(
            "missing", "warning", never, np.full(never.size, start), np.full(never.size, as_of), None, None, "never"
        )


def check_clock_skew(p: Prepared, meters: Meters, config: CheckConfig, out: Findings, now: int) -> None:
    """Measured-at in the future (of receipt, or of now) or far behind the receive time."""
    future_s = _param(meters, config, "skew_future_s")[p.meter]
    behind_s = _param(meters, config, "skew_behind_h")[p.meter] * HOUR
    ref = p.received if p.received is not None else np.full(len(p.t), now, dtype=np.int64)
    has_ref = ref > 0
    ahead = has_ref & (p.t - ref > future_s)
    behind = has_ref & (ref - p.t > behind_s) if p.received is not None else np.zeros(len(p.t), dtype=bool)
    for cond, detail, limit in ((ahead, "future", future_s), (behind, "behind", behind_s)):
        starts, ends = _meter_runs(cond, p.meter)
        if starts.size:
            worst = np.maximum.reduceat(np.abs(p.t - ref).astype(np.float64), starts)
            out.add_many("clock_skew", "warning", p.meter[starts], p.t[starts], p.t[ends], worst, limit[starts], detail)


def _meter_runs(cond: B, meter: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Runs of consecutive flagged rows, split where the meter changes."""
    cut = np.r_[False, meter[1:] != meter[:-1]]
    starts = np.flatnonzero(cond & ~(np.r_[False, cond[:-1]] & ~cut))
    ends = np.flatnonzero(cond & ~(np.r_[cond[1:], False] & ~np.r_[cut[1:], True]))
    return starts, ends


_ALARM_SEVERITY = {"low_battery": "info", "error": "warning"}


def check_alarms(p: Prepared, meters: Meters, out: Findings) -> None:
    """Alarms the meters report, per run of readings; active when the meter's last reading still has it."""
    if p.alarms is None or len(p.t) == 0:
        return
    last_row = np.flatnonzero(np.r_[p.meter[1:] != p.meter[:-1], True])
    is_last = np.zeros(len(p.t), dtype=bool)
    is_last[last_row] = True
    present = np.bitwise_or.reduce(p.alarms) if len(p.alarms) else 0
    for name, bit in ALARM_BITS.items():
        if not present & bit:
            continue
        starts, ends = _meter_runs((p.alarms & bit) != 0, p.meter)
        active = is_last[ends]
        detail = [f"{name}:{'active' if a else 'historical'}" for a in active.tolist()]
        severity = _ALARM_SEVERITY.get(name, "critical")
        sev = [severity if a else "info" for a in active.tolist()]
        out.add_many("meter_alarm", sev, p.meter[starts], p.t[starts], p.t[ends], None, None, detail)
