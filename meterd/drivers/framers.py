"""The serial receivers by their --dongle name (each framer lives in its receiver's module)."""

from __future__ import annotations

from meterd.drivers.amb8465 import AMB8465Framer
from meterd.drivers.cul import CULFramer
from meterd.drivers.framer import Framer
from meterd.drivers.im871a import IM871AFramer
from meterd.drivers.iu891a import IU891AFramer
from meterd.drivers.rc1180 import RC1180Framer

FRAMERS: dict[str, type[Framer]] = {
    "im871a": IM871AFramer,
    "iu891a": IU891AFramer,
    "amb8465": AMB8465Framer,
    "rc1180": RC1180Framer,
    "cul": CULFramer,
}
