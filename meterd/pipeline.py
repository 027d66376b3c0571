"""From a decoded telegram (the decode object) to a reading for the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from meterd.store.ingest import ReadingIn
from meterd.validate.model import alarm_mask

# a meter clock further than this from the receive time is not trusted as measured-at
MAX_CLOCK_SKEW_S = 7 * 86400
_SKIP = frozenset({"volume", "date", "datetime", "manufacturer_specific", "error_flags"})


def _epoch(text: str) -> int | None:
    try:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


def reading_from_telegram(
    obj: dict[str, Any], received_at: int, *, gateway: str | None = None, rssi: float | None = None,
    raw: bytes | None = None, source: str = "radio",
) -> ReadingIn | None:  # fmt: skip
    """A reading when the telegram decoded and names its meter; measured-at is the meter's own clock
    when it sends one that is plausible, else the receive time."""
    if not obj.get("ok") or not obj.get("id"):
        return None
    measured = received_at
    registers: dict[str, Any] = {}
    for rec in obj.get("records", []):
        if rec.get("storage") or rec.get("tariff") or rec.get("subunit") or rec.get("function") != "instantaneous":
            continue
        q = rec.get("quantity")
        if q == "datetime" and isinstance(rec.get("value"), str) and measured == received_at:
            t = _epoch(rec["value"])
            if t is not None and abs(t - received_at) <= MAX_CLOCK_SKEW_S:
                measured = t
        elif q not in _SKIP and q not in registers and rec.get("value") is not None:
            registers[q] = rec["value"]
    total = obj.get("total_m3")
    return ReadingIn(
        meter=str(obj["id"]),
        measured_at=measured,
        received_at=received_at,
        total_m3=float(total) if isinstance(total, int | float) else None,
        registers=orjson.dumps(registers).decode() if registers else None,
        rssi_dbm=rssi,
        source=source,
        gateway=gateway,
        raw=raw,
        alarms=alarm_mask(obj.get("alarms", [])),
    )
