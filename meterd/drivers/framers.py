"""Sans-IO framers of the serial wM-Bus receivers (DESIGN 3.3): bytes in, telegrams out.

Each framer keeps a bounded buffer, resynchronises after garbage, and reports what it dropped as a
FramingError (counted by the port loop). They also build the receiver's commands and recognise its
answers, so the port loop only moves bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from meterd.drivers.frame import Frame, FramingError
from meterd.errors import MeterdError
from meterd.wmbus.crc import crc16_x25
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.link import parse_link

MAX_BUFFER = 4096
Item = Frame | FramingError


class UnsupportedMode(MeterdError):
    code = "unsupported_mode"


def cc1101_rssi_dbm(raw: int) -> float:
    """RSSI byte of CC1101-based receivers (Amber, CUL): signed half-dB steps, offset 74 dB."""
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


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
        self.replies: list[bytes] = []  # command answers seen, for the port loop

    def feed(self, data: bytes) -> list[Item]:
        """Frames completed by these bytes; they share one receive time (the time of this read)."""
        self.buf += data
        self.now = self.clock()
        out: list[Item] = []
        if len(self.buf) > MAX_BUFFER:
            dropped = len(self.buf) - MAX_BUFFER
            del self.buf[:dropped]
            out.append(FramingError("overflow", f"{dropped} bytes dropped: buffer limit"))
        out += self._extract()
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

    def identified(self) -> str | None:
        """The device's self-description once it answered `identify_command`."""
        return None

    @staticmethod
    def _skipped(n: int, why: str) -> FramingError:
        return FramingError("garbage", f"{n} bytes skipped: {why}")

    def _raw_frame(self, pos: int, trailing: int, out: list[Item]) -> tuple[bytes | None, bool]:
        """A raw `L C ...` telegram at pos (then `trailing` bytes), accepted when the link layer parses it.

        (telegram, False); (None, True) when more bytes are needed; (None, False) with a garbage error
        in out when pos is no frame start."""
        buf = self.buf
        length = buf[pos]
        if length < 10:
            out.append(self._skipped(1, "not a frame start"))
            return None, False
        if len(buf) - pos < length + 1 + trailing:
            return None, True
        telegram = bytes(buf[pos : pos + length + 1])
        try:
            parse_link(telegram)
        except DecodeError:
            out.append(self._skipped(1, "raw frame does not parse"))
            return None, False
        return telegram, False


# -- IMST iM871A / iM170A -------------------------------------------------------------------------


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

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        buf = self.buf
        n = len(buf)
        pos = 0  # consumed bytes are dropped once at the end: no memmove per frame
        while pos < n:
            start = buf.find(0xA5, pos)
            if start < 0:
                out.append(self._skipped(n - pos, "no A5 start byte"))
                pos = n
                break
            if start > pos:
                out.append(self._skipped(start - pos, "before A5 start byte"))
                pos = start
            if n - pos < 4:
                break
            ctrl, msgid, length = buf[pos + 1], buf[pos + 2], buf[pos + 3]
            flags, endpoint = ctrl >> 4, ctrl & 0x0F
            if endpoint not in (1, 2, 3) or flags & 0x1:
                out.append(self._skipped(1, f"bad control field {ctrl:02X}"))
                pos += 1
                continue
            extra = (4 if flags & 0x2 else 0) + (1 if flags & 0x4 else 0)
            total = 4 + length + extra + (2 if flags & 0x8 else 0)
            if n - pos < total:
                break
            frame = bytes(buf[pos : pos + total])
            if flags & 0x8 and crc16_x25(frame[1 : total - 2]) != frame[total - 2] | (frame[total - 1] << 8):
                out.append(self._skipped(1, "iM871A frame CRC mismatch"))
                pos += 1
                continue
            pos += total
            payload = frame[4 : 4 + length]
            if endpoint == 2 and msgid == 0x03:
                rssi = -100 + (frame[3 + length + extra] - 45) / 2 if flags & 0x4 else None
                out.append(Frame(bytes([length]) + payload, self.now, rssi, self.name))
            elif endpoint == 1:
                if msgid == 0x10:
                    self.info = payload
                self.replies.append(frame)
        del buf[:pos]
        return out


# -- IMST iU891A (SLIP) -----------------------------------------------------------------------------


def slip_decode(body: bytes) -> bytes | None:
    out = bytearray()
    it = iter(body)
    for b in it:
        if b == 0xDB:
            nxt = next(it, None)
            if nxt == 0xDC:
                out.append(0xC0)
            elif nxt == 0xDD:
                out.append(0xDB)
            else:
                return None
        else:
            out.append(b)
    return bytes(out)


