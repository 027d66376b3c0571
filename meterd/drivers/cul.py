"""CUL sticks with culfw: ASCII lines `b<hex><LQI><RSSI>`, `bY` for format B."""

from __future__ import annotations

from typing import ClassVar

from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.framer import CC1101_DBM, Framer, Item


class CULFramer(Framer):
    """ASCII lines `b<hex><LQI><RSSI>`; `bY` = format B. The DLL CRCs are checked and stripped."""

    name = "cul"
    baudrate = 38400
    modes: ClassVar[dict[str, int]] = {"t1": ord("t"), "c1": ord("c"), "s1": ord("s")}

    def init_commands(self, mode: str) -> list[bytes]:
        return [b"br" + bytes([self.mode_value(mode)]) + b"\r\n", b"X21\r\n"]

    def identify_command(self) -> bytes:
        return b"V\r\n"

    def identified(self) -> str | None:
        for reply in self.replies:
            if reply.startswith(b"V "):
                return reply.decode("ascii", "replace")
        return None

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        data = bytes(self.buf)
        last = data.rfind(b"\n")
        if last < 0:
            return out
        now, name, make, append, fromhex = self.now, self.name, tuple.__new__, out.append, bytes.fromhex
        for raw in data[:last].split(b"\n"):
            line = raw.strip()
            if not line:
                continue
            if line[0] != 0x62:  # 'b'
                self.replies.append(line)
                continue
            try:
                telegram = fromhex(line[2:].decode("ascii") if line[1] == 0x59 else line[1:].decode("ascii"))  # 'bY'
            except (ValueError, UnicodeDecodeError):
                append(FramingError("garbage", "CUL line is not hex"))
                continue
            if len(telegram) < 13:
                append(FramingError("too_short", "CUL telegram too short"))
                continue
            # the DLL CRCs stay in the telegram: the decoder checks and strips them (bad ones print as bad_crc)
            append(make(Frame, (telegram[:-2], now, CC1101_DBM[telegram[-1]], name)))
        del self.buf[: last + 1]
        return out
