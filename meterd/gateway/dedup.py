"""The same telegram heard twice (two dongles, a meter repeating itself) is one reading.

Keyed per meter on its `reading_id` (identity plus the meter's own clock, or its access number and the
telegram's content): each meter keeps the ids of its last few readings, so a busy neighbour can never
push a meter's recent readings out of a shared list. Meters with neither clock nor access number get a
time window instead: the same content again within it is the same reading. A later reading with the
same value is a new reading (its clock or access number differs).

The recent ids are kept as 64-bit fingerprints in flat arrays, a ring of `per_meter` places for each
meter (16 bytes a place): a gateway that hears 20,000 meters holds 5 MB for them, not the 70 MB that
dictionaries of id strings took. Two ids of one meter's last few readings sharing a 64-bit fingerprint
is the only way a reading could be taken for a duplicate wrongly (odds of about 1 in 10^18).
"""

from __future__ import annotations

from array import array

from meterd.reading import Reading, TimeBasis

RECENT_PER_METER = 16
_EMPTY = 0  # a place no reading has used yet
_MASK = (1 << 64) - 1


class Deduplicator:
    def __init__(self, window_s: float = 60.0, per_meter: int = RECENT_PER_METER) -> None:
        self.window_s = window_s
        self.per_meter = per_meter
        self._slot: dict[str, int] = {}  # meter identity → its ring's number
        self._ids = array("Q")  # fingerprints, `per_meter` places for each ring
        self._times = array("q")  # when each place's reading was received
        self._next = array("H")  # each ring's next place to overwrite
        self.duplicates = 0

    def is_new(self, r: Reading) -> bool:
        k = self.per_meter
        slot = self._slot.get(r.meter.key())
        if slot is None:
            slot = self._slot[r.meter.key()] = len(self._next)
            self._ids.extend([_EMPTY] * k)
            self._times.extend([0] * k)
            self._next.append(0)
        fingerprint = (hash(r.reading_id) & _MASK) or 1
        base = slot * k
        ring = self._ids[base : base + k]
        if fingerprint in ring:
            place = base + ring.index(fingerprint)
            if r.basis is not TimeBasis.RECEIVE_TIME or r.received_at - self._times[place] <= self.window_s:
                self.duplicates += 1
                return False
            self._times[place] = r.received_at  # the same content again past the window: a new reading
            return True
        place = self._next[slot]
        self._ids[base + place] = fingerprint
        self._times[base + place] = r.received_at
        self._next[slot] = (place + 1) % k
        return True

    def __len__(self) -> int:
        return len(self._slot)
