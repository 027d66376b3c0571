"""The central ingester: batches of readings from every gateway, through a shared subscription (several
ingesters split the load), into the central store.

For each group of messages, one transaction stores the readings, keeps what was refused with its
reason, and records the gateways' seqs as committed (meterd.store.central); then the messages are
acknowledged and `meterd/<gateway>/committed` is published (retained) for every gateway in them. The
gateways keep every reading in their spools until that topic covers it, so nothing rests on the
broker or on this process: a broker that restarts empty, an ingester killed at any moment, lose
nothing. That is why the ingester's MQTT session is a clean one that ends with its connection (no
session expiry): a killed ingester's share of messages is sent again by the gateways, not kept for
days by the broker for an ingester that may never come back.

No message stops the ingester: a message or reading it cannot use is refused (meterd.mqtt.batch)
and kept with its reason (`meterd report --rejected`). When the store refuses a transaction while the
database answers, the fault is in the data: the group is split until the offending reading is found,
which is kept apart as refused (`store_refused`), and the rest is stored. Only a database that does
not answer makes the ingester wait (nothing is acknowledged meanwhile; the broker sends no more than
`receive_maximum` unacknowledged messages, so memory stays bounded).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from meterd.coverage.hearing import DAY_S, Hearing
from meterd.metrics import (
    CONFLICTS,
    INGEST_LATENCY,
    INGESTED,
    METERS_NO_GATEWAY,
    METERS_ONE_GATEWAY,
    METERS_RADIO,
    MQTT_CONNECTED,
    MQTT_MESSAGES,
    REJECTED,
    UNUSUAL_BUILDING,
    latencies,
)
from meterd.mqtt.batch import MAX_MESSAGE_BYTES, Batch, BatchRefused, decode, kept_message, kept_text
from meterd.mqtt.connection import KEEPALIVE_S, BrokerAddress, Credentials, MqttError, new_client
from meterd.mqtt.topics import SHARED_READINGS, committed_topic
from meterd.mqtt.usual import UsualBuildings
from meterd.reading import Reading
from meterd.sinks.store import keep_unknown, to_store
from meterd.store import Store
from meterd.store.central import RefusedRow, commit_seqs, keep_refused, meter_buildings
from meterd.store.hearings import put_hearings
from meterd.store.ingest import IngestResult, ingest

log = logging.getLogger("meterd.ingest")
RETRY_S = 2.0
BUILDINGS_FOR_S = 600  # meters' buildings looked up again after this long (a register import moves them)
NOTE_AGAIN_S = 86_400  # a meter heard in an unusual place is noted once a day per gateway
LEAVE_S = 5.0  # at most this long to take what the broker was still sending when stopping
COVERAGE_EVERY_S = 300.0  # the coverage gauges are computed from the store this often


@dataclass
class Group:
    """What one transaction stores: readings (with their gateway and seq), refusals, and per gateway
    the `first` hints of its batches."""

    readings: list[tuple[str, int, Reading]] = field(default_factory=list)
    refused: list[RefusedRow] = field(default_factory=list)
    firsts: dict[str, int] = field(default_factory=dict)
    hearings: list[Hearing] = field(default_factory=list)  # the gateways' daily totals (coverage)

    def gateways(self) -> list[str]:
        names = {g for g, _, _ in self.readings} | {r.gateway for r in self.refused if r.seq is not None}
        return sorted(names | set(self.firsts))


class _Outage(Exception):
    pass


def update_coverage_gauges(store: Store, now: int) -> None:
    """Radio meters of the register heard by one gateway, by none, and in all, today and yesterday (UTC)."""
    from meterd.store.hearings import store_coverage

    with store.begin() as conn:
        cov = store_coverage(conn, now - DAY_S, now=now)
    METERS_ONE_GATEWAY.set(len(cov.single))
    METERS_NO_GATEWAY.set(len(cov.unheard))
    METERS_RADIO.set(len(cov.meters))


class Ingester:
    def __init__(
        self,
        address: BrokerAddress,
        creds: Credentials,
        store: Store,
        client_id: str,
        *,
        batch_readings: int = 5000,
        batch_interval_s: float = 0.1,
        receive_maximum: int = 64,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.address = address
        self.store = store
        self.batch_readings = batch_readings
        self.batch_interval_s = batch_interval_s
        self.receive_maximum = receive_maximum
        self.max_bytes = max_bytes
        self.meter_ids: dict[tuple[str, str], int] = {}
        self.connected = threading.Event()
        self._messages: queue.Queue[Any] = queue.Queue()
        self.client = new_client(address, creds, client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self._messages.put(msg)
        self.stored = IngestResult()
        self.rejected = 0
        self._quiet_until = 0.0
        self.usual = UsualBuildings()
        self._buildings: dict[tuple[str, str], str] = {}  # (maker, serial) → building code, as looked up
        self._buildings_at = 0.0
        self._noted: dict[tuple[str, str], int] = {}  # (gateway, meter) → when last noted

    # -- paho callbacks (paho's network thread) --------------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.address, reason)
            return
        client.subscribe(SHARED_READINGS, qos=1)
        self.connected.set()
        MQTT_CONNECTED.labels(role="ingester").set(1)
        log.info("connected to %s", self.address)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self.connected.is_set():
            log.warning("lost the broker %s (%s); reconnecting", self.address, reason)
        self.connected.clear()
        MQTT_CONNECTED.labels(role="ingester").set(0)

    # -- the main loop ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = self.receive_maximum
        try:
            self.client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_S, clean_start=True,
                                      properties=props)  # fmt: skip
        except (OSError, ValueError) as e:
            raise MqttError(f"broker {self.address}: {e}") from None
        self.client.loop_start()
        watcher = threading.Thread(target=self._watch_coverage, args=(stop,), name="coverage", daemon=True)
        watcher.start()
        try:
            while not stop.is_set():
                messages = self._take(stop)
                if messages:
                    self.handle(messages, stop)
            self._leave(stop)
        finally:
            self.connected.clear()  # leaving on purpose: not a lost broker
            self.client.disconnect()
            self.client.loop_stop()
            MQTT_CONNECTED.labels(role="ingester").set(0)

    def _watch_coverage(self, stop: threading.Event) -> None:
        """The coverage gauges, from the store now and then."""
        while not stop.is_set():
            try:
                update_coverage_gauges(self.store, int(time.time()))
            except Exception as e:  # the database away: the gauges keep their last values
                log.warning("coverage gauges not updated: %s", str(e).splitlines()[0][:200] if str(e) else e)
            stop.wait(COVERAGE_EVERY_S)

    def _take(self, stop: threading.Event) -> list[Any]:
        """Messages that came in: the first waited for (briefly), then what comes within the batch interval."""
        try:
            first = self._messages.get(timeout=0.2)
        except queue.Empty:
            return []
        messages = [first]
        size = len(first.payload)
        end = time.monotonic() + self.batch_interval_s
        while size < self.batch_readings * 400 and not stop.is_set():
            try:
                msg = self._messages.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            messages.append(msg)
            size += len(msg.payload)
        return messages

    def _leave(self, stop: threading.Event) -> None:
        """A clean stop: no new messages routed here; what already came is stored and acknowledged."""
        if self.connected.is_set():
            self.client.unsubscribe(SHARED_READINGS)
        end = time.monotonic() + LEAVE_S
        quiet = threading.Event()
        while time.monotonic() < end:
            messages = []
            while True:
                try:
                    messages.append(self._messages.get(timeout=0.3))
                except queue.Empty:
                    break
            if not messages:
                break
            self.handle(messages, quiet, retry=False)

    # -- one group of messages ----------------------------------------------------------------------------

    def handle(self, messages: list[Any], stop: threading.Event, *, retry: bool = True) -> None:
        """Decode, store, acknowledge, and publish what each gateway has committed."""
        now = int(time.time())
        group = Group()
        for msg in messages:
            try:
                batch = decode(msg.topic, msg.payload, now, self.max_bytes)
            except BatchRefused as e:
                gateway = msg.topic.split("/")[1][:64] if msg.topic.count("/") >= 2 else ""
                group.refused.append(RefusedRow(now, kept_message(gateway.encode()), None, e.code, e.message,
                                                kept_message(msg.payload)))  # fmt: skip
                MQTT_MESSAGES.labels(outcome="refused").inc()
                log.warning("message on %s refused: %s", kept_message(msg.topic.encode())[:100], e.message[:200])
                continue
            MQTT_MESSAGES.labels(outcome="batch").inc()
            self._add(group, batch, now)
        while True:
            try:
                committed = self._store(group, now)
                break
            except _Outage as e:
                if time.monotonic() >= self._quiet_until:
                    log.error("the database does not answer (%s); %d messages wait unacknowledged", e, len(messages))
                    self._quiet_until = time.monotonic() + 30
                if not retry or stop.wait(RETRY_S):
                    return  # not acknowledged: the gateways send them again
        for msg in messages:
            self.client.ack(msg.mid, msg.qos)
        for gateway, seq in committed.items():
            self.client.publish(committed_topic(gateway), b'{"seq":%d}' % seq, qos=1, retain=True)

    def _add(self, group: Group, batch: Batch, now: int) -> None:
        group.readings += [(batch.gateway, seq, r) for seq, r in batch.readings]
        group.hearings += batch.hearings
        for refusal in batch.refused:
            group.refused.append(RefusedRow(now, batch.gateway, refusal.seq, refusal.reason, refusal.message,
                                            refusal.text))  # fmt: skip
            log.warning("reading of %s refused: %s", batch.gateway, refusal.message[:200])
        if batch.first is not None:
            group.firsts[batch.gateway] = max(batch.first, group.firsts.get(batch.gateway, 0))
        if batch.readings or batch.refused:
            group.firsts.setdefault(batch.gateway, 0)

    def _store(self, group: Group, now: int) -> dict[str, int]:
        """Store a group; where the store refuses it for its data, halves of it, down to the reading at
        fault (kept as refused). Returns each gateway's committed seq. _Outage when the database is away."""
        try:
            return self._transaction(group, now)
        except Exception as e:
            if not self._reachable():
                raise _Outage(str(e).splitlines()[0][:200] if str(e) else type(e).__name__) from None
            why = (str(e).splitlines() or [type(e).__name__])[0][:200]
            if len(group.readings) <= 1:
                kept = [RefusedRow(now, g, seq, "store_refused", why, kept_text(r.to_json())) for g, seq, r in group.readings]
                log.error("the store refused a reading (%s); kept apart as refused", why)
                alone = Group([], [*kept, *group.refused], group.firsts, group.hearings)
                try:
                    return self._transaction(alone, now)
                except Exception:
                    if not self._reachable():
                        raise _Outage(why) from None
                    log.error("the store refused what was refused too; %d refusals not kept", len(alone.refused))
                    return self._transaction(Group([], [], group.firsts), now)
            half = len(group.readings) // 2
            committed = self._store(Group(group.readings[:half], group.refused, group.firsts, group.hearings), now)
            for gateway, seq in self._store(Group(group.readings[half:]), now).items():
                committed[gateway] = max(seq, committed.get(gateway, 0))
            return committed

    def _transaction(self, group: Group, now: int) -> dict[str, int]:
        readings = [r for _, _, r in group.readings]
        seqs: dict[str, list[int]] = defaultdict(list)
        for gateway, seq, _ in group.readings:
            seqs[gateway].append(seq)
        for row in group.refused:
            if row.seq is not None:
                seqs[row.gateway].append(row.seq)
        committed: dict[str, int] = {}
        with self.store.begin() as conn:
            result = ingest(conn, [to_store(r, True) for r in readings], now=now, id_cache=self.meter_ids)
            if result.unknown_meters:
                keep_unknown(conn, [r for r in readings if (r.meter.manufacturer, r.meter.id) in result.unknown_meters])
            keep_refused(conn, [*group.refused, *self._unusual(conn, group, now)])
            put_hearings(conn, group.hearings)
            for gateway in group.gateways():  # in one order in every ingester: no deadlock on the rows
                committed[gateway] = commit_seqs(conn, gateway, seqs.get(gateway, []), group.firsts.get(gateway) or None, now)
        self._count(result, group, readings)
        return committed

    def _unusual(self, conn: Any, group: Group, now: int) -> list[RefusedRow]:
        """Notes (stored all the same) of readings of meters in buildings their gateway hardly delivers."""
        if time.monotonic() - self._buildings_at > BUILDINGS_FOR_S:
            self._buildings, self._buildings_at = {}, time.monotonic()
        missing = {(r.meter.manufacturer, r.meter.id) for _, _, r in group.readings} - self._buildings.keys()
        if missing:
            found = meter_buildings(conn, missing)
            self._buildings.update({meter: found.get(meter, "") for meter in missing})
        notes = []
        for gateway, seq, r in group.readings:
            building = self._buildings.get((r.meter.manufacturer, r.meter.id), "")
            if not building or not self.usual.observe(gateway, building):
                continue
            UNUSUAL_BUILDING.inc()
            if now - self._noted.get((gateway, r.meter.id), -NOTE_AGAIN_S) < NOTE_AGAIN_S:
                continue
            self._noted[(gateway, r.meter.id)] = now
            usual = ", ".join(self.usual.usual(gateway)[:5])
            notes.append(RefusedRow(now, gateway, seq, "unusual_building",
                                    f"stored; meter {r.meter.id} hangs in {building}, {gateway} usually delivers {usual}",
                                    kept_text(r.to_json()), kept=True))  # fmt: skip
        return notes

    def _reachable(self) -> bool:
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _count(self, result: IngestResult, group: Group, readings: list[Reading]) -> None:
        self.stored.add(result)
        self.rejected += len(group.refused)
        INGESTED.labels(outcome="stored").inc(result.inserted)
        INGESTED.labels(outcome="duplicate").inc(result.duplicates)
        INGESTED.labels(outcome="unknown_meter").inc(result.unknown_meter)
        INGESTED.labels(outcome="bad_time").inc(result.bad_time)
        INGESTED.labels(outcome="conflict").inc(result.conflicts)
        CONFLICTS.inc(result.conflicts)
        for row in group.refused:
            if not row.kept:
                REJECTED.labels(reason=row.reason).inc()
        INGEST_LATENCY.observe_many(latencies(readings, time.time()))
