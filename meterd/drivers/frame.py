"""What every receiver yields: one telegram with its reception metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple


class Frame(NamedTuple):
    """A telegram as received, starting at its L field (or 68 for wired M-Bus), without a trailing RSSI byte.

    A NamedTuple: framers create one per telegram, and this is the cheapest immutable record."""

    data: bytes
    received_at: datetime
    rssi_dbm: float | None = None
    dongle: str = ""


@dataclass(frozen=True, slots=True)
class FramingError:
    """Bytes a framer had to drop; counted by the port loop under `code`."""

    code: str
    message: str


def parse_time(text: str) -> datetime | None:
    """ISO 8601 receive time of a capture line; without an offset it is UTC. None when it is no time."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
