"""Wired M-Bus frames (EN 13757-2), sans-IO: the master's requests as bytes, and a reader that turns
the bytes a bus returns into answers (an acknowledgement, a long frame, or garbage: what two slaves
answering at once look like).

Frames: single character E5 (acknowledgement); short frame 10 C A CS 16; long frame
68 L L 68 C A CI data CS 16, L counting C, A, CI and data, CS the sum of those bytes mod 256.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ACK = 0xE5
SND_NKE = 0x40  # link reset (the slave answers E5 and clears its FCB)
REQ_UD2 = 0x5B  # request class 2 data, FCV set; FCB is bit 0x20
SND_UD = 0x53  # send user data, FCV set; FCB is bit 0x20
FCB = 0x20
CI_SELECT = 0x52  # secondary address selection
ADDRESS_SELECTED = 0xFD  # the slave selected by its secondary address
ADDRESS_BROADCAST = 0xFF  # every slave, none answers
PRIMARY_ADDRESSES = range(0, 251)  # 251..255 are reserved or special
MAX_LONG = 4 + 255 + 2


def short_frame(c_field: int, address: int) -> bytes:
    return bytes([0x10, c_field, address, (c_field + address) & 0xFF, 0x16])


def long_frame(c_field: int, address: int, ci: int, data: bytes = b"") -> bytes:
    body = bytes([c_field, address, ci]) + data
    if len(body) > 255:
        raise ValueError("an M-Bus long frame holds at most 252 data bytes")
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])


def snd_nke(address: int) -> bytes:
    return short_frame(SND_NKE, address)


def req_ud2(address: int, fcb: bool) -> bytes:
    return short_frame(REQ_UD2 | (FCB if fcb else 0), address)


def select_secondary(mask: str, manufacturer: int = 0xFFFF, version: int = 0xFF, medium: int = 0xFF) -> bytes:
    """SND_UD to address FD with CI 52: the identification number as 8 BCD digits, any of them F for
    'any digit', then manufacturer, version and medium (FF.. for any)."""
    if len(mask) != 8 or any(c not in "0123456789Ff" for c in mask):
        raise ValueError(f"secondary address mask {mask!r}: 8 digits, F for any")
    ident = bytes.fromhex(mask)[::-1]  # least significant byte first
    data = ident + manufacturer.to_bytes(2, "little") + bytes([version, medium])
    return long_frame(SND_UD, ADDRESS_SELECTED, CI_SELECT, data)


class AnswerKind(enum.Enum):
    ACK = "ack"
    FRAME = "frame"
    GARBLED = "garbled"  # bytes that are no frame, or a frame with a bad checksum


@dataclass(frozen=True)
class Answer:
    kind: AnswerKind
    data: bytes = b""
    reason: str = ""


class FrameReader:
    """Bytes in, answers out. A long frame is complete when its length says so; anything that cannot
    start a frame, or a frame whose checksum or stop byte is wrong, is one GARBLED answer."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Answer]:
        self._buf += data
        out: list[Answer] = []
        while self._buf:
            first = self._buf[0]
            if first == ACK:
                out.append(Answer(AnswerKind.ACK, bytes([ACK])))
                del self._buf[:1]
                continue
            if first != 0x68:
                out.append(self._garbled(len(self._buf), f"byte {first:02X} starts no M-Bus frame"))
                continue
            if len(self._buf) < 4:
                break
            length = self._buf[1]
            if self._buf[2] != length or self._buf[3] != 0x68 or length < 3:
                out.append(self._garbled(len(self._buf), "long frame header is inconsistent"))
                continue
            total = length + 6
            if len(self._buf) < total:
                break
            frame = bytes(self._buf[:total])
            del self._buf[:total]
            body = frame[4 : 4 + length]
            if frame[-1] != 0x16:
                out.append(Answer(AnswerKind.GARBLED, frame, "stop byte missing"))
            elif sum(body) & 0xFF != frame[-2]:
                out.append(Answer(AnswerKind.GARBLED, frame, "checksum mismatch"))
            else:
                out.append(Answer(AnswerKind.FRAME, frame))
        return out

    def pending(self) -> bool:
        """Whether part of a frame is waiting for more bytes."""
        return bool(self._buf)

    def flush(self) -> list[Answer]:
        """What is left when the bus falls silent: an incomplete frame is garbage."""
        if not self._buf:
            return []
        return [self._garbled(len(self._buf), "frame cut short")]

    def _garbled(self, n: int, reason: str) -> Answer:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return Answer(AnswerKind.GARBLED, data, reason)


def more_records_follow(frame: bytes) -> bool:
    """Whether a RSP_UD ends in DIF 1F (the slave has more telegrams), after its fixed header."""
    length = frame[1]
    data = frame[7 : 4 + length]  # after C, A, CI
    ci = frame[6]
    header = 12 if ci == 0x72 else 4 if ci == 0x7A else 0
    records = data[header:]
    return bool(records) and _ends_with_more_follow(records)


def _ends_with_more_follow(records: bytes) -> bool:
    # DIF 0x1F may be followed only by manufacturer-specific data; it is the last DIF of the frame's
    # records: walk the records through the decoder's own layout parser to find it
    from meterd.wmbus.records import parse_layout

    try:
        return bool(parse_layout(records).more_records_follow)
    except Exception:
        return False


def timeout_s(baud: int, margin_s: float = 0.15) -> float:
    """How long a master waits for a slave: 330 bit times plus 50 ms (EN 13757-2), and a margin for
    USB serial adapters, which hand over bytes in chunks."""
    return 330 / baud + 0.05 + margin_s


def bytes_time_s(n: int, baud: int) -> float:
    """Time n bytes take on the wire: 11 bits each (start, 8 data, even parity, stop)."""
    return n * 11 / baud
