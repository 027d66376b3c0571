"""Framer throughput per receiver, against the decoder's cost for the same telegrams.

python bench/framers.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from meterd.drivers.framers import FRAMERS, AMB8465Framer, amber_checksum, slip_encode
from meterd.drivers.hexfile import parse_line
from meterd.drivers.rtlwmbus import parse_rtlwmbus_line
from meterd.wmbus import Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.crc import crc16_x25

TELEGRAM = bytes.fromhex(
    "2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"
)


def stream(name: str) -> bytes:
    if name == "im871a":
        body = bytes([0xC2, 0x03, TELEGRAM[0]]) + TELEGRAM[1:] + b"\x55"
        return b"\xa5" + body + crc16_x25(body).to_bytes(2, "little")
    if name == "iu891a":
        body = bytes([0x09, 0x20]) + bytes(8) + TELEGRAM
        return slip_encode(body + crc16_x25(body).to_bytes(2, "little"))
    if name == "amb8465":
        data = TELEGRAM[1:] + b"\xd8"
        frame = bytes([0xFF, 0x03, len(data)]) + data
        return frame + bytes([amber_checksum(frame)])
    if name == "rc1180":
        return TELEGRAM + b"\x80"
    if name == "cul":
        return b"b" + b.add_format_a_crcs(TELEGRAM).hex().upper().encode() + b"2FD8\r\n"
    raise KeyError(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    decoder = Decoder()
    text = TELEGRAM.hex()
    start = time.perf_counter()
    for _ in range(n // 4):
        decoder.decode_hex(text)
    decode_us = (time.perf_counter() - start) / (n // 4) * 1e6
    figures = [("decode_per_telegram", decode_us, "us")]
    for name, cls in FRAMERS.items():
        framer = cls(transparent=False) if cls is AMB8465Framer else cls()
        chunk = stream(name) * 64
        count = 0
        start = time.perf_counter()
        for _ in range(n // 64):
            count += len(framer.feed(chunk))
        per = (time.perf_counter() - start) / count * 1e6
        figures.append((f"framer_{name}", 1e6 / per, "frames/s"))
        figures.append((f"framer_{name}_share_of_decode", 100 * per / decode_us, "%"))
    for label, line, parse in (
        ("hexfile", f"2026-11-26T08:00:00Z {text}", parse_line),
        ("rtlwmbus", f"T1;1;1;2026-11-26 08:00:00.000;117;102;12345678;0x{text}", parse_rtlwmbus_line),
    ):
        start = time.perf_counter()
        for _ in range(n // 4):
            parse(line)
        per = (time.perf_counter() - start) / (n // 4) * 1e6
        figures.append((f"framer_{label}", 1e6 / per, "frames/s"))
        figures.append((f"framer_{label}_share_of_decode", 100 * per / decode_us, "%"))
    for name, value, unit in figures:
        print(f"{name}: {value:.1f} {unit}" if unit in ("%", "us") else f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
