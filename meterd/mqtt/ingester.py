"""The central ingester: readings from every gateway, through a shared subscription (several ingesters
split the load), into the central store in batches.

A message is acknowledged only after the transaction that stores its reading has committed (paho's
manual acknowledgement, MQTT 5 with a persistent session): an ingester killed at any moment loses
nothing, the broker sends the unacknowledged messages again when it is back, and the store's reading
keys turn redelivered and twice-heard readings into duplicates. While the database is down nothing
is acknowledged; the broker stops sending once `receive_maximum` messages wait, so memory stays
bounded. Readings of meters the store does not know are kept apart (`unknown_readings`), and a
message that is no reading is counted, logged and acknowledged (sending it again would not help).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from meterd.metrics import INGEST_LATENCY, MQTT_CONNECTED, MQTT_MESSAGES, latencies
from meterd.mqtt.connection import (
    KEEPALIVE_S,
    BrokerAddress,
    Credentials,
    MqttError,
    NetworkLoop,
    new_client,
)
from meterd.mqtt.topics import SHARED_READINGS, parse_payload
from meterd.reading import BadReading, Reading
from meterd.sinks.store import StoreSink
from meterd.store import Store
from meterd.store.ingest import IngestResult

log = logging.getLogger("meterd.ingest")
SESSION_EXPIRY_S = 7 * 86400  # how long the broker keeps an ingester's messages while it is away
RETRY_S = 2.0
LEAVE_S = 10.0  # at most this long to take what the broker was still sending when stopping


class Ingester:
    def __init__(
        self,
        address: BrokerAddress,
        creds: Credentials,
        store: Store,
        client_id: str,
        *,
        batch_max: int = 2000,
        batch_interval_s: float = 0.1,
        receive_maximum: int = 10_000,
    ) -> None:
        self.address = address
        self.batch_max = batch_max
        self.batch_interval_s = batch_interval_s
        self.receive_maximum = receive_maximum
        self.sink = StoreSink(store, self._stored, keyed=True, keep_unknown=True)
        self._batch: list[Any] = []  # messages received, not stored yet
        self._quiet_until = 0.0
        self._retry_at = 0.0
        self.connected = threading.Event()
        self.client = new_client(address, creds, client_id, v5=True, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._unacked: list[int] = []  # mids of messages whose readings wait in the sink
        self.stored = IngestResult()
        self.bad_payloads = 0

    def _connect_properties(self) -> Any:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = self.receive_maximum
        return props

    # -- paho callbacks --------------------------------------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.address, reason)
            return
        client.subscribe(SHARED_READINGS, qos=1)
        self.connected.set()
        MQTT_CONNECTED.labels(role="ingester").set(1)
        log.info("connected to %s (session %s)", self.address, "resumed" if flags.session_present else "new")

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self.connected.is_set():
            log.warning("lost the broker %s (%s); reconnecting", self.address, reason)
        self.connected.clear()
        MQTT_CONNECTED.labels(role="ingester").set(0)

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        self._batch.append(msg)

    # -- the main loop: one thread for paho's network loop, the store and the acknowledgements -------

    def run(self, stop: threading.Event) -> None:
        try:
            self.client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_S, clean_start=False,
                                      properties=self._connect_properties())  # fmt: skip
        except (OSError, ValueError) as e:
            raise MqttError(f"broker {self.address}: {e}") from None
        net = NetworkLoop(self.client, self.address, self._on_disconnect)
        first_at = 0.0
        while not stop.is_set():
            if not net.step(stop, timeout=0.01, max_messages=max(self.batch_max - len(self._batch), 1)) and not self._unacked:
                continue
            if self._batch and not first_at:
                first_at = time.monotonic()
            now = time.monotonic()
            due = bool(self._batch) and (len(self._batch) >= self.batch_max or now - first_at >= self.batch_interval_s)
            if self._unacked:  # the store failed before: try again when it is time, with whatever came since
                due = now >= self._retry_at
            if due:
                self.store_and_ack()
                first_at = 0.0
        self._leave(net.open)

    def _leave(self, socket_open: bool) -> None:
        """A clean stop leaves the share group for good: unsubscribe (no new messages are routed here),
        store and acknowledge what was already sent here, and end the session. A killed ingester keeps
        its session instead, and the broker keeps its messages until it is back."""
        if socket_open and self.connected.is_set():
            self.client.unsubscribe(SHARED_READINGS)
            quiet_since = time.monotonic()
            end = quiet_since + LEAVE_S
            while time.monotonic() < end and time.monotonic() - quiet_since < 0.5:
                before = len(self._batch)
                if self.client.drive(0.05) != 0:
                    socket_open = False
                    break
                if len(self._batch) != before:
                    quiet_since = time.monotonic()
        self.store_and_ack()  # what already arrived is stored and acknowledged before leaving
        self.connected.clear()  # leaving on purpose: not a lost broker
        if socket_open and not self._unacked:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0  # the session ends with the connection
            self.client.drive(0.05)  # the acknowledgements go out first
            self.client.disconnect(properties=props)
        else:  # unacknowledged readings (the store is down): keep the session, the broker keeps them
            self.client.disconnect()
        self.client.drive(0.1)

    def store_and_ack(self) -> None:
        """Store the batch's readings in one transaction, then acknowledge its messages."""
        batch, self._batch = self._batch, []
        readings: list[Reading] = []
        for msg in batch:
            try:
                readings.append(parse_payload(msg.payload))
            except Exception as e:  # BadReading, or anything else a hostile payload provokes: that message only
                self.bad_payloads += 1
                MQTT_MESSAGES.labels(outcome="bad_payload").inc()
                why = e.message if isinstance(e, BadReading) else type(e).__name__
                log.warning("message on %s is no reading (%s); acknowledged and dropped", msg.topic[:200], why[:200])
            self._unacked.append(msg.mid)
        if readings:
            self.sink.write(readings)
        if not self._unacked:
            return
        try:
            self.sink.flush()
        except Exception as e:  # the database away: nothing is acknowledged, the broker keeps the messages
            if time.monotonic() >= self._quiet_until:
                log.error("store failed (%s); %d messages wait unacknowledged", str(e).splitlines()[0], len(self._unacked))
                self._quiet_until = time.monotonic() + 30
            self._retry_at = time.monotonic() + RETRY_S
            return
        for mid in self._unacked:
            self.client.ack(mid, 1)
        self._unacked = []

    def _stored(self, result: IngestResult, batch: Any) -> None:
        self.stored.add(result)
        MQTT_MESSAGES.labels(outcome="stored").inc(result.inserted)
        MQTT_MESSAGES.labels(outcome="duplicate").inc(result.duplicates)
        MQTT_MESSAGES.labels(outcome="unknown_meter").inc(result.unknown_meter)
        MQTT_MESSAGES.labels(outcome="bad_time").inc(result.bad_time)
        INGEST_LATENCY.observe_many(latencies(batch, time.time()))
