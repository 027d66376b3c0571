"""The 15-bit manufacturer code (EN 13757-3 / FLAG association) and three-letter names."""

from __future__ import annotations


def decode_manufacturer(code: int) -> str:
    """Three letters from the 15-bit field; out-of-range letters shown as '?'."""
    letters = []
    for shift in (10, 5, 0):
        v = (code >> shift) & 0x1F
        letters.append(chr(v + 64) if 1 <= v <= 26 else "?")
    return "".join(letters)


def encode_manufacturer(name: str) -> int:
    """Inverse of decode_manufacturer, for tests and telegram builders."""
    if len(name) != 3 or not name.isalpha():
        raise ValueError(f"manufacturer must be three letters, got {name!r}")
    up = name.upper()
    return ((ord(up[0]) - 64) << 10) | ((ord(up[1]) - 64) << 5) | (ord(up[2]) - 64)
