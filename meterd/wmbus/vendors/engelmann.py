"""Engelmann FAW water meters (EFE, type 0x07, header version 0x00): compact frames on radio (CI 0x73 with
the long header, 0x7B with the short one) whose format, signature 0x052D, is known before any full frame:
a date, the volume at it, error flags, fifteen half-monthly volumes, the meter clock and, last, the
total (04 13, litres)."""

from __future__ import annotations

from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading

FAW_FORMAT = bytes.fromhex(
    "426C 4413 01FD17 840113 C40113 840213 C40213 840313 C40313 840413 C40413 840513 C40513 840613 C40613 "
    "840713 C40713 840813 046D 0413".replace(" ", "")
)

# compact frames of our own making, short and long header (hex, driver, total_m3): standard records
# once the format is known, so the driver is "oms"
EXAMPLES = (
    ("5F44C5147856341200077B110000002F2F2D05" + "00" * 73 + "40E20100", "oms", 123.456),
    ("6744C5147856341200077378563412C5140007110000002F2F2D05" + "00" * 73 + "40E20100", "oms", 123.456),
)


class EngelmannFaw(VendorDecoder):
    name = "engelmannfaw"
    manufacturers = frozenset({"EFE"})

    def known_formats(self) -> tuple[bytes, ...]:
        return (FAW_FORMAT,)

    def apply(self, given: VendorInput) -> VendorReading | None:
        return None  # standard records once the format is known: nothing proprietary to read


# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (EngelmannFaw(),)
