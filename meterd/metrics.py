"""Prometheus metrics of meterd (a sink: the pure decoding and validation code never touches them).

Names are prefixed `meterd_`, in base units; no key, password or meter id appears in any label. A
gateway (`meterd run`) exposes GATEWAY, a central ingester (`meterd ingest --mqtt`) CENTRAL: each
process kind its own metrics, both with `meterd_build_info` and the process's own (`process_*`).
No `_created` series."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, disable_created_metrics
from prometheus_client.core import HistogramMetricFamily, Metric

from meterd import __version__
from meterd.reading import Reading
from meterd.wmbus.result import Decoded

disable_created_metrics()  # type: ignore[no-untyped-call]
GATEWAY = CollectorRegistry(auto_describe=True)
CENTRAL = CollectorRegistry(auto_describe=True)



class BatchHistogram:
    """A Prometheus histogram that takes a whole batch of observations at once: prometheus_client's
    takes one at a time (a lock and a search of the buckets each), and services observe every
    reading of every batch. Exposed as the same histogram (`_bucket`, `_sum`, `_count`)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = np.array([*sorted(buckets), float("inf")])
        self._counts = np.zeros(len(self._bounds), dtype=np.int64)  # per bucket, not cumulative
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Sequence[float] | np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64)
        if not v.size:
            return
        # a value goes into the first bucket whose upper bound is at least the value (Prometheus' `le`)
        counts = np.bincount(np.searchsorted(self._bounds, v, side="left"), minlength=len(self._bounds))
        with self._lock:
            self._counts += counts[: len(self._bounds)]
            self._sum += float(v.sum())

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cumulative, total = np.cumsum(self._counts).tolist(), self._sum
        bounds = ["+Inf" if le == float("inf") else repr(le) for le in self._bounds.tolist()]  # as Prometheus writes `le`
        buckets = [(le, float(c)) for le, c in zip(bounds, cumulative, strict=True)]
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation)


