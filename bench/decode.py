"""Decoder throughput: in-process (per telegram and vectorised batch) and `meterd decode --jsonl`.

python bench/decode.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import telegrams as T

from meterd.wmbus import Decoder
from meterd.wmbus.batch import decode_batch
from meterd.wmbus.builder import compact_pair

ROOT = Path(__file__).resolve().parent.parent


def _decoder() -> Decoder:
    return Decoder({"12345678": T.KEY, "87654321": T.KEY})


def per_telegram(name: str, telegram: bytes, n: int) -> float:
    d = _decoder()
    full, _ = compact_pair()
    d.decode(full)
    text = telegram.hex()
    start = time.perf_counter()
    for _ in range(n):
        d.decode_hex(text)
    rate = n / (time.perf_counter() - start)
    assert d.decode_hex(text)["ok"], name
    return rate


def batch(name: str, telegram: bytes, n: int) -> float:
    d = _decoder()
    frames = [telegram] * n
    start = time.perf_counter()
    result = decode_batch(d, frames)
    rate = n / (time.perf_counter() - start)
    assert result.ok.all(), name
    return rate


# Runs the command and prints its peak RSS. A small parent matters: a forked child's peak RSS counts the
# pages it shared with its parent before exec, so measuring from this (large) process would inflate it.
_RSS_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def cli(name: str, telegram: bytes, n: int, keys: Path) -> tuple[float, float]:
    """meterd decode --jsonl over n identical lines, output to /dev/null; (telegrams/s, peak RSS MB)."""
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        f.write((telegram.hex().upper() + "\n") * n)
        path = f.name
    try:
        cmd = [str(ROOT / ".venv" / "bin" / "meterd"), "decode", "--jsonl", "--keys", str(keys)]
        if not Path(cmd[0]).exists():
            cmd = [sys.executable, "-m", "meterd", "decode", "--jsonl", "--keys", str(keys)]
        with open(path, "rb") as stdin:
            start = time.perf_counter()
            done = subprocess.run(["python3", "-c", _RSS_WRAPPER, *cmd], stdin=stdin, capture_output=True, check=True)
            elapsed = time.perf_counter() - start
        peak = int(done.stdout.decode().strip().splitlines()[-1]) / 1024
        return n / elapsed, peak
    finally:
        os.unlink(path)


def vendor_telegrams() -> dict[str, bytes]:
    """One public test telegram per vendor family (sources named in tests/test_vendors.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_vendors as V

    texts = {
        "kamstrup_compact": V.MC21_COMPACT,
        "apator162": next(iter(V.APATOR162)),
        "apator08": "1C441486069C14000F0FA042F214000040030000000005FF0472BF1400",
        "apatorna1": "1C440106813591041407A0B000266A705474DDB80D9A0EB9AE2EF29D96",
        "hydrodigit": V.HYDRO3,
        "izar": V.IZAR[1][0],
        "hydrus_default_key": V.HYDRUS_DEFAULT_KEY,
        "mkradio3": "2F446850313233347462A2_069F255900B029310000000306060906030609070606050509050505050407040605070500",
        "qwater_walk_by": V.QWATER[1][0],
        "maddalena": "4E4424349986012401077AF2000020_2F2F0413A7000000046D0E0C163B04FD17000000000E789986012401FF441300000000426C01018401134A00000082016C1F3AD3013B470500C4016D1B14153B",
    }
    telegrams = {name: bytes.fromhex(text.replace("_", "").replace("#", "")) for name, text in texts.items()}
    telegrams["diehl_real_data"] = scrambled(bytes.fromhex(V.HYDRUS_REAL_DATA[0][0].replace("_", "")))
    return telegrams


def scrambled(plain: bytes) -> bytes:
    """A Diehl real-data frame as a meter sends it (the published capture holds it descrambled)."""
    from meterd.wmbus.vendors.diehl import DEFAULT_KEYS, lfsr_stream

    frame = bytearray(plain)
    frame[14] = (sum(plain[15:]) & 0xEF) | 0x10
    frame[15:] = lfsr_stream(bytes(frame), DEFAULT_KEYS[1])
    return bytes(frame)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    _, compact = compact_pair()
    kinds = {
        "plain": T.plain_telegram(),
        "mode5": T.mode5_telegram(),
        "mode5_nocrc": T.mode5_telegram_nocrc(),
        "ell_ctr": T.ell_ctr_telegram(),
        "compact": compact,
    }
    figures: list[tuple[str, float, str]] = []
    for name, telegram in kinds.items():
        figures.append((f"decode_{name}", per_telegram(name, telegram, n), "telegrams/s"))
    for name, telegram in vendor_telegrams().items():
        figures.append((f"decode_vendor_{name}", per_telegram(name, telegram, n // 2), "telegrams/s"))
        figures.append((f"batch_vendor_{name}", batch(name, telegram, n // 2), "telegrams/s"))
    for name in ("plain", "mode5_nocrc", "mode5"):
        figures.append((f"batch_{name}", batch(name, kinds[name], n), "telegrams/s"))
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.csv"
        keys.write_text(f"meter_id,key\n12345678,{T.KEY_HEX}\n87654321,{T.KEY_HEX}\n")
        keys.chmod(0o600)
        peak = 0.0
        for name in ("plain", "mode5"):
            rate, peak = cli(name, kinds[name], n, keys)
            figures.append((f"cli_{name}", rate, "telegrams/s"))
    figures.append(("cli_peak_rss", peak, "MB"))
    figures.append(("bench_peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB"))
    print(f"telegram sizes: plain {len(kinds['plain'])} B (40 records), mode5 {len(kinds['mode5'])} B with CRCs+RSSI")
    for name, value, unit in figures:
        print(f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
