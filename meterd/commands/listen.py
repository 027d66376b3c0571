"""`meterd listen`: receive telegrams and print one JSON line each (DESIGN 2.2)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from meterd.drivers.frame import Frame, FramingError
from meterd.metrics import count_decoded
from meterd.wmbus import Decoder


def frame_json(decoder: Decoder, frame: Frame) -> dict[str, Any]:
    """The DESIGN 2.1 object plus reception metadata; undecodable telegrams still print, with their error."""
    out = decoder.decode_bytes(frame.data)
    out["rssi_dbm"] = frame.rssi_dbm
    at = frame.received_at
    if at.utcoffset():
        at = at.astimezone(UTC)
    out["received_at"] = at.isoformat().replace("+00:00", "Z")
    out["dongle"] = frame.dongle
    if not out["ok"]:
        out["telegram"] = frame.data.hex().upper()
    return out


def paced(
    frames: Iterator[Frame | FramingError], speed: float, stop: threading.Event
) -> Iterator[Frame | FramingError]:
    """Replay at the recorded pace (speed × real time); speed 0 = as fast as possible."""
    first: datetime | None = None
    started = time.monotonic()
    for item in frames:
        if speed > 0 and isinstance(item, Frame):
            if first is None:
                first = item.received_at
            due = (item.received_at - first).total_seconds() / speed
            delay = due - (time.monotonic() - started)
            if delay > 0 and stop.wait(delay):
                return
        if stop.is_set():
            return
        yield item


def emit(decoder: Decoder, items: Iterator[Frame | FramingError], out: IO[bytes], counters: dict[str, int]) -> None:
    for item in items:
        if isinstance(item, FramingError):
            counters[item.code] = counters.get(item.code, 0) + 1
            print(f"meterd: dropped input [{item.code}]: {item.message}", file=sys.stderr)
            continue
        obj = frame_json(decoder, item)
        count_decoded((obj,))
        out.write(orjson.dumps(obj) + b"\n")
        out.flush()


def install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
