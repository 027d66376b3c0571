"""Building the parts of the pipeline from the command line and the configuration file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic and the decoder are imported only when a command builds them
    from meterd.config import Config
    from meterd.wmbus import Decoder


def build_decoder(args: argparse.Namespace, config: Config | None = None) -> Decoder:
    """The decoder for --keys and --config ([keys] file, [drivers]); `config` when the command loaded it."""
    from meterd.keyfile import load_keys
    from meterd.wmbus import Decoder
    from meterd.wmbus.keys import normalise_meter_id
    from meterd.wmbus.vendors import default_registry

    key_file = getattr(args, "keys", None)
    registry = default_registry()
    if config is None and getattr(args, "config", None) is not None:
        from meterd.config import load_config

        config = load_config(args.config)
    if config is not None:
        key_file = key_file or config.keys.file  # --keys wins over [keys] file
    keys = load_keys(key_file, allow_insecure=getattr(args, "insecure_keys", False)) if key_file else {}
    if config is not None:
        from meterd.config import ConfigError

        for meter_id, driver in config.drivers.items():
            if driver != "oms" and registry.by_name(driver) is None:
                known = ", ".join(d.name for d in registry.decoders)
                raise ConfigError(f"[drivers] {meter_id} = {driver!r}: no such vendor decoder (oms, {known})")
            registry.overrides[normalise_meter_id(meter_id)] = driver
    return Decoder(keys, vendors=registry)
