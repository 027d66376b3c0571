"""Turning user-supplied hex text into bytes."""

from __future__ import annotations

from meterd.wmbus.errors import DecodeError

_SEPARATORS = str.maketrans("", "", " \t\r\n|_#:-")


def parse_hex(text: str) -> bytes:
    """Parse hex with the separators people paste (spaces, `|`, `_`, `#`); an optional 0x prefix."""
    try:
        data = bytes.fromhex(text)  # the common case, plain hex (whitespace between bytes is allowed)
        if data:
            return data
    except ValueError:
        pass
    cleaned = text.translate(_SEPARATORS)
    if cleaned[:2] in ("0x", "0X"):
        cleaned = cleaned[2:]
    if not cleaned:
        raise DecodeError("empty", "no telegram given")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        if len(cleaned) % 2:
            raise DecodeError("bad_hex", f"odd number of hex digits ({len(cleaned)})") from None
        raise DecodeError("bad_hex", "telegram contains characters that are not hex digits") from None
