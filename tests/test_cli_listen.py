"""`meterd listen` (docs/interfaces.md) on the receivers that need no hardware: capture files and rtl_wmbus text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TELEGRAM = "2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"


def listen(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meterd", "listen", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_capture_file_replay_keeps_receive_times_and_reports_bad_lines(tmp_path: Path) -> None:
    capture = tmp_path / "walk.hex"
    capture.write_text(
        f"# route 7\n2026-11-26T08:00:00Z {TELEGRAM}\nnot hex at all\n2026-11-26T08:05:00+01:00 {TELEGRAM[:20]}\n"
    )
    res = listen("--dongle", "hex", "--port", str(capture))
    assert res.returncode == 0, res.stderr
    first, second = (json.loads(line) for line in res.stdout.splitlines())
    assert first["ok"] and first["total_m3"] == 28504.27 and first["received_at"] == "2026-11-26T08:00:00Z"
    assert first["dongle"] == "hex" and first["rssi_dbm"] is None
    assert not second["ok"] and second["telegram"] == TELEGRAM[:20]  # undecodable, still printed
    assert second["received_at"] == "2026-11-26T07:05:00Z"  # received_at is UTC
    assert "dropped input [bad_hex]" in res.stderr


def test_rtl_wmbus_lines_from_stdin() -> None:
    lines = (
        f"T1;1;1;2026-11-26 08:00:00.000;117;102;12345678;0x{TELEGRAM}\n"
        f"T1;0;1;2026-11-26 08:00:01.000;117;102;12345678;0x{TELEGRAM}\n"  # CRC failed: dropped, counted
    )
    res = listen("--dongle", "rtlwmbus", "--port", "-", stdin=lines)
    assert res.returncode == 0, res.stderr
    (out,) = (json.loads(line) for line in res.stdout.splitlines())
    assert out["ok"] and out["rssi_dbm"] == 117.0 and out["received_at"] == "2026-11-26T08:00:00Z"
    assert "dropped input [bad_crc]" in res.stderr


def test_rtl_wmbus_times_are_local_time() -> None:
    """rtl_wmbus stamps lines in the local time of its machine, without an offset."""
    line = f"T1;1;1;2026-07-01 08:00:00.000;117;102;12345678;0x{TELEGRAM}\n"
    env = {**os.environ, "TZ": "CET-1CEST,M3.5.0,M10.5.0/3"}  # Warsaw's rule, as a POSIX TZ (no tzdata needed)
    res = subprocess.run(
        [sys.executable, "-m", "meterd", "listen", "--dongle", "rtlwmbus", "--port", "-"],
        input=line, capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert json.loads(res.stdout)["received_at"] == "2026-07-01T06:00:00Z", res.stderr  # CEST is UTC+2


def test_receiver_from_the_configuration(tmp_path: Path) -> None:
    capture = tmp_path / "c.hex"
    capture.write_text(f"{TELEGRAM}\n")
    config = tmp_path / "meterd.toml"
    config.write_text(f'[receiver]\ndongle = "hex"\nport = "{capture}"\n')
    res = listen("--config", str(config))
    assert res.returncode == 0 and json.loads(res.stdout)["total_m3"] == 28504.27
    res = listen()
    assert res.returncode == 2 and "--dongle and --port" in res.stderr
    config.write_text('[receiver]\ndongle = "hex"\nport = "x"\nsilence_timeout_s = -1\n')
    assert listen("--config", str(config)).returncode == 2  # rejected, not silently used


def test_keys_from_the_configuration(tmp_path: Path) -> None:
    """A service started with --config alone finds the meters' keys in [keys] file."""
    from support.telegrams import KEY

    from meterd.wmbus import builder as b

    m, a = b.address("12345678", "ELS", 0x33, 0x07)
    telegram = b.wmbus_frame(0x44, m, a, b.mode5_payload(KEY, m, a, 0x2A, 0, bytes.fromhex("2F2F0413E8030000")))
    capture = tmp_path / "c.hex"
    capture.write_text(telegram.hex() + "\n")
    keys = tmp_path / "keys.csv"
    keys.write_text(f"meter_id,key\n12345678,{KEY.hex()}\n")
    keys.chmod(0o600)
    config = tmp_path / "meterd.toml"
    config.write_text(f'[receiver]\ndongle = "hex"\nport = "{capture}"\n[keys]\nfile = "{keys}"\n')
    out = json.loads(listen("--config", str(config)).stdout)
    assert out["decrypted"] is True and out["total_m3"] == 1.0
    keys.chmod(0o644)  # a key file others may read is refused, as with --keys
    res = listen("--config", str(config))
    assert res.returncode == 2 and "keys" in res.stderr
