"""The decode result: the one place that lays out the object `Decoder.decode` returns and `meterd
decode` prints (see docs/interfaces.md).

Every path that produces it builds it here: the decoder and the JSON writer of `meterd decode --jsonl`,
whose templates are cut from an object made by these functions (`json_pieces`), so the keys, their
order and their JSON cannot drift apart between paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meterd.jsonio import dumps
from meterd.wmbus.medium import medium_name

TelegramDict = dict[str, Any]
_MARK = "@@meterd-field-{}@@"


def identity(meter_id: str | None, manufacturer: str | None, version: int | None, device_type: int | None) -> dict[str, Any]:
    """The meter's identity fields (all None for a wired frame that names no meter)."""
    return {
        "id": meter_id,
        "manufacturer": manufacturer,
        "version": version,
        "device_type": device_type,
        "medium": medium_name(device_type) if device_type is not None else None,
    }


def start(
    frame: str,
    ident: dict[str, Any],
    access_number: int | None,
    status: int | None,
    *,
    security_mode: int = 0,
    decrypted: bool = False,
) -> TelegramDict:
    """The head of a decoded telegram; layers add their findings after it, `finish` closes it."""
    return {
        "ok": True,
        "frame": frame,
        **ident,
        "access_number": access_number,
        "status": status,
        "security_mode": security_mode,
        "decrypted": decrypted,
        "driver": "oms",
    }


def finish(out: TelegramDict, records: Any, total_m3: Any, alarms: Any) -> TelegramDict:
    """The records, the main volume and the alarm names, last and in this order."""
    out["records"] = records
    out["total_m3"] = total_m3
    out["alarms"] = alarms
    return out


def control(frame: str) -> TelegramDict:
    """A frame that carries no data (an M-Bus acknowledgement or request)."""
    return finish({"ok": True, "frame": frame}, [], None, [])


def json_pieces(out: TelegramDict, varying: Sequence[str]) -> tuple[list[str], list[str]]:
    """`out` as JSON text cut where the values of the `varying` keys go: the pieces to interleave with
    those values, and the keys in the order their values fall between the pieces."""
    marked = dict(out)
    for key in varying:
        marked[key] = _MARK.format(key)
    text = dumps(marked).decode()
    pieces: list[str] = []
    order: list[str] = []
    positions = sorted((text.index(f'"{_MARK.format(k)}"'), k) for k in varying)
    cursor = 0
    for at, key in positions:
        pieces.append(text[cursor:at])
        order.append(key)
        cursor = at + len(_MARK.format(key)) + 2
    pieces.append(text[cursor:])
    return pieces, order


def merge_readout(objs: list[TelegramDict]) -> TelegramDict:
    """One wired readout of several telegrams (DIF 1F: more follow) as one decoded object: the first
    telegram's, with the records of every telegram in order; the first error if one failed."""
    bad = next((o for o in objs if not o.get("ok")), None)
    if bad is not None or len(objs) == 1:
        return bad if bad is not None else objs[0]
    out = dict(objs[0])
    out.pop("more_records_follow", None)
    total = next((o["total_m3"] for o in objs if o.get("total_m3") is not None), None)
    alarms = sorted({a for o in objs for a in o.get("alarms", [])})
    records = [r for o in objs for r in o.get("records", [])]
    del out["records"], out["total_m3"], out["alarms"]
    out["telegrams"] = len(objs)
    return finish(out, records, total, alarms)