FINDINGS = Counter("meterd_findings", "Findings of the validation checks", ["flag", "severity"], registry=GATEWAY)
ANOMALIES = Counter("meterd_anomalies", "Findings kept as anomalies, by flag", ["flag"], registry=GATEWAY)
TELEGRAMS = Counter(
    "meterd_telegrams", "Telegrams received, by receiver (its configured name), dongle (its kind) and result "
    "(ok or the error code)", ["receiver", "dongle", "result"], registry=GATEWAY,
)  # fmt: skip
DROPPED = Counter(
    "meterd_receiver_dropped", "Bytes or lines a receiver dropped, by reason", ["receiver", "dongle", "reason"],
    registry=GATEWAY,
)  # fmt: skip
RECEIVER_UP = Gauge(
    "meterd_receiver_up", "1 while the receiver's port is open (from start-up on: 0 for a port that never opened)",
    ["receiver", "dongle"], registry=GATEWAY,
)  # fmt: skip
READINGS = Counter("meterd_readings", "Readings, by what became of them", ["outcome"], registry=GATEWAY)
STORED = Counter("meterd_readings_stored", "Readings stored", registry=GATEWAY)
PUBLISHED = Counter("meterd_readings_published", "Readings sent over MQTT for the first time", registry=GATEWAY)
RESENT = Counter(
    "meterd_readings_resent", "Readings sent over MQTT again (not confirmed in time, or after a restart)",
    registry=GATEWAY,
)  # fmt: skip
SPOOL = Gauge("meterd_spool_readings", "Readings in the spool, not yet confirmed by the central store", registry=GATEWAY)
SPOOLED = Counter("meterd_readings_spooled", "Readings written to the MQTT spool", registry=GATEWAY)
SPOOL_DROPPED = Counter(
    "meterd_spool_dropped", "Readings dropped from a full spool (they stay in the local store)", registry=GATEWAY
)
SPOOL_COMMITTED = Counter(
    "meterd_readings_committed", "Readings the central store confirmed (they left the spool)", registry=GATEWAY
)
MQTT_CONNECTED = Gauge("meterd_mqtt_connected", "1 while connected to the broker", ["role"], registry=GATEWAY)
CENTRAL.register(MQTT_CONNECTED)
MQTT_MESSAGES = Counter(
    "meterd_mqtt_messages", "Messages the ingester took, by what became of them", ["outcome"], registry=CENTRAL
)
INGESTED = Counter(
    "meterd_ingested_readings", "Readings the ingester took, by what became of them", ["outcome"], registry=CENTRAL
)
REJECTED = Counter(
    "meterd_readings_rejected", "Readings and messages the ingester refused, by reason", ["reason"], registry=CENTRAL
)
UNUSUAL_BUILDING = Counter(
    "meterd_readings_unusual_building", "Readings stored of meters in buildings their gateway hardly ever delivers",
    registry=CENTRAL,
)  # fmt: skip
CONFLICTS = Counter(
    "meterd_readings_conflicts", "Readings whose key was stored before with another content (kept for review)",
    registry=CENTRAL,
)  # fmt: skip
INGEST_LATENCY = BatchHistogram(
    "meterd_receive_to_commit_seconds", "From a gateway receiving a telegram to its reading committed centrally",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0), registry=CENTRAL,
)  # fmt: skip
LAST_TELEGRAM = Gauge(
    "meterd_receiver_last_telegram_timestamp_seconds", "When a receiver last delivered a telegram",
    ["receiver", "dongle"], registry=GATEWAY,
)  # fmt: skip
RESETS = Counter(
    "meterd_receiver_resets", "Receivers reopened (lost port, silence)", ["receiver", "dongle"], registry=GATEWAY
)
METERS_SILENT = Gauge(
    "meterd_meters_silent", "Meters in service heard from longer ago than allowed", ["gateway"], registry=GATEWAY
)
LATENCY = BatchHistogram(
    "meterd_receive_to_store_seconds", "From receiving a telegram to its reading being stored (live receivers only, "
    "not replayed captures)", buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0), registry=GATEWAY,
)  # fmt: skip
for _registry in (GATEWAY, CENTRAL):
    Gauge("meterd_build_info", "meterd's version (always 1)", ["version"], registry=_registry).labels(version=__version__).set(1)
    ProcessCollector(registry=_registry)


def latencies(readings: Sequence[Reading], now: float) -> np.ndarray:
    """Seconds from each reading's receipt (to the millisecond where the receiver knew it) to `now`;
    never below 0 (a receiver's clock ahead of this one)."""
    received = np.fromiter((r.received_s for r in readings), dtype=np.float64, count=len(readings))
    return np.maximum(now - received, 0.0)


def count_findings(flags: Iterable[tuple[str, str]]) -> None:
    for flag, severity in flags:
        FINDINGS.labels(flag=flag, severity=severity).inc()


def count_decoded(results: Iterable[Decoded], receiver: str = "", dongle: str = "") -> None:
    for decoded in results:
        TELEGRAMS.labels(receiver=receiver, dongle=dongle or receiver, result=decoded.code).inc()
METERS_ONE_GATEWAY = Gauge(
    "meterd_meters_heard_by_one_gateway", "Radio meters of the register heard by exactly one gateway today or "
    "yesterday (UTC)", registry=CENTRAL,
)  # fmt: skip
METERS_NO_GATEWAY = Gauge(
    "meterd_meters_heard_by_no_gateway", "Radio meters of the register heard by no gateway today or yesterday (UTC)",
    registry=CENTRAL,
)  # fmt: skip
METERS_RADIO = Gauge("meterd_meters_radio", "Radio meters hanging in a flat by the register", registry=CENTRAL)
SINK_FAILURES = Counter(
    "meterd_sink_failures", "Times a sink (the store, the MQTT spool) failed to take a batch; it keeps what it was "
    "given and is tried again", registry=GATEWAY,
)  # fmt: skip
