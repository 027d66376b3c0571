"""The serial port loop over pseudo-terminals, with simulated dongles: init, telegrams, garbage,
split reads, CRC errors, unplug and replug under a stable by-id path, and silence resets."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import orjson
import pytest
from support.dongles import TELEGRAM, Device, Pty, amber_respond, im871a_frame, im871a_respond
from support.waiting import wait_for

from meterd.drivers.amb8465 import amber_checksum
from meterd.drivers.frame import Frame
from meterd.drivers.serial_port import PortSettings, serial_frames
from meterd.wmbus import builder as b
from meterd.wmbus.crc import crc16_x25


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
    from meterd.drivers.framer import UnsupportedMode

    with pytest.raises(UnsupportedMode):
        next(serial_frames("rc1180", str(tmp_path / "x"), "c1", threading.Event(), {}))


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    """A line of a child's output, or a failed test after `timeout` seconds (never a hung suite)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return stream.readline()


def test_listen_command_over_pty_and_clean_exit(tmp_path: Path) -> None:
    link = tmp_path / "cul"
    pty = Pty(link)
    line = b"b" + b.add_format_a_crcs(TELEGRAM).hex().upper().encode() + b"2FD8\r\n"
    Device(pty, lambda c: b"V 1.67 CUL868\r\n" if c.startswith(b"V") else None, [line, b"bZZ\r\n", line]).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterd", "listen", "--port", str(link), "--dongle", "cul", "--mode", "t1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,  # unbuffered: select sees every line
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [_readline(proc.stdout, 10.0), _readline(proc.stdout, 10.0)]
        objs = [orjson.loads(x) for x in lines]
        assert all(o["ok"] and o["dongle"] == "cul" and o["rssi_dbm"] == -94.0 for o in objs)
        assert objs[0]["total_m3"] == 28504.27 and objs[0]["received_at"].endswith("Z")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        pty.unplug()
    assert proc.returncode == 0


def test_probe_leaves_an_rc1180_as_it_found_it(tmp_path: Path) -> None:
    from meterd.drivers.serial_port import probe

    link = tmp_path / "usb-radiocrafts"
    pty = Pty(link)
    dev = Device(pty, lambda cmd: b">" if cmd == b"\x00" else None, [])
    dev.start()
    try:
        found = probe([str(link)], set(), timeout=0.2)  # the dongle types before it are tried first
        assert found[0][1] == "rc1180"
        assert wait_for(lambda: b"X" in b"".join(dev.commands), 3.0), dev.commands  # out of configuration mode
    finally:
        dev.done.set()
        pty.unplug()


def test_probe_identifies_dongle_and_skips_excluded(tmp_path: Path) -> None:
    from meterd.drivers.serial_port import probe

    link = tmp_path / "usb-imst"
    pty = Pty(link)
    dev = Device(pty, im871a_respond, [])
    dev.start()
    other = tmp_path / "excluded"
    excluded_target = tmp_path / "ttyEXCLUDED"
    excluded_target.touch()
    alias = tmp_path / "by-id-alias"
    alias.symlink_to(excluded_target)  # the excluded device under its stable name
    try:
        found = probe(
            [str(link), str(other), str(alias), os.ttyname(pty.slave)], {str(other), str(excluded_target)}, 0.5
        )
    finally:
        dev.done.set()
        pty.unplug()
    assert found[0][0] == str(link) and found[0][1] == "im871a"
    assert [f[0] for f in found] == [str(link)]  # the alias is excluded, the tty is the same device as link


# -- every serial receiver through the same ordeal -------------------------------------------------


def _slip(body: bytes) -> bytes:
    from meterd.drivers.iu891a import slip_encode

    return slip_encode(body + crc16_x25(body).to_bytes(2, "little"))


def iu891a_respond(cmd: bytes) -> bytes | None:
    answers = b""
    if cmd.startswith(_slip(bytes([0x01, 0x03]))):  # GET_DEVICE_INFO → status, module type, uid
        answers += _slip(bytes([0x01, 0x04, 0x00, 0x6E, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00]))
    if b"\x09\x03" in cmd:  # SET_ACTIVE_CONFIGURATION → status ok
        answers += _slip(bytes([0x09, 0x04, 0x00]))
    return answers or None


def _amber_telegram() -> bytes:
    data = TELEGRAM[1:] + b"\xd8"
    frame = bytes([0xFF, 0x03, len(data)]) + data
    return frame + bytes([amber_checksum(frame)])


def _corrupt(frame: bytes, at: int) -> bytes:
    bad = bytearray(frame)
    bad[at] ^= 0x40
    return bytes(bad)


def rc1180_respond(cmd: bytes) -> bytes | None:
    """0x00: configuration mode, '>'; '0': the memory (T1, RSSI byte on) and '>'; 'X': back, no answer."""
    answer = b">" if cmd.startswith(b"\x00") else b""
    if b"0" in cmd:
        memory = bytearray(b"\xff" * 256)
        memory[0:6] = bytes([12, 5, 3, 1, 0, 1])
        answer += bytes(memory) + b">"
    return answer or None


