"""Hex capture files: one telegram per line, optional leading ISO-8601 receive time, '#' comments."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from meterd.drivers.frame import Frame, FramingError
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.hexinput import parse_hex


def parse_line(line: str, now: datetime | None = None) -> Frame | FramingError | None:
    """One capture line → a Frame, a FramingError (bad hex), or None (blank/comment)."""
    text = line.strip()
    if text.startswith("#"):
        return None
    text = text.split(" #", 1)[0].strip()  # trailing comment; a '#' inside hex is a separator
    if not text:
        return None
    received = now or datetime.now(UTC)
    first, _, rest = text.partition(" ")
    if rest and "T" in first and ":" in first:
        try:
            received = datetime.fromisoformat(first.replace("Z", "+00:00"))
            if received.tzinfo is None:
                received = received.replace(tzinfo=UTC)
            text = rest
        except ValueError:
            pass
    try:
        data = parse_hex(text)
    except DecodeError as e:
        return FramingError(e.code, e.message)
    return Frame(data, received, None, "hex")


def read_capture(lines: Iterable[str]) -> Iterator[Frame | FramingError]:
    for line in lines:
        item = parse_line(line)
        if item is not None:
            yield item
