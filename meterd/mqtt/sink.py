"""The gateway's MQTT sink: accepted readings go into the on-disk spool (meterd.sinks.spool), where each
gets its seq, and the publisher (meterd.mqtt.publisher) sends them in batches. A batch counts as
accepted once it is in the spool, synced to disk; it leaves the spool when the central store has
committed it. When the spool cannot take a batch, `write` raises SpoolError and the readings stay in
the gateway's own store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from meterd.coverage.hearing import Hearing
from meterd.jsonio import dumps
from meterd.metrics import SPOOL, SPOOL_DROPPED, SPOOLED
from meterd.mqtt.connection import BrokerAddress, Credentials, check_settings
from meterd.mqtt.publisher import RESEND_MIN_S, Publisher
from meterd.reading import Reading
from meterd.sinks.spool import Spool

log = logging.getLogger("meterd.mqtt")


class MqttSink:
    def __init__(
        self,
        address: BrokerAddress,
        creds: Credentials,
        gateway: str,
        data: Path,
        *,
        client_id: str | None = None,
        spool_max: int = 1_000_000,
        per_meter: bool = False,
        homeassistant: bool = False,
        resend_after_s: float | None = None,
    ) -> None:
        self.gateway = gateway
        check_settings(address, creds)  # bad TLS files stop the start, here
        self.spool = Spool(data, spool_max)  # a spool that cannot be opened stops the start
        SPOOL.set(len(self.spool))
        self.publisher = Publisher(address, creds, gateway, self.spool, client_id=client_id, per_meter=per_meter,
                                   homeassistant=homeassistant, resend_after_s=resend_after_s or RESEND_MIN_S)  # fmt: skip
        self.publisher.start()

    @property
    def connected(self) -> bool:
        return self.publisher.connected.is_set()

    @property
    def spooled(self) -> int:
        """Readings in the spool: not yet confirmed by the central store."""
        return len(self.spool)

    def write(self, batch: Sequence[Reading]) -> None:
        """Accepted once in the spool (on disk); raises SpoolError when the spool cannot take them."""
        dropped = self.spool.append([dumps(r.to_json()) for r in batch])
        SPOOLED.inc(len(batch))
        SPOOL.set(len(self.spool))
        if dropped:
            SPOOL_DROPPED.inc(dropped)
            log.warning("spool full: %d oldest readings dropped (they stay in the local store)", dropped)
        self.publisher.wake()

    def write_hearings(self, hearings: Sequence[Hearing]) -> None:
        """The day's hearing totals, sent when the broker is there (in memory only: the gateway sends
        its totals again every hour, and a lost day's totals are a coverage report's, not readings)."""
        self.publisher.add_hearings(hearings)

    def flush(self) -> None:
        """The spool is on disk already; nothing to wait for."""

    def close(self, drain_s: float = 2.0) -> None:
        """A moment for the central store to confirm what is out; what remains waits for the next start."""
        self.publisher.close(drain_s)
        self.spool.close()
