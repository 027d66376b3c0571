"""Radiocrafts RC1180-MBUS: raw `L C ...` telegrams with a trailing RSSI byte; T1 only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from meterd.drivers.frame import Frame
from meterd.drivers.framer import Framer, Item, _now


class RC1180Framer(Framer):
    """Raw `L C ...` frames with a trailing RSSI byte (the module's default); T1 only."""

    name = "rc1180"
    baudrate = 19200
    modes: ClassVar[dict[str, int]] = {"t1": 0x00}

    def __init__(self, clock: Callable[[], datetime] = _now, rssi_byte: bool = True) -> None:
        super().__init__(clock)
        self.rssi_byte = rssi_byte

    def init_commands(self, mode: str) -> list[bytes]:
        self.mode_value(mode)
        return []

    def identify_command(self) -> bytes:
        return b"\x00"  # enter config mode: the module answers '>'

    def identified(self) -> str | None:
        return "RC1180 (config prompt)" if any(r.startswith(b">") for r in self.replies) else None

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        data = bytes(self.buf)
        n = len(data)
        pos = 0
        trailing = 1 if self.rssi_byte else 0
        now, name, make, append, raw_frame = self.now, self.name, tuple.__new__, out.append, self._raw_frame
        while pos < n:
            if data[pos] == 0x3E and n - pos == 1:  # '>': the configuration prompt
                self.replies.append(b">")
                pos += 1
                break
            size = raw_frame(data, pos, trailing)
            if size == 0:
                break
            if size < 0:
                append(self._skipped(1, "not a frame start"))
                pos += 1
                continue
            rssi = -(data[pos + size] / 2) if trailing else None
            append(make(Frame, (data[pos : pos + size], now, rssi, name)))
            pos += size + trailing
        del self.buf[:pos]
        return out
