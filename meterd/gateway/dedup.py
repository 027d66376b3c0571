"""The same telegram heard twice (two dongles, a meter repeating itself) is one reading.

Keyed per meter on its `reading_id` (identity plus the meter's own clock, or its access number and the
telegram's content): each meter keeps the ids of its last few readings, so a busy neighbour can never
push a meter's recent readings out of a shared list. Meters with neither clock nor access number get a
time window instead: the same content again within it is the same reading. A later reading with the
same value is a new reading (its clock or access number differs)."""

from __future__ import annotations

from collections import OrderedDict

from meterd.reading import Reading, TimeBasis

RECENT_PER_METER = 16


class Deduplicator:
    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._recent: dict[str, OrderedDict[str, int]] = {}
        self.duplicates = 0

    def is_new(self, r: Reading) -> bool:
        key = r.meter.key()
        seen = self._recent.get(key)
        if seen is None:
            seen = self._recent[key] = OrderedDict()
        last = seen.get(r.reading_id)
        if last is not None and (r.basis is not TimeBasis.RECEIVE_TIME or r.received_at - last <= self.window_s):
            self.duplicates += 1
            return False
        seen[r.reading_id] = r.received_at
        seen.move_to_end(r.reading_id)
        while len(seen) > RECENT_PER_METER:
            seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._recent)
