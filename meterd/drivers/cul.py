"""CUL sticks with culfw: ASCII lines `b<hex><LQI><RSSI>`, `bY` for format B."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from operator import itemgetter
from typing import ClassVar

from fastcrc import crc16

from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.framer import CC1101_DBM, Framer, Item
from meterd.wmbus.link import _format_b_ok, _strip_format_b, format_a_blocks, format_a_length


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
            frame = strip(telegram[:-2], line[1] == 0x59)
            if isinstance(frame, FramingError):
                append(frame)
                continue
            append(make(Frame, (frame, now, CC1101_DBM[telegram[-1]], name)))
        del self.buf[: last + 1]
        return out


EN13757_RESIDUE = 0x5C99  # EN 13757 CRC over a block followed by its own CRC (big-endian) always gives this


def _strip(frame: bytes, format_b: bool) -> bytes | FramingError:
    """The frame without its link-layer CRCs, or why it cannot be had. Format A: a CRC after the first
    10 bytes and after every 16 after them; format B (`bY` lines): L counts the CRCs, one after at most
    125 bytes and one at the end. A frame of exactly L+1 bytes in a `b` line came without CRCs."""
    length, n = frame[0], len(frame)
    if format_b:
        if n != length + 1:
            return FramingError("bad_length", f"CUL format B frame of {n} bytes for L={length}")
        if not _format_b_ok(frame):
            return FramingError("bad_crc", "CUL frame: link-layer CRC mismatch (format B)")
        plain = _strip_format_b(frame)
        return bytes([len(plain) - 1]) + plain[1:]  # L as for a frame without CRCs
    if n == length + 1:
        return frame
    if n != _FORMAT_A_LENGTH[length]:
        return FramingError("bad_length", f"CUL frame of {n} bytes for L={length}")
    with_crcs, data = _BLOCKS[n]
    crc = crc16.en_13757
    for block in with_crcs(frame):
        if block and crc(block) != EN13757_RESIDUE:
            return FramingError("bad_crc", "CUL frame: link-layer CRC mismatch (format A)")
    return b"".join(data(frame))


Slicer = Callable[[bytes], tuple[bytes, ...]]


def _block_getters(total: int) -> tuple[Slicer, Slicer]:
    """Slicers of a format A frame of `total` bytes: its blocks with their CRCs, and its data alone."""
    blocks = format_a_blocks(total)
    empty = slice(0, 0)  # itemgetter of one item returns it bare: a last, empty slice keeps a tuple
    with_crcs = itemgetter(*(slice(pos, pos + size + 2) for pos, size in blocks), empty)
    data = itemgetter(*(slice(pos, pos + size) for pos, size in blocks), empty)
    return with_crcs, data


# format A sizes by L, and the block slicers by frame size: looked up, not computed per frame
_FORMAT_A_LENGTH = tuple(format_a_length(length) for length in range(256))
_BLOCKS = {total: _block_getters(total) for total in set(_FORMAT_A_LENGTH)}
