"""CRC-16 variants used on the wire (computed by the fastcrc extension)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
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


def _en13757_table() -> npt.NDArray[np.uint16]:
    table = np.zeros(256, dtype=np.uint16)
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x3D65) if crc & 0x8000 else (crc << 1)
        table[i] = crc & 0xFFFF
    return table


_TABLE = _en13757_table()


def crc16_en13757_rows(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint16]:
    """The EN 13757 CRC of every row of a byte matrix at once (one numpy step per column)."""
    crc = np.zeros(rows.shape[0], dtype=np.uint16)
    table = _TABLE
    for col in rows.T:
        crc = table[(crc >> 8) ^ col] ^ (crc << 8)
    return crc ^ np.uint16(0xFFFF)
