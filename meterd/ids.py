"""The syntax of meter ids, manufacturer codes and AES keys as users write them in files (pure, shared
by every reader)."""

from __future__ import annotations

import re

METER_ID = re.compile(r"[0-9A-Fa-f]{1,8}")  # BCD in the standard; meters in the field use hex digits too
KEY = re.compile(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{16}")  # AES-128, or DES (security mode 2)
MANUFACTURER = re.compile(r"[A-Za-z]{3}")  # the FLAG association's three letters (EN 13757-3)


def normalise_meter_id(meter_id: str) -> str:
    """Meter IDs as 8 upper-case hex/BCD digits, as the decoder prints them."""
    return meter_id.strip().upper().zfill(8)


def normalise_manufacturer(code: str) -> str:
    """A manufacturer code as the decoder prints it: three upper-case letters ("" for none given)."""
    return code.strip().upper()


def parse_meter_ref(text: str) -> tuple[str, str]:
    """A meter as a person types it: `55500001` (any maker) or `APA:55500001` / `APA 55500001`
    → (manufacturer or "", serial). ValueError when it is neither."""
    cleaned = text.strip().replace(" ", ":")
    maker, _, serial = cleaned.rpartition(":")
    if maker and not MANUFACTURER.fullmatch(maker):
        raise ValueError(f"{text[:30]!r}: the manufacturer is three letters (APA:55500001)")
    if not METER_ID.fullmatch(serial):
        raise ValueError(f"{text[:30]!r} is not a meter id (up to 8 hex digits, optionally MAKER:ID)")
    return normalise_manufacturer(maker), normalise_meter_id(serial)


def meter_label(manufacturer: str, serial: str) -> str:
    """How a meter is shown to people: `APA 55500001`, or the serial alone when the maker is unknown."""
    return f"{manufacturer} {serial}" if manufacturer else serial
