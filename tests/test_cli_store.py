"""Store commands as a user runs them: demo, report, check, export, import, db status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson


def meterd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_demo_report_check_export(tmp_path: Path) -> None:
    data = tmp_path / "store"
    res = meterd("demo", "--data", str(data))
    assert res.returncode == 0, res.stderr
    assert "tenant login: lokator.d2" in res.stdout and (data / "meterd.sqlite").exists()
    assert meterd("demo", "--data", str(data)).returncode == 2  # never overwrites a store
    report = meterd("report", "--data", str(data), "--premises", "D2")
    assert "31000099" in report.stdout and "2026-10" in report.stdout
    check = meterd("check", "--data", str(data), "--format", "jsonl")
    rows = [orjson.loads(x) for x in check.stdout.splitlines()]
    flags = {(r["meter_id"], r["flag"]) for r in rows}
    assert ("31000003", "leak") in flags  # the demo's leak
    assert ("32000005", "missing") in flags  # the demo's silent meter
    assert not any(f == "backflow" for _, f in flags)  # the swap is not backflow
    out = tmp_path / "billing.csv"
    assert meterd("export", "billing", "--cutoff", "2026-10-31", "--out", str(out), "--data", str(data)).returncode == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("premises_id") and len(lines) == 1 + 18
    assert not any("sample key" in line or "2223242526" in line for line in lines)
    assert meterd("db", "status", "--data", str(data)).returncode == 0


def test_import_errors_are_reported_with_lines(tmp_path: Path) -> None:
    data = tmp_path / "store"
    assert meterd("db", "upgrade", "--data", str(data)).returncode == 0
    bad = tmp_path / "p.csv"
    bad.write_text("premises_id,address,meter_id,manufacturer,medium,installed\nL1,a/1,1,APA,water,2025-13-45\n")
    res = meterd("import", "premises", str(bad), "--data", str(data))
    assert res.returncode == 2 and "p.csv:2: installed" in res.stderr and "import_failed" in res.stderr


def test_commands_refuse_a_store_without_schema(tmp_path: Path) -> None:
    res = meterd("report", "--data", str(tmp_path / "nothing"))
    assert res.returncode == 2 and "meterd db upgrade" in res.stderr


def test_a_data_directory_that_does_not_exist_is_refused_and_not_made(tmp_path: Path) -> None:
    """A typo in --data: commands that read a store say so in one line and create nothing; the commands
    that make stores (db upgrade, demo, ingest) make it."""
    typo = tmp_path / "dtaa"
    for args in (("report",), ("export", "readings"), ("check",), ("db", "status"), ("account", "list")):
        res = meterd(*args, "--data", str(typo))
        assert res.returncode == 2 and "no such directory" in res.stderr and "db upgrade" in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and not typo.exists(), args
    assert meterd("db", "upgrade", "--data", str(typo)).returncode == 0 and (typo / "meterd.sqlite").exists()
