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


Param = float | F64  # one value for all meters, or one per meter


def _param(meters: Meters, config: CheckConfig, name: str) -> Param:
    """A threshold per meter, chosen by its medium; a plain float when all meters share it."""
    cold, warm = float(getattr(config.cold, name)), float(getattr(config.warm, name))
    warm_meters = meters.medium == 1
    if cold == warm or not warm_meters.any():
        return cold
    if warm_meters.all():
        return warm
    values: F64 = np.where(warm_meters, warm, cold).astype(np.float64)
    return values


def _at(x: Param, idx: npt.NDArray[np.integer]) -> Param:
    """x for the given meter indices (a float stays a float: numpy broadcasts it)."""
    return x if isinstance(x, float) else x[idx]


def _per_meter(x: Param, n: int) -> F64:
    return np.full(n, x) if isinstance(x, float) else x


def _q3(meters: Meters) -> Param:
    q3 = meters.q3
    return float(q3[0]) if len(q3) and (q3 == q3[0]).all() else q3


def prepare(readings: Readings) -> Prepared:
    """Sort by (meter, time) when needed (the store already returns that order) and drop duplicates."""
    r = readings
    p = _with_intervals(
        r.meter.astype(np.int32, copy=False), r.t.astype(np.int64, copy=False), r.volume, r.alarms, r.received
    )
    n = len(p.t)
    if n < 2:
        return p
    backwards = (p.meter[1:] < p.meter[:-1]).any() or (p.same & (p.dt < 0)).any()
    if backwards:
        key = (p.meter.astype(np.int64) << 34) | (p.t - p.t.min())
        p = take(p, np.argsort(key, kind="stable"))
    duplicate = p.same & (p.dt == 0)
    if duplicate.any():  # the last one given wins
        keep = np.ones(n, dtype=bool)
        keep[:-1] = ~duplicate[1:]
        p = take(p, keep)
    return p


def take(p: Prepared, rows: npt.NDArray[np.intp] | B) -> Prepared:
    """The readings at these indices (or where the mask is set), intervals recomputed."""
    return _with_intervals(
        p.meter[rows],
        p.t[rows],
        p.v[rows],
        p.alarms[rows] if p.alarms is not None else None,
        p.received[rows] if p.received is not None else None,
    )


def without_unknown_volumes(p: Prepared) -> Prepared:
    """The rows with a volume: volume checks skip readings that carry only alarms or times."""
    known = np.isfinite(p.v)
    return p if known.all() else take(p, known)


def _with_intervals(
    meter: npt.NDArray[np.int32],
    t: I64,
    v: F64,
    alarms: npt.NDArray[np.uint16] | None,
    received: I64 | None,
) -> Prepared:
    n = len(t)
    v = v.astype(np.float64, copy=False)
    same = np.zeros(n, dtype=bool)
    dv = np.zeros(n)
    dt = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.equal(meter[1:], meter[:-1], out=same[1:])
        np.subtract(v[1:], v[:-1], out=dv[1:])
        np.subtract(t[1:], t[:-1], out=dt[1:])
        np.multiply(dv, same, out=dv)
        np.multiply(dt, same, out=dt)
    return Prepared(meter, t, v, same, dv, dt, alarms, received)


