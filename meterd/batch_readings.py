"""Readings straight from the batch decoder's columns.

`from_telegram` makes a reading of one decoded telegram object; for the rows the batch decoder
vectorised, building that object (a dict per record) only to read it back again is most of the cost.
Here the layout of a group says once which records are the clock, which are registers and which is
the main volume; each row then becomes a reading from its column values. Every reading equals what
`from_telegram` makes of the same row's object (reading id included), so a telegram heard by two
gateways, one decoding it alone and one in a batch, is still one reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from meterd.reading import (
    MAX_CLOCK_SKEW_S,
    NOT_REGISTERS,
    MeterIdentity,
    Reading,
    Source,
    TimeBasis,
    Value,
    epoch_or_none,
    reading_id,
    received_seconds,
)
from meterd.wmbus.alarms import status_alarms
from meterd.wmbus.batch import BatchResult, Group
from meterd.wmbus.manufacturer import decode_manufacturer
from meterd.wmbus.medium import medium_name
from meterd.wmbus.result import TelegramDict


class Heard(NamedTuple):
    """What the receiver knew of one telegram besides its bytes (see `from_telegram`)."""

    received_at: int
    received_ms: int | None = None
    rssi: float | None = None
    raw: bytes | None = None
    receiver: str = ""
    source: Source = Source.RADIO

    @property
    def received_s(self) -> float:
        """The receive time in epoch seconds, to the millisecond where known."""
        return received_seconds(self.received_at, self.received_ms)


@dataclass(frozen=True)
class _Plan:
    """Which columns of a group's layout a reading takes its values from."""

    clocks: tuple[int, ...]  # datetime records of storage 0, in record order: the first in range is the clock
    registers: tuple[tuple[int, object], ...]  # (column, quantity) in record order
    total: int | None


def _plan(g: Group) -> _Plan:
    clocks: list[int] = []
    registers: list[tuple[int, object]] = []
    for k, spec in enumerate(g.layout.specs):
        rec = spec.template
        if rec.get("storage") or rec.get("tariff") or rec.get("subunit") or rec.get("function") != "instantaneous":
            continue
        q = rec.get("quantity")
        if q == "datetime":
            clocks.append(k)
        elif q not in NOT_REGISTERS and not rec.get("derived"):
            registers.append((k, q))
    return _Plan(tuple(clocks), tuple(registers), g.layout.total_index)


Meters = dict[tuple[str, int, int, int], tuple[MeterIdentity, str, str]]  # → identity, medium, key
MAX_METERS = 100_000  # meters remembered between batches, at most


def batch_readings(
    result: BatchResult, heard: Sequence[Heard], gateway: str = "", meters: Meters | None = None
) -> list[Reading | TelegramDict]:
    """For every row of the batch, in input order: its Reading where the row was vectorised, else the
    row's decoded object (for `from_telegram`, which also says whether it makes a reading at all).
    `meters`, kept by the caller from batch to batch, remembers the meters' identities."""
    out: list[Reading | TelegramDict | None] = [None] * result.size
    for i, obj in result.scalar.items():
        out[i] = obj
    if meters is None:
        meters = {}
    elif len(meters) > MAX_METERS:
        meters.clear()
    for g in result.groups:
        rows = g.rows.tolist()
        for i, r in zip(rows, _group_readings(g, [heard[i] for i in rows], gateway, meters), strict=True):
            out[i] = r
    return [o if o is not None else result.telegram(i) for i, o in enumerate(out)]


def _group_readings(g: Group, heard: Sequence[Heard], gateway: str, meters: Meters) -> list[Reading | TelegramDict]:
    plan = _plan(g)
    columns = [c.tolist() for c in g.columns]
    ids = g.meter_ids.tolist()
    mans = g.manufacturers.tolist()
    versions = g.versions.tolist()
    types = g.device_types.tolist()
    accesses = g.access_numbers.tolist()
    statuses = g.statuses.tolist()
    alarm_names: dict[int, tuple[str, ...]] = {}
    out: list[Reading | TelegramDict] = []
    for j, h in enumerate(heard):
        meter_id = str(ids[j])
        if not meter_id:
            out.append(g.telegram(j))
            continue
        ident = (meter_id, mans[j], versions[j], types[j])
        known = meters.get(ident)
        if known is None:
            dt = types[j]
            identity = MeterIdentity(decode_manufacturer(mans[j]), meter_id, versions[j], dt)
            known = meters[ident] = (identity, medium_name(dt), identity.key())
        meter, medium, meter_key = known
        clock: int | None = None
        for k in plan.clocks:
            value = columns[k][j]
            if isinstance(value, str):
                t = epoch_or_none(value)
                if t is not None and abs(t - h.received_at) <= MAX_CLOCK_SKEW_S:
                    clock = t
                    break
        registers: dict[str, Value] = {}
        for k, q in plan.registers:
            value = columns[k][j]
            if q not in registers and value is not None:
                registers[str(q)] = value
        status = statuses[j]
        alarms = alarm_names.get(status)
        if alarms is None:
            alarms = alarm_names[status] = tuple(str(a) for a in status_alarms(status)) if status else ()
        total = columns[plan.total][j] if plan.total is not None else None
        total_m3 = float(total) if isinstance(total, int | float) and math.isfinite(float(total)) else None
        access_number = accesses[j]
        if clock is not None:
            basis, measured = TimeBasis.METER_CLOCK, clock
        else:
            basis, measured = TimeBasis.ACCESS_NUMBER, h.received_at
        out.append(
            Reading(
                meter=meter,
                medium=medium,
                measured_at=measured,
                received_at=h.received_at,
                total_m3=total_m3,
                registers=registers,
                alarms=alarms,
                rssi_dbm=h.rssi,
                source=h.source,
                gateway=gateway,
                receiver=h.receiver,
                access_number=access_number,
                basis=basis,
                reading_id=reading_id(meter, basis, measured, access_number, meter_key),
                raw=h.raw,
                received_ms=h.received_ms,
            )
        )
    return out
