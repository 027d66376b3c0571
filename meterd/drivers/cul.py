"""CUL sticks with culfw: ASCII lines `b<hex><LQI><RSSI>`, `bY` for format B."""

from __future__ import annotations

import binascii
from typing import ClassVar

from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.framer import CC1101_DBM, Framer, Item
from meterd.wmbus.link import _format_b_ok, _strip_format_a, _strip_format_b, format_a_length


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
        now, name, make, append, unhexlify, strip = (
            self.now,
            self.name,
            tuple.__new__,
            out.append,
            binascii.unhexlify,
            _strip,
        )
        for raw in data[:last].split(b"\n"):
            line = raw.strip()
            if not line:
                continue
            if line[0] != 0x62:  # 'b'
                self.replies.append(line)
                continue
            if len(line) < 3:
                append(FramingError("too_short", "CUL telegram line without data"))
                continue
            try:
                telegram = unhexlify(line[2:] if line[1] == 0x59 else line[1:])  # 'bY': format B
            except (ValueError, binascii.Error):
                append(FramingError("garbage", "CUL line is not hex"))
                continue
            if len(telegram) < 13:
                append(FramingError("too_short", "CUL telegram too short"))
                continue
            # culfw passes the link-layer CRCs on unchecked: they are checked and stripped here
            frame = strip(telegram, line[1] == 0x59)
            if isinstance(frame, FramingError):
                append(frame)
                continue
            append(make(Frame, (frame, now, CC1101_DBM[telegram[-1]], name)))
        del self.buf[: last + 1]
        return out


def _strip(telegram: bytes, format_b: bool) -> bytes | FramingError:
    """The frame of a line's bytes (the frame, then LQI and RSSI) without its link-layer CRCs, or why it
    cannot be had. Format A: a CRC after the first 10 bytes and after every 16 after them; format B (`bY`
    lines): L counts the CRCs, one after at most 125 bytes and one at the end. A frame of exactly L+1
    bytes in a `b` line came without CRCs."""
    length, n = telegram[0], len(telegram) - 2
    if format_b:
        if n != length + 1:
            return FramingError("bad_length", f"CUL format B frame of {n} bytes for L={length}")
        frame = telegram[:n]
        if not _format_b_ok(frame):
            return FramingError("bad_crc", "CUL frame: link-layer CRC mismatch (format B)")
        plain = _strip_format_b(frame)
        return bytes([len(plain) - 1]) + plain[1:]  # L as for a frame without CRCs
    if n == length + 1:
        return telegram[:n]
    if n != _FORMAT_A_LENGTH[length]:
        return FramingError("bad_length", f"CUL frame of {n} bytes for L={length}")
    stripped = _strip_format_a(telegram, n)
    return FramingError("bad_crc", "CUL frame: link-layer CRC mismatch (format A)") if stripped is None else stripped


_FORMAT_A_LENGTH = tuple(format_a_length(length) for length in range(256))  # looked up, not computed per frame
