"""JSON text of decoded values, exact whatever their size.

orjson is fast but stops at 64-bit integers; a meter can send longer ones (a 30-digit BCD, an 8-byte
unsigned value near its limit). Those objects go through the standard library's encoder instead, which
writes integers of any length exactly. Non-finite floats become null in both paths."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(_finite(obj), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
