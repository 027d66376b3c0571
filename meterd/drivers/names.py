"""The receivers meterd knows, by the names `--dongle` and `[[receiver]] dongle` take (meterd.drivers.dongles)."""

from meterd.drivers.dongles import NAMES as DONGLES

__all__ = ["DONGLES"]
