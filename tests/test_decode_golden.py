"""`meterd decode --jsonl` stays byte-identical: every telegram of the test suite's sources and the spec
vectors (with their keys), decoded in one stream, must give exactly the lines kept in
tests/data/decode_golden.jsonl. A change of the decoder's output is then a change of that file, seen in
review. `METERD_REGOLD=1` writes the file anew from the current decoder (after a deliberate change)."""

from __future__ import annotations

import ast
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
    the order of their files, each once, then every vendor module's own examples."""
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
    built += [(frame, 0) for frame in shapes()]
    for frame, keyed in built:
        obj = {"telegram": frame.hex().upper(), **({"key": KEY.hex().upper()} if keyed else {})}
        lines.append(json.dumps(obj, sort_keys=True))
    for path in sorted([*TESTS.glob("test_*.py"), *(TESTS / "support").glob("*.py")]):
        for line in source_telegrams(path.read_text()):
            if line not in seen:
                seen.add(line)
                lines.append(line)
    from meterd.wmbus.vendors import vendor_modules

    for module in vendor_modules():
        for telegram, *_ in getattr(module, "EXAMPLES", ()):
            line = json.dumps({"telegram": telegram})
            if line not in seen:
                seen.add(line)
                lines.append(line)
    return lines


def shapes() -> list[bytes]:
    """Frames that give the optional keys of the output object: lenient reading's warnings, control
    frames, a wired fixed-format frame, an alarm CI, an undefined security mode on the wire, a vendor's
    warning, more records following."""
    from meterd.wmbus import builder as b

    m, a = b.address("12345678", "ELS", 0x33, 0x07)
    frames = [b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0) + bytes.fromhex(apl)) for apl in
              ("0413E8030000 02FD170400 FFFF", "0413E8030000 02FD170400 0C13AABB", "0413E8030000 1F")]  # fmt: skip
    frames.append(b.wmbus_frame(0x44, m, a, bytes.fromhex("71 01")))  # alarm CI
    fixed = bytes.fromhex("785634120100") + bytes([0x29 | (0x3 << 6), 0x29 | (0x1 << 6)]) + bytes.fromhex("4523010000000000")
    frames.append(b.mbus_long_frame(0x08, 5, 0x73, fixed))
    frames.append(b.mbus_long_frame(0x08, 5, 0x72, b.long_tpl(m, a, 3, 0, mode=15)[1:] + bytes.fromhex("0413E8030000")))
    frames += [bytes.fromhex("E5"), bytes.fromhex("105B015C16")]  # an acknowledgement, a short frame
    qm, qa = b.address("12345678", "QDS", 0x18, 0x06)  # a Qundis walk-by record of the wrong length
    frames.append(b.wmbus_frame(0x44, qm, qa, b.short_tpl(2, 0) + bytes.fromhex("0DFF5F0400000000")))
    return frames


_HEX = re.compile(r"[0-9A-Fa-f]{24,}")


def _hex(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = re.sub(r"[\s_#|]", "", node.value)
        return text if _HEX.fullmatch(text) else None
    return None


def source_telegrams(source: str) -> list[str]:
    """Input lines for every hex string constant of 24 digits or more in a test source (string pieces
    written on several lines are one constant); a tuple that also holds a 32-digit constant gives that
    as the telegram's key too."""
    out: list[str] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        text = _hex(node)
        if text is not None:
            out.append(json.dumps({"telegram": text}))
        if isinstance(node, ast.Tuple):
            texts = [t for t in map(_hex, node.elts) if t is not None]
            keys = [t for t in texts if len(t) == 32]
            for t in texts:
                if keys and t not in keys:
                    out.append(json.dumps({"key": keys[0], "telegram": t}, sort_keys=True))
    return out


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
