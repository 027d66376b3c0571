"""Serial dongles (issue: receivers) — placeholder until the framers land."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from meterd.drivers.frame import Frame, FramingError
from meterd.errors import MeterdError


class UnsupportedDongle(MeterdError):
    code = "unsupported_dongle"


def serial_frames(
    dongle: str, port: str, mode: str, stop: threading.Event, counters: dict[str, int]
) -> Iterator[Frame | FramingError]:
    raise UnsupportedDongle(f"dongle {dongle} is not supported yet")
