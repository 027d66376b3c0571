"""B Meters Hydrodigit: OMS records plus a manufacturer block after DIF 0F.

Block layout (facts from public test telegrams and decoders): a content byte whose bits announce
battery voltage (bit 0, 1 byte), fraud date (bit 1, 3 bytes: year, month with fraud flags, day),
leak date (bit 7, 3 bytes), backflow (bit 2, 4 bytes LE, litres) and monthly history (bit 4,
12 × 3 bytes LE in 10 litre units, January first; FFFFFF before installation), in that order.
"""

from __future__ import annotations

from typing import Any

from meterd.wmbus.result import Record, Value
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading, manufacturer_tail, vendor_record

VOLTAGES = {
    1: 1.9,
    2: 2.1,
    3: 2.2,
    4: 2.3,
    5: 2.4,
    6: 2.5,
    7: 2.65,
    8: 2.8,
    9: 2.9,
    10: 3.05,
    11: 3.2,
    12: 3.35,
    13: 3.5,
}
FRAUD_FLAGS = ((0x80, "magnetic"), (0x40, "tamper"), (0x20, "removal"))


def _record(quantity: str, unit: str | None, value: Value, **extra: Any) -> Record:
    return vendor_record(quantity, unit, value, dif="0F", **extra)  # what the manufacturer block after DIF 0F holds


def _hex_date(b: bytes) -> str:
    """Year, month, day written as hex digits (20YY-MM-DD), as the meter stores them."""
    return f"20{b[0]:02X}-{b[1] & 0x1F:02X}-{b[2]:02X}"


def parse_block(block: bytes) -> tuple[list[Record], list[str]]:
    """Records and alarm names from the manufacturer block."""
    records: list[Record] = []
    alarms: list[str] = []
    if not block or block[0] == 0:
        return records, alarms
    flags, i, n = block[0], 1, len(block)
    if flags & 0x01 and i < n:
        records.append(_record("battery_voltage", "V", VOLTAGES.get(block[i] & 0x0F, 3.7)))
        i += 1
    if flags & 0x02 and i + 3 <= n:
        kinds = [name for bit, name in FRAUD_FLAGS if block[i + 1] & bit]
        records.append(_record("fraud_date", None, _hex_date(block[i : i + 3]), kinds=kinds))
        alarms += kinds
        i += 3
    if flags & 0x80 and i + 3 <= n:
        records.append(_record("leak_date", None, _hex_date(block[i : i + 3])))
        i += 3
    if flags & 0x04 and i + 4 <= n:
        records.append(
            _record("volume", "m3", int.from_bytes(block[i : i + 4], "little") / 1000, modifiers=["backward_flow"])
        )
        i += 4
    if flags & 0x10:
        months = min(12, (n - i) // 3)
        raws = [block[j] | block[j + 1] << 8 | block[j + 2] << 16 for j in range(i, i + 3 * months, 3)]
        # FFFFFF: the module was not active yet
        values = [raw / 100 if raw < 10_000_000 else 0.0 for raw in raws]
        records += [_record("monthly_volume", "m3", value, month=month) for month, value in enumerate(values, start=1)]
    return records, alarms


class Hydrodigit(VendorDecoder):
    name = "hydrodigit"
    manufacturers = frozenset({"BMT"})
    device_types = frozenset({0x06, 0x07})

    def matches(self, manufacturer: str, version: int, device_type: int) -> bool:
        return super().matches(manufacturer, version, device_type) and version != 0x05

    def apply(self, given: VendorInput) -> VendorReading | None:
        tail = manufacturer_tail(given.records)
        if tail is None:
            return None
        records, alarms = parse_block(bytes.fromhex(str(tail.value)))
        return VendorReading(records, alarms=alarms)


# telegrams of our own making from the published layout: (hex, driver, total_m3). 12.345 m3 and a manufacturer
# block with the battery (2.4 V) and twelve monthly volumes of 10.0 to 21.0 m3
EXAMPLES = (
    ("3B44B4092143658713077A210000000C13452301000F1105E803004C0400B00400140500780500DC0500400600A406000807006C0700D00"
     "700340800", "hydrodigit", 12.345),
)  # fmt: skip

# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (Hydrodigit(),)
