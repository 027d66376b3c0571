"""Apator AT-WMBUS-16-2 ("apator162"): mode 5 encryption around a proprietary register stream.

After 2F2F the payload is 0F (on some meters 80), 7 bytes (date and fault flags), then registers: one
identifying byte, then a fixed number of bytes per register; FF pads to the AES block. With 0F the
record parser sees manufacturer data; with 80 it cannot parse the payload and the decoder hands it over. Register 10 is the total volume
in litres (uint32 LE). Register sizes are facts gathered from public decoders' test telegrams.
"""

from __future__ import annotations

from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading, manufacturer_tail, vendor_record

REGISTER_SIZES: dict[int, int] = {
    0x00: 4, 0x01: 3, 0x10: 4, 0x11: 2, 0x40: 6, 0x41: 2, 0x42: 4, 0x43: 2, 0x44: 3,
    0x71: 9, 0x72: 13, 0x73: 17, 0x75: 25, 0x7B: 49,
    0x80: 10, 0x81: 10, 0x82: 10, 0x83: 10, 0x84: 10, 0x86: 10, 0x87: 10, 0x85: 11, 0x88: 11, 0x8F: 11,
    0x8A: 9, 0x8B: 6, 0x8C: 6, 0x8E: 7,
    0x92: 3, 0x93: 3, 0x94: 3, 0x95: 3,
    0xA0: 4, 0xA1: 4, 0xA2: 1, 0xA3: 7, 0xA4: 4, 0xA5: 1, 0xA9: 1, 0xAF: 1, 0xA6: 3,
    0xA7: 2, 0xA8: 2, 0xAA: 2, 0xAB: 2, 0xAC: 2, 0xAD: 2,
    0xB0: 5, 0xB1: 8, 0xB2: 16, 0xB3: 8, 0xB4: 2, 0xB5: 16,
    **{c: 3 for c in range(0xB6, 0xC8)}, 0xD0: 3, 0xD3: 3, 0xF0: 4,
}  # fmt: skip
TOTAL_REGISTER = 0x10
HEADER = 7  # after the 0F: date (4) and fault flags (3)


def registers(stream: bytes) -> tuple[dict[int, bytes], int | None]:
    """Register id → content, and the id of an unknown register that stopped parsing (if any)."""
    found: dict[int, bytes] = {}
    i = HEADER
    while i < len(stream):
        reg = stream[i]
        if reg == 0xFF:
            return found, None
        size = REGISTER_SIZES.get(reg)
        if size is None or i + 1 + size > len(stream):
            return found, reg
        found.setdefault(reg, stream[i + 1 : i + 1 + size])
        i += 1 + size
    return found, None

# telegrams of our own making from the published layouts (the all-zero key): (hex, driver, total_m3)
EXAMPLES = (("1C440106813591041407A1420074DAA849CDFD92A4A71EA70E995BAB84", "apatorna1", 46.61),)


class Apator162(VendorDecoder):
    name = "apator162"
    manufacturers = frozenset({"APA"})
    device_types = frozenset({0x06, 0x07, 0x16})
    versions = frozenset({0x05})
    reads_payload = True

    def apply(self, given: VendorInput) -> VendorReading | None:
        apl = given.apl
        lead = len(apl) - len(apl.lstrip(b"\x2f"))  # after the 2F2F of the decrypted payload
        tail = manufacturer_tail(given.records)
        out = VendorReading()
        if lead < len(apl) and apl[lead] == 0x80:
            stream = apl[lead + 1 :]
            out.own = []  # what the record parser made of it (if anything) is no record
        elif tail is not None:
            stream = bytes.fromhex(str(tail.value))
        else:
            return None
        found, unknown = registers(stream)
        if unknown is not None:
            out.warning = f"unknown apator162 register {unknown:02X}: registers after it were not read"
        total = found.get(TOTAL_REGISTER)
        if total is not None:
            out.total_m3 = int.from_bytes(total, "little") / 1000
            out.records.append(vendor_record("volume", "m3", out.total_m3, register="10"))
        return out


class Apator08(VendorDecoder):
    """Apator AT-WMBUS-08 and AT-WMBUS-17-2 (manufacturer code 0x8614, "APT"), CI A0.

    The register (uint32 LE) counts thirds of a litre on the 08 and thirds of a m3 on the 17-2
    (version 0x04: the total is exactly raw / 3, not rounded). The link layer declares gas (0x03) or
    0x11 for these water meters; the medium is corrected to water."""

    name = "apator08"
    manufacturers = frozenset({"APT"})
    cis = frozenset({0xA0})

    def matches(self, manufacturer: str, version: int, device_type: int) -> bool:
        return manufacturer in self.manufacturers

    def apply(self, given: VendorInput) -> VendorReading | None:
        if given.ci != 0xA0 or len(given.apl) < 4:
            return None
        raw = int.from_bytes(given.apl[:4], "little")
        if given.telegram.version == 0x04 and given.telegram.device_type == 0x11:
            total, name = raw / 3, "apator172"
        else:
            total, name = round(raw / 3000, 6), "apator08"
        return VendorReading([vendor_record("volume", "m3", total)], total_m3=total, model=name, device_type=0x07,
                             medium="water")  # fmt: skip


NA1_ALARMS = ((0x08, "leak"), (0x20, "backflow"), (0x04, "removal"), (0x02, "magnetic"), (0x01, "low_battery"))


class ApatorNA1(VendorDecoder):
    """Apator NA-1 (APA, version 0x14): CI A0 or A1 (the same layout), ACC, the frame status byte, then
    16 bytes AES-128-CBC with the mode 5 IV (DLL manufacturer and address, ACC x 8).

    The meter's key from the key ring, else the all-zero default key. Decrypted: 2F, the packed total
    (4 bits in byte 1, then bytes 2-4, in litres times 10^(bits 5-4 of byte 1)), seconds since 2000,
    the historic period, then byte 14 the current alarms."""

    name = "apatorna1"
    manufacturers = frozenset({"APA"})
    versions = frozenset({0x14})
    cis = frozenset({0xA0, 0xA1})

    def apply(self, given: VendorInput) -> VendorReading | None:
        apl, dll = given.apl, given.dll
        if given.ci not in self.cis or len(apl) < 18 or len(dll) != 8:
            return None
        from meterd.wmbus.security import AesKey, mode5_iv

        # meters ship with the all-zero key; nothing checks it, so the output says it was assumed
        key = given.key if given.key is not None else AesKey(bytes(16))
        plain = key.cbc_decrypt(mode5_iv(dll[:2], dll[2:], apl[0]), apl[2:18])
        multiplier = 10 ** ((plain[1] & 0x30) >> 4)
        reading = plain[4] << 20 | plain[3] << 12 | plain[2] << 4 | (plain[1] & 0x0F)
        total = reading * multiplier / 1000
        return VendorReading([vendor_record("volume", "m3", total)], total_m3=total,
                             alarms=[name for bit, name in NA1_ALARMS if plain[14] & bit], access_number=apl[0],
                             security_mode=5, decrypted=True, default_key=given.key is None)  # fmt: skip


# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (Apator162(), ApatorNA1(), Apator08())
