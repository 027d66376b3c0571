"""Diehl IZAR radio (PRIOS): manufacturer CIs 0xA0-0xA7 with LFSR scrambling and the published default keys.

Facts from public sources: the scrambling is a 32-bit LFSR (taps at bits 1, 2, 11 and 31) seeded with
the default key halves XORed together and with header bytes; a correct key gives 0x4B as first byte.
Then: total volume (litres, uint32 LE at 1), volume at the last period end (at 5) and its date (9-10).
The header bytes after the CI hold the transmit period, the battery life and the alarm bits.
DME and HYD meters send their address as version, type, ID; SAP meters use the whole A field as ID.
"""

from __future__ import annotations

from meterd.wmbus.datatypes import checked_date
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.link import LinkFrame
from meterd.wmbus.manufacturer import decode_manufacturer
from meterd.wmbus.medium import medium_name
from meterd.wmbus.records import parse_layout
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorReading
from meterd.wmbus.vendors import vendor_record as _record

DEFAULT_KEYS = (bytes.fromhex("39BC8A10E66D83F8"), bytes.fromhex("51728910E66D83F8"))
PRIOS_CIS = frozenset(range(0xA0, 0xA8))
CHECK_BYTE = 0x4B


def _be32(b: bytes) -> int:
    return int.from_bytes(b[:4], "big")


def lfsr_step8(state: int) -> int:
    """Eight LFSR steps one bit at a time; returns the 8 new bits (the reference for the tables)."""
    for _ in range(8):
        bit = ((state >> 1) ^ (state >> 2) ^ (state >> 11) ^ (state >> 31)) & 1
        state = ((state << 1) | bit) & 0xFFFFFFFF
    return state & 0xFF


# The 8 new bits are a linear (XOR) function of state bits 31-24, 11-4 and 2-0: three tables do a byte at once.
_HI = tuple(lfsr_step8(v << 24) for v in range(256))
_MID = tuple(lfsr_step8(v << 4) for v in range(256))
_LO = tuple(lfsr_step8(v) for v in range(8))


def _keystream(state: int, count: int) -> int:
    """`count` LFSR output bytes from `state`, as one big-endian integer (XORed onto the data at once)."""
    hi, mid, lo = _HI, _MID, _LO
    stream = 0
    for _ in range(count):
        new = hi[state >> 24] ^ mid[(state >> 4) & 0xFF] ^ lo[state & 0x07]
        state = ((state << 8) | new) & 0xFFFFFFFF
        stream = (stream << 8) | new
    return stream


def _seed(origin: bytes, key: bytes) -> int:
    """The key halves XORed together, then with the three 32-bit words of the header from M on."""
    header = int.from_bytes(origin[2:14], "big")
    return _be32(key[:4]) ^ _be32(key[4:8]) ^ (header >> 64) ^ ((header >> 32) & 0xFFFFFFFF) ^ (header & 0xFFFFFFFF)


def lfsr_stream(origin: bytes, key: bytes, count: int | None = None) -> bytes:
    """origin: the frame without link CRCs from L on; returns origin[15:] (its first `count` bytes)
    XORed with the LFSR bytes."""
    data = origin[15:] if count is None else origin[15 : 15 + count]
    stream = _keystream(_seed(origin, key), len(data))
    return (int.from_bytes(data, "big") ^ stream).to_bytes(len(data), "big")


PRIOS_USED = 11  # bytes of PRIOS data read: check byte, total, last period volume and date


def lfsr_descramble(origin: bytes, key: bytes) -> bytes | None:
    """The PRIOS data a decoder reads (CI 0xA0-0xA7); None when the key does not fit (check byte)."""
    if len(origin) <= 15:
        return None
    state = _seed(origin, key)
    if origin[15] ^ _keystream(state, 1) != CHECK_BYTE:  # one keystream byte rejects a wrong key
        return None
    data = origin[15 : 15 + PRIOS_USED]
    return (int.from_bytes(data, "big") ^ _keystream(state, len(data))).to_bytes(len(data), "big")


def real_data_descramble(origin: bytes, key: bytes) -> bytes | None:
    """Diehl "real data" frames (CI 0x7A with bit 4 of the configuration's high byte set): the data after
    the short header is scrambled; the byte sum of the result, masked with 0xEF, equals that high byte
    masked the same way. None when the key does not fit."""
    data = lfsr_stream(origin, key)
    return data if sum(data) & 0xEF == origin[14] & 0xEF else None


def header_alarms(h1: int, h2: int, h3: int) -> list[str]:
    """Alarm bits of the three header bytes after the CI: current alarms only (previous ones are history)."""
    alarms = []
    if h2 & 0x80:
        alarms.append("leak")
    if h2 & 0x20:
        alarms.append("blocked")
    if h3 & 0x80:
        alarms.append("backflow")
    if h3 & 0x0A:  # sensor or mechanical fraud now
        alarms.append("tamper")
    if h3 & 0x70 or h1 & 0x80:  # underflow, overflow, submarine, general alarm
        alarms.append("error")
    return alarms


