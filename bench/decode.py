"""Decoder throughput: in-process (`Decoder.decode_hex` per telegram) and `meterd decode --jsonl`.

The streams `ref_*` are those the reference decoder (wmbusmeters) was measured on here: 0.6k-24k
telegrams/s depending on the meter. Each must beat the top of that range, `ref_bar` (24,000/s).

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
from meterd.wmbus.builder import compact_pair

ROOT = Path(__file__).resolve().parent.parent


def _decoder() -> Decoder:
    return Decoder({"12345678": T.KEY, "87654321": T.KEY})


def per_telegram(name: str, telegram: bytes, n: int, key: bytes | None = None) -> float:
    """`Decoder.decode_hex` over the same hex line n times (a stream of one meter), telegrams/s."""
    d = _decoder()
    full, _ = compact_pair()
    d.decode(full)
    text = telegram.hex()
    start = time.perf_counter()
    for _ in range(n):
        d.decode_hex(text, key)
    rate = n / (time.perf_counter() - start)
    assert d.decode_hex(text, key).ok, name
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


REFERENCE_BAR = 24_000  # telegrams/s: the fastest stream of the reference decoder on this machine


def vendor_telegrams() -> dict[str, tuple[bytes, bytes | None]]:
    """One public test telegram per vendor family (sources named in tests/test_vendors.py), with its key."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import vendor_telegrams as V

    from meterd.wmbus.vendors import vendor_modules

    texts = {
        "kamstrup_compact": V.MC21_COMPACT,
        "apator162": next(iter(V.APATOR162)),
        "hydrodigit": V.HYDRO3,
    }
    for module in vendor_modules():  # each vendor module's telegrams of its own making
        for telegram, driver, _ in getattr(module, "EXAMPLES", ())[:1]:
            texts[f"{module.__name__.rsplit('.', 1)[1]}_{driver}"] = telegram
    out: dict[str, tuple[bytes, bytes | None]] = {
        name: (bytes.fromhex(text.replace("_", "").replace("#", "")), None) for name, text in texts.items()
    }
    out["diehl_real_data"] = (scrambled(bytes.fromhex(DIEHL_REAL_DATA)), None)
    return out


# The streams of the reference decoder's measurements: public test telegrams of its drivers.
REFERENCE = {
    "supercom587": (
        "A244EE4D785634123C067A8F0000000C1348550000426CE1F14C130000000082046C21298C0413330000008D04931E3A3CFE33000000"
        "33000000330000003300000033000000330000003300000033000000330000003300000033000000330000004300000034180000046D"
        "0D0B5C2B03FD6C5E150082206C5C290BFD0F0200018C4079678885238310FD3100000082106C01018110FD610002FD66020002FD170000",
        None,
    ),
    "waterstarm": (
        "3944FA122162092002067A3600202567C94D48D00DC47B11213E23383DB51968A705AAFA60C60E263D50CD259D7C9A03FD0C08000002FD0B0011",
        "BEDB81B52C29B5C143388CBB0D15A051",
    ),
    "izar": ("2944A511780729662366A20118001378D3B3DB8CEDD77731F25832AAF3DA8CADF9774EA673172E8C61F2", None),
    "multical21": ("2A442D2C998734761B168D2091D37CAC21576C7802FF207100041308190000441308190000615B7F616713", None),
    "apator162": (
        "6E4401062020202005077A9A0060852F2F0F0A734393CC0000435B0183001A54E06F630291342510030F00007B013E0B00003E0B00003E"
        "0B00003E0B00003E0B00003E0B00003E0B0000650000003D0000003D0000003D00000000000000A0910CB003FFFFFFFFFFFFFFFFFFFFA62B",
        None,
    ),
}
DIEHL_REAL_DATA = (  # the published Hydrus real-data frame, descrambled (tests/test_vendors.py)
    "1E4424238B07797389607A8F00107D041312170100426CBF23441344100100"
)


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
    for name, (telegram, key) in vendor_telegrams().items():
        figures.append((f"decode_vendor_{name}", per_telegram(name, telegram, n // 2, key), "telegrams/s"))
    slowest = float("inf")
    for name, (text, key_hex) in REFERENCE.items():
        rate = per_telegram(name, bytes.fromhex(text), n // 2, bytes.fromhex(key_hex) if key_hex else None)
        figures.append((f"ref_{name}", rate, "telegrams/s"))
        slowest = min(slowest, rate)
    figures.append(("ref_slowest_over_bar", slowest / REFERENCE_BAR, "x"))
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
    print(f"ref_bar: {REFERENCE_BAR} telegrams/s (the reference decoder's fastest stream here)")
    for name, value, unit in figures:
        print(f"{name}: {value:.2f} {unit}" if unit == "x" else f"{name}: {value:.0f} {unit}")


if __name__ == "__main__":
    main()
