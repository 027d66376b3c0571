"""The serial port loop: open, identify, set the link mode, read, and survive unplugging and silence."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import serial

from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.framer import Framer, Item
from meterd.drivers.framers import FRAMERS
from meterd.errors import MeterdError

log = logging.getLogger("meterd.drivers")


class UnsupportedDongle(MeterdError):
    code = "unsupported_dongle"


@dataclass
class PortSettings:
    reopen_delay_s: float = 1.0
    silence_timeout_s: float = 600.0  # a dongle that hears nothing this long is reset and reopened
    answer_timeout_s: float = 1.0


def _open(port: str, framer: Framer) -> serial.Serial:
    return serial.Serial(port, framer.baudrate, timeout=0.2, write_timeout=1.0)


def _count(counters: dict[str, int], key: str, n: int = 1) -> None:
    counters[key] = counters.get(key, 0) + n


def _mode_answer(accepted: bool, dongle: str, port_path: str, mode: str, counters: dict[str, int]) -> None:
    if accepted:
        log.info("%s on %s listens in mode %s", dongle, port_path, mode)
    else:  # telegrams still flow in whatever mode the device kept: keep reading, but say so loudly
        _count(counters, "mode_rejected")
        log.error("%s on %s rejected link mode %s; it keeps its previous mode", dongle, port_path, mode)


def identify(port: serial.Serial, framer: Framer, timeout: float) -> tuple[str | None, list[Item]]:
    """Send the identify command and wait for the framer to recognise the answer. Telegrams that
    arrive meanwhile are returned with the answer, so that none is lost."""
    cmd = framer.identify_command()
    if cmd is None:
        return None, []
    port.reset_input_buffer()
    port.write(cmd)
    received: list[Item] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = port.read(256)
        if data:
            received += framer.feed(data)
            name = framer.identified()
            if name:
                return name, received
    return None, received


def serial_frames(
    dongle: str,
    port_path: str,
    mode: str,
    stop: threading.Event,
    counters: dict[str, int],
    settings: PortSettings | None = None,
    opener: Callable[[str, Framer], serial.Serial] = _open,
    options: Mapping[str, Any] | None = None,
) -> Iterator[Frame | FramingError]:
    """Frames from a serial receiver until `stop` is set; reopens after errors and long silence.
    `options` go to the framer (Amber transparent output, RC1180 without RSSI byte)."""
    cls = FRAMERS.get(dongle)
    if cls is None:
        raise UnsupportedDongle(f"unknown dongle {dongle!r}; known: {', '.join(sorted(FRAMERS))}")
    settings = settings or PortSettings()
    options = dict(options or {})
    commands = cls(**options).init_commands(mode)  # raises UnsupportedMode before any I/O
    failing = False  # the port could not be opened the last time: said once, until it opens
    while not stop.is_set():
        framer = cls(**options)
        try:
            port = opener(port_path, framer)
        except (serial.SerialException, OSError) as e:
            _count(counters, "open_failed")
            counters["up"] = 0
            if not failing:
                log.warning("cannot open %s (%s); trying again every %.0f s. Is the dongle plugged in and is this "
                            "its port? `meterd probe` lists the dongles it finds; the service's user needs the "
                            "`dialout` group for serial ports", port_path, e, settings.reopen_delay_s)  # fmt: skip
            else:
                log.debug("cannot open %s (%s); retrying", port_path, e)
            failing = True
            stop.wait(settings.reopen_delay_s)
            continue
        if failing:
            log.info("%s opened", port_path)
        failing = False
        _count(counters, "opened")
        counters["up"] = 1
        try:
            name, items = identify(port, framer, settings.answer_timeout_s)
            if name:
                log.info("%s on %s: %s", dongle, port_path, name)
            for cmd in commands:
                port.write(cmd)
            last_frame = time.monotonic()
            confirmed: bool | None = None
            while not stop.is_set():
                for item in items:
                    if isinstance(item, Frame):
                        last_frame = time.monotonic()
                        _count(counters, "frames")
                    else:
                        _count(counters, item.code)
                    yield item
                data = port.read(4096)
                items = framer.feed(data) if data else []
                if confirmed is None and (confirmed := framer.mode_confirmed()) is not None:
                    _mode_answer(confirmed, dongle, port_path, mode, counters)
                if not data and time.monotonic() - last_frame > settings.silence_timeout_s:
                    _count(counters, "silence_resets")
                    log.warning("%s on %s silent for %.0f s: reopening", dongle, port_path, settings.silence_timeout_s)
                    break
        except (serial.SerialException, OSError) as e:
            _count(counters, "port_lost")
            log.warning("%s lost (%s); reopening", port_path, e)
        finally:
            counters["up"] = 0
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()
        stop.wait(settings.reopen_delay_s)


def probe(ports: list[str], exclude: set[str], timeout: float = 1.0) -> list[tuple[str, str, str | None]]:
    """(port, dongle, description) for each port and the first dongle type that answers on it.

    Ports are compared by the device they lead to: an excluded /dev/ttyUSB0 is not probed through its
    /dev/serial/by-id link either, and a device listed under two names is probed once (first name)."""
    found: list[tuple[str, str, str | None]] = []
    excluded = {os.path.realpath(p) for p in exclude}
    seen: set[str] = set()
    for path in ports:
        real = os.path.realpath(path)
        if path in exclude or real in excluded or real in seen:
            continue
        seen.add(real)
        answer: tuple[str, str | None] = ("none", None)
        for name, cls in FRAMERS.items():
            framer = cls()
            try:
                with _open(path, framer) as port:
                    description, _ = identify(port, framer, timeout)
                    if description and (release := framer.release_command()):
                        port.write(release)
            except (serial.SerialException, OSError) as e:
                answer = ("error", str(e))
                break
            if description:
                answer = (name, description)
                break
        found.append((path, *answer))
    return found
