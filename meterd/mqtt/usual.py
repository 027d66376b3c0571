"""Which buildings a gateway usually hears, learnt from the readings it delivers: a reading of a meter in
a building that a gateway hardly ever delivers is worth a look (a gateway's login used elsewhere, a
forged reading, or a meter listed in the wrong building). Pure: the ingester feeds it and acts on it.

A building is usual for a gateway once it makes up at least `share` of the gateway's readings; nothing
is called unusual before the gateway has delivered `warmup` readings. Counts are halved now and then,
so a gateway that is moved learns its new buildings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

HALVE_AT = 200_000


@dataclass
class UsualBuildings:
    warmup: int = 500
    share: float = 0.02
    _counts: dict[str, Counter[str]] = field(default_factory=dict)
    _totals: dict[str, int] = field(default_factory=dict)

    def observe(self, gateway: str, building: str) -> bool:
        """Count a reading of `building` delivered by `gateway`; True when the building was unusual for it."""
        counts = self._counts.setdefault(gateway, Counter())
        total = self._totals.get(gateway, 0)
        unusual = total >= self.warmup and counts[building] < self.share * total
        counts[building] += 1
        total += 1
        if total >= HALVE_AT:
            for name in list(counts):
                counts[name] //= 2
                if not counts[name]:
                    del counts[name]
            total = sum(counts.values())
        self._totals[gateway] = total
        return unusual

    def usual(self, gateway: str) -> list[str]:
        """The buildings `gateway` usually hears, most readings first."""
        total = self._totals.get(gateway, 0)
        return [b for b, n in self._counts.get(gateway, Counter()).most_common() if n >= self.share * total]
