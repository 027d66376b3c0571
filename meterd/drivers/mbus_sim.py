"""A simulated wired M-Bus: slaves with primary and secondary addresses answering the master's
frames, collisions where several answer at once. Used by the tests and bench/mbus.py (kept in the package so both import it as one), directly (the
master's `exchange`) or behind a pty (`serve`)."""

from __future__ import annotations

import os
import select
import threading
import time
from dataclasses import dataclass, field

from meterd.drivers.mbus_frames import ACK, ADDRESS_SELECTED, FrameReader, long_frame
from meterd.drivers.mbus_master import Reply, Request
from meterd.wmbus.manufacturer import encode_manufacturer

VOLUME = bytes.fromhex("0C13")  # DIF 0C (8-digit BCD), VIF 13 (volume, litres)


def volume_records(litres: int) -> bytes:
    return VOLUME + bytes.fromhex(f"{litres:08d}")[::-1]


@dataclass
class Slave:
    primary: int
    secondary: str  # 8 digits
    manufacturer: str = "ELS"
    version: int = 1
    medium: int = 0x07
    telegrams: list[bytes] = field(default_factory=lambda: [volume_records(12345)])  # records per telegram
    late_s: float = 0.0  # answers this late
    bad_first: int = 0  # this many answers with a broken checksum first
    selected: bool = False
    _last_fcb: bool | None = None
    _index: int = 0
    access: int = 0

    def header(self) -> bytes:
        ident = bytes.fromhex(self.secondary)[::-1]
        m = encode_manufacturer(self.manufacturer).to_bytes(2, "little")
        return ident + m + bytes([self.version, self.medium, self.access & 0xFF, 0]) + b"\x00\x00"

    def rsp_ud(self, address: int) -> bytes:
        records = self.telegrams[self._index % len(self.telegrams)]
        if self._index < len(self.telegrams) - 1:
            records += b"\x1f"  # more telegrams follow
        frame = long_frame(0x08, address, 0x72, self.header() + records)
        self.access += 1
        if self.bad_first:
            self.bad_first -= 1
            frame = frame[:-2] + bytes([(frame[-2] + 1) & 0xFF]) + frame[-1:]
        return frame

    def matches(self, mask: str, manufacturer: int, version: int, medium: int) -> bool:
        digits_ok = all(m in ("F", s) for m, s in zip(mask, self.secondary, strict=True))
        return (
            digits_ok
            and manufacturer in (0xFFFF, encode_manufacturer(self.manufacturer))
            and version in (0xFF, self.version)
            and medium in (0xFF, self.medium)
        )


class Bus:
    def __init__(self, slaves: list[Slave]) -> None:
        self.slaves = slaves
        self.requests = 0

    def answers(self, request: bytes) -> list[tuple[float, bytes]]:
        """Each answering slave's (delay, bytes)."""
        self.requests += 1
        out: list[tuple[float, bytes]] = []
        if request[:1] == b"\x10" and len(request) == 5:
            c, a = request[1], request[2]
            for s in self._addressed(a):
                if c == 0x40:  # SND_NKE
                    s._last_fcb, s._index = None, 0
                    if a == ADDRESS_SELECTED:
                        s.selected = False
                    out.append((s.late_s, bytes([ACK])))
                elif c & 0xDF == 0x5B:  # REQ_UD2
                    fcb = bool(c & 0x20)
                    if s._last_fcb is not None and fcb != s._last_fcb:
                        s._index += 1
                    s._last_fcb = fcb
                    out.append((s.late_s, s.rsp_ud(a)))
        elif request[:1] == b"\x68" and len(request) >= 9:
            c, a, ci, data = request[4], request[5], request[6], request[7:-2]
            if c & 0xDF == 0x53 and a == ADDRESS_SELECTED and ci == 0x52 and len(data) == 8:
                mask = data[:4][::-1].hex().upper()
                manufacturer = int.from_bytes(data[4:6], "little")
                for s in self.slaves:
                    s.selected = s.matches(mask, manufacturer, data[6], data[7])
                    if s.selected:
                        s._last_fcb, s._index = None, 0
                        out.append((s.late_s, bytes([ACK])))
        return out

    def _addressed(self, address: int) -> list[Slave]:
        if address == ADDRESS_SELECTED:
            return [s for s in self.slaves if s.selected]
        return [s for s in self.slaves if s.primary == address]

    @staticmethod
    def on_the_wire(answers: list[tuple[float, bytes]]) -> bytes:
        """What the master hears: one answer as it is; several at once superimposed. Where they send
        the same byte it arrives intact (two E5 sound like one); where they differ the character is
        broken (its parity or stop bit fails) and the port delivers it as NUL, as a Linux tty does."""
        if not answers:
            return b""
        datas = [d for _, d in answers]
        size = max(map(len, datas))
        out = bytearray(size)
        for i in range(size):
            column = {d[i] for d in datas if i < len(d)}
            out[i] = column.pop() if len(column) == 1 and all(i < len(d) for d in datas) else 0
        return bytes(out)

    def exchange(self, request: Request) -> Reply:
        """The master's exchange, without a port (and without waiting for late slaves)."""
        reader = FrameReader()
        answers = reader.feed(self.on_the_wire(self.answers(request.data))) + reader.flush()
        return Reply(tuple(answers))


def serve(bus: Bus, master_fd: int, stop: threading.Event) -> None:
    """Answer the requests arriving on a pty's master side until `stop`."""
    buf = bytearray()
    while not stop.is_set():
        try:
            ready, _, _ = select.select([master_fd], [], [], 0.05)
            if not ready:
                continue
            buf += os.read(master_fd, 4096)
        except OSError:
            return
        while buf:
            if buf[0] == 0x10 and len(buf) >= 5:
                request, buf = bytes(buf[:5]), buf[5:]
            elif buf[0] == 0x68 and len(buf) >= 4 and len(buf) >= buf[1] + 6:
                n = buf[1] + 6
                request, buf = bytes(buf[:n]), buf[n:]
            elif buf[0] in (0x10, 0x68):
                break  # the rest is still coming
            else:
                del buf[:1]
                continue
            answers = bus.answers(request)
            if answers:
                time.sleep(max(delay for delay, _ in answers))
                try:
                    os.write(master_fd, bus.on_the_wire(answers))
                except OSError:
                    return
