"""Fuzz run: mutated and truncated telegrams through the decoder; any uncaught exception is a failure.

python bench/fuzz.py [--quick] [--count N]    last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import telegrams as T

from meterd.wmbus import DecodeError, Decoder

ROOT = Path(__file__).resolve().parent.parent


def seeds() -> list[tuple[bytes, bytes | None]]:
    out: list[tuple[bytes, bytes | None]] = []
    for line in (ROOT / "tests" / "data" / "oms_examples.jsonl").read_text().splitlines():
        v = json.loads(line)
        key = bytes.fromhex(v["key"]) if v.get("key") else None
        out.append((bytes.fromhex(v["telegram_hex"]), key))
    full, compact = T.compact_pair()
    for t in (T.plain_telegram(), T.mode5_telegram(), T.ell_ctr_telegram(), full, compact):
        out.append((t, T.KEY))
    return out


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
            json.dumps(out)
        except DecodeError as e:
            codes[e.code] = codes.get(e.code, 0) + 1
        except Exception as e:
            crashes += 1
            if crashes <= 5:
                print(f"CRASH {type(e).__name__}: {e} on {mutated.hex()}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    for code, n in sorted(codes.items(), key=lambda kv: -kv[1]):
        print(f"  {code}: {n}")
    print(f"fuzz_telegrams: {count} telegrams")
    print(f"fuzz_uncaught_exceptions: {crashes} exceptions")
    print(f"fuzz_rate: {count / elapsed:.0f} telegrams/s")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
