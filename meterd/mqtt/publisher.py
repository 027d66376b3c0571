"""The gateway's publisher: a thread that sends the spool to the broker in batches and drops from it
only what the central store has committed.

On every connection it subscribes to its own `meterd/<gateway>/committed` (retained: the broker hands
over the latest at once), waits a moment for it, and sends everything above it. The central side
publishes that topic again after every commit; readings up to it leave the spool. When it does not
move for a while although readings are out (a broker that restarted without its queue, an ingester
that died with its share, the central store down), what is out is sent again, after 10 s, then 20 s,
... at most every 5 minutes. Duplicates this causes are stored once centrally.

At most `window` readings are out and uncommitted at once, so a backlog goes out at the pace the
central side commits it. paho's own network thread (`loop_start`) reads, writes and reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from meterd.coverage.hearing import Hearing
from meterd.metrics import MQTT_CONNECTED, PUBLISHED, RESENT, SPOOL, SPOOL_COMMITTED
from meterd.mqtt.batch import MAX_MESSAGE_BYTES, encode, encode_hearings, readings_topic, split
from meterd.mqtt.connection import KEEPALIVE_S, BrokerAddress, Credentials, MqttError, new_client
from meterd.mqtt.topics import committed_topic, discovery, meter_state_topic, status_topic
from meterd.sinks.spool import Spool, Spooled

log = logging.getLogger("meterd.mqtt")
WINDOW = 50_000  # readings sent and not yet committed, at most
PUMP_S = 0.1  # the spool is looked at at least this often (and at once when readings come in)
COMMITTED_WAIT_S = 1.0  # after connecting, how long to wait for the retained committed seq
RESEND_MIN_S = 10.0
RESEND_MAX_S = 300.0
ROWS_PER_PUMP = 20_000


class Publisher:
    def __init__(
        self,
        address: BrokerAddress,
        creds: Credentials,
        gateway: str,
        spool: Spool,
        *,
        client_id: str | None = None,
        per_meter: bool = False,
        homeassistant: bool = False,
        window: int = WINDOW,
        resend_after_s: float = RESEND_MIN_S,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.address = address
        self.gateway = gateway
        self.spool = spool
        self.per_meter = per_meter or homeassistant
        self.homeassistant = homeassistant
        self.window = window
        self.resend_min_s = resend_after_s
        self.max_bytes = max_bytes
        self.client = new_client(address, creds, client_id or f"meterd-{gateway}")
        self.client.will_set(status_topic(gateway), b"offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.committed = -1  # the central store's word (-1: not heard yet)
        self._connection = 0  # connections so far
        self._connected_at = 0.0
        self._progress_at = time.monotonic()  # when `committed` last moved (or nothing was out)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sent_connection = 0
        self._cursor = 0  # the last seq sent on this connection
        self._removed = 0  # spool emptied up to here
        self._resend_s = resend_after_s
        self._high = spool.last_issued()  # seqs up to here may have gone out before this process: resends
        self._announced: set[tuple[str, str]] = set()  # meters whose discovery went out on this connection
        self._hearings: dict[tuple[str, str, int], Hearing] = {}  # totals to send, the newest of each meter and day
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)

    def start(self) -> None:
        try:
            self.client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as e:
            raise MqttError(f"broker {self.address}: {e}") from None
        self.client.loop_start()
        self._thread.start()

    def wake(self) -> None:
        """Readings came into the spool."""
        self._wake.set()

    def add_hearings(self, hearings: Sequence[Hearing]) -> None:
        """Hearing totals to send (they replace older totals of the same meter and day)."""
        with self._lock:
            for h in hearings:
                self._hearings[(h.manufacturer, h.serial, h.day)] = h
        self._wake.set()

    def outstanding(self) -> int:
        """Readings in the spool that the central store has not confirmed."""
        return len(self.spool)

    def close(self, drain_s: float = 2.0) -> None:
        """A moment for the central store to confirm what is out (what remains waits in the spool for
        the next start), `offline` on the status topic, disconnect."""
        end = time.monotonic() + drain_s
        while len(self.spool) and self.connected.is_set() and time.monotonic() < end:
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if self.connected.is_set():
            try:  # the last totals of a gateway that stops (sent again after a restart)
                for info in self._send_hearings():
                    info.wait_for_publish(2)
            except (RuntimeError, ValueError) as e:
                log.debug("hearings not sent: %s", e)
            try:
                self.client.publish(status_topic(self.gateway), b"offline", qos=1, retain=True).wait_for_publish(2)
            except (RuntimeError, ValueError) as e:
                log.debug("offline status not sent: %s", e)
        self.connected.clear()  # leaving on purpose: not a lost broker
        self.client.disconnect()
        self.client.loop_stop()
        MQTT_CONNECTED.labels(role="publisher").set(0)

    # -- paho callbacks (paho's network thread) --------------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.address, reason)
            return
        client.subscribe(committed_topic(self.gateway), qos=1)
        client.publish(status_topic(self.gateway), b"online", qos=1, retain=True)
        with self._lock:
            self._connection += 1
            self._connected_at = time.monotonic()
            self._announced.clear()
        self.connected.set()
        MQTT_CONNECTED.labels(role="publisher").set(1)
        log.info("connected to %s", self.address)
        self._wake.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self.connected.is_set():
            log.warning("lost the broker %s (%s); readings wait in the spool", self.address, reason)
        self.connected.clear()
        MQTT_CONNECTED.labels(role="publisher").set(0)

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        try:
            seq = orjson.loads(msg.payload).get("seq")
        except (orjson.JSONDecodeError, AttributeError):
            seq = None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            log.warning("%s: not a committed seq, ignored", msg.topic)
            return
        with self._lock:
            if seq > self.committed:
                self.committed = seq
                self._progress_at = time.monotonic()
        self._wake.set()

    # -- the publisher's thread ------------------------------------------------------------------------

    def _run(self) -> None:
        quiet_until = 0.0
        while not self._stop.is_set():
            self._wake.wait(PUMP_S)
            self._wake.clear()
            try:
                self._pump()
            except Exception as e:  # the spool's disk, the client: go on; nothing leaves the spool uncommitted
                if time.monotonic() >= quiet_until:
                    log.error("publisher: %s", e)
                    quiet_until = time.monotonic() + 30
                self._stop.wait(1.0)

    def _pump(self) -> None:
        with self._lock:
            committed, connection, connected_at, progress_at = (
                self.committed, self._connection, self._connected_at, self._progress_at)  # fmt: skip
        if committed > self._removed:
            if committed > self.spool.last_issued():
                log.warning("the central store has committed seq %d, this gateway's spool never went past %d "
                            "(a new or restored spool): its readings are numbered on from %d", committed,
                            self.spool.last_issued(), committed + 1)  # fmt: skip
                self.spool.renumber_after(committed)
            removed = self.spool.remove_upto(committed)
            SPOOL_COMMITTED.inc(removed)
            SPOOL.set(len(self.spool))
            self._removed = committed
        if not self.connected.is_set():
            return
        self._send_hearings()
        now = time.monotonic()
        base = max(committed, self._removed, 0)
        if connection != self._sent_connection:  # a new connection: from what the central store has
            if committed < 0 and now - connected_at < COMMITTED_WAIT_S:
                self._stop.wait(0.05)
                self._wake.set()
                return
            self._sent_connection = connection
            self._cursor = base
        if self._cursor <= base:
            self._cursor = base
            self._resend_s = self.resend_min_s
            with self._lock:
                self._progress_at = now
        elif now - progress_at > self._resend_s:
            log.warning("the central store confirmed nothing for %.0f s: sending readings after seq %d again",
                        now - progress_at, base)  # fmt: skip
            self._cursor = base
            self._resend_s = min(self._resend_s * 2, RESEND_MAX_S)
            with self._lock:
                self._progress_at = now
        room = self.window - (self._cursor - base)
        if room <= 0:
            return
        rows = self.spool.after(self._cursor, min(room, ROWS_PER_PUMP))
        if not rows:
            return
        first = self.spool.first_seq()
        for run in split(self.gateway, rows, self.max_bytes):
            info = self.client.publish(readings_topic(self.gateway), encode(self.gateway, first, run), qos=1)
            if info.rc != 0:  # not connected after all: the spool still has them
                break
            self._cursor = run[-1].seq
            fresh = [row for row in run if row.seq > self._high]
            RESENT.inc(len(run) - len(fresh))
            PUBLISHED.inc(len(fresh))
            if fresh:
                self._high = fresh[-1].seq
                if self.per_meter:
                    self._publish_states(fresh)
        if len(rows) == min(room, ROWS_PER_PUMP):
            self._wake.set()  # more to send

    def _send_hearings(self) -> list[Any]:
        """The hearing totals waiting, as messages; their paho MessageInfos."""
        with self._lock:
            hearings, self._hearings = self._hearings, {}
        if not hearings:
            return []
        rows = list(hearings.values())
        sent, infos = 0, []
        for message, count in encode_hearings(self.gateway, rows, self.max_bytes):
            info = self.client.publish(readings_topic(self.gateway), message, qos=1)
            if info.rc != 0:
                with self._lock:  # not connected after all: kept for the next connection, unless newer came
                    for h in rows[sent:]:
                        self._hearings.setdefault((h.manufacturer, h.serial, h.day), h)
                break
            infos.append(info)
            sent += count
        return infos

    def _publish_states(self, rows: Sequence[Spooled]) -> None:
        """Each meter's latest reading on its own retained topic (and its discovery, once per connection)."""
        latest: dict[tuple[str, str], tuple[bytes, dict[str, Any]]] = {}
        for row in rows:
            obj = orjson.loads(row.payload)
            latest[(str(obj.get("meter_id")), str(obj.get("medium") or ""))] = (row.payload, obj)
        for (meter, medium), (payload, obj) in latest.items():
            if self.homeassistant and (meter, medium) not in self._announced:
                for topic, config in discovery(self.gateway, meter, str(obj.get("manufacturer") or ""), medium,
                                               obj.get("total_m3") is not None):  # fmt: skip
                    self.client.publish(topic, config, qos=1, retain=True)
                self._announced.add((meter, medium))
            self.client.publish(meter_state_topic(meter, medium), payload, qos=1, retain=True)
