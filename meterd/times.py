"""Times as users write them: ISO 8601 text to epoch seconds (pure)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> int:
    """ISO 8601 with offset or Z → epoch seconds; a time without offset is taken as UTC."""
    dt = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(text: str) -> int:
    """`7d`, `36h`, `90m`, `2w`, `45s` → seconds; ValueError for anything else (a bare number too:
    is 7 minutes or days?)."""
    cleaned = text.strip().lower()
    unit = _DURATION_UNITS.get(cleaned[-1:])
    number = cleaned[:-1]
    if unit is None or not number.isdigit() or len(number) > 6:
        raise ValueError(f"{text[:20]!r} is not a duration (a whole number and a unit: 7d, 36h, 90m, 2w)")
    seconds = int(number) * unit
    if not 0 < seconds <= 10 * 366 * 86_400:
        raise ValueError(f"{text[:20]!r}: give a duration from 1 second to 10 years")
    return seconds
