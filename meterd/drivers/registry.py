"""Opening a receiver by its --dongle name."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from meterd.drivers.dongles import is_stream
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
    if is_stream(dongle):
        from meterd.drivers.stream import StreamError, open_source

        try:
            fd = open_source(port)
        except StreamError as e:
            raise ReceiverError(e.message) from None
        return _text_receiver(dongle, fd, stop, counters)
    from meterd.drivers.serial_port import serial_frames

    return serial_frames(dongle, port, mode, stop, counters, settings, options=options)


def _text_receiver(dongle: str, fd: int, stop: threading.Event, counters: dict[str, int]) -> Iterator[Frame | FramingError]:
    """Capture lines or rtl_wmbus lines from a descriptor; an overlong line is one `too_long` error."""
    from meterd.drivers.hexfile import parse_line
    from meterd.drivers.rtlwmbus import LocalOffsets, parse_rtlwmbus_line
    from meterd.drivers.stream import MAX_LINE, lines

    local = LocalOffsets()
    for line in lines(fd, stop):
        if line is None:
            items: list[Frame | FramingError] = [FramingError("too_long", f"a line longer than {MAX_LINE} bytes was skipped")]
        elif dongle == "hex":
            item = parse_line(line)
            items = [] if item is None else [item]
        else:
            items = parse_rtlwmbus_line(line, local=local)
        for item in items:
            key = "frames" if isinstance(item, Frame) else item.code
            counters[key] = counters.get(key, 0) + 1
            yield item
