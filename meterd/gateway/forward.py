"""Per-meter forwarding: every reading, only changes, or at most one per interval; alarms always pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterd.reading import Reading


@dataclass
class ForwardPolicy:
    default: str = "every"  # every, change, interval
    interval_s: float = 900.0
    per_meter: dict[str, str] = field(default_factory=dict)
    _last: dict[str, tuple[int, float | None, tuple[str, ...]]] = field(default_factory=dict)

    def passes(self, r: Reading) -> bool:
        rule = self.per_meter.get(r.meter.id, self.default)
        last = self._last.get(r.meter.id)
        keep = (
            rule == "every"
            or last is None
            or bool(r.alarms)
            or r.alarms != last[2]
            or (rule == "change" and r.total_m3 != last[1])
            or (rule == "interval" and r.measured_at - last[0] >= self.interval_s)
        )
        if keep:
            self._last[r.meter.id] = (r.measured_at, r.total_m3, r.alarms)
        return keep
