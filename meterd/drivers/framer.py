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
    def _raw_frame(data: bytes, pos: int, trailing: int, synced: bool = False) -> int:
        """Size of a raw `L C M A CI ...` telegram at pos (then `trailing` bytes): > 0 a telegram, 0 when
        more bytes are needed, < 0 the bytes to skip (pos is no telegram start).

        Raw frames have no start byte and no checksum, so a candidate must make sense as a whole: a
        link-layer C field, a manufacturer of three letters, a CI field meters send, and where it ends
        the end of what was read or another plausible start, right after it or within a few bytes of
        noise. Line noise that passes for a start must not swallow the telegrams after it: a candidate
        that does not end well, or that is still incomplete, gives way to a telegram that starts inside
        it and ends well. `synced`: the bytes before pos were a telegram (not skipped noise); out of
        sync, a candidate that ends only near another start gives way to one inside it that ends right
        where the next begins (after a burst of noise, the framer finds its way back on real telegrams)."""
        state = _candidate(data, pos, trailing)
        if state == _ENDS_WELL:
            return data[pos] + 1
        if state == _NO_START:
            return -1
        stop = pos + data[pos] + 1 + trailing
        if state == _ENDS_NEAR:
            if not synced:
                q = Framer._telegram_within(data, pos + 1, stop, trailing, (_ENDS_WELL,))
                if q is not None:
                    return -(q - pos)
            return data[pos] + 1
        q = Framer._telegram_within(data, pos + 1, stop, trailing, (_ENDS_WELL, _ENDS_NEAR))
        if q is not None:
            return -(q - pos)
        if state == _INCOMPLETE:
            return 0
        # complete but followed by noise: line noise that passed for a start, more likely than not, when a
        # telegram could start inside it that is still coming in (wait for it rather than swallow it)
        q = Framer._telegram_within(data, pos + 1, stop, trailing, (_INCOMPLETE,))
        if q is not None:
            return -(q - pos)
        return data[pos] + 1  # the best reading there is

    @staticmethod
    def _telegram_within(data: bytes, start: int, stop: int, trailing: int, states: tuple[int, ...]) -> int | None:
        """The first position in [start, stop) where a raw telegram starts whose candidate state is one of
        `states`, if any."""
        for q in range(start, min(len(data), stop)):
            if _candidate(data, q, trailing) in states:
                return q
        return None


_NO_START, _INCOMPLETE, _ENDS_BADLY, _ENDS_NEAR, _ENDS_WELL = range(5)
ENDS_WELL = (_ENDS_WELL, _ENDS_NEAR)  # a telegram followed by another start, right after it or near
# CI fields of telegrams meters send: TPL/ELL/AFL/application errors and alarms, manufacturer-specific
_METER_CIS = frozenset(range(0x6E, 0x98)) | {0x9E, 0x9F} | frozenset(range(0xA0, 0xB9))


# manufacturer field (little-endian) → whether it spells three letters A-Z: looked up, not computed
_LETTERS = bytes(
    1 if not m & 0x8000 and all(1 <= (m >> shift) & 0x1F <= 26 for shift in (10, 5, 0)) else 0 for m in range(65536)
)
_C_FIELD = bytes(1 if c in WMBUS_C_FIELDS else 0 for c in range(256))
_CI = bytes(1 if c in _METER_CIS else 0 for c in range(256))


def _plausible_header(data: bytes, pos: int) -> bool:
    """L, C, M and CI at pos look like a telegram's (as far as the bytes are there)."""
    n = len(data)
    if n - pos > 12:  # the common case: the whole header is there
        return (
            data[pos] >= 10
            and _C_FIELD[data[pos + 1]] == 1
            and _LETTERS[data[pos + 2] | data[pos + 3] << 8] == 1
            and (_CI[data[pos + 10]] == 1 or _CI[data[pos + 12]] == 1)  # CI after the address, or the block CRC
        )
    if data[pos] < 10 or (pos + 1 < n and not _C_FIELD[data[pos + 1]]):
        return False
    if pos + 3 < n and not _LETTERS[data[pos + 2] | data[pos + 3] << 8]:
        return False
    return not (pos + 10 < n and not _CI[data[pos + 10]] and pos + 12 < n and not _CI[data[pos + 12]])


NOISE_GAP = 8  # bytes of line noise that may stand between two telegrams


def _candidate(data: bytes, pos: int, trailing: int) -> int:
    if not _plausible_header(data, pos):
        return _NO_START
    end = pos + data[pos] + 1 + trailing
    n = len(data)
    if end > n:
        return _INCOMPLETE
    if end == n or _plausible_header(data, end):
        return _ENDS_WELL  # the end of the read, or the next telegram right after it
    if end + NOISE_GAP >= n or any(_plausible_header(data, q) for q in range(end + 1, end + NOISE_GAP + 1)):
        return _ENDS_NEAR  # another start within a few bytes of noise (or too few bytes yet to tell)
    return _ENDS_BADLY
