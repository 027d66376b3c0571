"""rtl_wmbus text output: `MODE;CRC_OK;3OF6_OK;time;pkt_rssi;cur_rssi;id;0x<hex>`; only ;1;1; lines count."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from meterd.drivers.frame import Frame, FramingError


def parse_rtlwmbus_line(line: str, now: datetime | None = None) -> Frame | FramingError | None:
    text = line.strip()
    if not text:
        return None
    parts = text.split(";")
    if len(parts) < 8:
        return FramingError("bad_line", "not an rtl_wmbus telegram line")
    if parts[1] != "1" or parts[2] != "1":
        return FramingError("bad_crc", "rtl_wmbus reports a CRC or 3-of-6 error")
    hexed = parts[7].strip()
    if hexed[:2].lower() == "0x":
        hexed = hexed[2:]
    try:
        data = bytes.fromhex(hexed)
    except ValueError:
        return FramingError("bad_hex", "telegram field is not hex")
    received = now or datetime.now(UTC)
    try:
        stamp = datetime.fromisoformat(parts[3].replace("Z", "+00:00").replace(".", ".", 1))
        received = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except ValueError:
        pass
    rssi: float | None
    try:
        rssi = float(parts[4])
    except ValueError:
        rssi = None
    return Frame(data, received, rssi, "rtlwmbus")


def read_rtlwmbus(lines: Iterable[str], counters: dict[str, int]) -> Iterator[Frame | FramingError]:
    for line in lines:
        item = parse_rtlwmbus_line(line)
        if item is not None:
            yield item
