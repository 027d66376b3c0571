"""The example configuration loads, and bad values are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterd.config import ConfigError, load_config

ROOT = Path(__file__).parent.parent


def test_example_config_loads() -> None:
    # git keeps no file modes: a fresh clone's sample key file is readable by others, which the
    # configuration check refuses as `run` does (./scripts/run.sh makes it 0600 the same way)
    (ROOT / "config" / "sample-keys.csv").chmod(0o600)
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


def test_config_check_finds_every_problem_run_would_with_its_line_in_words(tmp_path: Path) -> None:
    """`meterd config check` lists every problem with FILE:LINE, says a misspelt key's nearest name, a
    pattern as the form it stands for (never a regular expression), and finds what `run` would trip
    over: a missing or world-readable key file, a port out of range, an infinite number, a broker URL."""
    import subprocess
    import sys

    keys = tmp_path / "keys.csv"
    keys.write_text("meter_id,key\n")
    keys.chmod(0o644)
    config = tmp_path / "bad.toml"
    config.write_text(
        '[gateway]\nname = "gw 1"\nsilense_after_h = 3\n\n'  # lines 2, 3
        '[[receiver]]\ndongle = "im871a"\nport = "/dev/ttyUSB0"\nsilence_timeout_s = 1e999\n\n'  # line 8
        '[[receiver]]\nname = "second"\ndongle = "amb8465"\n\n'  # line 10: no port
        '[metrics]\nlisten = "127.0.0.1:99999"\n\n'  # line 15
        f'[keys]\nfile = "{keys}"\n\n'  # line 18
        '[mqtt]\nurl = "mqtt://broker:70000"\nca_file = "/no/such/ca.pem"\n'  # lines 21, 22
    )
    res = subprocess.run([sys.executable, "-m", "meterd", "config", "check", str(config)], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    expected = [
        (2, "gateway.name: 'gw 1' is not letters, digits"),
        (3, "gateway.silense_after_h: unknown key; did you mean 'silent_after_h'?"),
        (8, "receiver.0.silence_timeout_s: not a finite number"),
        (10, "receiver.1.port: port is required"),
        (15, "metrics.listen: port 99999 is out of range"),
        (18, f"keys.file: {keys} is readable by group or others: chmod 600"),
        (21, "mqtt.url: broker URL 'mqtt://broker:70000'"),
        (22, "mqtt.ca_file: /no/such/ca.pem: no such file"),
    ]
    assert len(lines) == len(expected), res.stderr
    for line, (number, text) in zip(lines, expected, strict=True):
        assert line.startswith(f"{config}:{number}: {text}"), (line, number, text)
    assert not any(ch in res.stderr for ch in ("^", "\\\\s", "[^")), res.stderr  # no regular expression shown
    keys.chmod(0o600)
    good = tmp_path / "good.toml"
    good.write_text(f'[gateway]\nname = "gw1"\n\n[[receiver]]\ndongle = "im871a"\nport = "/dev/ttyUSB0"\n\n[keys]\nfile = "{keys}"\n')
    ok = subprocess.run([sys.executable, "-m", "meterd", "config", "check", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and ": ok (1 receivers" in ok.stdout, ok.stderr


def test_an_unknown_dongle_is_named_with_the_nearest_and_every_known_one(tmp_path: Path) -> None:
    """The dongle names come from one registry (meterd.drivers.dongles): config, command line and probe."""
    import subprocess
    import sys

    from meterd.drivers.dongles import DONGLES, NAMES, SERIAL
    from meterd.drivers.framers import FRAMERS

    bad = tmp_path / "bad.toml"
    bad.write_text('[gateway]\nname = "gw1"\n\n[[receiver]]\ndongle = "im871"\nport = "/dev/ttyUSB0"\n')
    res = subprocess.run([sys.executable, "-m", "meterd", "config", "check", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2 and f"{bad}:5:" in res.stderr and "did you mean 'im871a'?" in res.stderr, res.stderr
    assert all(name in res.stderr for name in NAMES)
    assert set(FRAMERS) == set(SERIAL) and {"hex", "rtlwmbus"} == set(NAMES) - set(SERIAL)
    assert DONGLES["amb8465"].framer_options(type("S", (), {"amber_transparent": True})()) == {"transparent": True}
    walk = subprocess.run([sys.executable, "-m", "meterd", "walk", "R", "--dongle", "nope", "--port", "x"],
                          capture_output=True, text=True)  # fmt: skip
    assert walk.returncode == 2 and all(name in walk.stderr for name in NAMES)
