"""Fixed data structure (CI 0x73) of older wired M-Bus meters: ID, ACC, status, medium/units, two counters."""

from __future__ import annotations

from dataclasses import dataclass

from meterd.wmbus.alarms import status_alarms
from meterd.wmbus.datatypes import bcd_value
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.result import Record


def _unit_table() -> dict[int, tuple[str, str | None, int]]:
    """Fixed-structure unit code → (quantity, unit, exponent to scale the counter)."""
    t: dict[int, tuple[str, str | None, int]] = {0x00: ("time", None, 0), 0x01: ("date", None, 0)}
    for i in range(9):
        t[0x02 + i] = ("energy", "kWh", i - 3)  # Wh .. 100 MWh
        t[0x0B + i] = ("energy", "J", i + 3)  # kJ .. 100 GJ
        t[0x14 + i] = ("power", "W", i)  # W .. 100 MW
        t[0x1D + i] = ("power", "J/h", i + 3)  # kJ/h .. 100 GJ/h
        t[0x26 + i] = ("volume", "m3", i - 6)  # ml .. 100 m3
        t[0x2F + i] = ("volume_flow", "m3/h", i - 6)  # ml/h .. 100 m3/h
    t[0x38] = ("temperature", "C", -3)
    t[0x39] = ("hca_units", None, 0)
    t[0x3F] = ("dimensionless", None, 0)
    return t


UNITS = _unit_table()


@dataclass(slots=True, frozen=True)
class FixedData:
    """What a fixed data structure holds: the meter, its access number and status, the medium code
    of its two units, and the two counters as records."""

    meter_id: str
    access_number: int
    status: int
    medium_code: int
    records: list[Record]
    alarms: list[str]


def decode_fixed(data: bytes) -> FixedData:
    """Decode the 16 bytes after CI 0x73."""
    if len(data) < 16:
        raise DecodeError("truncated_record", f"fixed data structure needs 16 bytes, got {len(data)}")
    access_number, status = data[4], data[5]
    binary = bool(status & 0x80)
    storage = 1 if status & 0x40 else 0
    medium = (data[6] >> 6) | ((data[7] >> 6) << 2)
    records = []
    for i, unit_code in enumerate((data[6] & 0x3F, data[7] & 0x3F)):
        raw_bytes = data[8 + 4 * i : 12 + 4 * i]
        raw = int.from_bytes(raw_bytes, "little") if binary else bcd_value(raw_bytes)
        quantity, unit, exp = UNITS.get(unit_code, ("unknown", None, 0))
        value: float | int | None
        if raw is None:
            value = None
        elif exp >= 0:
            value = raw * 10**exp
        else:
            value = raw / 10**-exp
        records.append(Record(storage, 0, 0, "instantaneous", quantity, unit, value, notes={"counter": i + 1}))
    return FixedData(data[3::-1].hex().upper(), access_number, status, medium, records, status_alarms(status & 0x1F))
