"""IMST iU891A: SLIP frames of the device management (SAP 01) and WM-Bus gateway (SAP 09) services."""

from __future__ import annotations

from typing import ClassVar

from fastcrc import crc16

from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.framer import SIGNED_DBM, Framer, Item
from meterd.wmbus.crc import X25_RESIDUE, crc16_x25


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
