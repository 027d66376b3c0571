"""Regenerate config/sample-capture.hex and config/sample-keys.csv (deterministic)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterd.wmbus import builder as b

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "data" / "oms_examples.jsonl"


def water_apl(litres: int, when: datetime, status_flags: int = 0) -> bytes:
    minute = when.minute
    dt = bytes(
        [
            minute,
            when.hour,
            when.day | ((when.year - 2000) & 0x07) << 5,
            when.month | (((when.year - 2000) >> 3) << 4),
        ]
    )
    return (
        bytes.fromhex("2F2F0413")
        + litres.to_bytes(4, "little")
        + bytes.fromhex("046D")
        + dt
        + bytes.fromhex("02FD17")
        + status_flags.to_bytes(2, "little")
    )


def main() -> None:
    start = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    lines = ["# meterd sample capture: [ISO-8601 receive time] telegram hex; '#' starts a comment"]
    keys = ["meter_id,key,comment"]
    meters = [
        ("41000001", "APA", 0x07, False),
        ("41000002", "APA", 0x07, False),
        ("41000003", "DME", 0x16, True),
        ("41000004", "DME", 0x06, True),
        ("41000005", "ZRI", 0x07, True),
        ("41000006", "ZRI", 0x16, False),
    ]
    for i, (meter_id, mfr, dev, encrypted) in enumerate(meters):
        key = bytes([(i * 17 + j) & 0xFF for j in range(16)])
        if encrypted:
            keys.append(f"{meter_id},{key.hex().upper()},sample key")
        m, a = b.address(meter_id, mfr, 0x01, dev)
        for k in range(3):
            when = start + timedelta(minutes=15 * k + i)
            apl = water_apl(100_000 + i * 12_345 + k * (7 + i), when, 0)
            if encrypted:
                payload = b.mode5_payload(key, m, a, 0x10 + k, 0x00, apl)
            else:
                payload = b.short_tpl(0x10 + k, 0x04 if (i == 5 and k == 2) else 0x00) + apl
            frame = b.add_format_a_crcs(b.wmbus_frame(0x44, m, a, payload))
            lines.append(f"{when.isoformat().replace('+00:00', 'Z')} {frame.hex().upper()}")
    lines.append("# public OMS / EN 13757 example telegrams (see tests/data/oms_examples.jsonl)")
    for v in map(json.loads, VECTORS.read_text().splitlines()):
        if v.get("key") is None:
            lines.append(v["telegram_hex"])
    lines.append("# a damaged telegram: the receiver shows it with its error")
    lines.append("2E4493157856341233037A2A0000002F2F0C14270485")
    (ROOT / "config" / "sample-capture.hex").write_text("\n".join(lines) + "\n")
    (ROOT / "config" / "sample-keys.csv").write_text("\n".join(keys) + "\n")


if __name__ == "__main__":
    sys.exit(main())
