"""Property test: the vectorised checks flag exactly what a plain per-reading loop flags."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from meterd.validate import CheckConfig, Meters, Readings, run_checks

T0 = 1_770_000_000
TH = CheckConfig().cold


def reference(meter: list[int], t: list[int], v: list[float], q3: float, as_of: int) -> set[tuple[int, str, int, int]]:
    rows: dict[tuple[int, int], float] = {}
    for m, ti, vi in zip(meter, t, v, strict=True):
        rows[(m, ti)] = vi  # the last one given wins
    found: set[tuple[int, str, int, int]] = set()
    by_meter: dict[int, list[tuple[int, float]]] = {}
    for (m, ti), vi in sorted(rows.items()):
        by_meter.setdefault(m, []).append((ti, vi))
    for m, series in by_meter.items():
        # gaps use every reading; volume checks only those with a volume
        times = [ti for ti, _ in series]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        mean1 = sum(gaps) / len(gaps) if gaps else 0.0
        regular = [g for g in gaps if g <= 3 * mean1]
        typical = sum(regular) / len(regular) if regular else mean1
        allowed = max(TH.missing_grace_h * 3600, TH.missing_interval_factor * typical)
        for a, b in itertools.pairwise(times):
            if b - a > allowed:
                found.add((m, "missing", a, b))
        if as_of - times[-1] > allowed:
            found.add((m, "missing", times[-1], as_of))
        known = [(ti, vi) for ti, vi in series if not math.isnan(vi)]
        run_start = None
        for (ta, va), (tb, vb) in itertools.pairwise(known):
            dv, hours = vb - va, (tb - ta) / 3600
            if dv < -TH.backflow_tolerance_m3:
                reset = -dv > TH.reset_fraction * abs(va) and vb <= TH.reset_max_new_m3
                found.add((m, "counter_reset" if reset else "backflow", ta, tb))
            if dv > TH.q4_factor * q3 * hours + TH.resolution_m3:
                found.add((m, "jump", ta, tb))
            flowing = hours <= TH.leak_max_interval_h and dv >= TH.resolution_m3 * 0.5
            if flowing and run_start is None:
                run_start = ta
            if flowing:
                run_end = tb
            if (not flowing or (tb, vb) == known[-1]) and run_start is not None:
                if run_end - run_start >= TH.leak_window_h * 3600:
                    found.add((m, "leak", run_start, run_end))
                run_start = None
    return found


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 24 * 6),
            st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.2, 4.0, -0.5, -50.0, float("nan")]),
        ),
        min_size=1,
        max_size=150,
    ),
    steady=st.booleans(),
)
def test_vectorised_equals_reference(data: list[tuple[int, int, float]], steady: bool) -> None:
    meter, t, v = [], [], []
    level = dict.fromkeys(range(4), 100.0)
    for m, h, step in data:
        if steady:  # hourly rows with steady flow so that leak runs appear
            step = 0.01 if not math.isnan(step) else step
        level[m] = level[m] + (step if not math.isnan(step) else 0.0)
        meter.append(m)
        t.append(T0 + h * 3600)
        v.append(float("nan") if math.isnan(step) else round(level[m], 3))
    readings = Readings(np.array(meter, dtype=np.int32), np.array(t, dtype=np.int64), np.array(v))
    meters = Meters.for_ids(["0", "1", "2", "3"])
    as_of = max(t)
    found = run_checks(readings, meters, as_of=as_of, now=as_of + 10**9)
    wanted = {"backflow", "counter_reset", "jump", "leak", "missing"}
    got = {
        (m, f, s, e)
        for m, f, s, e, d in zip(found.meter, found.flag, found.start, found.end, found.detail, strict=True)
        if f in wanted and d not in ("never", "night_flow")
    }
    heard = set(meter)
    expected = reference(meter, t, v, 2.5, as_of)
    assert {x for x in got if x[0] in heard} == expected
