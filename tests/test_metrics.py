"""The batch histogram against prometheus_client's own: the same exposition for the same values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from meterd.metrics import BatchHistogram, latencies
from meterd.reading import MeterIdentity, Reading

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def samples(registry: CollectorRegistry) -> dict[str, float]:
    """name{labels} → value of the exposition, without the `_created` time."""
    out = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#") and "_created" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(0, 100, allow_nan=False) | st.sampled_from(BUCKETS), max_size=30), max_size=5))
def test_a_batch_histogram_exposes_what_one_observation_at_a_time_does(batches: list[list[float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("meterd_t_seconds", "t", BUCKETS, ours)
    single = Histogram("meterd_t_seconds", "t", buckets=BUCKETS, registry=theirs)
    for values in batches:
        batch.observe_many(values)
        for v in values:
            single.observe(v)
    a, b = samples(ours), samples(theirs)
    assert a.keys() == b.keys() and 'meterd_t_seconds_bucket{le="0.25"}' in a
    for name in a:  # the sum is added up in another order
        assert abs(a[name] - b[name]) <= 1e-9 * max(1.0, abs(b[name])), name


def test_latencies_count_from_the_millisecond_and_never_below_zero() -> None:
    m = MeterIdentity("ELS", "12345678", 1, 7)
    at_ms = Reading(m, "water", 1000, 1000, 1.0, received_ms=1_000_250)
    whole = Reading(m, "water", 1000, 1000, 1.0)
    ahead = Reading(m, "water", 2000, 2000, 1.0)  # a receiver's clock ahead of ours
    assert latencies([at_ms, whole, ahead], 1001.0).tolist() == [0.75, 1.0, 0.0]
    assert latencies([], 1001.0).tolist() == []