def _parses(data: bytes) -> bool:
    try:
        parse_layout(data, lenient=False)
    except DecodeError:
        return False
    return True


class Izar(VendorDecoder):
    """IZAR PRIOS frames, and two departures of Diehl OMS frames: the "real data" frames (address sent as
    version, type, ID; data scrambled) and the published default AES key of mode 5 frames."""

    name = "izar"
    manufacturers = frozenset({"DME", "HYD", "SAP", "EWT", "SPL"})
    cis = PRIOS_CIS
    default_key = DEFAULT_KEYS[1] * 2
    prepares_frames = True

    def __init__(self) -> None:
        # meter address → the default key that descrambled its data: later frames skip the records check
        self._fitting: dict[bytes, bytes] = {}

    def _descramble(self, origin: bytes, address: bytes) -> bytes | None:
        known = self._fitting.get(address)
        if known is not None and (data := real_data_descramble(origin, known)) is not None:
            return data
        for key in DEFAULT_KEYS:  # the byte-sum check has 7 bits: a wrong key can pass it, records tell
            data = real_data_descramble(origin, key)
            if data is not None and _parses(data):
                if len(self._fitting) >= 100_000:
                    self._fitting.clear()
                self._fitting[address] = key
                return data
        return None

    def prepare(self, link: LinkFrame) -> LinkFrame:
        p = link.payload
        real_data = len(p) >= 5 and p[0] == 0x7A and p[4] & 0x10
        if link.c_field not in (0x44, 0x46) or not p or not (real_data or p[0] == 0x71):  # 0x71: alarm frames
            return link
        a = link.id_bytes + bytes([link.version, link.device_type])
        descrambled, warning = False, link.warning
        if real_data:
            origin = bytes([0, link.c_field]) + link.manufacturer.to_bytes(2, "little") + a + p
            plain = self._descramble(origin, origin[2:10])
            if plain is not None:
                descrambled = True
            elif _parses(p[5:]):  # a receiver (or a capture tool) already undid the scrambling
                plain = p[5:]
            else:
                raise DecodeError("decrypt_failed", "Diehl scrambled data: no default key fits")
            p = p[:3] + b"\0\0" + plain  # no standard security mode applies to what is left
        return LinkFrame(
            link.kind,
            link.c_field,
            p,
            link.crc_format,
            manufacturer=link.manufacturer,
            id_bytes=a[2:6],
            version=a[0],
            device_type=a[1],
            warning=warning,
            descrambled=descrambled,
        )

    def matches(self, manufacturer: str, version: int, device_type: int) -> bool:
        return manufacturer in self.manufacturers  # the A field of PRIOS frames is not standard

    def apply(self, given: VendorInput) -> VendorReading | None:
        apl, dll, ci = given.apl, given.dll, given.ci
        if ci not in PRIOS_CIS or len(apl) < 5 or len(dll) != 8:
            return None
        origin = bytes([0, 0x44]) + dll + bytes([ci]) + apl
        decoded = next((d for k in DEFAULT_KEYS if (d := lfsr_descramble(origin, k)) is not None), None)
        if decoded is None or len(decoded) < 5:
            return VendorReading(warning="PRIOS data could not be descrambled with the default keys")
        mfr = decode_manufacturer(dll[0] | dll[1] << 8)
        if mfr == "SAP":
            meter_id, version, device_type = dll[2:6][::-1].hex().upper(), 0, 0x07
        else:
            meter_id, version, device_type = dll[4:8][::-1].hex().upper(), dll[2], dll[3]
        h1, h2, h3 = apl[0], apl[1], apl[2]
        total = int.from_bytes(decoded[1:5], "little") / 1000
        records = [_record("volume", "m3", total)]
        if len(decoded) > 8:
            records.append(_record("volume", "m3", int.from_bytes(decoded[5:9], "little") / 1000, storage=1))
        if len(decoded) > 10:
            year = ((decoded[10] & 0xF0) >> 1) + ((decoded[9] & 0xE0) >> 5)
            year += 1900 if year > 80 else 2000
            records.append(_record("date", None, checked_date(year, decoded[10] & 0x0F, decoded[9] & 0x1F), storage=1))
        battery_years = (h2 & 0x1F) / 2
        records.append(_record("remaining_battery_life", "y", battery_years))
        records.append(_record("transmit_period", "s", 1 << ((h1 & 0x0F) + 2)))
        alarms = header_alarms(h1, h2, h3) + (["low_battery"] if battery_years < 1 else [])
        return VendorReading(records, total_m3=total, alarms=alarms, meter_id=meter_id, version=version,
                             device_type=device_type, medium=medium_name(device_type))  # fmt: skip


# telegrams of our own making from the published layout: (hex, driver, total_m3). A PRIOS frame (CI A2) of
# meter 43218765: 123.456 m3, 120 m3 at 2024-01-31, 14 years of battery, scrambled with the second key
EXAMPLES = (("1944A511010765872143A2131C00007FB88D089256D35791BCBE", "izar", 123.456),)

# what the registry (meterd.wmbus.vendors.default_registry) takes from this module, in this order
DECODERS = (Izar(),)
