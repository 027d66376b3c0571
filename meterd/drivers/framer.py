"""The framer base of the serial wM-Bus receivers: bytes in, telegrams out.

Each receiver's framer (one module per receiver) keeps a bounded buffer, resynchronises after garbage,
and reports what it dropped as a FramingError (counted by the port loop). Framers also build the
receiver's commands and recognise its answers, so the port loop only moves bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from meterd.drivers.frame import Frame, FramingError
from meterd.errors import MeterdError
from meterd.wmbus.link import WMBUS_C_FIELDS

MAX_BUFFER = 4096
MAX_REPLIES = 64
Item = Frame | FramingError


class UnsupportedMode(MeterdError):
    code = "unsupported_mode"


def cc1101_rssi_dbm(raw: int) -> float:
    """RSSI byte of CC1101-based receivers (Amber, CUL): signed half-dB steps, offset 74 dB."""
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


def imst_rssi_dbm(raw: int) -> float:
    """RSSI byte of IMST iM871A/iM170A: -100 dBm at 45, half-dB steps."""
    return -100 + (raw - 45) / 2


# byte → dBm tables: framers look the RSSI up instead of computing it per frame
CC1101_DBM = tuple(cc1101_rssi_dbm(raw) for raw in range(256))
IMST_DBM = tuple(imst_rssi_dbm(raw) for raw in range(256))
SIGNED_DBM = tuple(float(raw - 256 if raw > 127 else raw) for raw in range(256))


def _now() -> datetime:
    return datetime.now(UTC)


class Framer:
    """Base: subclasses implement `_extract`, which consumes whole frames from the buffer."""

    name = ""
    baudrate = 9600
    modes: ClassVar[dict[str, int]] = {}

    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self.buf = bytearray()
        self.clock = clock
        self.now = clock()
        # the latest command answers (and lines that are no telegram), for identification and mode checks;
        # bounded, since a noisy line can produce them for as long as the port is open
        self.replies: deque[bytes] = deque(maxlen=MAX_REPLIES)

    def feed(self, data: bytes) -> list[Item]:
        """Frames completed by these bytes; they share one receive time (the time of this read)."""
        self.buf += data
        self.now = self.clock()
        out = self._extract()
        if len(self.buf) > MAX_BUFFER:  # what is left is an unfinished frame: bounded, whatever the read size
            dropped = len(self.buf) - MAX_BUFFER
            del self.buf[:dropped]
            out.append(FramingError("overflow", f"{dropped} bytes dropped: buffer limit"))
        return out

    def _extract(self) -> list[Item]:
        raise NotImplementedError

    def mode_value(self, mode: str) -> int:
        value = self.modes.get(mode.replace(" ", "").lower())
        if value is None:
            supported = ", ".join(sorted(self.modes))
            raise UnsupportedMode(f"{self.name} cannot listen in mode {mode!r}; it supports {supported}")
        return value

    def init_commands(self, mode: str) -> list[bytes]:
        return []

    def identify_command(self) -> bytes | None:
        return None

    def release_command(self) -> bytes | None:
        """What puts the device back as it was found after identification alone (`meterd probe`)."""
        return None

    def identified(self) -> str | None:
        """The device's self-description once it answered `identify_command`."""
        return None

    def mode_confirmed(self) -> bool | None:
        """Whether the device accepted the link mode command: None while no answer was seen (or the
        device sends none)."""
        return None

    @staticmethod
    def _skipped(n: int, why: str) -> FramingError:
        return FramingError("garbage", f"{n} bytes skipped: {why}")

    @staticmethod
    def _raw_frame(data: bytes, pos: int, trailing: int) -> int:
        """Length of a raw `L C ...` telegram at pos (then `trailing` bytes): > 0 a telegram, 0 when
        more bytes are needed, -1 when pos is no frame start (L too small or no link-layer C field)."""
        length = data[pos]
        if length < 10 or (pos + 1 < len(data) and data[pos + 1] not in WMBUS_C_FIELDS):
            return -1
        if len(data) - pos < length + 1 + trailing:
            return 0
        return length + 1
