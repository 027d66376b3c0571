"""Wired M-Bus buses polled by `meterd run` (`[[mbus]]` tables): every `interval_s` each configured
meter is read (by primary or secondary address) and its telegrams queued for the main loop, which
decodes them into readings with source `wired`. A meter that answers nothing or garbage is counted
with its error code and the poll goes on with the next; a port that cannot be opened is tried again
at the next interval. The port stays open between polls (a USB adapter keeps its settings)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from meterd.config import MbusSection
from meterd.drivers import mbus_master as master
from meterd.drivers.mbus_frames import ADDRESS_SELECTED
from meterd.drivers.mbus_master import MbusError
from meterd.drivers.mbus_port import MbusPort, PortError

log = logging.getLogger("meterd.mbus")


@dataclass(frozen=True)
class Polled:
    """One meter's readout: its telegrams in order."""

    meter: str
    frames: list[bytes]
    received_at: datetime


@dataclass(frozen=True)
class PollFailed:
    meter: str
    code: str
    message: str


def read_meter(port: MbusPort, meter: str) -> list[bytes]:
    if len(meter) == 8:
        port.run(master.select(meter))
        return port.run(master.read(ADDRESS_SELECTED))
    return port.run(master.read(int(meter)))


def poll_forever(
    bus: MbusSection, put: Callable[[Polled | PollFailed], None], opened: Callable[[], None], stop: threading.Event
) -> None:
    port: MbusPort | None = None
    while not stop.is_set():
        started = time.monotonic()
        try:
            if port is None:
                port = MbusPort(bus.port, bus.baud, bus.margin_ms / 1000)
                opened()
            for meter in bus.meters:
                if stop.is_set():
                    break
                try:
                    frames = read_meter(port, meter)
                    put(Polled(meter, frames, datetime.now(UTC)))
                except PortError:
                    raise
                except MbusError as e:
                    log.warning("bus %s, meter %s: %s", bus.name, meter, e.message)
                    put(PollFailed(meter, e.code, e.message))
        except PortError as e:
            log.warning("bus %s: %s; trying again in %.0f s", bus.name, e.message, bus.interval_s)
            put(PollFailed("", e.code, e.message))
            if port is not None:
                port.close()
                port = None
            opened()  # the service does not wait for a bus that is not there
        stop.wait(max(0.0, bus.interval_s - (time.monotonic() - started)))
    if port is not None:
        port.close()
