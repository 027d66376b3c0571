"""Normalised alarm names (docs/interfaces.md) from the TPL status byte."""

from __future__ import annotations

from collections.abc import Iterable

ALARM_NAMES = ("leak", "burst", "backflow", "dry", "tamper", "magnetic", "removal", "blocked", "low_battery", "error")
_ORDER = {name: i for i, name in enumerate(ALARM_NAMES)}


def status_alarms(status: int) -> list[str]:
    """EN 13757-3 status: bits 1-0 application status (10 error, 11 abnormal), bit 2 power low,
    bit 3 permanent error, bit 4 temporary error. Bits 7-5 are manufacturer specific (vendor decoders)."""
    out = []
    if status & 0x04:
        out.append("low_battery")
    if status & 0x03 in (0x02, 0x03) or status & 0x18:
        out.append("error")
    return out


def normalise(alarms: Iterable[str]) -> list[str]:
    """Unique known names in the canonical order."""
    return sorted({a for a in alarms if a in _ORDER}, key=_ORDER.__getitem__)
