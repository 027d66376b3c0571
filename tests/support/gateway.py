"""What the gateway tests share: telegrams of meters 2000000N, how two dongles deliver them, a store
with those meters in its register, what it stored, and /metrics as numbers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from meterd.drivers.amb8465 import amber_checksum
from meterd.wmbus import builder as b
from support.dongles import im871a_frame


def telegram(n: int, acc: int = 1) -> bytes:
    m, a = b.address(f"{20000000 + n:08d}", "ELS", 0x33, 0x07)
    return b.wmbus_frame(0x44, m, a, b.short_tpl(acc, 0) + bytes.fromhex("0413") + (1000 + n).to_bytes(4, "little"))


def on_im871a(t: bytes) -> bytes:
    return im871a_frame(2, 0x03, t[1:], 80)[:3] + bytes([t[0]]) + im871a_frame(2, 0x03, t[1:], 80)[4:]


def amber_telegram_frame(t: bytes) -> bytes:
    data = t[1:] + b"\xd8"  # the telegram from its C field, then the RSSI byte
    frame = bytes([0xFF, 0x03, len(data)]) + data
    return frame + bytes([amber_checksum(frame)])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def setup_store(tmp_path: Path, meters: int) -> Path:
    data = tmp_path / "data"
    register = tmp_path / "register.csv"
    rows = "".join(f"F{n},ul. Testowa 1/{n},{20000000 + n:08d},ELS,water,2026-01-01\n" for n in range(meters))
    register.write_text("premises_id,address,meter_id,manufacturer,medium,installed\n" + rows)
    for args in (("db", "upgrade"), ("import", "premises", str(register))):
        res = subprocess.run(
            [sys.executable, "-m", "meterd", *args, "--data", str(data)], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
    return data


def stored(data: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(data / "meterd.sqlite") as c:
        return c.execute(
            "SELECT m.serial, count(*) FROM readings r JOIN meters m ON m.id = r.meter_id GROUP BY m.serial ORDER BY 1"
        ).fetchall()
