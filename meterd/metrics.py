"""Prometheus metrics of meterd (a sink: the pure decoding and validation code never touches them)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

FINDINGS = Counter("meterd_findings", "Findings of the validation checks", ["flag", "severity"], registry=REGISTRY)
DECODED = Counter(
    "meterd_telegrams", "Telegrams decoded, by result code (ok or the error code)", ["result"], registry=REGISTRY
)
READINGS = Counter("meterd_readings_stored", "Readings stored, by outcome", ["outcome"], registry=REGISTRY)


def count_findings(flags: Iterable[tuple[str, str]]) -> None:
    for flag, severity in flags:
        FINDINGS.labels(flag=flag, severity=severity).inc()


def count_decoded(results: Iterable[dict[str, object]]) -> None:
    for obj in results:
        error = obj.get("error")
        code = "ok" if obj.get("ok") else str(error.get("code")) if isinstance(error, dict) else "error"
        DECODED.labels(result=code).inc()
