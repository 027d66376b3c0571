"""Framer throughput per receiver, against the cost of decoding the same telegrams in `meterd listen`.

python bench/framers.py [--quick]      last lines: `name: value unit`

Two telegrams: a short unencrypted one (47 bytes, 5 records: the cheapest to decode, so the hardest
case for the 5 % target) and the OMS example's shape in security mode 5 with format A CRCs (58 bytes),
which is what most water meters in the field send. Decoding is what `meterd listen` does per frame:
the decoder plus the JSON line. The dongles check and strip the link CRCs in their firmware; culfw
passes them on, so the CUL framer checks and strips them: `cul_line_only` is the same CUL line without
link CRCs, which separates the line handling from that link-layer check.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))

import telegrams as T

from meterd.commands.listen import frame_json
from meterd.drivers.amb8465 import amber_checksum
from meterd.drivers.frame import Frame
from meterd.drivers.framers import FRAMERS
from meterd.drivers.hexfile import parse_line
from meterd.drivers.iu891a import slip_encode
from meterd.drivers.rtlwmbus import LocalOffsets, parse_rtlwmbus_line
from meterd.wmbus import Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.crc import crc16_x25

SHORT = bytes.fromhex("2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F")


def stream(name: str, telegram: bytes) -> bytes:
    """One telegram (without link CRCs) as the receiver sends it; the CUL passes the CRCs on."""
    if name == "im871a":
        body = bytes([0xC2, 0x03, telegram[0]]) + telegram[1:] + b"\x55"
        return b"\xa5" + body + crc16_x25(body).to_bytes(2, "little")
    if name == "iu891a":
        body = bytes([0x09, 0x20]) + bytes(8) + telegram
        return slip_encode(body + crc16_x25(body).to_bytes(2, "little"))
    if name == "amb8465":
        data = telegram[1:] + b"\xd8"
        frame = bytes([0xFF, 0x03, len(data)]) + data
        return frame + bytes([amber_checksum(frame)])
    if name == "rc1180":
        return telegram + b"\x80"
    if name == "cul":
        return b"b" + b.add_format_a_crcs(telegram).hex().upper().encode() + b"2FD8\r\n"
    if name == "cul_line_only":  # the same line without the link CRCs: the framer passes the frame on
        return b"b" + telegram.hex().upper().encode() + b"2FD8\r\n"
    raise KeyError(name)


def listen_decode_us(decoder: Decoder, telegram: bytes, n: int) -> float:
    frame = Frame(telegram, datetime.now(UTC), -60.0, "bench")
    assert frame_json(decoder.decode_bytes(frame.data), frame)["ok"]
    start = time.perf_counter()
    for _ in range(n):
        orjson.dumps(frame_json(decoder.decode_bytes(frame.data), frame))
    return (time.perf_counter() - start) / n * 1e6


def framer_us(name: str, telegram: bytes, n: int, per_read: int = 64) -> float:
    cls = FRAMERS[name.removesuffix("_line_only")]
    options = {"amb8465": {"transparent": False}, "rc1180": {"rssi_byte": True}}.get(name, {})
    framer = cls(**options)  # type: ignore[arg-type]
    chunk = stream(name, telegram) * per_read
    count = 0
    start = time.perf_counter()
    for _ in range(n // per_read):
        count += len(framer.feed(chunk))
    assert count == n // per_read * per_read, name
    return (time.perf_counter() - start) / count * 1e6


_LOCAL = LocalOffsets()  # one for the run, as in `meterd listen`: rtl_wmbus stamps are local time


def rtl_line(line: str) -> object:  # one telegram per line, as rtl_wmbus prints them
    return parse_rtlwmbus_line(line, local=_LOCAL)


def line_us(label: str, telegram: bytes, n: int) -> float:
    text = telegram.hex().upper()
    line, parse = {
        "hexfile": (f"2026-11-26T08:00:00Z {text}", parse_line),
        "rtlwmbus": (f"T1;1;1;2026-11-26 08:00:00.000;117;102;12345678;0x{text}", rtl_line),
    }[label]
    start = time.perf_counter()
    for _ in range(n):
        parse(line)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    rounds = 5  # decoding and framing measured in turn, best of each: a busy host slows both alike
    figures: list[tuple[str, float, str]] = []
    for kind, telegram, decoder in (
        ("short", SHORT, Decoder()),
        ("mode5", T.mode5_telegram_nocrc(), Decoder({"12345678": T.KEY})),
    ):
        best: dict[str, float] = {}
        for _ in range(rounds):
            timed = [("listen_decode", listen_decode_us(decoder, telegram, n // 4 // rounds))]
            timed += [(name, framer_us(name, telegram, n // rounds)) for name in [*FRAMERS, "cul_line_only"]]
            timed += [(label, line_us(label, telegram, n // 4 // rounds)) for label in ("hexfile", "rtlwmbus")]
            for name, per in timed:
                best[name] = min(per, best.get(name, per))
        decode_us = best.pop("listen_decode")
        figures.append((f"{kind}_listen_decode_per_telegram", decode_us, "us"))
        for name, per in best.items():
            figures.append((f"{kind}_framer_{name}", 1e6 / per, "frames/s"))
            figures.append((f"{kind}_framer_{name}_share_of_decode", 100 * per / decode_us, "%"))
    # a dongle that is not busy hands over one frame per read: each frame then carries a read's fixed costs
    for name in FRAMERS:
        per = min(framer_us(name, T.mode5_telegram_nocrc(), n // 20, per_read=1) for _ in range(rounds))
        figures.append((f"mode5_framer_{name}_one_frame_per_read", per, "us"))
    for name, value, unit in figures:
        print(f"{name}: {value:.1f} {unit}" if unit in ("%", "us") else f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
