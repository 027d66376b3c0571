"""Extended link layer (CI 0x8C-0x8F), EN 13757-4."""

from __future__ import annotations

from dataclasses import dataclass

from meterd.wmbus.errors import DecodeError

# CI → (header length after CI, has M2/A2, has SN + payload CRC)
_ELL = {0x8C: (2, False, False), 0x8D: (8, False, True), 0x8E: (10, True, False), 0x8F: (16, True, True)}
ELL_CIS = frozenset(_ELL)


@dataclass(slots=True)
class Ell:
    ci: int
    cc: int
    access_number: int
    session: int | None = None  # SN, 32 bits
    payload_crc: int | None = None
    receiver_manufacturer: int | None = None
    receiver_address: bytes | None = None

    @property
    def encrypted(self) -> bool:
        return self.session is not None and (self.session >> 29) == 1


def parse_ell(payload: bytes) -> tuple[Ell, int]:
    """Parse the ELL at payload[0] (the CI); returns it and the offset of what follows.

    With an SN the payload CRC field is part of the (possibly encrypted) region; the returned
    offset then points at that CRC field.
    """
    ci = payload[0]
    size, has_address, has_sn = _ELL[ci]
    if len(payload) < 1 + size:
        raise DecodeError("too_short", f"ELL CI {ci:02X} needs {size} header bytes")
    ell = Ell(ci, payload[1], payload[2])
    p = 3
    if has_address:
        ell.receiver_manufacturer = payload[3] | (payload[4] << 8)
        ell.receiver_address = payload[5:11]
        p = 11
    if has_sn:
        ell.session = int.from_bytes(payload[p : p + 4], "little")
        p += 4
    return ell, p


def ctr_prefix(dll_manufacturer: bytes, dll_address: bytes, ell: Ell) -> bytes:
    """First 15 bytes of the CTR counter block: M ‖ A ‖ CC (hop, repeated cleared) ‖ SN ‖ FN=0."""
    assert ell.session is not None
    cc = ell.cc & ~0x12 & 0xFF
    return dll_manufacturer + dll_address + bytes([cc]) + ell.session.to_bytes(4, "little") + b"\x00\x00"
