"""Capture import: a hex capture file (the format of the `hex` receiver) through the gateway's pipeline
into the store: decoded with the store's keys (and a key file), prepaid profiles, duplicates and the
[forward] policy as a gateway applies them, stored in batches; a report of what was not stored and
why, with the file's line for each problem."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from meterd.ids import meter_label

if TYPE_CHECKING:
    from meterd.config import Config
    from meterd.store import Store
    from meterd.store.ingest import IngestResult, ReadingIn

BATCH = 10_000
SHOWN = 5


@dataclass
class IngestReport:
    stored: IngestResult  # totals of the store's batches
    telegrams: int = 0
    decoded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    unknown: Counter[tuple[str, str]] = field(default_factory=Counter)  # (manufacturer, serial) → readings
    heard_twice: int = 0  # the same reading again in the capture (dropped before the store, as a gateway does)
    not_forwarded: int = 0  # left out by the configuration's [forward] policy

    def problem(self, where: str, code: str, message: str) -> None:
        self.errors[code] += 1
        if len(self.first_errors) < SHOWN:
            self.first_errors.append(f"{where}: [{code}] {message}")

    def summary(self) -> str:
        parts = [
            f"telegrams {self.telegrams}",
            f"decoded {self.decoded}",
            f"stored {self.stored.inserted}",
            f"duplicates {self.stored.duplicates + self.heard_twice}",
            f"unknown_meter {self.stored.unknown_meter}",
            f"errors {sum(self.errors.values())}",
        ]
        if self.not_forwarded:
            parts.append(f"not_forwarded {self.not_forwarded}")
        return ", ".join(parts)

    def details(self, err: IO[str]) -> None:
        if self.errors:
            err.write("not stored, by reason: " + ", ".join(f"{c} {n}" for c, n in self.errors.most_common()) + "\n")
            for line in self.first_errors:
                err.write(f"  {line}\n")
        if self.unknown:
            names = ", ".join(f"{meter_label(*m)} ({n})" for m, n in sorted(self.unknown.items(), key=_by_serial)[:20])
            more = f" and {len(self.unknown) - 20} more" if len(self.unknown) > 20 else ""
            err.write(f"meters not in the register (readings not stored): {names}{more}\n")


def _by_serial(item: tuple[tuple[str, str], int]) -> tuple[str, str]:
    return item[0][1], item[0][0]


def ingest_capture(
    store: Store,
    path: Path,
    keys_file: Path | None,
    gateway: str,
    insecure: bool = False,
    encoding: str = "utf-8",
    config: Config | None = None,
) -> IngestReport:
    """Decode a hex capture with the store's keys (plus a key file) and store its readings in batches,
    through the gateway's pipeline (meterd.gateway.pipeline: prepaid profiles, duplicates, the [forward]
    policy of `config`)."""
    from meterd.config import Config
    from meterd.drivers.frame import FramingError
    from meterd.drivers.hexfile import parse_line
    from meterd.gateway.pipeline import Heard, Outcome, Pipeline
    from meterd.keyfile import load_keys
    from meterd.metrics import READINGS
    from meterd.sinks.store import to_store
    from meterd.store.ingest import IngestResult, TimeWindow, ingest
    from meterd.store.keys import current_keys
    from meterd.store.state import DecoderState, load_decoder_state, save_decoder_state
    from meterd.textinput import TextFile
    from meterd.wmbus import Decoder
    from meterd.wmbus.result import Failure

    with store.begin() as conn:
        keys = current_keys(conn, store)
        state = load_decoder_state(conn)
    if keys_file is not None:
        keys.update(load_keys(keys_file, allow_insecure=insecure))
    decoder = Decoder(keys)
    decoder.restore_state(state["signatures"], state["counters"])
    report = IngestReport(IngestResult())
    pipeline = Pipeline(config or Config(), gateway)
    window = TimeWindow.around(int(time.time()))
    source = TextFile(path, encoding)
    batch: list[ReadingIn] = []

    def flush() -> None:
        with store.begin() as conn:
            result = ingest(conn, batch)
        report.stored.add(result)
        report.unknown.update(r.identity for r in batch if r.identity in result.unknown_meters)
        batch.clear()

    for line in source.lines():
        item = parse_line(line)
        if item is None:
            continue
        report.telegrams += 1
        where = f"{path}:{source.line}"
        if isinstance(item, FramingError):
            report.problem(where, item.code, item.message)
            continue
        received = int(item.received_at.timestamp())
        if not window.holds(received):
            report.problem(where, "bad_time", f"received at {item.received_at.isoformat()}: far from the present")
            continue
        decoded = decoder.decode_bytes(item.data)
        if isinstance(decoded, Failure):
            report.problem(where, decoded.code, decoded.message)
            continue
        reading = pipeline.reading(decoded, Heard(received, None, item.rssi_dbm, item.data, "capture"), "capture")
        if reading is None:
            report.problem(where, "no_meter_id", "telegram names no meter")
            continue
        if not window.holds(reading.measured_at):
            report.problem(where, "bad_time", "the meter's clock is far from the present")
            continue
        report.decoded += 1
        outcome = pipeline.keep(reading)
        if outcome is Outcome.DUPLICATE:
            report.heard_twice += 1
            continue
        if outcome is Outcome.NOT_FORWARDED:
            report.not_forwarded += 1
            continue
        batch.append(to_store(reading))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    with store.begin() as conn:
        save_decoder_state(conn, DecoderState(**decoder.export_state()))  # type: ignore[typeddict-item]
    totals = report.stored
    counted = (("stored", totals.inserted), ("duplicates", totals.duplicates), ("unknown_meter", totals.unknown_meter),
               ("duplicate_heard", report.heard_twice), ("not_forwarded", report.not_forwarded))  # fmt: skip
    for name, n in counted:
        READINGS.labels(outcome=name).inc(n)
    return report


def write_unknown(path: str, report: IngestReport) -> None:
    from meterd.fileio import atomic_text

    with atomic_text(path) as f:
        f.write("meter_id,manufacturer,readings\n")
        for (maker, serial), n in sorted(report.unknown.items(), key=_by_serial):
            f.write(f"{serial},{maker},{n}\n")