def runs(cond: B) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last index of each run of True."""
    padded = np.zeros(len(cond) + 2, dtype=np.int8)
    padded[1:-1] = cond
    d = np.diff(padded)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def check_decreases(p: Prepared, meters: Meters, config: CheckConfig, out: Findings, swaps: I64 | None = None) -> None:
    """Counter went down: backflow, or a reset / swapped meter (known swaps or a drop to near zero)."""
    tol_m = _param(meters, config, "backflow_tolerance_m3")
    idx = np.flatnonzero(p.same & (p.dv < -_at(tol_m, p.meter)))
    if idx.size == 0:
        return
    prev, new = p.v[idx - 1], p.v[idx]
    frac = _at(_param(meters, config, "reset_fraction"), p.meter[idx])
    max_new = _at(_param(meters, config, "reset_max_new_m3"), p.meter[idx])
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
    out.add_many("backflow", "warning", p.meter[b], p.t[b - 1], p.t[b], -p.dv[b], _at(tol_m, p.meter[b]))


def check_jumps_and_bursts(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> None:
    """Consumption above what Q4 allows (jump) and very high flow over a short time (burst)."""
    q3 = _q3(meters)
    res_m = _param(meters, config, "resolution_m3")
    q4_per_s_m = _param(meters, config, "q4_factor") * q3 / HOUR  # type: ignore[operator]
    res, q4_per_s = _at(res_m, p.meter), _at(q4_per_s_m, p.meter)
    dt = p.dt.astype(np.float64)
    jump = p.same & (p.dv > dt * q4_per_s + res)
    j = np.flatnonzero(jump)
    out.add_many(
        "jump", "critical", p.meter[j], p.t[j - 1], p.t[j], p.dv[j], (dt * q4_per_s + res)[j] if j.size else None
    )
    burst_per_s_m = _param(meters, config, "burst_flow_factor") * q3 / HOUR  # type: ignore[operator]
    max_dt = _at(_param(meters, config, "burst_max_interval_h"), p.meter) * HOUR
    burst = (dt <= max_dt) & (p.dv >= dt * _at(burst_per_s_m, p.meter)) & (p.dv > res) & p.same & ~jump
    starts, ends = runs(burst)  # a run never spans meters: `same` is False at a meter's first row
    if starts.size:
        rows = np.flatnonzero(burst)
        flow = p.dv[rows] / (p.dt[rows] / HOUR)
        run_of_row = np.searchsorted(starts, rows, side="right") - 1
        peak = np.zeros(starts.size)
        np.maximum.at(peak, run_of_row, flow)
        lim = _at(burst_per_s_m, p.meter[starts]) * HOUR
        out.add_many("burst", "critical", p.meter[starts], p.t[starts - 1], p.t[ends], peak, lim)


def check_leaks(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> None:
    """Continuous flow: no interval without consumption for the whole window; and high night minimum flow."""
    res = _at(_param(meters, config, "resolution_m3"), p.meter)
    short = p.dt <= _at(_param(meters, config, "leak_max_interval_h"), p.meter) * HOUR
    flowing = p.same & short & (p.dv >= res * 0.5)
    starts, ends = runs(flowing)
    if starts.size:
        duration = p.t[ends] - p.t[starts - 1]
        window = _per_meter(_param(meters, config, "leak_window_h"), len(meters))[p.meter[starts]] * HOUR
        hit = duration >= window
        s, e = starts[hit], ends[hit]
        if s.size:
            used = p.v[e] - p.v[s - 1]
            rate = used / (duration[hit] / HOUR)
            out.add_many("leak", "critical", p.meter[s], p.t[s - 1], p.t[e], rate, window[hit] / HOUR, "continuous")
    # night minimum flow, per meter and night (intervals whose midpoint falls in the night hours)
    ns, ne = config.cold.night_start_h, config.cold.night_end_h
    mid = p.t - (p.dt >> 1)
    sec_of_day = mid % 86400
    night = (sec_of_day >= ns * 3600) & (sec_of_day < ne * 3600) & short & (p.dt > 0) & p.same
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
    limit = _per_meter(_param(meters, config, "night_min_flow_m3h"), len(meters))[g_meter]
    leaking = (min_flow > limit) & (count >= 2)
    if not leaking.any():
        return
    # merge consecutive leaking nights of a meter; a leak runs every night, a late shower does not
    g_day = day[bounds]
    li = np.flatnonzero(leaking)
    new = np.r_[True, (g_meter[li][1:] != g_meter[li][:-1]) | (g_day[li][1:] - g_day[li][:-1] > 1)]
    first = li[new]
    last = li[np.r_[np.flatnonzero(new)[1:] - 1, li.size - 1]]
    worst = np.maximum.reduceat(min_flow[li], np.flatnonzero(new))
    nights = g_day[last] - g_day[first] + 1
    enough = nights >= _per_meter(_param(meters, config, "night_leak_nights"), len(meters))[g_meter[first]]
    first, last, worst = first[enough], last[enough], worst[enough]
    start_t = g_day[first] * 86400 + ns * 3600
    end_t = g_day[last] * 86400 + ne * 3600
    out.add_many("leak", "warning", g_meter[first], start_t, end_t, worst, limit[first], "night_flow")


def check_stuck(p: Prepared, meters: Meters, config: CheckConfig, out: Findings) -> None:
    """No consumption for a long window while other flats of the building consume."""
    res = _at(_param(meters, config, "resolution_m3"), p.meter)
    # a meter silent for days and then heard again shows the use since it came back in that interval:
    # over intervals of two days and more, next to nothing per day counts as standing still
    days = p.dt / 86400.0
    trickle = _at(_param(meters, config, "stuck_max_m3_per_day"), p.meter)
    # (the reading that ends such a silence also holds the use since the meter came back: a bath's worth)
    idle = p.same & ((np.abs(p.dv) < res * 0.5) | ((days >= 2) & (np.abs(p.dv) <= trickle * days + RESUME_M3)))
    starts, ends = runs(idle)
    if starts.size == 0:
        return
    duration = p.t[ends] - p.t[starts - 1]
    hit = duration >= _per_meter(_param(meters, config, "stuck_window_d"), len(meters))[p.meter[starts]] * 86400
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
    s, e = _not_away(p, meters, s, e, consuming)
    out.add_many("stuck", "warning", p.meter[s], p.t[s - 1], p.t[e], (p.t[e] - p.t[s - 1]) / 86400.0)


RESUME_M3 = 0.1


def _not_away(
    p: Prepared, meters: Meters, s: npt.NDArray[np.intp], e: npt.NDArray[np.intp], consuming: B
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Idle windows of meters whose flat used water through another of its meters on at least half of
    the window's days (a stuck register), not of flats where every meter stood still (nobody home).
    A meter whose flat has no other meter is judged by its building alone."""
    if not meters.premises or s.size == 0:
        return s, e
    flat_codes = {code: i for i, code in enumerate(sorted({c for c in meters.premises if c}))}
    flat = np.array([flat_codes.get(c, -1) for c in meters.premises], dtype=np.int64)
    siblings = np.bincount(flat[flat >= 0], minlength=len(flat_codes))
    row_flat = flat[p.meter]
    used = consuming & (row_flat >= 0)
    # (flat, day, meter) of every day a meter of a flat used water, sorted
    day_keys = np.unique((row_flat[used] << 40) + ((p.t[used] // 86400) << 20) + p.meter[used])
    keep = np.ones(s.size, dtype=bool)
    for k, (a, b) in enumerate(zip(s.tolist(), e.tolist(), strict=True)):
        m = int(p.meter[a])
        f = int(flat[m])
        if f < 0 or siblings[f] < 2:
            continue
        first_day, last_day = int(p.t[a - 1]) // 86400 + 1, int(p.t[b]) // 86400 - 1
        lo = np.searchsorted(day_keys, (f << 40) + (first_day << 20), side="left")
        hi = np.searchsorted(day_keys, (f << 40) + ((last_day + 1) << 20), side="left")
        found = day_keys[lo:hi]
        others = found[(found & 0xFFFFF) != m] >> 20
        span = max(last_day - first_day + 1, 1)
        keep[k] = np.unique(others).size >= max(1, span // 2)
    return s[keep], e[keep]


def daily_use_per_month(p: Prepared) -> tuple[npt.NDArray[np.int32], I64, F64, F64]:
    """(meter, month index, use per day, days of data) for each calendar month a meter has data in:
    from its last reading before the month (or its first in it) to its last reading in the month, so
    that the first and last months of any data set, shorter than a calendar month, count too."""
    if not len(p.t):
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), empty, empty
    month = p.t.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    group = (p.meter.astype(np.int64) << 24) + month
    last = np.flatnonzero(np.r_[group[1:] != group[:-1], True])
    first = np.r_[0, last[:-1] + 1]
    # the reference: the previous row when it is the same meter's (its last reading before the month)
    ref = np.where(p.same[first], first - 1, first)
    days = (p.t[last] - p.t[ref]) / 86400.0
    use = p.v[last] - p.v[ref]
    ok = (days >= 1.0) & (use >= 0)
    rate = np.divide(use, days, out=np.zeros_like(use), where=days > 0)
    return p.meter[last][ok], month[last][ok], rate[ok], days[ok]


def check_outliers(p: Prepared, meters: Meters, config: CheckConfig, out: Findings, explained: Findings) -> None:
    """Use per day of data in a month far above the building's median for the same medium (median /
    MAD). Meter-months that a leak, jump or burst finding already explains are not reported again."""
    m, month, use, _days = daily_use_per_month(p)
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
    dev = x - med_row
    order2 = np.lexsort((np.abs(dev), np.repeat(np.arange(bounds.size), counts)))
    mad = _group_median(np.abs(dev)[order2], bounds, counts)
    mean_ad = np.add.reduceat(np.abs(dev), bounds) / counts
    scale = np.repeat(np.where(mad > 0, mad / 0.6745, mean_ad * 1.253314), counts)
    th = config.cold
    big_enough = np.repeat(counts >= th.outlier_min_group, counts)
    outlier = big_enough & (scale > 0) & (dev > th.outlier_z * scale) & (dev >= th.outlier_min_abs_m3 / 30.0)
    outlier &= x >= th.outlier_min_ratio * med_row
    i = np.flatnonzero(outlier)
    if i.size == 0:
        return
    start = mo[i].astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    end = (mo[i] + 1).astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    busy = {
        (mtr, s_, e_) for mtr, f, s_, e_ in zip(explained.meter, explained.flag, explained.start, explained.end, strict=True)
        if f in ("leak", "jump", "burst")
    }  # fmt: skip
    keep = [
        not any(mtr == k[0] and k[1] < e_ and k[2] > s_ for k in busy)
        for mtr, s_, e_ in zip(mm[i].tolist(), start.tolist(), end.tolist(), strict=True)
    ]
    i, start, end = i[keep], start[keep], end[keep]
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
    active: I64 = np.zeros(len(p.t), dtype=np.int64)
    schedules = meters.schedule or [""] * n_m
    distinct = sorted(set(schedules))
    sched_of_meter = np.array([distinct.index(s) for s in schedules], dtype=np.int32)
    weeks = [parse_schedule(s) for s in distinct]
    always = len(weeks) == 1 and bool(weeks[0].all())
    if always:
        active = p.t  # always active: active time is plain time
        gap = p.dt
    else:
        row_sched = sched_of_meter[p.meter]
        for k, week in enumerate(weeks):
            rows = row_sched == k if len(weeks) > 1 else slice(None)
            active[rows] = active_seconds_before(week, p.t[rows])
        gap = np.zeros(len(p.t), dtype=np.int64)
        gap[1:] = active[1:] - active[:-1]
        gap[~p.same] = 0
    # typical interval per meter: mean of the intervals not far above the plain mean (big gaps excluded);
    # rows are sorted by meter, so per-meter sums are reductions over contiguous slices
    first = np.flatnonzero(~p.same)
    last_row = np.r_[first[1:] - 1, len(p.t) - 1]
    present = p.meter[first]
    count = (last_row - first).astype(np.float64)
    mean1_present = np.divide(active[last_row] - active[first], count, out=np.zeros(first.size), where=count > 0)
    mean1 = np.zeros(n_m)
    mean1[present] = mean1_present
    regular = gap <= 3 * np.repeat(mean1_present, last_row - first + 1)
    regular &= p.same
    c2 = np.add.reduceat(regular, first).astype(np.float64)
    t2 = np.add.reduceat(np.where(regular, gap, 0), first).astype(np.float64)
    typical = mean1.copy()
    typical[present] = np.divide(t2, c2, out=mean1_present.copy(), where=c2 > 0)
    grace = _per_meter(_param(meters, config, "missing_grace_h"), n_m) * HOUR
    factor = _per_meter(_param(meters, config, "missing_interval_factor"), n_m)
    allowed = np.maximum(grace, factor * typical)
    # each meter's silences (between readings, and from its last reading on), in wall time, with their
    # length in expected-activity time
    last = np.flatnonzero(np.r_[p.meter[1:] != p.meter[:-1], True]) if len(p.t) else np.zeros(0, dtype=np.intp)
    lm = p.meter[last]
    end_by_schedule = np.array(
        [as_of if always else active_seconds_before(w, np.array([as_of]))[0] for w in weeks], dtype=np.int64
    )
    tail = end_by_schedule[sched_of_meter[lm]] - active[last] if len(p.t) else np.zeros(0, dtype=np.int64)
    between = np.flatnonzero(p.same)
    s_meter = np.r_[p.meter[between], lm].astype(np.int64)
    s_from = np.r_[p.t[between - 1], p.t[last]].astype(np.int64)
    s_to = np.r_[p.t[between], np.full(lm.size, as_of)].astype(np.int64)
    s_active = np.r_[gap[between], tail].astype(np.int64)
    s_tail = np.r_[np.zeros(between.size, dtype=bool), np.ones(lm.size, dtype=bool)]
    # a building whose meters (all or nearly all) fall silent over the same hours: its gateway or power
    # was out, not the meters. One finding for the building; those hours are no meter's missing data.
    short = np.maximum(BUILDING_SILENCE_MIN_S, BUILDING_SILENCE_FACTOR * typical)
    outages = _building_outages(meters, p, s_meter, s_from, s_to, s_active > short[s_meter])
    for b, spans in outages.items():
        starts = np.array([a for a, _ in spans], dtype=np.int64)
        ends = np.array([z for _, z in spans], dtype=np.int64)
        out.add_many("building_silent", "warning", np.full(len(spans), -1 - b), starts, ends, (ends - starts) / HOUR,
                     None, "building")  # fmt: skip
    covered = _overlap(outages, meters.building[s_meter].astype(np.int64), s_from, s_to)
    wall = np.maximum(s_to - s_from, 1)
    left = s_active - np.rint(covered * (s_active / wall)).astype(np.int64)  # what no outage explains
    hit = left > allowed[s_meter]
    i = np.flatnonzero(hit & ~s_tail)
    out.add_many("missing", "warning", s_meter[i], s_from[i], s_to[i], s_active[i] / HOUR, allowed[s_meter[i]] / HOUR)
    i = np.flatnonzero(hit & s_tail)
    out.add_many("missing", "warning", s_meter[i], s_from[i], s_to[i], s_active[i] / HOUR, allowed[s_meter[i]] / HOUR,
                 "silent")  # fmt: skip
    heard = np.zeros(n_m, dtype=bool)
    heard[p.meter] = True
    never = np.flatnonzero(~heard)
    if never.size and len(p.t):
        start = since if since is not None else int(p.t.min())
        out.add_many(
            "missing", "warning", never, np.full(never.size, start), np.full(never.size, as_of), None, None, "never"
        )


BUILDING_SILENCE_MIN_S = 2 * 3600  # a building silent for less is no outage worth a finding
BUILDING_SILENCE_FACTOR = 3.0  # ... nor while each meter is silent for less than this many of its intervals
BUILDING_SILENT_SHARE = 0.8  # "nearly all" of a building's meters
BUILDING_MIN_METERS = 3


def _building_outages(
    meters: Meters, p: Prepared, s_meter: I64, s_from: I64, s_to: I64, long: B
) -> dict[int, list[tuple[int, int]]]:
    """Per building (of at least BUILDING_MIN_METERS meters heard), the spans in which at least
    BUILDING_SILENT_SHARE of them were in a long silence at once, BUILDING_SILENCE_MIN_S or longer."""
    heard_by_building: dict[int, int] = {}
    buildings = meters.building.astype(np.int64)
    for m in np.unique(p.meter).tolist():
        b = int(buildings[m])
        if b >= 0:
            heard_by_building[b] = heard_by_building.get(b, 0) + 1
    out: dict[int, list[tuple[int, int]]] = {}
    idx = np.flatnonzero(long)
    if not idx.size:
        return out
    sb = buildings[s_meter[idx]]
    for b in np.unique(sb[sb >= 0]).tolist():
        n = heard_by_building.get(int(b), 0)
        if n < BUILDING_MIN_METERS:
            continue
        need = int(np.ceil(BUILDING_SILENT_SHARE * n))
        rows = idx[sb == b]
        times = np.r_[s_from[rows], s_to[rows]]
        steps = np.r_[np.ones(rows.size, dtype=np.int64), -np.ones(rows.size, dtype=np.int64)]
        order = np.lexsort((steps, times))  # at one instant, ends before starts
        times, level = times[order], np.cumsum(steps[order])
        spans: list[tuple[int, int]] = []
        begin: int | None = None
        for t, c in zip(times.tolist(), level.tolist(), strict=True):
            if begin is None and c >= need:
                begin = t
            elif begin is not None and c < need:
                if t - begin >= BUILDING_SILENCE_MIN_S:
                    spans.append((begin, t))
                begin = None
        if spans:
            out[int(b)] = spans
    return out


def _overlap(outages: dict[int, list[tuple[int, int]]], building: I64, start: I64, end: I64) -> I64:
    """Seconds of each [start, end) that its building's outages cover."""
    covered = np.zeros(len(start), dtype=np.int64)
    for b, spans in outages.items():
        rows = np.flatnonzero(building == b)
        for a, z in spans:
            covered[rows] += np.maximum(0, np.minimum(end[rows], z) - np.maximum(start[rows], a))
    return covered


def check_clock_skew(p: Prepared, meters: Meters, config: CheckConfig, out: Findings, now: int) -> None:
    """Measured-at in the future (of receipt, or of now) or far behind the receive time."""
    future_s = _param(meters, config, "skew_future_s")
    behind_s = _param(meters, config, "skew_behind_h") * HOUR  # type: ignore[operator]
    checks: list[tuple[B, str, Param, I64 | int]] = []
    if p.received is None:
        checks.append((p.t - now > _at(future_s, p.meter), "future", future_s, now))
    else:
        ref = p.received
        has_ref = ref > 0
        checks.append((has_ref & (p.t - ref > _at(future_s, p.meter)), "future", future_s, ref))
        checks.append((has_ref & (ref - p.t > _at(behind_s, p.meter)), "behind", behind_s, ref))
    for cond, detail, limit, ref_t in checks:
        starts, ends = _meter_runs(cond, p.meter)
        if starts.size:
            off = np.abs(p.t - ref_t).astype(np.float64)
            rows = np.flatnonzero(cond)
            run_of_row = np.searchsorted(starts, rows, side="right") - 1
            worst = np.zeros(starts.size)
            np.maximum.at(worst, run_of_row, off[rows])
            lim = _at(limit, p.meter[starts])
            out.add_many("clock_skew", "warning", p.meter[starts], p.t[starts], p.t[ends], worst, lim, detail)


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
