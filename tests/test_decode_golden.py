"""`meterd decode --jsonl` stays byte-identical: every telegram of the test suite's sources and the spec
vectors (with their keys), decoded in one stream, must give exactly the lines kept in
tests/data/decode_golden.jsonl. A change of the decoder's output is then a change of that file, seen in
review. `METERD_REGOLD=1` writes the file anew from the current decoder (after a deliberate change)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import DATA, load_vectors

GOLDEN = DATA / "decode_golden.jsonl"
TESTS = Path(__file__).parent


def inputs() -> list[str]:
    """The input lines: the spec vectors (with their keys), then every long hex literal of the tests, in
    the order of their files, each once."""
    lines: list[str] = []
    seen: set[str] = set()
    for v in load_vectors():
        obj = {"telegram": v["telegram_hex"], **({"key": v["key"]} if v.get("key") else {})}
        line = json.dumps(obj, sort_keys=True)
        if line not in seen:
            seen.add(line)
            lines.append(line)
    from support.telegrams import KEY, water

    from meterd.wmbus.builder import compact_pair

    built = [(water(f"5550000{i}", maker, 1000 * i + 7, acc=i, key=KEY if i % 2 else None), i % 2)
             for i, maker in enumerate(("APA", "DME", "ELS", "KAM", "ZRI", "SEN", "BMT", "TCH"), start=1)]  # fmt: skip
    built += [(frame, 0) for frame in compact_pair()]  # the full frame teaches the compact one's format
    for frame, keyed in built:
        obj = {"telegram": frame.hex().upper(), **({"key": KEY.hex().upper()} if keyed else {})}
        lines.append(json.dumps(obj, sort_keys=True))
    for path in sorted([*TESTS.glob("test_*.py"), *(TESTS / "support").glob("*.py")]):
        for hex_ in re.findall(r'"([0-9A-Fa-f]{24,})"', path.read_text()):
            line = json.dumps({"telegram": hex_})
            if line not in seen:
                seen.add(line)
                lines.append(line)
    return lines


def decode(lines: list[str]) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "meterd", "decode", "--jsonl"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_decode_output_is_byte_identical_to_the_golden_file() -> None:
    if os.environ.get("METERD_REGOLD") == "1":
        lines = inputs()
        GOLDEN.write_text("".join(json.dumps({"in": i, "out": o}, ensure_ascii=False) + "\n"
                                  for i, o in zip(lines, decode(lines), strict=True)))  # fmt: skip
    entries = [json.loads(x) for x in GOLDEN.read_text().splitlines()]
    assert len(entries) > 60
    got = decode([e["in"] for e in entries])
    changed = [(e["in"], e["out"], g) for e, g in zip(entries, got, strict=True) if e["out"] != g]
    assert len(got) == len(entries) and not changed, changed[:3]
