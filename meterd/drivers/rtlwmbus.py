"""rtl_wmbus text output: `MODE;CRC_OK;3OF6_OK;time;pkt_rssi;cur_rssi;id;0x<hex>`; only ;1;1; lines count."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from meterd.drivers.frame import Frame, FramingError, parse_time

fromhex, fromisoformat = bytes.fromhex, datetime.fromisoformat
_make = tuple.__new__  # Frame without NamedTuple's Python-level __new__: these run once per line


def parse_rtlwmbus_line(line: str, now: datetime | None = None) -> Frame | FramingError | None:
    parts = line.split(";", 7)
    if len(parts) < 8:
        return None if not line.strip() else FramingError("bad_line", "not an rtl_wmbus telegram line")
    if parts[1] != "1" or parts[2] != "1":
        return FramingError("bad_crc", "rtl_wmbus reports a CRC or 3-of-6 error")
    hexed = parts[7]
    try:
        data = fromhex(hexed[2:] if hexed[1:2] in ("x", "X") else hexed)  # fromhex ignores the line end
    except ValueError:
        return FramingError("bad_hex", "telegram field is not hex")
    try:
        received = fromisoformat(parts[3] + "+00:00")  # rtl_wmbus writes times without an offset
    except ValueError:
        received = parse_time(parts[3]) or now or datetime.now(UTC)
    try:
        rssi: float | None = float(parts[4])
    except ValueError:
        rssi = None
    return _make(Frame, (data, received, rssi, "rtlwmbus"))


def read_rtlwmbus(lines: Iterable[str], counters: dict[str, int]) -> Iterator[Frame | FramingError]:
    for line in lines:
        item = parse_rtlwmbus_line(line)
        if item is not None:
            yield item
