"""The serial receivers' framers by their --dongle name, from the registry (meterd.drivers.dongles)."""

from __future__ import annotations

from meterd.drivers.dongles import DONGLES
from meterd.drivers.framer import Framer

FRAMERS: dict[str, type[Framer]] = {name: d.framer_class() for name, d in DONGLES.items() if not d.stream}
