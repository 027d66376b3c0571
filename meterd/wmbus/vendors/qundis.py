"""Qundis Q water 5.5 / Q water S: standard OMS frames, and a walk-by frame with one manufacturer record.

The walk-by frame (CI 0x78) carries a single record DIF 0D, VIF FF 5F of 53 bytes instead of OMS records.
Facts from public test telegrams: bytes 12-15 hold the total volume (8-digit BCD, litres), 16-17 the
last due date (type G), 18-21 the volume at that date (BCD), 22-23 the date of the latest month end
(type G) and 24-27 the volume at it (BCD). The same values sit in the standard frame as records
0C13, 426C/4C13 (storage 1) and C2086C/CC0813 (storage 17); the walk-by values are given the same shape.
"""

from __future__ import annotations

from meterd.wmbus.datatypes import bcd_value, date_g
from meterd.wmbus.result import Record, Value
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading, vendor_record

WALK_BY_LENGTH = 53
# (offset, storage, quantity) of the walk-by fields; volumes are 4 BCD bytes, dates 2 bytes type G
FIELDS = ((12, 0, "volume"), (16, 1, "date"), (18, 1, "volume"), (22, 17, "date"), (24, 17, "volume"))


def _record(quantity: str, storage: int, value: Value) -> Record:
    unit = "m3" if quantity == "volume" else None
    return vendor_record(quantity, unit, value, storage, dif="0D", vif="FF5F")  # read from the walk-by record


def parse_walk_by(block: bytes) -> list[Record]:
    records = []
    for offset, storage, quantity in FIELDS:
        if quantity == "volume":
            litres = bcd_value(block[offset : offset + 4])
            value: Value = None if litres is None else litres / 1000
        else:
            value = date_g(block[offset : offset + 2])
        records.append(_record(quantity, storage, value))
    return records

# a walk-by telegram of our own making from the published layout (CI 0x78, the 53-byte block; the total
# BCD litres at bytes 12-15): (hex, driver, total_m3)
EXAMPLES = (("43449344785634121806780DFF5F35" + "00" * 9 + "13000056341200" + "00" * 37, "qwater", 123.456),)


class QundisWater(VendorDecoder):
    name = "qwater"
    manufacturers = frozenset({"QDS"})
    device_types = frozenset({0x06, 0x07, 0x15, 0x16, 0x37})

    def apply(self, given: VendorInput) -> VendorReading | None:
        walk_by = next((r for r in given.records if r.dif == "0D" and r.vif == "FF5F" and isinstance(r.value, str)), None)
        if walk_by is None:
            return None
        block = bytes.fromhex(str(walk_by.value))
        if len(block) != WALK_BY_LENGTH:
            return VendorReading(read=False, warning=f"Qundis walk-by record of {len(block)} bytes, not {WALK_BY_LENGTH}: not read")
        records = parse_walk_by(block)
        return VendorReading(records, total_m3=records[0].value if given.telegram.total_m3 is None else None)


# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (QundisWater(),)
