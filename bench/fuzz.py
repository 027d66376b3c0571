"""Fuzz run: mutated and truncated telegrams through the decoder, then through the command line as a
user runs it (`meterd decode --jsonl`, with and without a key file, bare hex and JSON lines mixed):
any uncaught exception, a missing or extra answer, or a non-zero exit is a failure.

python bench/fuzz.py [--quick] [--count N]    last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import telegrams as T

from meterd.wmbus import DecodeError, Decoder
from meterd.wmbus.builder import compact_pair

ROOT = Path(__file__).resolve().parent.parent


def seeds() -> list[tuple[bytes, bytes | None]]:
    out: list[tuple[bytes, bytes | None]] = []
    for line in (ROOT / "tests" / "data" / "oms_examples.jsonl").read_text().splitlines():
        v = json.loads(line)
        key = bytes.fromhex(v["key"]) if v.get("key") else None
        out.append((bytes.fromhex(v["telegram_hex"]), key))
    full, compact = compact_pair()
    for t in (T.plain_telegram(), T.mode5_telegram(), T.ell_ctr_telegram(), full, compact):
        out.append((t, T.KEY))
    from meterd.wmbus import builder as b

    m, a = b.address("12345678", "ABC", 1, 7)
    for record in ("0717FFFFFFFFFFFFFF7F", "07FB10FFFFFFFFFFFFFFFF", "0E13999999999999"):  # values past 64 bits
        out.append((b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0) + bytes.fromhex(record)), None))
    return out


def cli_lines(rng: random.Random, pool: list[tuple[bytes, bytes | None]], count: int) -> list[str]:
    """Input lines as users hand them over: bare hex (some with separators), JSON objects with a key,
    with null, with junk; now and then an empty or broken line."""
    lines = []
    for _ in range(count):
        data, key = rng.choice(pool)
        hex_ = mutate(rng, data).hex().upper()
        kind = rng.random()
        if kind < 0.5:
            lines.append(hex_)
        elif kind < 0.6:
            lines.append(" ".join(hex_[i : i + 2] for i in range(0, len(hex_), 2)))
        elif kind < 0.9:
            k = key.hex() if key is not None and rng.random() < 0.7 else None
            lines.append(json.dumps({"telegram": hex_, "key": k}))
        elif kind < 0.95:
            lines.append(rng.choice(["", "{", '{"telegram": 5}', '{"key": "00"}', "[1,2]", "zz", hex_ + "G"]))
        else:
            lines.append(json.dumps({"telegram": hex_, "key": rng.choice(["0011", "XYZ", 42])}))
    return lines


def fuzz_cli(lines: list[str], keys: bool) -> tuple[int, int, int, float]:
    """(exit status, answers missing or extra, internal errors, lines/s) of one `decode --jsonl` run."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.txt"
        source.write_text("\n".join(lines) + "\n")
        args = [sys.executable, "-m", "meterd", "decode", "--jsonl"]
        if keys:
            key_file = Path(tmp) / "keys.csv"
            key_file.write_text(f"meter_id,key\n12345678,{T.KEY.hex()}\n")
            os.chmod(key_file, 0o600)
            args += ["--keys", str(key_file)]
        out_path = Path(tmp) / "out.txt"
        start = time.perf_counter()
        with source.open("rb") as fin, out_path.open("wb") as fout:
            status = subprocess.run(args, stdin=fin, stdout=fout, stderr=subprocess.PIPE, check=False).returncode
        elapsed = time.perf_counter() - start
        answers = out_path.read_bytes().split(b"\n")[:-1]  # JSON Lines end at \n (splitlines() also cuts at U+0085)
        internal = 0
        for answer in answers:
            obj = json.loads(answer)  # every answer is one JSON object (json: big integers stay exact)
            if not obj["ok"] and obj["error"]["code"] == "internal_error":
                internal += 1
    return status, abs(len(answers) - len(lines)), internal, len(lines) / elapsed


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0:  # flip bits
        for _ in range(rng.randint(1, 4)):
            if b:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == 1:  # random bytes
        for _ in range(rng.randint(1, 8)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 2:  # truncate
        b = b[: rng.randrange(len(b) + 1)]
    elif op == 3:  # insert
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    elif op == 4:  # fix up the L field after damage so deeper layers are reached
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
            b[0] = (len(b) - 1) & 0xFF
    else:  # damage the record area only, keep the L field consistent
        start = min(len(b), 15)
        for _ in range(rng.randint(1, 6)):
            if len(b) > start:
                b[rng.randrange(start, len(b))] = rng.randrange(256)
    return bytes(b)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seed", type=int, default=13757)
    args = parser.parse_args()
    count = args.count or (50_000 if args.quick else 1_000_000)
    rng = random.Random(args.seed)
    pool = seeds()
    decoder = Decoder()
    crashes = 0
    codes: dict[str, int] = {}
    start = time.perf_counter()
    for i in range(count):
        if i % 50_000 == 0:
            decoder = Decoder()  # fresh caches now and then, as after a restart
        data, key = rng.choice(pool)
        mutated = mutate(rng, data)
        try:
            out = decoder.decode(mutated, key if rng.random() < 0.7 else None)
            codes["ok"] = codes.get("ok", 0) + 1
            json.dumps(out.to_dict())
        except DecodeError as e:
            codes[e.code] = codes.get(e.code, 0) + 1
        except Exception as e:
            crashes += 1
            if crashes <= 5:
                print(f"CRASH {type(e).__name__}: {e} on {mutated.hex()}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    for code, n in sorted(codes.items(), key=lambda kv: -kv[1]):
        print(f"  {code}: {n}")
    figures = [
        ("fuzz_telegrams", count, "telegrams"),
        ("fuzz_uncaught_exceptions", crashes, "exceptions"),
        ("fuzz_rate", count / elapsed, "telegrams/s"),
    ]
    lines = cli_lines(rng, pool, count)
    failed = crashes > 0
    for keys in (False, True):
        status, wrong, internal, rate = fuzz_cli(lines, keys)
        label = "with_keys" if keys else "no_keys"
        figures += [
            (f"fuzz_cli_{label}_lines", len(lines), "lines"),
            (f"fuzz_cli_{label}_exit", status, "status"),
            (f"fuzz_cli_{label}_answers_missing_or_extra", wrong, "lines"),
            (f"fuzz_cli_{label}_internal_errors", internal, "lines"),
            (f"fuzz_cli_{label}_rate", rate, "lines/s"),
        ]
        failed |= status != 0 or wrong != 0
    for name, value, unit in figures:
        print(f"{name}: {value:.0f} {unit}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
