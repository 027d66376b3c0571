"""Radiocrafts RC1180-MBUS: raw `L C ...` telegrams, with a trailing RSSI byte when the module's
RSSI_MODE is on (it is off from the factory); T1 only.

Facts from the module's data sheet: 0x00 enters configuration mode (answer `>`), `0` lists the 256-byte
configuration memory followed by `>`, `X` leaves configuration mode (no answer). Memory address 0x03 is
MBUS_MODE (0 S1, 1 T1), 0x05 RSSI_MODE (1: RSSI byte appended), 0x1B-0x1E the module's ID. The RSSI
byte is -2 × dBm.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from meterd.drivers.frame import Frame
from meterd.drivers.framer import Framer, Item, _now

MEMORY = 256  # the configuration memory `0` lists, then a `>`
MBUS_MODE, RSSI_MODE, MODULE_ID = 0x03, 0x05, slice(0x1B, 0x1F)


class RC1180Framer(Framer):
    """Raw frames. Identification leaves the module in configuration mode; the start commands read its
    configuration memory (to learn whether an RSSI byte follows each telegram and which mode it is in)
    and leave configuration mode, so that it receives again."""

    name = "rc1180"
    baudrate = 19200
    modes: ClassVar[dict[str, int]] = {"t1": 0x01}  # MBUS_MODE; S1 (0) is a transmitter's mode here

    def __init__(self, clock: Callable[[], datetime] = _now, rssi_byte: bool = False) -> None:
        super().__init__(clock)
        self.rssi_byte = rssi_byte  # until the module's memory says otherwise
        self.memory: bytes | None = None
        self._configuring = False  # between the `>` prompt and the memory listing
        self._synced = False  # the last bytes read were a telegram, not skipped noise

    def init_commands(self, mode: str) -> list[bytes]:
        self.mode_value(mode)
        return [b"0", b"X"]  # list the configuration memory, then back to receiving

    def identify_command(self) -> bytes:
        return b"\x00"  # enter configuration mode: the module answers '>'

    def release_command(self) -> bytes:
        return b"X"  # leave configuration mode: the module receives again

    def identified(self) -> str | None:
        if self.memory is not None:
            module_id = self.memory[MODULE_ID][::-1].hex().upper()
            rssi = "on" if self.rssi_byte else "off"
            return f"RC1180 {module_id} (MBUS_MODE {self.memory[MBUS_MODE]}, RSSI byte {rssi})"
        return "RC1180 (config prompt)" if any(r.startswith(b">") for r in self.replies) else None

    def mode_confirmed(self) -> bool | None:
        """T1 is set in the module's memory (a permanent setting meterd does not write)."""
        return None if self.memory is None else self.memory[MBUS_MODE] == self.modes["t1"]

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        data = bytes(self.buf)
        n = len(data)
        pos = 0
        if self._configuring:
            if n < 4:
                return out
            if not _listing_start(data):  # telegrams, not the listing: a module that did not answer `0`
                self._configuring = False
            elif n < MEMORY + 1:
                return out  # the listing is still coming
            else:
                self._configuring = False
                if data[MEMORY] == 0x3E:  # the memory listing, closed by '>'
                    self.memory = data[:MEMORY]
                    self.rssi_byte = data[RSSI_MODE] == 1
                    pos = MEMORY + 1
        trailing = 1 if self.rssi_byte else 0
        now, name, make, append, raw_frame = self.now, self.name, tuple.__new__, out.append, self._raw_frame
        while pos < n:
            if data[pos] == 0x3E and n - pos == 1:  # '>' alone: the configuration prompt
                self.replies.append(b">")
                self._configuring = True
                pos += 1
                break
            size = raw_frame(data, pos, trailing, self._synced)
            if size == 0:
                break
            if size < 0:
                append(self._skipped(-size, "not a frame start"))
                pos -= size
                self._synced = False
                continue
            self._synced = True
            rssi = -(data[pos + size] / 2) if trailing else None
            append(make(Frame, (data[pos : pos + size], now, rssi, name)))
            pos += size + trailing
        del self.buf[:pos]
        return out


def _listing_start(data: bytes) -> bool:
    """Whether bytes can begin the memory listing: RF channel 1-12, power 1-5, data rate 1-3, M-Bus mode
    0-1. A meter's telegram cannot (its C field is no power level)."""
    return 1 <= data[0] <= 12 and 1 <= data[1] <= 5 and 1 <= data[2] <= 3 and data[3] <= 1
