"""The store as a sink: readings of known meters are stored once, in one transaction per flush."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import orjson

from meterd.reading import Reading
from meterd.store import Store
from meterd.store.ingest import IngestResult, ReadingIn, ingest
from meterd.validate.model import alarm_mask


def to_store(r: Reading) -> ReadingIn:
    return ReadingIn(
        meter=r.meter.id,
        measured_at=r.measured_at,
        received_at=r.received_at,
        total_m3=r.total_m3,
        registers=orjson.dumps(r.registers).decode() if r.registers else None,
        rssi_dbm=r.rssi_dbm,
        source=r.source.value,
        gateway=r.gateway or None,
        raw=r.raw,
        alarms=alarm_mask(list(r.alarms)),
    )


class StoreSink:
    """Holds written readings until `flush`, which stores them in one transaction. `on_stored` hears
    of every flush (the totals of that flush and the readings it covered), for metrics."""

    def __init__(
        self, store: Store, on_stored: Callable[[IngestResult, Sequence[Reading]], None] | None = None
    ) -> None:
        self.store = store
        self.pending: list[Reading] = []
        self.totals = IngestResult()  # over every flush
        self.on_stored = on_stored
        self.meter_ids: dict[str, int] = {}  # serial → store id, as found (meters are never deleted)

    def write(self, batch: Sequence[Reading]) -> None:
        self.pending.extend(batch)

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            with self.store.begin() as conn:
                result = ingest(conn, [to_store(r) for r in batch], now=int(time.time()), id_cache=self.meter_ids)
        except Exception:
            self.pending = batch + self.pending  # nothing was stored: keep them for the next flush
            raise
        self.totals.add(result)
        if self.on_stored is not None:
            self.on_stored(result, batch)

    def close(self) -> None:
        self.flush()
