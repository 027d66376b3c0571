"""The wired M-Bus master: frames, the sans-IO operations over a simulated bus, and `meterd mbus`
over a pty (a fresh pty for every open: a pty does not keep a parity setting)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterd.drivers import mbus_master as master
from meterd.drivers.mbus_frames import (
    AnswerKind,
    FrameReader,
    long_frame,
    req_ud2,
    select_secondary,
    snd_nke,
    timeout_s,
)
from meterd.drivers.mbus_port import run
from meterd.drivers.mbus_sim import Bus, Slave, serve, volume_records

# -- frames ------------------------------------------------------------------------------------------


def test_request_frames_as_the_standard_lays_them_out() -> None:
    """EN 13757-2: short frame 10 C A CS 16 with CS = C + A; REQ_UD2 is 5B, 7B with the FCB set."""
    assert snd_nke(1) == bytes.fromhex("1040014116")
    assert req_ud2(1, fcb=True) == bytes.fromhex("107B017C16")
    assert req_ud2(0xFD, fcb=False) == bytes.fromhex("105BFD5816")
    # select 12345678, any manufacturer, version and medium: 68 0B 0B 68 53 FD 52 78 56 34 12 FF FF FF FF CS 16
    frame = select_secondary("12345678")
    assert frame[:7] == bytes.fromhex("680B0B6853FD52") and frame[7:15] == bytes.fromhex("78563412FFFFFFFF")
    assert frame[-2] == sum(frame[4:-2]) & 0xFF and frame[-1] == 0x16
    assert select_secondary("1234FFFF")[7:11] == bytes.fromhex("FFFF3412")
    with pytest.raises(ValueError):
        select_secondary("1234567")


def test_the_reader_takes_answers_in_any_pieces_and_names_garbage() -> None:
    frame = long_frame(0x08, 5, 0x72, bytes(12) + volume_records(1))
    reader = FrameReader()
    got = []
    for i in range(0, len(frame), 3):
        got += reader.feed(frame[i : i + 3])
    assert [a.kind for a in got] == [AnswerKind.FRAME] and got[0].data == frame
    broken = frame[:-2] + bytes([(frame[-2] + 1) & 0xFF, 0x16])
    assert FrameReader().feed(broken)[0].reason == "checksum mismatch"
    assert FrameReader().feed(b"\xe5")[0].kind is AnswerKind.ACK
    assert FrameReader().feed(b"\xf7\x12")[0].kind is AnswerKind.GARBLED
    cut = FrameReader()
    assert cut.feed(frame[:10]) == [] and cut.flush()[0].reason == "frame cut short"


def test_slave_timeouts_follow_the_baud_rate() -> None:
    assert timeout_s(2400, margin_s=0) == pytest.approx(330 / 2400 + 0.05)
    assert timeout_s(300) > timeout_s(2400) > timeout_s(9600) > 0.05


# -- the operations over a simulated bus -----------------------------------------------------------


def test_a_multi_telegram_readout_is_read_whole_with_the_frame_count_bit_toggling() -> None:
    slave = Slave(7, "11223344", telegrams=[volume_records(1000), volume_records(2000), volume_records(3000)])
    bus = Bus([slave])
    frames = run(master.read(7), bus.exchange)
    assert len(frames) == 3 and frames[-1][-6:-2] == bytes.fromhex("00300000")
    from meterd.commands.mbus import merged
    from meterd.wmbus import Decoder, Telegram

    readout = merged(Decoder(), frames)
    assert isinstance(readout, Telegram) and readout.id == "11223344" and readout.telegrams == 3
    assert [r.value for r in readout.records if r.quantity == "volume"] == [1.0, 2.0, 3.0]
    obj = readout.to_dict()
    assert obj["telegrams"] == 3 and "more_records_follow" not in obj


def test_a_bad_checksum_is_asked_again_and_silence_is_an_error() -> None:
    bus = Bus([Slave(3, "55556666", bad_first=2)])
    frames = run(master.read(3), bus.exchange)
    assert len(frames) == 1
    with pytest.raises(master.NoAnswer):
        run(master.read(9), bus.exchange)
    with pytest.raises(master.Garbled):
        run(master.read(3), Bus([Slave(3, "55556666", bad_first=5)]).exchange)


def test_primary_scan_finds_slaves_and_flags_two_on_one_address() -> None:
    bus = Bus([Slave(1, "10000001"), Slave(5, "10000005"), Slave(5, "20000005", telegrams=[volume_records(9)])])
    found = run(master.scan_primary(range(0, 8)), bus.exchange)
    # two slaves on address 5 both answer E5: identical bytes on the wire, one E5 heard
    assert found == [(1, "ok"), (5, "ok")]
    with pytest.raises(master.Garbled):
        run(master.read(5), bus.exchange)  # their data answers differ: garbage


def test_secondary_search_narrows_the_mask_where_answers_collide() -> None:
    ids = ["12345678", "12345679", "12349999", "87654321", "00000001"]
    bus = Bus([Slave(0, i) for i in ids])
    found = run(master.scan_secondary(), bus.exchange)
    assert sorted(f.secondary_id or "" for f in found) == sorted(ids)
    assert bus.requests < 400  # narrowing visits only the masks that matched something
    assert run(master.scan_secondary("8765FFFF"), Bus([Slave(0, i) for i in ids]).exchange)[0].secondary_id == "87654321"


PREPAID_CREDIT = bytes.fromhex("0CFD01") + bytes.fromhex("00000450")[::-1]  # credit 4.50 (VIF FD 01: 10^-2 units)
# the valve as bit 0 of the digital output (DIF 01, VIF FD, VIFE 1A: 1 = closed), tamper as bit 3 of the second
# byte of manufacturer-specific data (DIF 0F): where the profile in the gateway's configuration says they are
PREPAID_STATE = bytes.fromhex("01FD1A01") + bytes.fromhex("0F0008")

# -- `meterd mbus` over a pty -----------------------------------------------------------------------


class BusPorts:
    """A simulated bus behind ptys, a fresh pty for every open (a pty keeps no parity setting, and
    opening one at 8E1 a second time fails): a late slave, two whose secondary addresses collide in
    the search, one that sends a bad checksum first, one answering in two telegrams."""

    def __init__(self) -> None:
        self.bus = Bus([
            Slave(1, "11111111"),
            Slave(2, "21111111", late_s=0.1),  # within the standard's 330 bit times + 50 ms at 2400 Bd
            Slave(3, "25555555"),  # collides with 21111111 in the search until the second digit
            Slave(4, "34444444", bad_first=1),
            Slave(5, "47777777", telegrams=[volume_records(1111), volume_records(2222)]),
            Slave(6, "56666666", telegrams=[volume_records(123400) + PREPAID_CREDIT + PREPAID_STATE]),  # a prepaid meter
        ])  # fmt: skip
        self.stop = threading.Event()
        self.fds: list[int] = []
        self.threads: list[threading.Thread] = []

    def fresh(self) -> str:
        master_fd, slave_fd = os.openpty()
        self.fds += [master_fd, slave_fd]
        thread = threading.Thread(target=serve, args=(self.bus, master_fd, self.stop), daemon=True)
        thread.start()
        self.threads.append(thread)
        return os.ttyname(slave_fd)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2)
        for fd in self.fds:
            os.close(fd)


@pytest.fixture
def ports() -> Iterator[BusPorts]:
    p = BusPorts()
    yield p
    p.close()


def mbus(*args: str) -> subprocess.CompletedProcess[str]:
    """`meterd mbus` at 2400 Bd without the margin for USB adapters (a pty hands bytes over at once)."""
    return subprocess.run([sys.executable, "-m", "meterd", "mbus", *args, "--margin-ms", "0"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_scan_by_primary_address_over_a_port(ports: BusPorts) -> None:
    res = mbus("scan", "--port", ports.fresh(), "--addresses", "0-9")
    assert res.returncode == 0, res.stderr
    assert [json.loads(line) for line in res.stdout.splitlines()] == [{"address": a} for a in (1, 2, 3, 4, 5, 6)]


def test_scan_by_secondary_address_over_a_port(ports: BusPorts) -> None:
    res = mbus("scan", "--port", ports.fresh(), "--secondary")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [x["secondary_id"] for x in lines] == ["11111111", "21111111", "25555555", "34444444", "47777777",
                                                  "56666666"]  # fmt: skip
    assert all(x["manufacturer"] == "ELS" and x["medium"] == "water" for x in lines)


def test_read_by_address_and_by_secondary_id_over_a_port(ports: BusPorts) -> None:
    res = mbus("read", "--port", ports.fresh(), "--address", "5")
    assert res.returncode == 0, res.stderr
    obj = json.loads(res.stdout)
    assert obj["ok"] and obj["frame"] == "mbus" and obj["id"] == "47777777" and obj["telegrams"] == 2
    assert [r["value"] for r in obj["records"]] == [1.111, 2.222]


def test_read_a_late_slave_and_one_with_a_bad_checksum_by_secondary_id(ports: BusPorts) -> None:
    late = json.loads(mbus("read", "--port", ports.fresh(), "--secondary-id", "21111111").stdout)
    assert late["ok"] and late["id"] == "21111111" and late["total_m3"] == 12.345
    res = mbus("read", "--port", ports.fresh(), "--address", "4")
    assert res.returncode == 0 and json.loads(res.stdout)["id"] == "34444444", res.stderr


def test_a_silent_address_and_a_missing_port_are_one_line_errors(ports: BusPorts, tmp_path: Path) -> None:
    used = ports.fresh()
    assert mbus("read", "--port", used, "--address", "1").returncode == 0
    for args, code in ((("read", "--address", "77"), "no_answer"),
                       (("read", "--secondary-id", "99999999"), "no_answer"),
                       (("read",), "bad_argument"),
                       (("scan", "--addresses", "240-300"), "bad_argument"),
                       (("read", "--secondary-id", "12ab"), "bad_argument")):  # fmt: skip
        res = mbus(*args, "--port", ports.fresh())
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert code in res.stderr and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    for port in (str(tmp_path / "ttyUSB9"), used):  # no such port; a pty that refuses 8E1 a second time
        res = mbus("scan", "--port", port)
        assert res.returncode == 2, (port, res.stdout, res.stderr)
        assert "port_error" in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.slow
def test_meterd_run_polls_wired_meters_into_the_store(ports: BusPorts, tmp_path: Path) -> None:
    """`[[mbus]]`: every interval each meter is read; readings are stored with source `wired`; a
    meter that does not answer is counted and the poll goes on."""
    import signal
    import sqlite3
    import time

    from support.broker import free_port
    from support.gateway import scrape
    from support.waiting import wait_for

    data = tmp_path / "data"
    register = tmp_path / "register.csv"
    register.write_text("premises_id,address,meter_id,manufacturer,medium,installed\n"
                        "W1,ul. Przedpłacona 1/1,47777777,ELS,water,2026-01-01\n"
                        "W2,ul. Przedpłacona 1/2,21111111,ELS,water,2026-01-01\n"
                        "W3,ul. Przedpłacona 1/3,56666666,ELS,water,2026-01-01\n")  # fmt: skip
    for args in (("db", "upgrade"), ("import", "premises", str(register))):
        subprocess.run([sys.executable, "-m", "meterd", *args, "--data", str(data)], check=True, capture_output=True)
    metrics = free_port()
    config = tmp_path / "meterd.toml"
    config.write_text(f'[gateway]\ndata = "{data}"\nvalidate_every_s = 0\n\n[[mbus]]\nname = "cellar"\n'
                      f'port = "{ports.fresh()}"\ninterval_s = 1\nmargin_ms = 0\nmeters = ["5", "77", "21111111", "6"]\n\n'
                      f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n\n'
                      '[[prepaid.profile]]\nname = "simulated"\nmeters = ["56666666"]\n'
                      'valve = { register = "digital_output", bit = 0 }\n'
                      'tamper = { register = "manufacturer_specific", byte = 1, bit = 3 }\n')  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    def stored() -> list[tuple[str, str, float]]:
        with sqlite3.connect(data / "meterd.sqlite") as c:
            return c.execute("SELECT m.serial, r.source, r.total_m3 FROM readings r JOIN meters m ON m.id = r.meter_id "
                             "ORDER BY r.received_at, m.serial").fetchall()  # fmt: skip

    try:
        assert wait_for(lambda: len({s for s, _, _ in stored()}) == 3, 30), proc.stderr
        time.sleep(1.5)  # another round
        m = scrape(metrics)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    rows = stored()
    assert {(s, src) for s, src, _ in rows} == {("47777777", "wired"), ("21111111", "wired"), ("56666666", "wired")}
    assert {s: v for s, _, v in rows} == {"47777777": 1.111, "21111111": 12.345, "56666666": 123.4}
    # the prepaid meter's credit reached the store: the checks and the report see it
    res = subprocess.run([sys.executable, "-m", "meterd", "check", "--format", "jsonl", "--data", str(data)],
                         capture_output=True, text=True)  # fmt: skip
    assert {"meter_id": "56666666", "flag": "low_credit"}.items() <= next(
        f for f in map(json.loads, res.stdout.splitlines()) if f["flag"] == "low_credit").items(), res.stdout
    report = subprocess.run([sys.executable, "-m", "meterd", "report", "--premises", "W3", "--data", str(data)],
                            capture_output=True, text=True)  # fmt: skip
    assert "credit 4.50" in report.stdout and "valve closed, TAMPER" in report.stdout, report.stdout
    assert m['meterd_telegrams_total{dongle="mbus",receiver="cellar",result="no_answer"}'] >= 1
    assert m['meterd_telegrams_total{dongle="mbus",receiver="cellar",result="ok"}'] >= 2
    assert "meter 77: no answer from address 77" in err


@pytest.mark.slow
def test_a_scan_prints_each_meter_the_moment_it_is_found_and_its_progress_on_a_terminal(ports: BusPorts) -> None:
    """Into a pipe, each meter's line comes while the scan goes on (not at its end); with stderr on a
    terminal (a pty here), the scan shows how far it is."""
    import pty
    import select

    master_fd, slave_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "mbus", "scan", "--port", ports.fresh(), "--margin-ms", "0",
                             "--addresses", "0-40"], stdout=subprocess.PIPE, stderr=slave_fd, text=True)  # fmt: skip
    os.close(slave_fd)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert json.loads(first) == {"address": 1} and proc.poll() is None  # the scan goes on to address 40
        shown = b""
        deadline = time.monotonic() + 30
        while b"of 41" not in shown and time.monotonic() < deadline:
            if select.select([master_fd], [], [], 0.5)[0]:
                shown += os.read(master_fd, 4096)
        assert b"address " in shown and b" of 41, " in shown and b"found" in shown, shown[-300:]
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master_fd)
    assert proc.returncode == 0
    assert [json.loads(line)["address"] for line in [first, *rest.splitlines()]] == [1, 2, 3, 4, 5, 6]
