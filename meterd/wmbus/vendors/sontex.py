"""Sontex / B Meters RFM-TX1 (BMT, version 0x05, type 0x07, CI 0x7A, configuration field 0x1006): not
encrypted but scrambled (security bits 0x10). From the frame start (the L field is byte 0): byte 11 the
access number A, bytes 17-20 the scrambled total, bytes 28-33 seconds, minutes, hours, day, month, year
(plain BCD). Byte i of the total is byte(17 + i) XOR A XOR T_i[A & 0x0F]: four BCD pairs, least
significant first, litres / 1000 (so m3 with three decimals). The tables are published; only column 5
has been checked against a real telegram.

The frame is rewritten before the standard layers read it: the total as a record `0C 13` (BCD litres)
and the time as `04 6D` (type F), the configuration field cleared."""

from __future__ import annotations

from meterd.wmbus.link import LinkFrame
from meterd.wmbus.manufacturer import encode_manufacturer
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading

TABLES = (
    (122, 112, 185, 121, 7, 50, 156, 180, 10, 240, 22, 12, 74, 119, 189, 57),
    (16, 19, 11, 7, 154, 161, 126, 196, 206, 5, 152, 201, 72, 46, 120, 111),
    (26, 34, 142, 74, 203, 57, 96, 128, 25, 165, 17, 125, 228, 138, 87, 40),
    (10, 19, 153, 22, 105, 14, 153, 163, 3, 134, 94, 162, 31, 232, 140, 5),
)
CF_SCRAMBLED = 0x1006


def descramble_total(frame_bytes: bytes, access: int) -> bytes:
    """The four BCD bytes of the total (least significant first) from frame bytes 17-20."""
    return bytes(frame_bytes[i] ^ access ^ TABLES[i][access & 0x0F] for i in range(4))


def _bcd(n: int) -> int:
    return (n >> 4) * 10 + (n & 0x0F)

# telegrams of our own making from the published tables: (hex, driver, total_m3)
EXAMPLES = (("2144B4097856341205077A250006100C1341B00E2B00000000000000301510211126", "rfmtx1", 123.456),)


class RfmTx1(VendorDecoder):
    name = "rfmtx1"
    manufacturers = frozenset({"BMT"})
    versions = frozenset({0x05})
    device_types = frozenset({0x07})
    prepares_frames = True

    def prepare(self, link: LinkFrame) -> LinkFrame:
        p = link.payload  # from the CI (frame byte 10) on
        if (link.manufacturer != encode_manufacturer("BMT") or link.version != 0x05 or link.device_type != 0x07
                or len(p) < 24 or p[0] != 0x7A or (p[3] | p[4] << 8) != CF_SCRAMBLED):  # fmt: skip
            return link
        access = p[1]
        total = descramble_total(p[7:11], access)
        sec, minute, hour, day, month, year = (_bcd(x) for x in p[18:24])
        when = bytes([minute & 0x3F, hour & 0x1F, (day & 0x1F) | ((year & 0x07) << 5), (month & 0x0F) | ((year & 0x78) << 1)])
        del sec  # type F has no seconds
        apl = bytes.fromhex("0C13") + total + bytes.fromhex("046D") + when
        return LinkFrame(link.kind, link.c_field, p[:3] + b"\0\0" + apl, link.crc_format, manufacturer=link.manufacturer,
                         id_bytes=link.id_bytes, version=link.version, device_type=link.device_type,
                         warning=link.warning, descrambled=True)  # fmt: skip

    def apply(self, given: VendorInput) -> VendorReading | None:
        # the standard records of the rewritten frame say it all; a frame it rewrote is named its own
        return VendorReading() if given.telegram.decrypted and given.telegram.security_mode == 0 else None


# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (RfmTx1(),)
