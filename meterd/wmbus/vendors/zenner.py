"""Zenner (ZRI) version 0x0B, device type 0x16 (cold water), CI 0x7A.

The configuration field announces mode 5, but the payload is sent in the clear (it starts 2F 2F, which
the standard layers accept as already decrypted). After DIF 0x0F, manufacturer data: bytes 0-3 a status
(u32 LE, 0 = OK), bytes 4-7 this month's consumption and bytes 8-11 the total, both u32 LE in
1/256000 m3; an optional trailing byte.
"""

from __future__ import annotations

from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading, manufacturer_tail, vendor_record

UNIT = 256_000  # counts per m3

# telegrams of our own making from the published layout: (hex, driver, total_m3)
EXAMPLES = (("1E44496A785634120B167A210010052F2F0F0000000000DC05000044D61255", "zenner0b", 1234.5),)


class Zenner0B(VendorDecoder):
    name = "zenner0b"
    manufacturers = frozenset({"ZRI"})
    versions = frozenset({0x0B})
    device_types = frozenset({0x16})

    def apply(self, given: VendorInput) -> VendorReading | None:
        tail = manufacturer_tail(given.records)
        if tail is None:
            return None
        data = bytes.fromhex(str(tail.value))
        if len(data) < 12:
            return VendorReading(read=False, warning=f"Zenner manufacturer data of {len(data)} bytes, not 12: not read")
        status = int.from_bytes(data[0:4], "little")
        month = int.from_bytes(data[4:8], "little") / UNIT
        total = int.from_bytes(data[8:12], "little") / UNIT
        records = [vendor_record("volume", "m3", total), vendor_record("volume", "m3", month, period="current_month")]
        return VendorReading(records, total_m3=total, alarms=["error"] if status else [])


# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (Zenner0B(),)
