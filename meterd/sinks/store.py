"""The store as a sink: readings of known meters are stored once, in one transaction per flush."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import orjson
from sqlalchemy import Connection

from meterd.coverage.hearing import Hearing
from meterd.jsonio import dumps
from meterd.reading import Reading, TimeBasis
from meterd.store import Store
from meterd.store.hearings import put_hearings
from meterd.store.ingest import IngestResult, ReadingIn, ingest
from meterd.validate.model import alarm_mask


def to_store(r: Reading, keyed: bool = True) -> ReadingIn:
    """The store's row of a reading. With `keyed`, a reading whose id rests on an access number or the
    receive time keeps its key, so the store itself refuses it again (one anchored on the meter's
    clock needs none: the clock is in the store's own key, meter and measured-at)."""
    key = r.key() if keyed and r.reading_id and r.basis is not TimeBasis.METER_CLOCK else None
    cells = ReadingIn.cells(r.received_at) if key is not None else (None, None)
    return ReadingIn(
        meter=r.meter.id,
        manufacturer=r.meter.manufacturer,
        measured_at=r.measured_at,
        received_at=r.received_at,
        total_m3=r.total_m3,
        registers=orjson.dumps(r.registers).decode() if r.registers else None,
        rssi_dbm=r.rssi_dbm,
        source=r.source.value,
        gateway=r.gateway or None,
        raw=r.raw,
        alarms=alarm_mask(list(r.alarms)),
        reading_key=key,
        dedup_cell=cells[0],
        dedup_cell_offset=cells[1],
    )


def keep_unknown(conn: Connection, readings: Sequence[Reading]) -> None:
    from meterd.store.ingest import bulk_insert

    rows = [(r.meter.id, r.meter.manufacturer, r.gateway, r.received_at, dumps(r.to_json()).decode()) for r in readings]
    bulk_insert(conn, "unknown_readings", ("serial", "manufacturer", "gateway", "received_at", "reading"), rows)


class StoreSink:
    """Holds written readings until `flush`, which stores them in one transaction. `on_stored` hears
    of every flush (the totals of that flush and the readings it covered), for metrics.

    `keyed` (the central ingester) stores reading keys, so the same reading from two gateways or
    redelivered by the broker is stored once; a gateway's own store does without (its deduplicator
    already dropped what it heard twice, and every key costs two index entries)."""

    def __init__(
        self,
        store: Store,
        on_stored: Callable[[IngestResult, Sequence[Reading]], None] | None = None,
        *,
        keyed: bool = False,
        keep_unknown: bool = False,
    ) -> None:
        self.store = store
        self.keyed = keyed
        self.keep_unknown = keep_unknown  # readings of meters not in the register go to unknown_readings
        self.pending: list[Reading] = []
        self.pending_hearings: dict[tuple[str, str, int], Hearing] = {}  # the newest of each meter and day
        self.totals = IngestResult()  # over every flush
        self.on_stored = on_stored
        self.meter_ids: dict[tuple[str, str], int] = {}  # (maker, serial) → store id, as found (meters are never deleted)

    def write(self, batch: Sequence[Reading]) -> None:
        self.pending.extend(batch)

    def write_hearings(self, hearings: Sequence[Hearing]) -> None:
        """A day's hearing totals, stored with the next flush (the newest of each meter and day win)."""
        for h in hearings:
            self.pending_hearings[(h.manufacturer, h.serial, h.day)] = h

    def flush(self) -> None:
        if self.pending_hearings:
            hearings, self.pending_hearings = self.pending_hearings, {}
            try:
                with self.store.begin() as conn:
                    put_hearings(conn, list(hearings.values()))
            except Exception:
                self.pending_hearings = hearings | self.pending_hearings
                raise
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            with self.store.begin() as conn:
                result = ingest(conn, [to_store(r, self.keyed) for r in batch], now=int(time.time()), id_cache=self.meter_ids)
                if self.keep_unknown and result.unknown_meters:
                    keep_unknown(conn, [r for r in batch if (r.meter.manufacturer, r.meter.id) in result.unknown_meters])
        except Exception:
            self.pending = batch + self.pending  # nothing was stored: keep them for the next flush
            raise
        self.totals.add(result)
        if self.on_stored is not None:
            self.on_stored(result, batch)

    def close(self) -> None:
        self.flush()
