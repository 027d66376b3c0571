"""rtl_wmbus text output: `MODE;CRC_OK;3OF6_OK;time;pkt_rssi;cur_rssi;id;0x<hex>`; only ;1;1; lines count."""

from __future__ import annotations

from datetime import UTC, datetime

from meterd.drivers.frame import Frame, FramingError, parse_time

fromhex, fromisoformat = bytes.fromhex, datetime.fromisoformat
_make = tuple.__new__  # Frame without NamedTuple's Python-level __new__: these run once per line
_RSSI = {str(value): float(value) for value in range(-150, 256)}  # the usual RSSI fields, parsed once


class LocalOffsets:
    """UTC offsets of this machine's local time, looked up once per hour of the stamps: rtl_wmbus writes
    local time without an offset (a laptop on a walk-by route runs in Europe/Warsaw, not in UTC)."""

    def __init__(self) -> None:
        self._by_hour: dict[str, str] = {}

    def suffix(self, stamp: str) -> str:
        hour = stamp[:13]
        offset = self._by_hour.get(hour)
        if offset is None:
            try:
                z = datetime.fromisoformat(stamp).astimezone().strftime("%z")  # naive → local time
            except ValueError:
                return ""
            offset = f"{z[:3]}:{z[3:]}"
            if len(self._by_hour) >= 10_000:
                self._by_hour.clear()
            self._by_hour[hour] = offset
        return offset


Item = Frame | FramingError


def parse_rtlwmbus_line(line: str, now: datetime | None = None, local: LocalOffsets | None = None) -> list[Item]:
    """The telegrams of one rtl_wmbus line (usually one; a line can carry more, each in its own `;0x`
    field, and a line can be a bare `0x<hex>`). Times are local time (`local`), or UTC when no `local`
    is given; `now` stands in where a line has no usable time."""
    if line[:2] == "0x":
        return _telegrams(line, now or datetime.now(UTC), None)
    try:
        _, crc_ok, three_of_six, stamp, rssi_text, _, _, hexed = line.split(";", 7)
    except ValueError:
        return [FramingError("bad_line", "not an rtl_wmbus telegram line")] if line.strip() else []
    if crc_ok != "1" or three_of_six != "1":
        return [FramingError("bad_crc", "rtl_wmbus reports a CRC or 3-of-6 error")]
    try:
        received = fromisoformat(stamp + (local.suffix(stamp) if local else "+00:00"))
    except ValueError:
        received = parse_time(stamp) or now or datetime.now(UTC)
    rssi = _RSSI.get(rssi_text)
    if rssi is None:
        try:
            rssi = float(rssi_text)
        except ValueError:
            rssi = None
    if ";" in hexed:
        return _telegrams(hexed, received, rssi)
    try:
        data = fromhex(hexed[2:] if hexed[1:2] == "x" else hexed)  # fromhex ignores the line end
    except ValueError:
        return [FramingError("bad_hex", "telegram field is not hex")]
    return [_make(Frame, (data, received, rssi, "rtlwmbus"))]


def _telegrams(fields: str, received: datetime, rssi: float | None) -> list[Item]:
    """Each `0x<hex>` field a telegram (the other fields are not telegrams); without any, the last field."""
    texts = [field[2:] for field in fields.split(";") if field[:2] == "0x"] or [fields.rpartition(";")[2]]
    out: list[Item] = []
    for text in texts:
        try:
            out.append(_make(Frame, (fromhex(text), received, rssi, "rtlwmbus")))
        except ValueError:
            out.append(FramingError("bad_hex", "telegram field is not hex"))
    return out
