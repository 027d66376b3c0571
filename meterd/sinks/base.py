"""The sink interface: write a batch of readings, flush, close."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from meterd.reading import Reading


class Sink(Protocol):
    def write(self, batch: Sequence[Reading]) -> None:
        """Take readings; a sink may hold them until `flush`."""

    def flush(self) -> None:
        """Make what was written durable (or sent)."""

    def close(self) -> None:
        """Flush and let go of resources."""
