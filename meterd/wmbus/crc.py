"""CRC-16 variants used on the wire (computed by the fastcrc extension)."""

from __future__ import annotations

from fastcrc import crc16

# A CRC over data followed by its own correct CRC always gives the same value, whatever the data:
# checking that is one call with no byte shuffling (the stored CRC is big-endian for EN 13757, LE for X-25).
EN13757_RESIDUE = 0x5C99
X25_RESIDUE = 0x0F47


def crc16_en13757(data: bytes) -> int:
    """EN 13757-4 CRC (poly 0x3D65, init 0, xorout 0xFFFF); link blocks, ELL payload, signatures."""
    return int(crc16.en_13757(data))


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (= IBM-SDLC: reflected 0x1021, init and xorout 0xFFFF) used by IMST dongles."""
    return int(crc16.ibm_sdlc(data))
