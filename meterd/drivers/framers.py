"""Sans-IO framers of the serial wM-Bus receivers (DESIGN 3.3): bytes in, telegrams out.

Each framer keeps a bounded buffer, resynchronises after garbage, and reports what it dropped as a
FramingError (counted by the port loop). They also build the receiver's commands and recognise its
answers, so the port loop only moves bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
from fastcrc import crc16

from meterd.drivers.frame import Frame, FramingError
from meterd.errors import MeterdError
from meterd.wmbus.crc import crc16_x25
from meterd.wmbus.link import WMBUS_C_FIELDS

MAX_BUFFER = 4096
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
        self.replies: list[bytes] = []  # command answers seen, for the port loop

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

    def mode_confirmed(self) -> bool | None:
        for reply in self.replies:  # A5 ctrl 04 len status: the answer to the set-configuration request
            if reply[1] & 0x0F == 1 and reply[2] == 0x04 and reply[3] >= 1:
                return reply[4] == 0
        return None

    @staticmethod
    def _ctrl(c: int) -> tuple[int, int, bool]:
        """(bytes around the payload: header, timestamp, RSSI, CRC; where the RSSI byte is, counted back
        from the frame end, 0 for none; whether a CRC follows). (0, 0, False) for an invalid ctrl."""
        if (c & 0x0F) not in (1, 2, 3) or c & 0x10:
            return 0, 0, False
        crc = 2 if c & 0x80 else 0
        return 4 + (4 if c & 0x20 else 0) + (1 if c & 0x40 else 0) + crc, (1 + crc if c & 0x40 else 0), bool(crc)

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
            extra, rssi_back, checked = ctrls[data[pos + 1]]
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
            endpoint_msg = data[pos + 1] & 0x0F, data[pos + 2]
            if endpoint_msg == (2, 0x03):
                # the length byte is the telegram's L field: the telegram is length byte + payload
                rssi = IMST_DBM[data[end - rssi_back]] if rssi_back else None
                append(make(Frame, (data[pos + 3 : pos + 4 + length], now, rssi, name)))
            elif endpoint_msg[0] == 1:
                if endpoint_msg[1] == 0x10:
                    self.info = data[pos + 4 : pos + 4 + length]
                self.replies.append(data[pos:end])
            pos = end
        del self.buf[:pos]
        return out


_IM871A_CTRL = tuple(IM871AFramer._ctrl(c) for c in range(256))
X25_RESIDUE = 0x0F47  # CRC-16/X-25 over data followed by its own CRC (LE) always gives this


# -- IMST iU891A (SLIP) -----------------------------------------------------------------------------


def slip_decode(body: bytes) -> bytes | None:
    """Undo SLIP escaping (DB DC → C0, DB DD → DB); None when a DB starts no valid escape."""
    if 0xDB not in body:
        return body
    escapes = body.count(b"\xdb\xdc") + body.count(b"\xdb\xdd")
    if body.count(0xDB) != escapes:
        return None
    # every DB starts an escape, so the DB DC pairs found left to right are exactly the escaped C0s
    return body.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


def slip_encode(body: bytes) -> bytes:
    return b"\xc0" + body.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class IU891AFramer(Framer):
    """SLIP frames: SAP msgid [status] payload CRC-16/X-25 LE; telegrams are SAP 09 msg 20."""

    name = "iu891a"
    baudrate = 115200
    # link mode codes of the WM-Bus gateway service (SAP 09); C1 and T1 together is one mode
    modes: ClassVar[dict[str, int]] = {"s1": 0x01, "t1": 0x02, "c1,t1": 0x03, "t1,c1": 0x03, "c1": 0x05}
    MODULES: ClassVar[dict[int, str]] = {0x6D: "iM891A-XL", 0x6E: "iU891A-XL", 0xA3: "iM881A-XL", 0x71: "iU893A-XL"}

    @staticmethod
    def command(sap: int, msgid: int, payload: bytes = b"") -> bytes:
        body = bytes([sap, msgid]) + payload
        return slip_encode(body + crc16_x25(body).to_bytes(2, "little"))

    def init_commands(self, mode: str) -> list[bytes]:
        # SET_ACTIVE_CONFIGURATION: mode, option bits (receive all, indicate received and sent telegrams),
        # UI option bits (no pins), LED flash time, recalibration period (off): 11 bytes, little-endian
        config = bytes([self.mode_value(mode)]) + (0x0006).to_bytes(2, "little") + bytes(2) + bytes(2) + bytes(4)
        return [self.command(0x09, 0x03, config)]

    def identify_command(self) -> bytes:
        return self.command(0x01, 0x03)  # device management: GET_DEVICE_INFO

    def identified(self) -> str | None:
        for body in self.replies:  # 01 04 status module-type uid(4, LE) ...
            if body[0] == 0x01 and body[1] == 0x04 and len(body) >= 10 and body[2] == 0:
                module = self.MODULES.get(body[3], f"module type {body[3]:02X}")
                return f"{module} uid {int.from_bytes(body[4:8], 'little'):08x}"
        return None

    def mode_confirmed(self) -> bool | None:
        for body in self.replies:  # 09 04 status: SET_ACTIVE_CONFIGURATION response
            if body[0] == 0x09 and body[1] == 0x04 and len(body) >= 5:
                return body[2] == 0
        return None

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        data = bytes(self.buf)
        last = data.rfind(0xC0)
        if last < 0:
            return out
        now, name, crc, make = self.now, self.name, crc16.ibm_sdlc, tuple.__new__
        append = out.append
        for raw in data[:last].split(b"\xc0"):
            if not raw:
                continue  # frame start / idle END byte
            body = slip_decode(raw)
            if body is None or len(body) < 4:
                append(FramingError("garbage", "bad SLIP frame"))
                continue
            if crc(body) != X25_RESIDUE:
                append(FramingError("bad_crc", "iU891A frame CRC mismatch"))
                continue
            if body[0] == 0x09 and body[1] == 0x20 and len(body) > 12:
                append(make(Frame, (body[10:-2], now, SIGNED_DBM[body[9]], name)))
            else:
                self.replies.append(body)
        del self.buf[: last + 1]
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

    def mode_confirmed(self) -> bool | None:
        for reply in self.replies:  # FF 84 01 status XOR: CMD_SET_MODE confirmation, status 0 = done
            if reply[1] == 0x84 and reply[2] >= 1:
                return reply[3] == 0
        return None

    def _extract(self) -> list[Item]:
        out: list[Item] = []
        data = bytes(self.buf)
        n = len(data)
        pos = 0
        while pos < n:
            if data[pos] == 0xFF:
                done, pos = self._command_frames(data, pos, out)
                if not done:
                    break
                continue
            if not self.transparent:
                start = data.find(0xFF, pos)
                end = start if start > 0 else n
                out.append(self._skipped(end - pos, "before FF start byte"))
                pos = end
                continue
            # transparent mode: L C ... RSSI
            size = self._raw_frame(data, pos, 1)
            if size == 0:
                break
            if size < 0:
                out.append(self._skipped(1, "not a frame start"))
                pos += 1
                continue
            out.append(Frame(data[pos : pos + size], self.now, CC1101_DBM[data[pos + size]], self.name))
            pos += size + 1
        del self.buf[:pos]
        return out

    def _command_frames(self, data: bytes, pos: int, out: list[Item]) -> tuple[bool, int]:
        """The run of `FF cmd len data XOR` frames at pos, checksums taken together in one numpy call.

        Returns (False, pos) when the first frame is incomplete, else (True, where reading goes on)."""
        starts: list[int] = []
        end, n = pos, len(data)
        while end + 3 <= n and data[end] == 0xFF and end + 4 + data[end + 2] <= n:
            starts.append(end)
            end += 4 + data[end + 2]
        if not starts:
            return False, pos
        xors = np.bitwise_xor.reduceat(np.frombuffer(data, np.uint8, end - pos, pos), np.array(starts) - pos)
        now, name, make, append = self.now, self.name, tuple.__new__, out.append
        for start, x in zip(starts, xors.tolist(), strict=True):
            if x:  # the XOR over a frame with its checksum byte is 0
                append(self._skipped(1, "AMB8465 frame checksum mismatch"))
                return True, start + 1
            size = 4 + data[start + 2]
            if data[start + 1] == 0x03 and size > 5:
                telegram = bytes([size - 5]) + data[start + 3 : start + size - 2]
                append(make(Frame, (telegram, now, CC1101_DBM[data[start + size - 2]], name)))
            else:
                self.replies.append(data[start : start + size])
        return True, end


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


FRAMERS: dict[str, type[Framer]] = {
    "im871a": IM871AFramer,
    "iu891a": IU891AFramer,
    "amb8465": AMB8465Framer,
    "rc1180": RC1180Framer,
    "cul": CULFramer,
}
