"""Amber AMB8465 / AMB8665: `FF cmd len data XOR` command frames, or transparent `L C ... RSSI` output."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

import numpy as np

from meterd.drivers.frame import Frame
from meterd.drivers.framer import CC1101_DBM, Framer, Item, _now
from meterd.wmbus.link import WMBUS_C_FIELDS

_L_BYTES = tuple(bytes([n]) for n in range(256))  # the L field each telegram gets back


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
        now, name, make, append, l_bytes = self.now, self.name, tuple.__new__, out.append, _L_BYTES
        c_fields, dbm = WMBUS_C_FIELDS, CC1101_DBM
        for start, stop, x in zip(starts, [*starts[1:], end], xors.tolist(), strict=True):
            if x:  # the XOR over a frame with its checksum byte is 0
                append(self._skipped(1, "AMB8465 frame checksum mismatch"))
                return True, start + 1
            cmd = data[start + 1]
            if cmd == 0x03 and stop - start > 15 and data[start + 3] in c_fields:
                # telegram: FF 03 len C ... RSSI XOR, without L field
                telegram = l_bytes[stop - start - 5] + data[start + 3 : stop - 2]
                append(make(Frame, (telegram, now, dbm[data[stop - 2]], name)))
            elif 0x80 <= cmd <= 0xBF:  # confirmations and answers to commands
                self.replies.append(data[start:stop])
            else:  # an 8-bit checksum passes one garbage start in 256: what makes no sense is garbage too
                append(self._skipped(1, f"AMB8465 frame with unknown command {cmd:02X}"))
                return True, start + 1
        return True, end
