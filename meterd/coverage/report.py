"""Coverage over a period, from the daily hearings: per meter of the register, who heard it, how often
and how well; per gateway, the meters only it hears. Pure: rows in, typed values out.

A meter's RSSI at a gateway over a period is the median of its daily medians, each weighted by that
day's telegrams (the days' own telegrams are not kept)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meterd.coverage.hearing import HearingKind

# (serial, manufacturer, gateway, kind, telegrams, rssi_median_dbm, last_at) as the store holds them
HearingRow = tuple[str, str, str, str, int, float | None, int]


@dataclass(frozen=True, slots=True)
class RegisterMeter:
    id: int  # the store's
    serial: str
    manufacturer: str  # "" when the register did not name the maker
    premises: str
    building: str
    address: str
    medium: str


@dataclass(frozen=True, slots=True)
class HeardBy:
    gateway: str
    kind: HearingKind
    telegrams: int
    rssi_median_dbm: float | None
    last_at: int


@dataclass(frozen=True, slots=True)
class MeterCoverage:
    meter: RegisterMeter
    heard_by: tuple[HeardBy, ...]  # strongest first

    @property
    def gateways(self) -> list[HeardBy]:
        """The fixed gateways that heard it (walks left out)."""
        return [h for h in self.heard_by if h.kind is HearingKind.GATEWAY]

    @property
    def redundant(self) -> bool:
        """Heard by two gateways or more: one dead dongle does not silence it."""
        return len(self.gateways) >= 2

    @property
    def best_rssi(self) -> float | None:
        values = [h.rssi_median_dbm for h in self.gateways if h.rssi_median_dbm is not None]
        return max(values) if values else None

    def to_json(self, iso: Any) -> dict[str, Any]:
        return {
            "meter_id": self.meter.serial,
            "manufacturer": self.meter.manufacturer,
            "premises_id": self.meter.premises,
            "building_id": self.meter.building,
            "heard_by": [{"gateway": h.gateway, "kind": h.kind.value, "telegrams": h.telegrams,
                          "rssi_median_dbm": h.rssi_median_dbm, "last": iso(h.last_at)} for h in self.heard_by],
            "redundant": self.redundant,
        }  # fmt: skip


@dataclass
class Coverage:
    meters: list[MeterCoverage]  # in the register's order: building, address, meter
    only_by: dict[str, list[MeterCoverage]] = field(default_factory=dict)  # gateway → meters only it hears

    @property
    def unheard(self) -> list[MeterCoverage]:
        return [m for m in self.meters if not m.gateways]

    @property
    def single(self) -> list[MeterCoverage]:
        return [m for m in self.meters if len(m.gateways) == 1]

    def by_building(self) -> dict[str, list[MeterCoverage]]:
        out: dict[str, list[MeterCoverage]] = {}
        for m in self.meters:
            out.setdefault(m.meter.building, []).append(m)
        return out


def weighted_median(pairs: list[tuple[float, int]]) -> float | None:
    """The value below and above which half the weight lies (pairs of value and weight)."""
    if not pairs:
        return None
    pairs.sort()
    half = sum(w for _, w in pairs) / 2
    seen = 0
    for value, weight in pairs:
        seen += weight
        if seen >= half:
            return value
    return pairs[-1][0]


def coverage(register: Iterable[RegisterMeter], rows: Iterable[HearingRow]) -> Coverage:
    """The register's meters with their hearings. A hearing names its meter's maker; a register meter
    without one takes the hearings of its serial from any maker."""
    meters = list(register)
    wanted: dict[tuple[str, str], int] = {}
    for n, m in enumerate(meters):
        wanted[(m.manufacturer, m.serial)] = n
    groups: dict[tuple[int, str], list[Any]] = {}  # (meter index, gateway) → [kind, telegrams, last, [(rssi, n)]]
    for serial, maker, gateway, kind, telegrams, rssi, last in rows:
        found = wanted.get((maker, serial))
        if found is None:
            found = wanted.get(("", serial))
            if found is None:
                continue  # a neighbour's meter, or one the register does not list
        n = found
        g = groups.get((n, gateway))
        if g is None:
            g = groups[(n, gateway)] = [kind, 0, 0, []]
        g[1] += telegrams
        if last > g[2]:
            g[2] = last
        if rssi is not None:
            g[3].append((rssi, telegrams))
    heard: dict[int, list[HeardBy]] = {}
    for (n, gateway), (kind, telegrams, last, rssi) in groups.items():
        heard.setdefault(n, []).append(HeardBy(gateway, HearingKind(kind), telegrams, weighted_median(rssi), last))
    out = Coverage([])
    for n, m in enumerate(meters):
        by = sorted(heard.get(n, []), key=lambda h: (h.rssi_median_dbm is None, -(h.rssi_median_dbm or 0.0), h.gateway))
        mc = MeterCoverage(m, tuple(by))
        out.meters.append(mc)
        gws = mc.gateways
        if len(gws) == 1:
            out.only_by.setdefault(gws[0].gateway, []).append(mc)
    return out
