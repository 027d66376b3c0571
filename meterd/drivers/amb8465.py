"""Amber AMB8465 / AMB8665: `FF cmd len data XOR` command frames, or transparent `L C ... [RSSI]` output.

Two user settings decide what received telegrams look like: UART_CMD_Out_Enable (position 5; 0, the
factory setting, sends telegrams transparently, 1 as `FF 03` frames) and RSSI_Enable (position 69; an
RSSI byte after each telegram). The start commands read them (CMD_GET_REQ 0x0A, answered by 0x8A with
position, length and values), so the framer follows the module rather than a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import reduce
from operator import xor
from typing import ClassVar

import numpy as np

from meterd.drivers.frame import Frame
from meterd.drivers.framer import CC1101_DBM, ENDS_WELL, Framer, Item, _now
from meterd.wmbus.link import WMBUS_C_FIELDS

_L_BYTES = tuple(bytes([n]) for n in range(256))  # the L field each telegram gets back
UART_CMD_OUT_ENABLE, RSSI_ENABLE = 5, 69  # positions of the user settings
SETTINGS_READ = RSSI_ENABLE + 1  # settings read at start: positions 0-69


def amber_checksum(data: bytes) -> int:
    return reduce(xor, data, 0)


# from this many frames in one read on, one numpy call checks them all faster than one reduce per frame
NUMPY_RUN = 4


class AMB8465Framer(Framer):
    """Command frames `FF cmd len data XOR`; telegrams `FF 03 len C..RSSI XOR` or transparent `L C .. RSSI`."""

    name = "amb8465"
    baudrate = 9600
    modes: ClassVar[dict[str, int]] = {"t1": 0x08, "c1": 0x0E, "c1,t1": 0x09, "t1,c1": 0x09}

    def __init__(self, clock: Callable[[], datetime] = _now, transparent: bool = False, rssi_byte: bool = True) -> None:
        super().__init__(clock)
        # what the module sends, until its settings say otherwise: transparent output (no FF framing),
        # an RSSI byte after each telegram
        self.transparent = transparent
        self.rssi_byte = rssi_byte
        self.settings: bytes | None = None
        self._synced = False  # transparent output: the last bytes read were a telegram, not skipped noise

    @staticmethod
    def command(cmd: int, data: bytes = b"") -> bytes:
        frame = bytes([0xFF, cmd, len(data)]) + data
        return frame + bytes([amber_checksum(frame)])

    def init_commands(self, mode: str) -> list[bytes]:
        read_settings = self.command(0x0A, bytes([0, SETTINGS_READ]))  # CMD_GET_REQ from position 0
        return [read_settings, self.command(0x04, bytes([self.mode_value(mode)]))]

    def identify_command(self) -> bytes:
        return self.command(0x0C)  # CMD_SERIALNO_REQ

    def identified(self) -> str | None:
        for reply in self.replies:
            if reply[1] == 0x8C:
                return f"AMB8465 serial {reply[3:-1].hex().upper()}"
        return None

    def _learn_settings(self, reply: bytes) -> None:
        """CMD_GET_CNF `FF 8A len position count values... XOR` for the settings from position 0; only the
        first, the answer to the start commands (noise that passed the checksum cannot switch modes later)."""
        if self.settings is None and len(reply) >= 6 + SETTINGS_READ and reply[3] == 0 and reply[4] >= SETTINGS_READ:
            self.settings = reply[5 : 5 + reply[4]]
            self.transparent = self.settings[UART_CMD_OUT_ENABLE] == 0
            self.rssi_byte = self.settings[RSSI_ENABLE] == 1

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
                    # an unfinished command frame in transparent output may be line noise: it gives way
                    # to a telegram that starts inside it and ends well
                    trailing = 1 if self.rssi_byte else 0
                    q = self._telegram_within(data, pos + 1, n, trailing, ENDS_WELL) if self.transparent else None
                    if q is None:
                        break
                    out.append(self._skipped(q - pos, "an unfinished command frame"))
                    pos = q
                    self._synced = False
                continue
            if not self.transparent:
                start = data.find(0xFF, pos)
                end = start if start > 0 else n
                out.append(self._skipped(end - pos, "before FF start byte"))
                pos = end
                continue
            # transparent mode: L C ... [RSSI]
            trailing = 1 if self.rssi_byte else 0
            size = self._raw_frame(data, pos, trailing, self._synced)
            if size == 0:
                break
            if size < 0:
                out.append(self._skipped(-size, "not a frame start"))
                pos -= size
                self._synced = False
                continue
            self._synced = True
            rssi = CC1101_DBM[data[pos + size]] if trailing else None
            out.append(Frame(data[pos : pos + size], self.now, rssi, self.name))
            pos += size + trailing
        del self.buf[:pos]
        return out

    def _command_frames(self, data: bytes, pos: int, out: list[Item]) -> tuple[bool, int]:
        """The run of `FF cmd len data XOR` frames at pos, checksums of a longer run in one numpy call.

        Returns (False, pos) when the first frame is incomplete, else (True, where reading goes on)."""
        starts: list[int] = []
        end, n = pos, len(data)
        append_start = starts.append
        while end + 3 <= n and data[end] == 0xFF:
            stop = end + 4 + data[end + 2]
            if stop > n:
                break
            append_start(end)
            end = stop
        if not starts:
            return False, pos
        bounds = [*starts[1:], end]
        if len(starts) < NUMPY_RUN:
            xors = [amber_checksum(data[a:b]) for a, b in zip(starts, bounds, strict=True)]
        else:
            run = np.frombuffer(data, np.uint8, end - pos, pos)
            xors = np.bitwise_xor.reduceat(run, np.array(starts) - pos).tolist()
        now, name, make, append, l_bytes = self.now, self.name, tuple.__new__, out.append, _L_BYTES
        c_fields, dbm, rssi_byte = WMBUS_C_FIELDS, CC1101_DBM, self.rssi_byte
        for start, stop, x in zip(starts, bounds, xors, strict=True):
            if x:  # the XOR over a frame with its checksum byte is 0
                append(self._skipped(1, "AMB8465 frame checksum mismatch"))
                return True, start + 1
            inner = _telegram_inside(data, start, stop)
            if inner is not None:  # an 8-bit checksum passes one garbage start in 256: the telegram inside wins
                append(self._skipped(inner - start, "an AMB8465 frame that holds a telegram frame"))
                return True, inner
            cmd = data[start + 1]
            if cmd == 0x03 and stop - start > 15 and data[start + 3] in c_fields:
                # telegram: FF 03 len C ... [RSSI] XOR, without L field
                if rssi_byte:
                    telegram = l_bytes[stop - start - 5] + data[start + 3 : stop - 2]
                    append(make(Frame, (telegram, now, dbm[data[stop - 2]], name)))
                else:
                    append(make(Frame, (l_bytes[stop - start - 4] + data[start + 3 : stop - 1], now, None, name)))
            elif 0x80 <= cmd <= 0xBF:  # confirmations and answers to commands
                self.replies.append(data[start:stop])
                if cmd == 0x8A:
                    self._learn_settings(data[start:stop])
                    rssi_byte = self.rssi_byte
            else:  # an 8-bit checksum passes one garbage start in 256: what makes no sense is garbage too
                append(self._skipped(1, f"AMB8465 frame with unknown command {cmd:02X}"))
                return True, start + 1
        return True, end


def _telegram_inside(data: bytes, start: int, stop: int) -> int | None:
    """Where a complete `FF 03` telegram frame (a link-layer C field first, a valid checksum) starts
    inside [start, stop): then the frame at start is garbage whose checksum passed by chance."""
    q = data.find(0xFF, start + 1, stop)
    while q >= 0:
        if q + 4 <= len(data) and data[q + 1] == 0x03 and data[q + 3] in WMBUS_C_FIELDS:
            end = q + 4 + data[q + 2]
            if end <= len(data) and amber_checksum(data[q:end]) == 0:
                return q
        q = data.find(0xFF, q + 1, stop)
    return None
