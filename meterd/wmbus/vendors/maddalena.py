"""Maddalena water meters and the EVO 868 radio module: OMS records whose history dates are implied,
and error flags (VIF FD 17) whose bits Maddalena defines.

Facts from published test telegrams of both: the EVO 868 (version 0x50) keeps twelve month-end volumes
in storages 8-19 and dates only storage 8 (storage 8 + n is n months before it); the meters of version
0x01 keep volumes in storages 2-16, storage n being n - 1 months before the meter's clock. A history
volume with a date record of its own keeps that date; the others get the implied one, marked "derived".
"""

from __future__ import annotations

import calendar
import datetime as dt

from meterd.wmbus.result import Record
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading, vendor_record

# bit → normalised alarm (manufacturer's names: software, CRC, sensor and measurement error, battery
# voltage, manipulation, leakage or no usage, reverse flow, overload above the meter's maximum flow)
ERROR_FLAGS = (
    (0x01, "error"),
    (0x02, "error"),
    (0x04, "error"),
    (0x08, "error"),
    (0x10, "low_battery"),
    (0x20, "tamper"),
    (0x40, "leak"),
    (0x80, "backflow"),
    (0x100, "burst"),
)


def months_before(reference: dt.date, months: int) -> dt.date:
    """The same day `months` earlier; a month end stays a month end (31 Dec → 30 Nov → 31 Oct)."""
    index = reference.year * 12 + reference.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    month_end = reference.day == calendar.monthrange(reference.year, reference.month)[1]
    return dt.date(year, month, last if month_end else min(reference.day, last))


def _reference(records: list[Record], quantity: str, storage: int) -> dt.date | None:
    for r in records:
        if r.quantity == quantity and r.storage == storage and isinstance(r.value, str):
            try:
                return dt.date.fromisoformat(r.value[:10])
            except ValueError:
                return None
    return None


def date_history(records: list[Record], reference: dt.date, first: int, last: int) -> list[Record]:
    """A derived date for each history volume in storages first+1..last that has none, in their order."""
    dated = {r.storage for r in records if r.quantity == "date"}
    derived = []
    for rec in records:
        storage = rec.storage
        if rec.quantity == "volume" and first < storage <= last and storage not in dated:
            day = months_before(reference, storage - first).isoformat()
            derived.append(vendor_record("date", None, day, storage, derived=True))
            dated.add(storage)
    return derived


class Maddalena(VendorDecoder):
    name = "maddalena"
    manufacturers = frozenset({"MAD"})
    device_types = frozenset({0x06, 0x07, 0x16})

    def apply(self, given: VendorInput) -> VendorReading | None:
        records = given.records
        evo868 = given.telegram.version == 0x50
        if evo868:
            reference, first, last = _reference(records, "date", 8), 8, 19
        else:
            reference, first, last = _reference(records, "datetime", 0), 1, 16
        flags = next((r.value for r in records if r.quantity == "error_flags"), None)
        if reference is None and flags is None:
            return None
        out = VendorReading(model="evo868" if evo868 else None)
        if reference is not None:
            out.records = date_history(records, reference, first, last)
        if isinstance(flags, int):
            out.alarms = [name for bit, name in ERROR_FLAGS if flags & bit]
        return out


# telegrams of our own making from the published layout: (hex, driver, total_m3). The meter's clock and two
# history volumes, the second without a date of its own (it gets one, derived: a month before the clock)
EXAMPLES = (("2C4424349986012401077A310000000413A7000000046D0E0C163B4413780000008401135A00000002FD170000", "maddalena", 0.167),)

# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (Maddalena(),)
