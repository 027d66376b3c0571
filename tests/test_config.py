"""The example configuration loads, and bad values are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterd.config import ConfigError, load_config

ROOT = Path(__file__).parent.parent


def test_example_config_loads() -> None:
    config = load_config(ROOT / "config" / "meterd.example.toml")
    assert [(r.name, r.dongle) for r in config.receivers] == [("sample", "hex")] and config.receiver.pace == 60
    assert config.gateway.name == "gw1" and config.metrics is not None and config.metrics.address() == ("127.0.0.1", 9108)
    single = ROOT / "tests" / "data" / "single-receiver.toml"  # [receiver] as one table, as meterd listen reads it
    assert load_config(single).receiver.exclude_ports == ["/dev/ttyS0"]
    checks = config.check_config()
    assert checks.cold.leak_window_h == 24 and checks.warm.night_min_flow_m3h == 0.006


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[checks.cold]\nleak_window_hours = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "leak_window_hours" in info.value.message
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\n")
    with pytest.raises(ConfigError):
        load_config(broken)


def test_per_meter_driver_override(tmp_path: Path) -> None:
    import subprocess
    import sys

    import orjson

    # a Kamstrup telegram (tests/test_vendors.py) decoded with the vendor decoder switched off for this meter
    telegram = "2A442D2C998734761B168D2091D37CAC21576C7802FF207100041308190000441308190000615B7F616713"
    config = tmp_path / "meterd.toml"
    config.write_text('[drivers]\n"76348799" = "oms"\n')
    run = [sys.executable, "-m", "meterd", "decode", telegram]
    plain = orjson.loads(subprocess.run(run, capture_output=True, check=True).stdout)
    forced = orjson.loads(subprocess.run([*run, "--config", str(config)], capture_output=True, check=True).stdout)
    assert plain["driver"] == "multical21" and plain["alarms"] == ["dry"]
    assert forced["driver"] == "oms" and forced["alarms"] == []
    config.write_text('[drivers]\n"76348799" = "multical21"\n')  # a model name selects its decoder too
    named = orjson.loads(subprocess.run([*run, "--config", str(config)], capture_output=True, check=True).stdout)
    assert named["driver"] == "multical21"
    config.write_text('[drivers]\n"76348799" = "nosuch"\n')
    bad = subprocess.run([*run, "--config", str(config)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "no such vendor decoder" in bad.stderr
