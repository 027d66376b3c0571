"""Times as users write them: ISO 8601 text to epoch seconds (pure)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> int:
    """ISO 8601 with offset or Z → epoch seconds; a time without offset is taken as UTC."""
    dt = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())
