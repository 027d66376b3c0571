"""Hex capture files: one telegram per line, optional leading ISO-8601 receive time, '#' comments."""

from __future__ import annotations

from datetime import UTC, datetime

from meterd.drivers.frame import Frame, FramingError, parse_time
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.hexinput import parse_hex

fromhex, fromisoformat = bytes.fromhex, datetime.fromisoformat
_make = tuple.__new__  # Frame without NamedTuple's Python-level __new__: these run once per line


def parse_line(line: str, now: datetime | None = None) -> Frame | FramingError | None:
    """One capture line → a Frame, a FramingError (bad hex), or None (blank/comment)."""
    first, _, rest = line.partition(" ")
    if first[-1:] == "Z" and rest:  # the shape meterd writes: UTC time, hex: read without the checks below
        try:
            data = fromhex(rest)
            if data:
                return _make(Frame, (data, fromisoformat(first), None, "hex"))
        except ValueError:
            pass  # a comment, separators or a damaged line: the general path says what is wrong
    text = line.strip()
    if not text or text[0] == "#":
        return None
    if " #" in text:
        text = text.split(" #", 1)[0].rstrip()  # trailing comment; a '#' inside hex is a separator
    received = None
    first, _, rest = text.partition(" ")
    if rest and ":" in first:
        received = parse_time(first)
        if received is not None:
            text = rest
    try:
        data = parse_hex(text)
    except DecodeError as e:
        return FramingError(e.code, e.message)
    return _make(Frame, (data, received or now or datetime.now(UTC), None, "hex"))
