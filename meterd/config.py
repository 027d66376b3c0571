"""The configuration file (TOML, see config/meterd.example.toml), validated with pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meterd.errors import MeterdError
from meterd.validate.model import CheckConfig, Thresholds


class ConfigError(MeterdError):
    code = "bad_config"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSection(_Section):
    data: str | None = None
    db: str | None = None


class ReceiverSection(_Section):
    dongle: str | None = None
    port: str | None = None
    mode: str = "c1,t1"
    silence_timeout_s: float = Field(600.0, gt=0)
    exclude_ports: list[str] = []
    amber_transparent: bool = False  # an Amber module configured for transparent output (no FF framing)
    rc1180_rssi_byte: bool = False  # whether an RC1180 appends an RSSI byte, when its memory cannot be read

    def framer_options(self, dongle: str) -> dict[str, bool]:
        if dongle == "amb8465":
            return {"transparent": self.amber_transparent}
        if dongle == "rc1180":
            return {"rssi_byte": self.rc1180_rssi_byte}
        return {}


class KeysSection(_Section):
    file: str | None = None


class RetentionSection(_Section):
    raw_days: int | None = None
    detail_days: int | None = None


class Config(_Section):
    store: StoreSection = StoreSection()
    receiver: ReceiverSection = ReceiverSection()
    keys: KeysSection = KeysSection()
    checks: dict[str, dict[str, float | int]] = {}
    retention: RetentionSection = RetentionSection()
    drivers: dict[str, str] = {}  # meter ID → vendor decoder name ("oms" forces standard decoding)

    def check_config(self) -> CheckConfig:
        """Thresholds per meter class; unset values keep their defaults."""
        base = CheckConfig()
        try:
            cold = Thresholds(**{**base.cold.model_dump(), **self.checks.get("cold", {})})
            warm = Thresholds(**{**base.warm.model_dump(), **self.checks.get("warm", {})})
        except ValidationError as e:
            raise ConfigError(f"[checks]: {e}") from None
        return CheckConfig(cold=cold, warm=warm)


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: {e}") from None
    try:
        config = Config(**data)
        config.check_config()
    except ValidationError as e:
        raise ConfigError(f"{p}: {e}") from None
    return config
