"""What a gateway is deployed with: the systemd unit, the udev rules and the Prometheus alert rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_service

ROOT = Path(__file__).parent.parent


def test_alert_rules_pass_their_promtool_tests() -> None:
    """A silent receiver, silent meters, decrypt failures, a growing spool and the service down each
    fire when they should and stay quiet on a healthy gateway (config/prometheus/alerts_test.yml)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        require_service("promtool", "Debian package prometheus not installed (scripts/debian-packages.sh)")
    assert promtool is not None
    check = subprocess.run([promtool, "check", "rules", str(ROOT / "config/prometheus/alerts.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    res = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=ROOT / "config/prometheus", capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    names = set(re.findall(r"alert: (\w+)", (ROOT / "config/prometheus/alerts.yml").read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (ROOT / "config/prometheus/alerts_test.yml").read_text()))
    assert names - {"MeterdStoreNotWriting"} <= tested


def test_systemd_unit_verifies_and_asks_for_what_the_service_does(tmp_path: Path) -> None:
    text = (ROOT / "systemd/meterd.service").read_text()
    for setting in ("Type=notify", "WatchdogSec=", "SupplementaryGroups=dialout", "StateDirectory=meterd",
                    "NoNewPrivileges=true", "ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true",
                    "DeviceAllow=char-ttyUSB rw", "Restart=on-failure", "LoadCredential=meterd-kek:",
                    "ExecStart=/opt/meterd/.venv/bin/meterd run --config /etc/meterd/meterd.toml"):  # fmt: skip
        assert setting in text, setting
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not on this machine")
    meterd = shutil.which("meterd") or str(ROOT / ".venv/bin/meterd")
    unit = tmp_path / "meterd.service"
    unit.write_text(text.replace("/opt/meterd/.venv/bin/meterd", meterd))
    res = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_udev_rules_give_each_dongle_a_stable_name() -> None:
    rules = [line for line in (ROOT / "systemd/99-wmbus-dongles.rules").read_text().splitlines() if line and not line.startswith("#")]
    assert len(rules) >= 5
    for rule in rules:
        assert re.search(r'ATTRS\{idVendor\}=="[0-9a-f]{4}"', rule) and re.search(r'ATTRS\{idProduct\}=="[0-9a-f]{4}"', rule)
        assert re.search(r'SYMLINK\+="wmbus/[a-z0-9]+-\$attr\{serial\}"', rule), rule
        assert 'GROUP="dialout"' in rule
