"""A gateway's running count of what it hears, per meter and UTC day: every telegram that became a
reading counts, duplicates too (the store keeps one reading, coverage wants every hearing)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from meterd.coverage.hearing import Hearing, HearingKind, day_of

_MAKER = re.compile(r"[A-Z]{3}")
KEEP_DAYS = 2  # today and yesterday are held (a day's last totals go out after midnight)


@dataclass(slots=True)
class _Day:
    telegrams: int = 0
    last_at: int = 0
    rssi: dict[int, int] = field(default_factory=dict)  # whole dBm → telegrams

    def median(self) -> float | None:
        total = sum(self.rssi.values())
        if not total:
            return None
        half, seen = total / 2, 0
        for value in sorted(self.rssi):
            seen += self.rssi[value]
            if seen >= half:
                return float(value)
        return None  # not reached


class HearingTally:
    """Counts by (day, manufacturer, serial). `take_changed` returns what changed since the last call
    (the day's running totals: sent again they replace what was sent before)."""

    def __init__(self, gateway: str, kind: HearingKind = HearingKind.GATEWAY) -> None:
        self.gateway = gateway
        self.kind = kind
        self._days: dict[tuple[int, str, str], _Day] = {}
        self._changed: set[tuple[int, str, str]] = set()
        self._newest = 0

    def __len__(self) -> int:
        return len(self._days)

    def add(self, manufacturer: str, serial: str, at: int, rssi_dbm: float | None) -> None:
        key = (at // 86_400, manufacturer, serial)
        day = self._days.get(key)
        if day is None:
            day = self._days[key] = _Day()
            if key[0] > self._newest:
                self._newest = key[0]
                self._forget_before(key[0] - KEEP_DAYS + 1)
        day.telegrams += 1
        if at > day.last_at:
            day.last_at = at
        if rssi_dbm is not None and rssi_dbm == rssi_dbm:  # not NaN
            r = round(rssi_dbm)
            day.rssi[r] = day.rssi.get(r, 0) + 1
        self._changed.add(key)

    def seed(self, hearings: Iterable[Hearing]) -> None:
        """Totals of the store (this gateway's, after a restart): counting goes on from them, their RSSI
        as if every telegram had had the median."""
        for h in hearings:
            key = (h.day, h.manufacturer, h.serial)
            if key in self._days:
                continue
            rssi = {round(h.rssi_median_dbm): h.telegrams} if h.rssi_median_dbm is not None else {}
            self._days[key] = _Day(h.telegrams, h.last_at, rssi)
            self._newest = max(self._newest, h.day)

    def take_changed(self) -> list[Hearing]:
        """Meters whose maker is no three letters (a garbled M field) are counted, never sent."""
        keys, self._changed = self._changed, set()
        return [self._hearing(k) for k in sorted(keys) if k in self._days and _MAKER.fullmatch(k[1])]

    def mark_all_changed(self) -> None:
        """Everything held goes out again with the next `take_changed` (heals a message that was lost)."""
        self._changed |= self._days.keys()

    def _hearing(self, key: tuple[int, str, str]) -> Hearing:
        d = self._days[key]
        return Hearing(self.gateway, self.kind, key[1], key[2], key[0], d.telegrams, d.median(), d.last_at)

    def _forget_before(self, day: int) -> None:
        for key in [k for k in self._days if k[0] < day]:
            del self._days[key]
            self._changed.discard(key)


__all__ = ["HearingTally", "day_of"]
