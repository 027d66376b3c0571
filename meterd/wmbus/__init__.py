"""Sans-IO Wireless M-Bus / M-Bus decoding (EN 13757-2/3/4/7, OMS).

The names below are loaded on first use, so that importing a submodule (errors, hexinput) or building
the command line does not load the whole decoder."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meterd.wmbus.decoder import Decoder
    from meterd.wmbus.errors import DecodeError
    from meterd.wmbus.keys import KeyRing
    from meterd.wmbus.result import ControlFrame, Decoded, Failure, Record, Telegram
    from meterd.wmbus.signatures import SignatureCache

__all__ = ["ControlFrame", "DecodeError", "Decoded", "Decoder", "Failure", "KeyRing", "Record", "SignatureCache",
           "Telegram"]  # fmt: skip
_WHERE = {"Decoder": "decoder", "DecodeError": "errors", "KeyRing": "keys", "SignatureCache": "signatures",
          **dict.fromkeys(("ControlFrame", "Decoded", "Failure", "Record", "Telegram"), "result")}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'meterd.wmbus' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"meterd.wmbus.{module}"), name)
    globals()[name] = value
    return value
