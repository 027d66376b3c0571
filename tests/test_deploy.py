"""What meterd is deployed with: the installer for each role, the systemd units (verified and rated by
systemd-analyze), the udev rules, the Prometheus alert rules (each fires in a promtool test and has a
runbook), and the files an installed meterd carries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_service

ROOT = Path(__file__).parent.parent
SHARE = ROOT / "meterd" / "share"
UNITS = ("meterd.service", "meterd-ingest.service", "meterd-serve.service", "meterd-notices.service", "meterd-notices.timer")


def test_alert_rules_pass_their_promtool_tests_and_each_has_a_runbook() -> None:
    """Every rule fires in a promtool test when it should (a receiver dead from boot and one that stops
    included) and stays quiet on a healthy gateway; each has a description and a runbook section."""
    promtool = shutil.which("promtool")
    if promtool is None:
        require_service("promtool", "Debian package prometheus not installed (scripts/debian-packages.sh)")
    assert promtool is not None
    rules = SHARE / "prometheus" / "alerts.yml"
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    res = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=SHARE / "prometheus", capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    text = rules.read_text()
    names = set(re.findall(r"alert: (\w+)", text))
    tests = (SHARE / "prometheus" / "alerts_test.yml").read_text()
    fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n", tests))
    assert len(names) >= 14 and names <= fired, names - fired
    assert text.count("description:") == text.count("runbook_url:") == len(names)
    runbooks = set(re.findall(r"^### (\w+)$", (ROOT / "docs" / "operations.md").read_text(), re.M))
    assert names <= runbooks, names - runbooks


@pytest.mark.slow
def test_the_installer_sets_up_every_role_twice_and_keeps_an_edited_config(tmp_path: Path) -> None:
    """`scripts/install.sh --role R --root DIR` for the three roles into one tree, then again after the
    configuration was edited: the same tree, the edit kept; every unit passes `systemd-analyze verify`
    and scores at most 3.0 in `systemd-analyze security`; the installed meterd prints its files."""
    root = tmp_path / "root"
    install = ROOT / "scripts" / "install.sh"
    first = [subprocess.run(["bash", str(install), "--role", role, "--root", str(root)], capture_output=True, text=True,
                            timeout=600) for role in ("gateway", "central", "portal")]  # fmt: skip
    for res in first:
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Traceback" not in res.stderr and "deprecat" not in (res.stdout + res.stderr).lower()
    etc = root / "etc"
    for unit in UNITS:
        assert (etc / "systemd" / "system" / unit).read_text() == (SHARE / "systemd" / unit).read_text()
    assert (etc / "udev" / "rules.d" / "99-wmbus-dongles.rules").exists()
    assert "u meterd" in (root / "usr/lib/sysusers.d/meterd.conf").read_text()
    assert "d /var/lib/meterd 0700 meterd meterd" in (root / "usr/lib/tmpfiles.d/meterd.conf").read_text()
    assert (etc / "meterd" / "kek").stat().st_mode & 0o077 == 0
    kek = (etc / "meterd" / "kek").read_text()
    config = etc / "meterd" / "meterd.toml"
    config.write_text(config.read_text().replace('name = "gw1"', 'name = "gw-basement"'))
    again = [subprocess.run(["bash", str(install), "--role", role, "--root", str(root)], capture_output=True, text=True,
                            timeout=600) for role in ("gateway", "central", "portal")]  # fmt: skip
    for res in again:
        assert res.returncode == 0, res.stdout + res.stderr
        assert "installing meterd" not in res.stdout and "wrote /etc/systemd" not in res.stdout  # nothing to do
        assert "kept /etc/meterd/meterd.toml" in res.stdout
    assert 'name = "gw-basement"' in config.read_text() and (etc / "meterd" / "kek").read_text() == kek
    meterd = root / "opt" / "meterd" / ".venv" / "bin" / "meterd"
    shown = subprocess.run([str(meterd), "files", "show", "systemd/meterd.service"], capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout == (SHARE / "systemd" / "meterd.service").read_text()
    listed = subprocess.run([str(meterd), "files", "list"], capture_output=True, text=True).stdout.split()
    assert {"prometheus/alerts.yml", "meterd.toml", "mosquitto/meterd.acl", "systemd/meterd-serve.service"} <= set(listed)
    checked = subprocess.run([str(meterd), "config", "check", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr  # the installed template is a valid configuration

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        require_service("systemd-analyze", "the systemd package is not installed")
    assert analyze is not None
    # systemd-analyze verify --root needs the host's own units (sysinit.target ...) and kill in the tree
    (root / "usr" / "lib" / "systemd").mkdir(parents=True, exist_ok=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("kill") or "/usr/bin/kill", root / "usr" / "bin" / "kill")
    (root / "bin").symlink_to("usr/bin")
    for unit in UNITS:
        res = subprocess.run([analyze, "verify", f"--root={root}", f"/etc/systemd/system/{unit}"], capture_output=True, text=True)
        assert res.returncode == 0 and not res.stderr.strip(), (unit, res.stderr)
        if unit.endswith(".service"):
            res = subprocess.run([analyze, "security", "--offline=true", str(SHARE / "systemd" / unit)],
                                 capture_output=True, text=True)  # fmt: skip
            level = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", res.stdout).group(1))  # type: ignore[union-attr]
            assert level <= 3.0, (unit, res.stdout[-3000:])


def test_the_gateway_unit_asks_for_what_the_service_does() -> None:
    text = (SHARE / "systemd" / "meterd.service").read_text()
    for setting in ("Type=notify", "WatchdogSec=", "SupplementaryGroups=dialout", "StateDirectory=meterd",
                    "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                    "DeviceAllow=char-ttyUSB rw", "Restart=on-failure", "LoadCredential=meterd-kek:/etc/meterd/kek",
                    "CapabilityBoundingSet=", "SystemCallFilter=@system-service", "ProtectProc=invisible",
                    "ExecStart=/opt/meterd/.venv/bin/meterd run --config /etc/meterd/meterd.toml"):  # fmt: skip
        assert setting in text, setting


def test_udev_rules_give_each_dongle_a_stable_name() -> None:
    lines = (SHARE / "systemd" / "99-wmbus-dongles.rules").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert len(rules) >= 5
    for rule in rules:
        assert re.search(r'ATTRS\{idVendor\}=="[0-9a-f]{4}"', rule) and re.search(r'ATTRS\{idProduct\}=="[0-9a-f]{4}"', rule)
        assert re.search(r'SYMLINK\+="wmbus/[a-z0-9]+-\$attr\{serial\}"', rule), rule
        assert 'GROUP="dialout"' in rule


@pytest.mark.parametrize("name", ["nope", "systemd/nope.service"])
def test_an_unknown_shipped_file_is_one_line(name: str) -> None:
    import sys

    res = subprocess.run([sys.executable, "-m", "meterd", "files", "show", name], capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "meterd files list" in res.stderr or "did you mean systemd/" in res.stderr, res.stderr
