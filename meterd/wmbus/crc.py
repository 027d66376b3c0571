"""CRC-16 variants used on the wire (table driven, pure)."""

from __future__ import annotations


def _table(poly: int) -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


def _reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_EN13757 = _table(0x3D65)
_X25 = _reflected_table(0x8408)


def crc16_en13757(data: bytes) -> int:
    """EN 13757-4 CRC (poly 0x3D65, init 0, xorout 0xFFFF); link blocks, ELL payload, signatures."""
    crc = 0
    table = _EN13757
    for b in data:
        crc = ((crc << 8) & 0xFF00) ^ table[(crc >> 8) ^ b]
    return crc ^ 0xFFFF


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected 0x1021, init and xorout 0xFFFF) used by IMST dongles."""
    crc = 0xFFFF
    table = _X25
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF
