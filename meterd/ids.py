"""The syntax of meter ids and AES keys as users write them in files (pure, shared by every reader)."""

from __future__ import annotations

import re

METER_ID = re.compile(r"[0-9A-Fa-f]{1,8}")  # BCD in the standard; meters in the field use hex digits too
KEY = re.compile(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{16}")  # AES-128, or DES (security mode 2)


def normalise_meter_id(meter_id: str) -> str:
    """Meter IDs as 8 upper-case hex/BCD digits, as the decoder prints them."""
    return meter_id.strip().upper().zfill(8)