def slip_encode(body: bytes) -> bytes:
    return b"\xc0" + body.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class IU891AFramer(Framer):
    """SLIP frames: SAP msgid [status] payload CRC-16/X-25 LE; telegrams are SAP 09 msg 20."""

    name = "iu891a"
    baudrate = 115200
    modes: ClassVar[dict[str, int]] = {"s1": 0x00, "t1": 0x03, "c1": 0x07, "c1,t1": 0x0A, "t1,c1": 0x0A}

    @staticmethod
    def command(sap: int, msgid: int, payload: bytes = b"") -> bytes:
        body = bytes([sap, msgid]) + payload
        return slip_encode(body + crc16_x25(body).to_bytes(2, "little"))

    def init_commands(self, mode: str) -> list[bytes]:
        return [self.command(0x09, 0x03, bytes([self.mode_value(mode)]))]

    def identify_command(self) -> bytes:
        return self.command(0x01, 0x01)  # device management: ping

    def identified(self) -> str | None:
        return "iU891A" if self.replies else None

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        buf = self.buf
        pos = 0
        while True:
            end = buf.find(0xC0, pos)
            if end < 0:
                break
            raw = bytes(buf[pos:end])
            pos = end + 1
            if not raw:
                continue  # frame start / idle END byte
            body = slip_decode(raw)
            if body is None or len(body) < 4:
                out.append(FramingError("garbage", "bad SLIP frame"))
                continue
            if crc16_x25(body[:-2]) != int.from_bytes(body[-2:], "little"):
                out.append(FramingError("bad_crc", "iU891A frame CRC mismatch"))
                continue
            sap, msgid, payload = body[0], body[1], body[2:-2]
            if sap == 0x09 and msgid == 0x20 and len(payload) > 8:
                rssi = int.from_bytes(payload[7:8], "big", signed=True)
                out.append(Frame(payload[8:], self.now, float(rssi), self.name))
            else:
                self.replies.append(body)
        del buf[:pos]
        return out


# -- Amber AMB8465 / AMB8665 ------------------------------------------------------------------------


def amber_checksum(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


class AMB8465Framer(Framer):
    """Command frames `FF cmd len data XOR`; telegrams `FF 03 len C..RSSI XOR` or transparent `L C .. RSSI`."""

    name = "amb8465"
    baudrate = 9600
    modes: ClassVar[dict[str, int]] = {"t1": 0x08, "c1": 0x0E, "c1,t1": 0x09, "t1,c1": 0x09}

    def __init__(self, clock: Callable[[], datetime] = _now, transparent: bool = False) -> None:
        super().__init__(clock)
        self.transparent = transparent  # module configured for transparent output (no FF framing)

    @staticmethod
    def command(cmd: int, data: bytes = b"") -> bytes:
        frame = bytes([0xFF, cmd, len(data)]) + data
        return frame + bytes([amber_checksum(frame)])

    def init_commands(self, mode: str) -> list[bytes]:
        return [self.command(0x04, bytes([self.mode_value(mode)]))]

    def identify_command(self) -> bytes:
        return self.command(0x0C)  # CMD_SERIALNO_REQ

    def identified(self) -> str | None:
        for reply in self.replies:
            if reply[1] == 0x8C:
                return f"AMB8465 serial {reply[3:-1].hex().upper()}"
        return None

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        buf = self.buf
        n = len(buf)
        pos = 0
        while pos < n:
            if buf[pos] == 0xFF:
                if n - pos < 4:
                    break
                total = 3 + buf[pos + 2] + 1
                if n - pos < total:
                    break
                frame = bytes(buf[pos : pos + total])
                if amber_checksum(frame[:-1]) != frame[-1]:
                    out.append(self._skipped(1, "AMB8465 frame checksum mismatch"))
                    pos += 1
                    continue
                pos += total
                if frame[1] == 0x03 and len(frame) > 5:
                    out.append(
                        Frame(bytes([len(frame) - 5]) + frame[3:-2], self.now, cc1101_rssi_dbm(frame[-2]), self.name)
                    )
                else:
                    self.replies.append(frame)
                continue
            if not self.transparent:
                start = buf.find(0xFF, pos)
                end = start if start > 0 else n
                out.append(self._skipped(end - pos, "before FF start byte"))
                pos = end
                continue
            # transparent mode: L C ... RSSI, accepted only when the link layer makes sense of it
            telegram, wait = self._raw_frame(pos, 1, out)
            if wait:
                break
            if telegram is None:
                pos += 1
                continue
            out.append(Frame(telegram, self.now, cc1101_rssi_dbm(buf[pos + len(telegram)]), self.name))
            pos += len(telegram) + 1
        del buf[:pos]
        return out


# -- Radiocrafts RC1180 -----------------------------------------------------------------------------


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
        buf = self.buf
        n = len(buf)
        pos = 0
        while pos < n:
            if buf[pos] == ord(">") and n - pos == 1:
                self.replies.append(b">")
                pos += 1
                break
            telegram, wait = self._raw_frame(pos, 1 if self.rssi_byte else 0, out)
            if wait:
                break
            if telegram is None:
                pos += 1
                continue
            rssi = -(buf[pos + len(telegram)] / 2) if self.rssi_byte else None
            pos += len(telegram) + (1 if self.rssi_byte else 0)
            out.append(Frame(telegram, self.now, rssi, self.name))
        del buf[:pos]
        return out


# -- CUL / culfw ------------------------------------------------------------------------------------


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
        buf = self.buf
        pos = 0
        while True:
            end = buf.find(b"\n", pos)
            if end < 0:
                break
            line = bytes(buf[pos:end]).strip()
            pos = end + 1
            if not line:
                continue
            if not line.startswith(b"b"):
                self.replies.append(line)
                continue
            text = line[2:] if line.startswith(b"bY") else line[1:]
            try:
                data = bytes.fromhex(text.decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                out.append(FramingError("garbage", "CUL line is not hex"))
                continue
            if len(data) < 13:
                out.append(FramingError("too_short", "CUL telegram too short"))
                continue
            # the DLL CRCs stay in the telegram: the decoder checks and strips them (bad ones print as bad_crc)
            out.append(Frame(data[:-2], self.now, cc1101_rssi_dbm(data[-1]), self.name))
        del buf[:pos]
        return out


FRAMERS: dict[str, type[Framer]] = {
    "im871a": IM871AFramer,
    "iu891a": IU891AFramer,
    "amb8465": AMB8465Framer,
    "rc1180": RC1180Framer,
    "cul": CULFramer,
}
