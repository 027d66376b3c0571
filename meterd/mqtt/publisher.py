"""The gateway's MQTT sink: every accepted reading goes into the on-disk spool, and a publisher thread
sends the spool to the broker in order (QoS 1), removing a message only when the broker acknowledged
it (PUBACK). With the broker away reception and the local store go on and the spool fills; it drains
when the broker is back, also after a restart of the gateway.

The gateway speaks MQTT 5, so a broker can answer "no matching subscribers" (PUBACK reason code
16): then no ingester has subscribed (yet, or again: Mosquitto 2.0 forgets shared subscriptions over
its own restart until the ingesters reconnect), the broker has dropped the message, and it stays in
the spool to be sent again a little later. Nothing is lost while the central side is away.

The status topic says `online` (retained) once connected and `offline` as the last will and on a
clean shutdown. Home Assistant discovery, when asked for, is published once per meter and connection.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meterd.metrics import MQTT_ACKED, MQTT_CONNECTED, PUBLISHED, REPLAYED, SPOOL, SPOOL_DROPPED, SPOOLED
from meterd.mqtt.connection import (
    KEEPALIVE_S,
    BrokerAddress,
    Credentials,
    MqttError,
    NetworkLoop,
    new_client,
)
from meterd.mqtt.topics import discovery, payload, reading_topic, status_topic
from meterd.reading import Reading
from meterd.sinks.spool import Spool

log = logging.getLogger("meterd.mqtt")
IN_FLIGHT = 1000  # messages published and not yet acknowledged, at most
RESEND_AFTER_S = 60.0  # an unacknowledged message this old while connected is sent again from the spool
NO_SUBSCRIBERS = 16  # PUBACK reason code: the broker had nobody to give the message to
HOLD_S = 2.0  # how long to wait before sending again what found no subscriber
REMOVE_BATCH = 2000  # acknowledged messages removed from the spool together, at most this many
REMOVE_EVERY_S = 0.25  # and at least this often


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
        homeassistant: bool = False,
    ) -> None:
        self.address = address
        self.gateway = gateway
        self.homeassistant = homeassistant
        self.spool = Spool(data, spool_max)
        self.client = new_client(address, creds, client_id or f"meterd-{gateway}", v5=True)
        self.client.will_set(status_topic(gateway), b"offline", qos=1, retain=True)
        # no window of paho's own: this sink keeps at most IN_FLIGHT messages unacknowledged itself (paho's
        # window, default 20, would pace it by round trips, and paho walks its whole window on every
        # acknowledgement when one is set)
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.connected = threading.Event()
        self._acked: collections.deque[tuple[int, bool]] = collections.deque()  # (mid, delivered)
        self.refused = 0  # messages the broker had no subscriber for (sent again later)
        self._stop = threading.Event()
        self._announced: set[str] = set()  # meters whose discovery went out on this connection
        self._meters: dict[str, Reading] = {}  # a recent reading per meter, for discovery
        self._waited_upto = 0
        SPOOL.set(len(self.spool))
        try:
            self.client.connect_async(address.host, address.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as e:
            raise MqttError(f"broker {address}: {e}") from None
        # one thread drives the client's network loop and the spool both (paho is not driven from two
        # threads); what it publishes in a run goes to the broker in one write (meterd.mqtt.client)
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()

    # -- the sink interface ------------------------------------------------------------------------

    def write(self, batch: Sequence[Reading]) -> None:
        """Accepted once in the spool (on disk); raises SpoolError when the spool cannot take them."""
        dropped = self.spool.append([(reading_topic(self.gateway, r.meter.id), payload(r)) for r in batch])
        SPOOLED.inc(len(batch))
        if dropped:
            SPOOL_DROPPED.inc(dropped)
            log.warning("spool full: %d oldest readings dropped (they stay in the local store)", dropped)
        if self.homeassistant:
            for r in batch:
                self._meters[r.meter.id] = r
        SPOOL.set(len(self.spool))

    def flush(self) -> None:
        """The spool is on disk already; nothing to wait for."""
        SPOOL.set(len(self.spool))

    def close(self, drain_s: float = 5.0) -> None:
        """Give the broker a few seconds to take what is spooled; what remains waits for the next start."""
        deadline = time.monotonic() + drain_s
        while len(self.spool) and self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(timeout=10)
        self.spool.close()

    # -- paho callbacks (in the publisher thread, from client.loop) ---------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.address, reason)
            return
        client.publish(status_topic(self.gateway), b"online", qos=1, retain=True)
        self._announced.clear()
        self._waited_upto = self.spool.last_seq()  # what is in the spool now waited for this connection
        self.connected.set()
        MQTT_CONNECTED.labels(role="publisher").set(1)
        log.info("connected to %s", self.address)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self.connected.is_set():
            log.warning("lost the broker %s (%s); readings wait in the spool", self.address, reason)
        self.connected.clear()
        MQTT_CONNECTED.labels(role="publisher").set(0)

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, reason: Any = None, _props: Any = None) -> None:
        code = getattr(reason, "value", 0)
        self._acked.append((mid, not (code == NO_SUBSCRIBERS or getattr(reason, "is_failure", False))))

    # -- the publisher thread ----------------------------------------------------------------------

    def _run(self) -> None:
        state = _InFlight()
        cursor = _Cursor()
        net = NetworkLoop(self.client, self.address, self._on_disconnect)
        while not self._stop.is_set():
            try:
                net.step(self._stop, timeout=0.02)
                self._pump_once(state, cursor)
            except Exception as e:  # the spool's disk, the client: keep going, nothing leaves the spool unacked
                log.error("publisher: %s", e)
                self._stop.wait(0.5)
        self._leave(state, cursor, net.open)

    def _leave(self, state: _InFlight, cursor: _Cursor, socket_open: bool) -> None:
        """What was acknowledged leaves the spool; `offline` on the status topic; disconnect."""
        with contextlib.suppress(Exception):
            if socket_open and self.connected.is_set():
                info = self.client.publish(status_topic(self.gateway), b"offline", qos=1, retain=True)
                end = time.monotonic() + 2.0
                while not info.is_published() and time.monotonic() < end and self.client.drive(0.05) == 0:
                    pass
            self._pump_once(state, cursor, publish=False, remove_now=True)
        self.connected.clear()  # leaving on purpose: not a lost broker
        with contextlib.suppress(Exception):
            self.client.disconnect()
            self.client.drive(0.1)

    def _pump_once(self, state: _InFlight, cursor: _Cursor, *, publish: bool = True, remove_now: bool = False) -> None:
        now = time.monotonic()
        while self._acked:
            mid, delivered = self._acked.popleft()
            seq = state.settle(mid)
            if seq is None:
                continue
            if delivered:
                state.done.add(seq)
            else:  # nobody subscribed: the broker dropped it; send it (and what followed it) again soon
                self.refused += 1
                cursor.rewind(seq, now + HOLD_S)
        # acknowledged messages leave the spool in batches (each removal is a synced transaction); one
        # acknowledged but not removed yet when the power goes is sent again, and stored once centrally
        if state.done and (remove_now or len(state.done) >= REMOVE_BATCH or now - state.removed_at >= REMOVE_EVERY_S):
            self.spool.remove(sorted(state.done))
            MQTT_ACKED.inc(len(state.done))
            state.done = set()
            state.removed_at = now
            SPOOL.set(len(self.spool))
        if not publish or not self.connected.is_set() or now < cursor.hold_until:
            return
        if state.oldest_sent() < now - RESEND_AFTER_S:
            log.warning("%d messages unacknowledged for %.0f s: sending them again", len(state.mids), RESEND_AFTER_S)
            state.forget()
            cursor.rewind(1, now)
        if self.homeassistant:
            self._announce()
        room = IN_FLIGHT - len(state.mids)
        if room < IN_FLIGHT // 4:  # publish in runs, not one message per acknowledgement
            return
        for msg in self.spool.after(cursor.last_sent, room):
            cursor.last_sent = msg.seq
            if msg.seq in state.seqs or msg.seq in state.done:
                continue  # still on its way (sent again after a rewind), or acknowledged already
            info = self.client.publish(msg.topic, msg.payload, qos=1)
            if info.rc != 0:  # not connected after all: the spool still has it
                cursor.rewind(msg.seq, now)
                break
            state.sent(info.mid, msg.seq, now)
            PUBLISHED.inc()
            if msg.seq <= self._waited_upto:
                REPLAYED.inc()

    def _announce(self) -> None:
        for meter_id, r in list(self._meters.items()):
            if meter_id not in self._announced:
                for topic, body in discovery(self.gateway, r):
                    self.client.publish(topic, body, qos=1, retain=True)
                self._announced.add(meter_id)


class _InFlight:
    """Published messages waiting for their acknowledgement, oldest first, and acknowledged ones not yet
    removed from the spool."""

    def __init__(self) -> None:
        self.mids: collections.OrderedDict[int, tuple[int, float]] = collections.OrderedDict()  # mid → (seq, sent at)
        self.seqs: set[int] = set()
        self.done: set[int] = set()  # acknowledged, not yet removed from the spool
        self.removed_at = 0.0

    def sent(self, mid: int, seq: int, at: float) -> None:
        self.mids[mid] = (seq, at)
        self.seqs.add(seq)

    def settle(self, mid: int) -> int | None:
        entry = self.mids.pop(mid, None)
        if entry is None:
            return None
        self.seqs.discard(entry[0])
        return entry[0]

    def oldest_sent(self) -> float:
        for _, at in self.mids.values():
            return at
        return float("inf")

    def forget(self) -> None:
        self.mids.clear()
        self.seqs.clear()



class _Cursor:
    """Where the publisher is in the spool: the last sequence number sent, and a pause after refusals."""

    def __init__(self) -> None:
        self.last_sent = 0
        self.hold_until = 0.0

    def rewind(self, seq: int, hold_until: float) -> None:
        """Send again from `seq` on, not before `hold_until`."""
        self.last_sent = min(self.last_sent, max(seq - 1, 0))
        self.hold_until = max(self.hold_until, hold_until)
