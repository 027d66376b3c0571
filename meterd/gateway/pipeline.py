"""What a decoded telegram goes through to become a kept reading, the same for the gateway, walk-by, the
wired master and capture import: the reading built from the decoded telegram (meterd.reading's one
builder), a prepaid meter's vendor bits as registers, then duplicates and the forwarding policy. Pure:
no I/O, state only of what it saw (the recent readings per meter)."""

from __future__ import annotations

import enum
from typing import NamedTuple

from meterd.config import Config
from meterd.gateway.dedup import Deduplicator
from meterd.gateway.forward import ForwardPolicy
from meterd.prepaid.profile import profile_for, record_values
from meterd.reading import Reading, Source, from_telegram, received_seconds
from meterd.wmbus.result import Decoded, Telegram


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


class Outcome(enum.StrEnum):
    KEPT = "kept"
    DUPLICATE = "duplicate_heard"  # the same reading heard before (another dongle, a repeat)
    NOT_FORWARDED = "not_forwarded"  # the forwarding policy leaves it out


class Pipeline:
    def __init__(self, config: Config, gateway: str | None = None) -> None:
        self.gateway = gateway or config.gateway.name  # the name readings are stored under
        self.profiles = config.prepaid.profiles
        self.dedup = Deduplicator(config.gateway.dedup_window_s)
        fwd = config.forward
        self.forward = ForwardPolicy(fwd.default, fwd.interval_min * 60, dict(fwd.meters))

    def reading(self, decoded: Decoded, heard: Heard, receiver: str) -> Reading | None:
        """The reading of a decoded telegram (None: it did not decode or names no meter)."""
        reading = from_telegram(decoded, heard.received_at, gateway=self.gateway, receiver=receiver, rssi=heard.rssi,
                                raw=heard.raw, source=heard.source, received_ms=heard.received_ms)  # fmt: skip
        if reading is not None and self.profiles and isinstance(decoded, Telegram):
            profile = profile_for(self.profiles, reading.meter.manufacturer, reading.meter.id)
            if profile is not None:  # the vendor's valve, tamper and low-credit bits become registers
                reading.registers.update(profile.fields(record_values(decoded)))
        return reading

    def keep(self, reading: Reading) -> Outcome:
        if not self.dedup.is_new(reading):
            return Outcome.DUPLICATE
        if not self.forward.passes(reading):
            return Outcome.NOT_FORWARDED
        return Outcome.KEPT
