"""Simulated dongles on pseudo-terminals: the device end of a pty answers meterd's commands as the
real dongle would and sends scheduled telegrams; it can be unplugged."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

from meterd.drivers.amb8465 import amber_checksum
from meterd.wmbus.crc import crc16_x25

TELEGRAM = bytes.fromhex(
    "2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"
)


class Pty:
    """One end for the simulated device (master), one path for meterd (slave, behind a symlink)."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        link.unlink(missing_ok=True)
        link.symlink_to(os.ttyname(self.slave))

    def read(self, timeout: float = 0.05) -> bytes:
        try:  # after unplug() the descriptor is gone: the device hears nothing more
            ready, _, _ = select.select([self.master], [], [], timeout)
            return os.read(self.master, 4096) if ready else b""
        except (OSError, ValueError):
            return b""

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # unplugged while talking
            os.write(self.master, data)

    def unplug(self) -> None:
        # forget the descriptors first: the numbers are reused by the next pty, and a device thread still
        # running must not read or write that one
        master, slave, self.master, self.slave = self.master, self.slave, -1, -1
        os.close(master)
        os.close(slave)


class Device(threading.Thread):
    """Answers commands with `respond`, then sends the scheduled outputs."""

    def __init__(self, pty: Pty, respond: Callable[[bytes], bytes | None], outputs: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.pty, self.respond, self.outputs = pty, respond, list(outputs)
        self.commands: list[bytes] = []
        self.done = threading.Event()

    def run(self) -> None:
        # like a dongle on a port nobody has opened yet, say nothing before the first command: bytes sent
        # before meterd opens the port would be flushed by it (a slow start made the test flaky)
        first = self.pty.read(10.0)
        deadline = time.monotonic() + 1.5
        data = first
        while not self.done.is_set():
            if data:
                self.commands.append(data)
                answer = self.respond(data)
                if answer:
                    self.pty.write(answer)
                    deadline = time.monotonic() + 0.3  # answered: outputs follow shortly
            if time.monotonic() >= deadline:
                break
            data = self.pty.read()
        for out in self.outputs:
            if self.done.is_set():
                return
            self.pty.write(out)
            time.sleep(0.05)


def im871a_frame(endpoint: int, msgid: int, payload: bytes, rssi: int | None = None) -> bytes:
    flags = 0x8 | (0x4 if rssi is not None else 0)
    body = (
        bytes([(flags << 4) | endpoint, msgid, len(payload)]) + payload + (bytes([rssi]) if rssi is not None else b"")
    )
    return b"\xa5" + body + crc16_x25(body).to_bytes(2, "little")


def im871a_respond(cmd: bytes) -> bytes | None:
    answers = b""
    if b"\xa5\x01\x0f\x00" in cmd:
        answers += im871a_frame(1, 0x10, bytes.fromhex("33010203"))
    if b"\xa5\x01\x03\x06" in cmd:
        answers += im871a_frame(1, 0x04, b"\x00")
    return answers or None


def amber_respond(cmd: bytes) -> bytes | None:
    answers = b""
    if b"\xff\x0c\x00" in cmd:
        reply = bytes([0xFF, 0x8C, 0x04, 1, 2, 3, 4])
        answers += reply + bytes([amber_checksum(reply)])
    if b"\xff\x0a\x02\x00" in cmd:  # settings 0-69: FF 03 frames (UART_CMD_Out_Enable 1), RSSI byte on
        values = bytearray(70)
        values[5] = values[69] = 1
        reply = bytes([0xFF, 0x8A, 72, 0, 70]) + bytes(values)
        answers += reply + bytes([amber_checksum(reply)])
    if b"\xff\x04\x01" in cmd:
        reply = bytes([0xFF, 0x84, 0x01, 0x00])
        answers += reply + bytes([amber_checksum(reply)])
    return answers or None

