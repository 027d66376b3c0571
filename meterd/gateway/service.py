"""The run loop of `meterd run`: several receivers at once, one decoder, one pipeline to the sinks.

Each receiver runs on a thread of its own and puts what it hears on one queue; a receiver that fails is
reopened without disturbing the others (serial receivers reopen and reset themselves, see
meterd.drivers.serial_port). The main thread decodes, builds readings, drops duplicates, applies the
forwarding policy and hands batches to the sinks, which write them on a thread of their own
(meterd.gateway.sinking; a batch at least every `batch_interval_s` or every `batch_max` readings),
pings the systemd watchdog, runs the checks over the store on a schedule, and on SIGTERM stops the
receivers, drains the queue and flushes: nothing that was received is lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meterd.config import Config, ReceiverSection
from meterd.coverage.hearing import HearingKind, day_of
from meterd.coverage.tally import HearingTally
from meterd.drivers.dongles import is_stream
from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.pacing import paced
from meterd.errors import MeterdError
from meterd.gateway.mbus_poll import Polled, PollFailed, poll_forever
from meterd.gateway.notify import Notifier
from meterd.gateway.pipeline import Heard, Outcome, Pipeline
from meterd.gateway.sinking import SinkWorker, write_all
from meterd.metrics import (
    ANOMALIES,
    DROPPED,
    LAST_TELEGRAM,
    LATENCY,
    METERS_SILENT,
    READINGS,
    RECEIVER_UP,
    RESETS,
    SINK_FAILURES,
    STORED,
    TELEGRAMS,
    latencies,
)
from meterd.reading import Reading, Source
from meterd.sinks.base import Sink
from meterd.sinks.store import StoreSink
from meterd.store import Store
from meterd.store.ingest import IngestResult
from meterd.wmbus import Decoded, Decoder

log = logging.getLogger("meterd.gateway")

QUEUE_MAX = 100_000
HEARINGS_EVERY_S = 60.0  # the day's hearing totals go to the sinks this often (what changed)
HEARINGS_ALL_EVERY_S = 3600.0  # and all of them this often (heals a message that was lost)
RESET_COUNTERS = ("silence_resets", "port_lost", "open_failed")


@dataclass
class ReceiverThread:
    config: ReceiverSection
    thread: threading.Thread | None = None
    counters: dict[str, int] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)  # what of `counters` the metrics already have
    opened: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    last_heard: float = 0.0
    source: str = ""  # what readings it hears are (default: its configuration's source)
    _results: dict[str, Any] = field(default_factory=dict)  # result code → its metric child (labels() is slow)
    _uncounted: dict[str, int] = field(default_factory=dict)  # results not in the metric yet

    def count_result(self, code: str) -> None:
        self._uncounted[code] = self._uncounted.get(code, 0) + 1

    def publish_counts(self) -> None:
        """The results counted since the last call into the telegrams metric (once per code, not per
        telegram: each increment takes the metric's lock)."""
        for code, n in self._uncounted.items():
            child = self._results.get(code)
            if child is None:
                child = self._results[code] = TELEGRAMS.labels(receiver=self.name, dongle=self.kind, result=code)
            child.inc(n)
        self._uncounted.clear()

    @property
    def name(self) -> str:
        return self.config.name or str(self.config.dongle)

    @property
    def kind(self) -> str:
        """The dongle's kind (`im871a`, ...; `mbus` for a wired bus)."""
        return str(self.config.dongle or "mbus")

    @property
    def up(self) -> bool:
        """Whether the port is open now (the receiver's own word, in its counters)."""
        return bool(self.counters.get("up", 0))


class Gateway:
    def __init__(
        self,
        config: Config,
        store: Store,
        make_decoder: Callable[[], Decoder],
        sinks: list[Sink] | None = None,
        notifier: Notifier | None = None,
        hearing_kind: HearingKind = HearingKind.GATEWAY,
    ) -> None:
        self.config = config
        self.store = store
        self.make_decoder = make_decoder
        self.decoder = make_decoder()
        self._restore_decoder_state()
        self.store_sink = StoreSink(store, on_stored=self._stored)
        self.sinks: list[Sink] = [self.store_sink, *(sinks or [])]
        self.notifier = notifier or Notifier()
        self.pipeline = Pipeline(config)
        self.queue: queue.Queue[tuple[ReceiverThread, Any]] = queue.Queue(QUEUE_MAX)
        self.receivers = [ReceiverThread(r) for r in config.receivers]
        self.buses = [
            (b, ReceiverThread(ReceiverSection(name=b.name, port=b.port), source=Source.WIRED.value)) for b in config.buses
        ]  # fmt: skip
        self.reload_requested = threading.Event()
        self._batch: list[Reading] = []
        self._worker: SinkWorker | None = None  # the sinks' thread, while the service runs
        self.replaying: set[str] = {r.name for r in self.receivers if is_stream(r.config.dongle)
                                    and r.config.port is not None and Path(r.config.port).is_file()}  # fmt: skip
        self.hearings = HearingTally(config.gateway.name, hearing_kind)
        self._seed_hearings()
        self._duplicate_heard = READINGS.labels(outcome="duplicate_heard")
        self._not_forwarded = READINGS.labels(outcome="not_forwarded")

    # -- receivers -----------------------------------------------------------------------------

    def start_receivers(self, stop: threading.Event) -> None:
        for rcv in self.receivers:
            rcv.thread = threading.Thread(
                target=self._receive, args=(rcv, stop), name=f"receiver-{rcv.name}", daemon=True
            )
            rcv.thread.start()
        for bus, rcv in self.buses:

            def put(item: Any, rcv: ReceiverThread = rcv) -> None:
                self.queue.put((rcv, item))

            rcv.thread = threading.Thread(target=poll_forever, args=(bus, put, rcv.opened.set, stop),
                                          name=f"mbus-{rcv.name}", daemon=True)  # fmt: skip
            rcv.thread.start()

    def _receive(self, rcv: ReceiverThread, stop: threading.Event) -> None:
        from meterd.drivers.registry import open_receiver
        from meterd.drivers.serial_port import PortSettings

        cfg = rcv.config
        settings = PortSettings(silence_timeout_s=cfg.silence_timeout_s)
        assert cfg.dongle is not None and cfg.port is not None
        replay = is_stream(cfg.dongle) and Path(cfg.port).is_file()
        while not stop.is_set():
            try:
                frames = open_receiver(
                    cfg.dongle, cfg.port, cfg.mode, stop, rcv.counters, settings, cfg.framer_options(cfg.dongle)
                )
                if is_stream(cfg.dongle):
                    rcv.counters["up"] = 1
                    rcv.opened.set()
                for item in paced(frames, cfg.pace, stop):
                    if not rcv.opened.is_set():
                        rcv.opened.set()
                    self.queue.put((rcv, item))
            except MeterdError as e:
                rcv.counters["open_failed"] = rcv.counters.get("open_failed", 0) + 1
                log.warning("receiver %s: %s; retrying", rcv.name, e.message)
            except Exception:  # a receiver's failure must not stop the others, nor the service
                rcv.counters["port_lost"] = rcv.counters.get("port_lost", 0) + 1
                log.exception("receiver %s failed; reopening", rcv.name)
            rcv.counters["up"] = 0
            if replay:  # a capture file replayed to its end: this receiver is done
                break
            stop.wait(1.0)
        rcv.finished = True
        rcv.opened.set()

    @property
    def all_receivers(self) -> list[ReceiverThread]:
        """The radio receivers and the wired buses."""
        return [*self.receivers, *(r for _, r in self.buses)]

    def wait_until_opened(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        for rcv in self.all_receivers:
            rcv.opened.wait(max(0.0, deadline - time.monotonic()))

    # -- the main loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._worker = SinkWorker(self.sinks, self._sink_failed)
        self.start_receivers(stop)
        self.wait_until_opened()
        self._count_receivers()  # meterd_receiver_up from start-up on, 0 for a port that did not open
        down = [r.name for r in self.receivers if not r.up and not r.finished]
        self.notifier.ready(f"{len(self.receivers) - len(down)} of {len(self.receivers)} receivers open, "
                            f"{len(self.buses)} M-Bus buses")  # fmt: skip
        log.info("gateway %s: %d of %d receivers open%s", self.config.gateway.name, len(self.receivers) - len(down),
                 len(self.receivers), f" (waiting for the port of {', '.join(down)})" if down else "")  # fmt: skip
        gw = self.config.gateway
        batch_started = time.monotonic()
        next_check = time.monotonic() + gw.validate_every_s if gw.validate_every_s else float("inf")
        next_hearings, next_all_hearings = batch_started + HEARINGS_EVERY_S, batch_started + HEARINGS_ALL_EVERY_S
        while True:
            self.handle_many(self._take_queued())
            now = time.monotonic()
            if self._batch and (len(self._batch) >= gw.batch_max or now - batch_started >= gw.batch_interval_s):
                self._hand_over()
                batch_started = now
            elif not self._batch:
                batch_started = now
            self.notifier.watchdog()
            self._count_receivers()
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            if now >= next_check:
                self.run_checks()
                next_check = now + gw.validate_every_s
            if now >= next_hearings:
                every = now >= next_all_hearings
                self.hand_over_hearings(every=every)
                next_hearings = now + HEARINGS_EVERY_S
                if every:
                    next_all_hearings = now + HEARINGS_ALL_EVERY_S
            ending = stop.is_set() or (not self.buses and all(r.finished for r in self.receivers))
            # receivers first, the queue after: whatever a receiver put before it ended is in the queue
            if (
                ending
                and all(r.thread is None or not r.thread.is_alive() for r in self.all_receivers)
                and self.queue.empty()
            ):
                break
        self.shutdown()

    def _take_queued(self, most: int = 1000) -> list[tuple[ReceiverThread, Any]]:
        """What the receivers queued, up to `most`; waits a little when nothing is there."""
        try:
            items = [self.queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        while len(items) < most:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def handle_many(self, items: list[tuple[ReceiverThread, Any]]) -> None:
        """What the receivers queued, in order: telegrams decoded one by one, framing errors counted,
        wired readouts merged."""
        for rcv, item in items:
            if isinstance(item, Frame):
                self._handle(rcv, item)
            elif isinstance(item, FramingError):
                DROPPED.labels(receiver=rcv.name, dongle=rcv.kind, reason=item.code).inc()
            elif isinstance(item, Polled):
                self._handle_readout(rcv, item)
            elif isinstance(item, PollFailed):
                rcv.count_result(item.code)

    def _handle_readout(self, rcv: ReceiverThread, polled: Polled) -> None:
        """A wired meter's readout: its telegrams decoded and merged into one reading."""
        from meterd.wmbus.result import merge_readout

        decoded = merge_readout([self.decoder.decode_bytes(f) for f in polled.frames])
        self._handle_decoded(rcv, self._heard(rcv, Frame(polled.frames[0], polled.received_at, None, rcv.name)), decoded)

    def _heard(self, rcv: ReceiverThread, item: Frame) -> Heard:
        received = item.received_at.timestamp()
        return Heard(int(received), int(received * 1000), item.rssi_dbm, item.data, rcv.name,
                     Source(rcv.source or rcv.config.source))  # fmt: skip

    def _handle(self, rcv: ReceiverThread, item: Frame) -> None:
        self._handle_decoded(rcv, self._heard(rcv, item), self.decoder.decode_bytes(item.data))

    def _handle_decoded(self, rcv: ReceiverThread, h: Heard, decoded: Decoded) -> None:
        rcv.count_result(decoded.code)
        rcv.last_heard = h.received_s
        reading = self.pipeline.reading(decoded, h, rcv.name)
        if reading is not None:
            self._accept(reading)

    def _accept(self, reading: Reading) -> None:
        """A reading heard: counted as heard (coverage), dropped when it is a duplicate or not
        forwarded, else into the batch."""
        if reading.source is not Source.WIRED:
            self.hearings.add(reading.meter.manufacturer, reading.meter.id, reading.received_at, reading.rssi_dbm)
        outcome = self.pipeline.keep(reading)
        if outcome is Outcome.KEPT:
            self._batch.append(reading)
        elif outcome is Outcome.DUPLICATE:
            self._duplicate_heard.inc()
        else:
            self._not_forwarded.inc()

    def flush(self) -> None:
        """Hand the batch to every sink and wait until they have it; a sink that fails keeps what it was
        given and is tried again."""
        self._hand_over()
        if self._worker is not None:
            self._worker.wait()

    def _hand_over(self) -> None:
        """The batch to the sinks' thread (while the service runs), or to the sinks themselves."""
        batch, self._batch = self._batch, []
        if self._worker is not None:
            self._worker.submit(batch)
        else:
            write_all(self.sinks, batch, self._sink_failed)

    def hand_over_hearings(self, every: bool = False) -> None:
        """The day's hearing totals that changed (with `every`, all held) to the sinks that take them."""
        if every:
            self.hearings.mark_all_changed()
        rows = self.hearings.take_changed()
        if not rows:
            return
        if self._worker is not None:
            self._worker.submit([], rows)
        else:
            write_all(self.sinks, [], self._sink_failed, rows)

    def _seed_hearings(self) -> None:
        from meterd.store.hearings import own_hearings

        try:
            with self.store.begin() as conn:
                self.hearings.seed(own_hearings(conn, self.config.gateway.name, day_of(int(time.time())) - 1))
        except Exception as e:  # counting starts at zero: coverage is a report, not a reading
            log.warning("could not read this gateway's hearings of today: %s", e)

    def _sink_failed(self) -> None:
        SINK_FAILURES.inc()

    def _stored(self, result: IngestResult, batch: Sequence[Reading]) -> None:
        STORED.inc(result.inserted)
        READINGS.labels(outcome="stored").inc(result.inserted)
        READINGS.labels(outcome="duplicate_stored").inc(result.duplicates)
        READINGS.labels(outcome="unknown_meter").inc(result.unknown_meter)
        READINGS.labels(outcome="bad_time").inc(result.bad_time)
        live = [r for r in batch if r.receiver not in self.replaying]  # a replayed capture is hours old
        LATENCY.observe_many(latencies(live, time.time()))

    def _count_receivers(self) -> None:
        for rcv in self.all_receivers:
            rcv.publish_counts()
        for rcv in self.receivers:
            RECEIVER_UP.labels(receiver=rcv.name, dongle=rcv.kind).set(1 if rcv.up else 0)
            if rcv.last_heard:
                LAST_TELEGRAM.labels(receiver=rcv.name, dongle=rcv.kind).set(rcv.last_heard)
            for key in RESET_COUNTERS:
                n = rcv.counters.get(key, 0)
                if n > rcv.counted.get(key, 0):
                    RESETS.labels(receiver=rcv.name, dongle=rcv.kind).inc(n - rcv.counted.get(key, 0))
                    rcv.counted[key] = n

    # -- state, reload, checks, shutdown -------------------------------------------------------------

    def _restore_decoder_state(self) -> None:
        from meterd.store.state import load_decoder_state

        with self.store.begin() as conn:
            state = load_decoder_state(conn)
        self.decoder.restore_state(state["signatures"], state["counters"])

    def save_decoder_state(self) -> None:
        from meterd.store.state import DecoderState, save_decoder_state

        exported = self.decoder.export_state()
        with self.store.begin() as conn:
            save_decoder_state(conn, DecoderState(signatures=exported["signatures"], counters=exported["counters"]))

    def reload(self) -> None:
        """SIGHUP: meters and keys anew (store and key file), receivers untouched."""
        try:
            fresh = self.make_decoder()
        except MeterdError as e:
            log.error("reload refused, the running configuration stays: %s", e.message)
            return
        exported = self.decoder.export_state()
        fresh.restore_state(exported["signatures"], exported["counters"])
        self.decoder = fresh
        log.info("keys and meters reloaded")

    def run_checks(self) -> None:
        from meterd.store.checks import check_store
        from meterd.store.queries import silent_meters

        try:
            with self.store.begin() as conn:
                findings, _ = check_store(conn)
                silent = silent_meters(conn, int(time.time() - self.config.gateway.silent_after_h * 3600))
            for flag in findings.flag:
                ANOMALIES.labels(flag=flag).inc()
            METERS_SILENT.labels(gateway=self.config.gateway.name).set(len(silent))
            self.save_decoder_state()
        except Exception as e:
            log.error("scheduled checks failed: %s", e)

    def shutdown(self) -> None:
        self.notifier.stopping()
        self.hand_over_hearings()
        self.flush()
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._count_receivers()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:
                log.error("sink %s failed at shutdown: %s", type(sink).__name__, e)
        try:
            self.save_decoder_state()
        except Exception as e:
            log.error("could not save the decoder state: %s", e)

