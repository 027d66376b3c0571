"""Techem MK Radio 3 water meters: CI A2, a proprietary payload (facts from public test telegrams).

Payload after the CI: 1 byte, previous period date (16 bits LE: day 0-4, month 5-8, year 9-14 since
2000), previous period volume (16 bits LE, 0.1 m3), current date (16 bits LE: day 4-8, month 9-12; no
year is sent), volume in the current period (16 bits LE, 0.1 m3). The total is the sum of both volumes.
Version 0x70 sends the same layout on CI A0 (recognised by manufacturer, version and type, not the CI).

MK Radio 3a (version 0x50, type 0x72, CI A2, 44 bytes) has a layout of its own: bytes 2-3 the current
date (day bits 0-4, month 5-8, year 9-15 since 2000), bytes 4-6 the total (24 bits LE, 0.1 m3), then
twelve history entries of a byte and a 16-bit word, and a last byte.
"""

from __future__ import annotations

from meterd.wmbus.datatypes import checked_date
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading
from meterd.wmbus.vendors import vendor_record as _record

# telegrams of our own making from the published layouts: (hex, driver, total_m3)
EXAMPLES = (
    ("36446850785634125072A200006F3540E2010000" + "00" * 36 + "00", "mkradio3a", 12345.6),
    ("1B446850785634127062A0000000E803000019000000000000000000", "mkradio3", 102.5),
)


class MKRadio3(VendorDecoder):
    """MK Radio 3 (version 0x74) and MK Radio 4 (0x95): the same volumes; dates only known for the 3."""

    name = "mkradio3"
    manufacturers = frozenset({"TCH"})
    device_types = frozenset({0x62, 0x72, 0x06, 0x07, 0x16})
    cis = frozenset({0xA2, 0xA0})
    models = frozenset({"mkradio3a"})

    def apply(self, given: VendorInput) -> VendorReading | None:
        p, ci = given.apl, given.ci
        version, dt = given.telegram.version, given.telegram.device_type
        if ci == 0xA2 and version == 0x50:
            return self._radio3a(given)
        mk3_on_a0 = ci == 0xA0 and version == 0x70 and dt in (0x62, 0x72)
        if not (ci == 0xA2 or mk3_on_a0) or len(p) < 9:
            return None
        prev_date = p[1] | p[2] << 8
        previous = (p[3] | p[4] << 8) / 10
        current_date = p[5] | p[6] << 8
        current = (p[7] | p[8] << 8) / 10
        total = round(previous + current, 1)
        year, month, day = 2000 + ((prev_date >> 9) & 0x3F), (prev_date >> 5) & 0x0F, prev_date & 0x1F
        out = VendorReading([_record("volume", "m3", total), _record("volume", "m3", previous, storage=1)], total_m3=total)
        if version == 0x95:
            out.model = "mkradio4"
        else:
            out.records += [
                _record("date", None, checked_date(year, month, day), storage=1),
                _record(
                    "current_period_date", None, f"{(current_date >> 9) & 0x0F:02d}-{(current_date >> 4) & 0x1F:02d}"
                ),
            ]
        out.medium = "warm_water" if dt in (0x62, 0x06) else "cold_water" if dt in (0x72, 0x16) else "water"
        return out

    def _radio3a(self, given: VendorInput) -> VendorReading | None:
        p = given.apl
        if len(p) < 7:
            return None
        date = p[2] | p[3] << 8
        total = int.from_bytes(p[4:7], "little") / 10
        records = [
            _record("volume", "m3", total),
            _record("date", None, checked_date(2000 + (date >> 9), (date >> 5) & 0x0F, date & 0x1F)),
        ]
        medium = "cold_water" if given.telegram.device_type == 0x72 else "water"
        return VendorReading(records, total_m3=total, medium=medium, model="mkradio3a")


# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (MKRadio3(),)
