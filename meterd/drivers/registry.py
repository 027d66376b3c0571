"""Opening a receiver by its --dongle name."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterd.drivers.frame import Frame, FramingError
from meterd.errors import MeterdError

if TYPE_CHECKING:
    from meterd.drivers.serial_port import PortSettings


class ReceiverError(MeterdError):
    code = "receiver_error"


def open_receiver(
    dongle: str,
    port: str,
    mode: str,
    stop: threading.Event,
    counters: dict[str, int],
    settings: PortSettings | None = None,
    options: Mapping[str, Any] | None = None,
) -> Iterator[Frame | FramingError]:
    if dongle == "hex":
        from meterd.drivers.hexfile import read_capture

        if port == "-":
            return read_capture(sys.stdin)
        path = Path(port)
        if not path.is_file():
            raise ReceiverError(f"capture file {port} not found")
        return read_capture(path.open(encoding="utf-8", errors="replace"))
    if dongle == "rtlwmbus":
        from meterd.drivers.rtlwmbus import read_rtlwmbus

        if port == "-":
            return read_rtlwmbus(sys.stdin, counters)
        return read_rtlwmbus(Path(port).open(encoding="utf-8", errors="replace"), counters)
    from meterd.drivers.serial_port import serial_frames

    return serial_frames(dongle, port, mode, stop, counters, settings, options=options)
