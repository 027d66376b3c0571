"""JSON lines on a stream: one decoded telegram (or one reading) per line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from meterd.jsonio import dumps
from meterd.reading import Reading


class JsonlSink:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, batch: Sequence[Reading]) -> None:
        for r in batch:
            self.out.write(dumps(r.to_json()) + b"\n")

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.flush()
