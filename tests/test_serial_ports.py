"""The serial port loop over pseudo-terminals, with simulated dongles: init, telegrams, garbage,
split reads, CRC errors, unplug and replug under a stable by-id path, and silence resets."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from meterd.drivers.frame import Frame
from meterd.drivers.framers import amber_checksum
from meterd.drivers.serial_port import PortSettings, serial_frames
from meterd.wmbus import builder as b
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
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class Device(threading.Thread):
    """Answers commands with `respond`, then sends the scheduled outputs."""

    def __init__(self, pty: Pty, respond: Callable[[bytes], bytes | None], outputs: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.pty, self.respond, self.outputs = pty, respond, list(outputs)
        self.commands: list[bytes] = []
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and not self.done.is_set():
            data = self.pty.read()
            if data:
                self.commands.append(data)
                answer = self.respond(data)
                if answer:
                    self.pty.write(answer)
                deadline = time.monotonic() + 0.3  # answered: outputs follow shortly
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


def telegram_frame(rssi: int = 85) -> bytes:
    return (
        im871a_frame(2, 0x03, TELEGRAM[1:], rssi)[:3]
        + bytes([TELEGRAM[0]])
        + im871a_frame(2, 0x03, TELEGRAM[1:], rssi)[4:]
    )


def run_loop(
    dongle: str, path: Path, stop: threading.Event, counters: dict[str, int], got: list[Frame], **kw: float
) -> threading.Thread:
    settings = PortSettings(reopen_delay_s=0.1, silence_timeout_s=kw.get("silence", 30.0), answer_timeout_s=0.5)

    def consume() -> None:
        for item in serial_frames(dongle, str(path), "c1,t1", stop, counters, settings):
            if isinstance(item, Frame):
                got.append(item)

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    return t


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_im871a_over_pty_with_unplug_and_replug(tmp_path: Path) -> None:
    link = tmp_path / "usb-IMST_iM871A-if00"
    pty1 = Pty(link)
    good = telegram_frame()
    corrupt = bytearray(telegram_frame())
    corrupt[12] ^= 0x40
    dev1 = Device(pty1, im871a_respond, [good[:9], good[9:], b"\x00\x99noise", bytes(corrupt), good])
    dev1.start()
    stop, counters, got = threading.Event(), {}, []  # type: ignore[var-annotated]
    loop = run_loop("im871a", link, stop, counters, got)
    try:
        assert wait_for(lambda: len(got) >= 2), counters
        assert all(f.data == TELEGRAM for f in got) and got[0].rssi_dbm == -80.0
        assert any(c.startswith(b"\xa5\x01\x03\x06\x00\x02\x0a") for c in dev1.commands)  # C1+T1 mode set
        assert counters.get("garbage", 0) >= 1
        dev1.done.set()
        pty1.unplug()  # unplugged...
        assert wait_for(lambda: counters.get("port_lost", 0) + counters.get("open_failed", 0) >= 1), counters
        pty2 = Pty(link)  # ...and plugged in again under the same by-id name
        dev2 = Device(pty2, im871a_respond, [good])
        dev2.start()
        assert wait_for(lambda: len(got) >= 3), counters
        assert counters["opened"] >= 2
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive()


def test_silent_dongle_is_reset(tmp_path: Path) -> None:
    link = tmp_path / "amber"
    pty = Pty(link)

    def amber_respond(cmd: bytes) -> bytes | None:
        if cmd.startswith(b"\xff\x0c"):
            reply = bytes([0xFF, 0x8C, 0x04, 1, 2, 3, 4])
            return reply + bytes([amber_checksum(reply)])
        return None

    data = TELEGRAM[1:] + b"\xd8"
    frame = bytes([0xFF, 0x03, len(data)]) + data
    Device(pty, amber_respond, [frame + bytes([amber_checksum(frame)])]).start()
    stop, counters, got = threading.Event(), {}, []  # type: ignore[var-annotated]
    loop = run_loop("amb8465", link, stop, counters, got, silence=0.6)
    try:
        assert wait_for(lambda: len(got) >= 1)
        assert wait_for(lambda: counters.get("silence_resets", 0) >= 1), counters
        assert wait_for(lambda: counters.get("opened", 0) >= 2), counters
    finally:
        stop.set()
        loop.join(timeout=5)
        pty.unplug()


def test_unsupported_mode_is_a_clear_error(tmp_path: Path) -> None:
    from meterd.drivers.framers import UnsupportedMode

    with pytest.raises(UnsupportedMode):
        next(serial_frames("rc1180", str(tmp_path / "x"), "c1", threading.Event(), {}))


def test_listen_command_over_pty_and_clean_exit(tmp_path: Path) -> None:
    link = tmp_path / "cul"
    pty = Pty(link)
    line = b"b" + b.add_format_a_crcs(TELEGRAM).hex().upper().encode() + b"2FD8\r\n"
    Device(pty, lambda c: b"V 1.67 CUL868\r\n" if c.startswith(b"V") else None, [line, b"bZZ\r\n", line]).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterd", "listen", "--port", str(link), "--dongle", "cul", "--mode", "t1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        objs = [orjson.loads(x) for x in lines]
        assert all(o["ok"] and o["dongle"] == "cul" and o["rssi_dbm"] == -94.0 for o in objs)
        assert objs[0]["total_m3"] == 28504.27 and objs[0]["received_at"].endswith("Z")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        pty.unplug()
    assert proc.returncode == 0


def test_probe_identifies_dongle_and_skips_excluded(tmp_path: Path) -> None:
    from meterd.drivers.serial_port import probe

    link = tmp_path / "usb-imst"
    pty = Pty(link)
    dev = Device(pty, im871a_respond, [])
    dev.start()
    other = tmp_path / "excluded"
    try:
        found = probe([str(link), str(other)], {str(other)}, timeout=0.5)
    finally:
        dev.done.set()
        pty.unplug()
    assert found[0][0] == str(link) and found[0][1] == "im871a"
    assert [f[0] for f in found] == [str(link)]
