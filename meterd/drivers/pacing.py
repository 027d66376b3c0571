"""Replaying captures at their recorded pace (or as fast as possible)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

from meterd.drivers.frame import Frame, FramingError

MAX_GAP_S = 600.0  # of recorded time: a line without a time stamp (or a jump in the clock) waits no longer


def paced(
    frames: Iterator[Frame | FramingError], speed: float, stop: threading.Event
) -> Iterator[Frame | FramingError]:
    """Replay at the recorded pace (speed × real time); speed 0 = as fast as possible. Each gap between
    two telegrams is taken from their receive times, at most MAX_GAP_S and never negative."""
    last: datetime | None = None
    due = time.monotonic()
    for item in frames:
        if speed > 0 and isinstance(item, Frame):
            if last is not None:
                gap = (item.received_at - last).total_seconds()
                due += min(max(gap, 0.0), MAX_GAP_S) / speed
            last = item.received_at
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
        if stop.is_set():
            return
        yield item
