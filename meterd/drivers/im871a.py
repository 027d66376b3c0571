"""IMST iM871A / iM170A: `A5 ctrl msgid len payload [ts 4][RSSI 1][CRC 2 LE]` frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from fastcrc import crc16

from meterd.drivers.frame import Frame
from meterd.drivers.framer import IMST_DBM, Framer, Item, _now
from meterd.wmbus.crc import X25_RESIDUE
from meterd.wmbus.link import WMBUS_C_FIELDS


class IM871AFramer(Framer):
    """`A5 ctrl msgid len payload [ts 4][RSSI 1][CRC 2 LE]`; CRC-16/X-25 over ctrl..RSSI."""

    name = "im871a"
    baudrate = 57600
    modes: ClassVar[dict[str, int]] = {"s1": 0x00, "t1": 0x03, "c1": 0x07, "c1,t1": 0x0A, "t1,c1": 0x0A}

    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        super().__init__(clock)
        self.info: bytes | None = None

    @staticmethod
    def command(endpoint: int, msgid: int, payload: bytes = b"") -> bytes:
        return bytes([0xA5, endpoint, msgid, len(payload)]) + payload

    def init_commands(self, mode: str) -> list[bytes]:
        value = self.mode_value(mode)
        return [self.command(0x01, 0x03, bytes([0x00, 0x02, value, 0x30, 0x01, 0x00]))]

    def identify_command(self) -> bytes:
        return self.command(0x01, 0x0F)

    def identified(self) -> str | None:
        return f"iM871A (device info {self.info.hex()})" if self.info is not None else None

    def mode_confirmed(self) -> bool | None:
        for reply in self.replies:  # A5 ctrl 04 len status: the answer to the set-configuration request
            if reply[1] & 0x0F == 1 and reply[2] == 0x04 and reply[3] >= 1:
                return reply[4] == 0
        return None

    @staticmethod
    def _ctrl(c: int) -> tuple[int, int, bool, int]:
        """(bytes around the payload: header, timestamp, RSSI, CRC; where the RSSI byte is, counted back
        from the frame end, 0 for none; whether a CRC follows; the endpoint). (0, 0, False, 0) for an
        invalid ctrl."""
        endpoint = c & 0x0F
        if endpoint not in (1, 2, 3) or c & 0x10:
            return 0, 0, False, 0
        crc = 2 if c & 0x80 else 0
        extra = 4 + (4 if c & 0x20 else 0) + (1 if c & 0x40 else 0) + crc
        return extra, (1 + crc if c & 0x40 else 0), bool(crc), endpoint

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        data = bytes(self.buf)  # one copy per read; slices of bytes are the telegrams themselves
        n = len(data)
        pos = 0  # consumed bytes are dropped once at the end: no memmove per frame
        ctrls, now, name, crc, make = _IM871A_CTRL, self.now, self.name, crc16.ibm_sdlc, tuple.__new__
        append = out.append
        while pos < n:
            if data[pos] != 0xA5:
                start = data.find(0xA5, pos)
                skipped = (n if start < 0 else start) - pos
                append(self._skipped(skipped, "before A5 start byte" if start >= 0 else "no A5 start byte"))
                pos += skipped
                continue
            if n - pos < 4:
                break
            extra, rssi_back, checked, endpoint = ctrls[data[pos + 1]]
            if not extra:
                append(self._skipped(1, f"bad control field {data[pos + 1]:02X}"))
                pos += 1
                continue
            length = data[pos + 3]
            end = pos + length + extra
            if end > n:
                break
            if checked and crc(data[pos + 1 : end]) != X25_RESIDUE:
                append(self._skipped(1, "iM871A frame CRC mismatch"))
                pos += 1
                continue
            msgid = data[pos + 2]
            if endpoint == 2 and msgid == 0x03:
                if not checked and (length < 10 or data[pos + 4] not in WMBUS_C_FIELDS):
                    append(self._skipped(1, "iM871A telegram without CRC and without a C field"))
                    pos += 1
                    continue
                # the length byte is the telegram's L field: the telegram is length byte + payload
                rssi = IMST_DBM[data[end - rssi_back]] if rssi_back else None
                append(make(Frame, (data[pos + 3 : pos + 4 + length], now, rssi, name)))
            elif endpoint == 1 and (checked or (msgid < 0x40 and not msgid & 1 and length < 64)):
                if msgid == 0x10:
                    self.info = data[pos + 4 : pos + 4 + length]
                self.replies.append(data[pos:end])
            elif not checked:
                # without a CRC only a frame that makes sense may consume bytes: this start was garbage
                append(self._skipped(1, "iM871A frame without CRC that is no telegram or answer"))
                pos += 1
                continue
            pos = end
        del self.buf[:pos]
        return out


_IM871A_CTRL = tuple(IM871AFramer._ctrl(c) for c in range(256))
