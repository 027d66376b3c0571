"""Validation throughput: all checks over N readings of M meters on one core.

python bench/validate.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from meterd.validate import Meters, Readings, run_checks

T0 = 1_767_225_600  # 2026-01-01


def synthetic(readings: int, meters: int, seed: int = 7) -> tuple[Readings, Meters]:
    """Hourly readings, ordered by meter and time as the store returns them; a few leaks and jumps."""
    rng = np.random.default_rng(seed)
    per = readings // meters
    meter = np.repeat(np.arange(meters, dtype=np.int32), per)
    hour = np.tile(np.arange(per, dtype=np.int64), meters)
    t = T0 + hour * 3600
    hod = hour % 24
    use = np.where((hod >= 7) & (hod < 22), rng.choice(np.array([0.0, 0.0, 0.005, 0.02, 0.06]), size=meter.size), 0.0)
    leaking = rng.random(meters) < 0.01
    use += np.where(leaking[meter], 0.004, 0.0)
    jump_rows = rng.choice(meter.size, size=meters // 100, replace=False)
    use[jump_rows] += 5.0
    volume = np.empty(meter.size)
    for m0 in range(0, meters, 4096):  # cumulative sum per meter, in slices to bound memory
        lo, hi = m0 * per, min(meters, m0 + 4096) * per
        block = use[lo:hi].reshape(-1, per).cumsum(axis=1) + 100.0
        volume[lo:hi] = np.round(block.reshape(-1), 3)
    del use, hour, hod
    ids = [f"{40_000_000 + i}" for i in range(meters)]
    m = Meters.for_ids(ids)
    m.building[:] = np.arange(meters) // 40
    return Readings(meter, t, volume), m


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def realistic_scores(seeds: int) -> list[tuple[str, float, str]]:
    """The lowest recall and precision of each flag over realistic data sets (meterd.validate.synthetic)."""
    from meterd.validate import findings_as_dicts
    from meterd.validate import synthetic as realistic

    worst: dict[str, tuple[float, float]] = {}
    for seed in range(seeds):
        data = realistic.make(seed=seed)
        rows = findings_as_dicts(run_checks(data.readings, data.meters, now=data.now), data.meters)
        for flag, (recall, precision) in realistic.score(rows, data.truth).items():
            r, p = worst.get(flag, (1.0, 1.0))
            worst[flag] = (min(r, recall), min(p, precision))
    out = []
    for flag, (recall, precision) in sorted(worst.items()):
        out.append((f"realistic_{flag}_recall_min", recall, "ratio"))
        out.append((f"realistic_{flag}_precision_min", precision, "ratio"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [(1_000_000, 4_000)] if args.quick else [(1_000_000, 4_000), (10_000_000, 40_000)]
    figures = []
    for n, m in sizes:
        readings, meters = synthetic(n, m)
        before = rss_mb()
        start = time.perf_counter()
        findings = run_checks(readings, meters, as_of=int(readings.t.max()), now=int(readings.t.max()) + 86400)
        elapsed = time.perf_counter() - start
        label = f"{n // 1_000_000}M"
        figures.append((f"validate_{label}_seconds", elapsed, "s"))
        figures.append((f"validate_{label}_findings", len(findings), "findings"))
        figures.append((f"validate_{label}_rss_before", before, "MB"))
        del readings, meters, findings
    figures += realistic_scores(seeds=3 if args.quick else 10)
    figures.append(("peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB"))
    for name, value, unit in figures:
        print(f"{name}: {value:.2f} {unit}" if unit in ("s", "ratio") else f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