_IU891A_TELEGRAM = _slip(bytes([0x09, 0x20]) + bytes(7) + bytes([0xBA]) + TELEGRAM)
_CUL_LINE = b"b" + b.add_format_a_crcs(TELEGRAM).hex().upper().encode() + b"2FD8\r\n"
# dongle: (answers to commands, telegram as sent, the same with a framing error, what the mode command
# starts with, counter the error lands in, RSSI in dBm)
RECEIVERS = {
    "im871a": (im871a_respond, telegram_frame(), _corrupt(telegram_frame(), 12), b"\xa5\x01\x03\x06", "garbage", -80.0),
    "iu891a": (iu891a_respond, _IU891A_TELEGRAM, _corrupt(_IU891A_TELEGRAM, 20), _slip(bytes([0x09, 0x03, 0x03]))[:4], "bad_crc", -70.0),
    "amb8465": (amber_respond, _amber_telegram(), _corrupt(_amber_telegram(), 10), b"\xff\x04\x01\x09", "garbage", -74 - 20.0),
    "rc1180": (rc1180_respond, TELEGRAM + b"\x80", b"\x05" + TELEGRAM[1:], b"0", "garbage", -64.0),
    "cul": (lambda c: b"V 1.67 CUL868\r\n" if c.startswith(b"V") else None, _CUL_LINE, _CUL_LINE.replace(b"44", b"45", 1), b"brc", "bad_crc", -94.0),
}  # fmt: skip


@pytest.mark.parametrize("dongle", sorted(RECEIVERS))
def test_every_receiver_over_pty_with_errors_unplug_and_replug(dongle: str, tmp_path: Path) -> None:
    respond, good, bad, mode_cmd, error_counter, rssi = RECEIVERS[dongle]
    mode = "t1" if dongle == "rc1180" else "c1,t1" if dongle != "cul" else "c1"
    link = tmp_path / f"usb-{dongle}-if00"
    pty1 = Pty(link)
    dev1 = Device(pty1, respond, [good[:7], good[7:], bad, b"\x00\x99noise\n", good])
    dev1.start()
    stop, counters, got = threading.Event(), {}, []  # type: ignore[var-annotated]
    settings = PortSettings(reopen_delay_s=0.1, silence_timeout_s=30.0, answer_timeout_s=0.5)

    def consume() -> None:
        for item in serial_frames(dongle, str(link), mode, stop, counters, settings):
            if isinstance(item, Frame):
                got.append(item)

    loop = threading.Thread(target=consume, daemon=True)
    loop.start()
    sent = TELEGRAM  # every receiver delivers the telegram without link CRCs (the CUL framer strips them)

    def good_frames() -> list[Frame]:  # raw-frame receivers may also deliver garbage that looked like a frame
        return [f for f in got if f.data == sent]

    try:
        assert wait_for(lambda: len(good_frames()) >= 2), counters
        assert good_frames()[0].rssi_dbm == rssi
        assert any(mode_cmd in c for c in dev1.commands), dev1.commands  # the link mode was set
        assert counters.get(error_counter, 0) >= 1, counters
        assert "mode_rejected" not in counters
        dev1.done.set()
        pty1.unplug()
        assert wait_for(lambda: counters.get("port_lost", 0) + counters.get("open_failed", 0) >= 1), counters
        pty2 = Pty(link)
        Device(pty2, respond, [good]).start()
        assert wait_for(lambda: len(good_frames()) >= 3), counters
        assert counters["opened"] >= 2
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive()


def test_a_rejected_link_mode_is_counted(tmp_path: Path) -> None:
    def refuse(cmd: bytes) -> bytes | None:
        if b"\xff\x04\x01" in cmd:
            reply = bytes([0xFF, 0x84, 0x01, 0x01])  # status 1: not done
            return reply + bytes([amber_checksum(reply)])
        return None

    link = tmp_path / "amber"
    pty = Pty(link)
    Device(pty, refuse, [_amber_telegram()]).start()
    stop, counters, got = threading.Event(), {}, []  # type: ignore[var-annotated]
    loop = run_loop("amb8465", link, stop, counters, got)
    try:
        assert wait_for(lambda: len(got) >= 1 and counters.get("mode_rejected", 0) == 1), counters
    finally:
        stop.set()
        loop.join(timeout=5)
        pty.unplug()


def test_a_telegram_that_arrives_with_the_identify_answer_is_kept(tmp_path: Path) -> None:
    def respond(cmd: bytes) -> bytes | None:
        if b"\xa5\x01\x0f\x00" in cmd:  # a meter transmits just as the dongle answers
            return telegram_frame() + im871a_frame(1, 0x10, bytes.fromhex("33010203"))
        return im871a_respond(cmd)

    link = tmp_path / "imst"
    pty = Pty(link)
    Device(pty, respond, []).start()
    stop, counters, got = threading.Event(), {}, []  # type: ignore[var-annotated]
    loop = run_loop("im871a", link, stop, counters, got)
    try:
        assert wait_for(lambda: len(got) == 1 and counters.get("frames") == 1), counters
    finally:
        stop.set()
        loop.join(timeout=5)
        pty.unplug()


def test_framer_options_reach_the_port_loop(tmp_path: Path) -> None:
    """An Amber module set to transparent output sends `L C ... RSSI` without FF framing; this one does
    not answer the settings request (older firmware), so the configured option decides."""
    link = tmp_path / "amber-transparent"
    pty = Pty(link)
    dev = Device(pty, lambda cmd: amber_respond(cmd) if cmd.startswith(b"\xff\x0c") else None, [TELEGRAM + b"\x20"])
    dev.start()
    stop, counters, got = threading.Event(), {}, []  # type: ignore[var-annotated]
    settings = PortSettings(reopen_delay_s=0.1, answer_timeout_s=0.5)

    def consume() -> None:
        for item in serial_frames("amb8465", str(link), "t1", stop, counters, settings, options={"transparent": True}):
            if isinstance(item, Frame):
                got.append(item)

    loop = threading.Thread(target=consume, daemon=True)
    loop.start()
    try:
        assert wait_for(lambda: len(got) == 1), counters
        assert got[0].data == TELEGRAM and got[0].rssi_dbm == -58.0
    finally:
        stop.set()
        loop.join(timeout=5)
        dev.done.set()
        pty.unplug()
