"""Vectorised validation of readings: anomaly checks, alarm normalisation, estimates."""

from meterd.validate.model import CheckConfig, Findings, Meters, Readings, Thresholds
from meterd.validate.run import findings_as_dicts, run_checks

__all__ = ["CheckConfig", "Findings", "Meters", "Readings", "Thresholds", "findings_as_dicts", "run_checks"]
