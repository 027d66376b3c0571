"""Every receiver meterd knows, in one place: its name (what `--dongle` and `[[receiver]] dongle`
take), whether it is a serial dongle with a framer (opened, reset and probed by
meterd.drivers.serial_port) or a stream of text lines (a capture file, a FIFO, stdin: `hex` captures
and rtl_wmbus output), and which `[[receiver]]` settings become its framer's options. Adding a dongle
is one entry here and its framer's module.

The framers are imported when a dongle is opened, not when the registry is read (the command line and
the configuration's validation need the names only)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meterd.drivers.framer import Framer


@dataclass(frozen=True)
class Dongle:
    name: str
    framer: str | None = None  # "module:Class" of a serial dongle's framer; None for a stream of lines
    options: dict[str, str] = field(default_factory=dict)  # framer option → [[receiver]] setting
    help: str = ""

    @property
    def stream(self) -> bool:
        """Text lines from a file, FIFO or stdin (a capture replays to its end), not a serial port."""
        return self.framer is None

    def framer_class(self) -> type[Framer]:
        assert self.framer is not None, f"{self.name} is not a serial dongle"
        module, _, name = self.framer.partition(":")
        cls: type[Framer] = getattr(importlib.import_module(module), name)
        return cls

    def framer_options(self, settings: Any) -> dict[str, Any]:
        """The framer's options from a `[[receiver]]` section (any object with those attributes)."""
        return {option: getattr(settings, setting) for option, setting in self.options.items()}


DONGLES: dict[str, Dongle] = {d.name: d for d in (
    Dongle("im871a", "meterd.drivers.im871a:IM871AFramer", help="IMST iM871A (and iM170A) USB stick"),
    Dongle("amb8465", "meterd.drivers.amb8465:AMB8465Framer", {"transparent": "amber_transparent"},
           help="Amber / Würth AMB8465-M stick"),
    Dongle("rc1180", "meterd.drivers.rc1180:RC1180Framer", {"rssi_byte": "rc1180_rssi_byte"},
           help="Radiocrafts RC1180-MBUS module"),
    Dongle("cul", "meterd.drivers.cul:CULFramer", help="CUL stick with culfw"),
    Dongle("iu891a", "meterd.drivers.iu891a:IU891AFramer", help="IMST iU891A stick"),
    Dongle("rtlwmbus", help="rtl_wmbus output lines (an SDR), from a file, FIFO or stdin"),
    Dongle("hex", help="hex telegrams, one per line, optionally after an ISO 8601 time (a capture)"),
)}  # fmt: skip
NAMES: tuple[str, ...] = tuple(DONGLES)
SERIAL: tuple[str, ...] = tuple(n for n, d in DONGLES.items() if not d.stream)


def dongle(name: str) -> Dongle | None:
    return DONGLES.get(name)


def is_stream(name: str | None) -> bool:
    """Whether the named receiver reads text lines (None and unknown names: no)."""
    found = DONGLES.get(name or "")
    return found is not None and found.stream
