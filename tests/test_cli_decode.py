"""`meterd decode` exactly as docs/interfaces.md describes it, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import load_vectors

VECTORS = load_vectors()


def meterd(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meterd", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_single_telegram_with_key_and_separators() -> None:
    v = VECTORS[0]
    hexed = " ".join(v["telegram_hex"][i : i + 2] for i in range(0, len(v["telegram_hex"]), 2))
    res = meterd("decode", hexed.replace(" ", "|", 3).replace(" ", "_", 3), "--key", v["key"])
    assert res.returncode == 0
    out = json.loads(res.stdout)
    assert out["ok"] and out["id"] == "12345678" and out["total_m3"] == 28504.27


def test_jsonl_one_line_per_input_line_in_order(tmp_path: Path) -> None:
    lines = [json.dumps({"telegram": v["telegram_hex"], "key": v["key"]}) for v in VECTORS]
    lines += ["", "not hex", "{broken", json.dumps({"telegram": VECTORS[0]["telegram_hex"], "key": None})]
    lines += ["# 2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"]
    res = meterd("decode", "--jsonl", stdin="\n".join(lines) + "\n")
    assert res.returncode == 0
    outs = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(outs) == len(lines)
    assert all(o["ok"] for o in outs[: len(VECTORS)])
    assert outs[len(VECTORS)]["error"]["code"] == "empty"
    assert outs[len(VECTORS) + 1]["error"]["code"] == "bad_hex"
    assert outs[len(VECTORS) + 2]["error"]["code"] == "bad_input"
    assert outs[len(VECTORS) + 3]["error"]["code"] == "no_key"
    assert outs[-1]["ok"] and outs[-1]["total_m3"] == 28504.27


def test_jsonl_with_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.csv"
    keys.write_text("meter_id,key,comment\n12345678,0102030405060708090A0B0C0D0E0F11,gas meter\n")
    os.chmod(keys, 0o600)
    res = meterd("decode", "--jsonl", "--keys", str(keys), stdin=VECTORS[0]["telegram_hex"] + "\n")
    assert json.loads(res.stdout)["total_m3"] == 28504.27


def test_insecure_keys_file_is_refused_without_echoing_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.csv"
    keys.write_text("meter_id,key\n12345678,0102030405060708090A0B0C0D0E0F11\n")
    os.chmod(keys, 0o644)
    res = meterd("decode", "--jsonl", "--keys", str(keys), stdin="")
    assert res.returncode == 2
    assert "insecure_key_file" in res.stderr and "0102030405060708090A0B0C0D0E0F11" not in res.stderr
    res = meterd("decode", "--jsonl", "--keys", str(keys), "--insecure-keys", stdin=VECTORS[0]["telegram_hex"])
    assert json.loads(res.stdout)["ok"]


def test_bad_key_row_reports_line_without_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.csv"
    keys.write_text(
        "meter_id,key\n12345678,0102030405060708090A0B0C0D0E0F11\n87654321,ZZ0102030405060708090A0B0C0D0E0F\n"
    )
    os.chmod(keys, 0o600)
    res = meterd("decode", "--jsonl", "--keys", str(keys), stdin="")
    assert res.returncode == 2 and "keys.csv:3: column key" in res.stderr and "ZZ01" not in res.stderr


def test_compact_frames_learned_within_a_run() -> None:
    from meterd.wmbus.builder import compact_pair

    full, compact = compact_pair()
    res = meterd("decode", "--jsonl", stdin=f"{compact.hex()}\n{full.hex()}\n{compact.hex()}\n")
    outs = [json.loads(x) for x in res.stdout.splitlines()]
    assert outs[0]["error"]["code"] == "unknown_signature"
    assert outs[2]["ok"] and outs[2]["total_m3"] == 0.778


def test_a_single_telegram_that_fails_exits_1_and_jsonl_keeps_0() -> None:
    res = meterd("decode", "ZZZ")
    assert res.returncode == 1 and json.loads(res.stdout)["error"]["code"] == "bad_hex"
    res = meterd("decode", "--jsonl", stdin="ZZZ\n")
    assert res.returncode == 0 and json.loads(res.stdout)["error"]["code"] == "bad_hex"
