"""The gateway's MQTT publisher: a process of its own (started by meterd.mqtt.sink.MqttSink) that
owns the on-disk spool and sends it to the broker in order (QoS 1), removing a message only when
the broker acknowledged it (PUBACK). The gateway hands it batches over a pipe; a batch counts as
accepted when the publisher has it in the spool (committed and synced) and says so. With the
broker away reception and the local store go on and the spool fills; it drains when the broker is
back, also after a restart of the gateway. In a process of its own the publisher runs beside the
decoding on a second core (in one process both share one interpreter lock).

The publisher speaks MQTT 5, so a broker can answer "no matching subscribers" (PUBACK reason code
16): then no ingester has subscribed (yet, or again: Mosquitto 2.0 forgets shared subscriptions over
its own restart until the ingesters reconnect), the broker has dropped the message, and it stays in
the spool to be sent again a little later. Nothing is lost while the central side is away.

The status topic says `online` (retained) once connected and `offline` as the last will and on a
clean shutdown. Home Assistant discovery, when asked for, is published once per meter and connection.

The pipe carries tuples: first ("start", settings...) from the gateway, then ("append", [(topic,
payload), ...]) answered by ("appended", dropped, spool length) or ("error", message); ("close",
drain_s) answered by ("closed",); and, every STATS_EVERY_S, ("stats", Stats) from the publisher.
The publisher ignores SIGTERM and SIGINT (the gateway, which gets them too, stops it in order) and
leaves when the pipe closes (the gateway is gone).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from meterd.collector import quiet_collector
from meterd.mqtt.connection import (
    KEEPALIVE_S,
    BrokerAddress,
    Credentials,
    MqttError,
    NetworkLoop,
    new_client,
)
from meterd.mqtt.topics import discovery, status_topic
from meterd.reading import BadReading, Reading
from meterd.sinks.spool import Spool, SpoolError

log = logging.getLogger("meterd.mqtt")
IN_FLIGHT = 1000  # messages published and not yet acknowledged, at most
RESEND_AFTER_S = 60.0  # an unacknowledged message this old while connected is sent again from the spool
NO_SUBSCRIBERS = 16  # PUBACK reason code: the broker had nobody to give the message to
HOLD_S = 2.0  # how long to wait before sending again what found no subscriber
REMOVE_BATCH = 2000  # acknowledged messages removed from the spool together, at most this many
REMOVE_EVERY_S = 0.25  # and at least this often
STATS_EVERY_S = 0.25


@dataclass(frozen=True)
class Stats:
    """What the publisher reports to the gateway's metrics: totals since the publisher started."""

    connected: bool
    spool: int  # messages in the spool now
    published: int = 0
    acked: int = 0
    replayed: int = 0  # published messages that were in the spool when the connection came
    refused: int = 0  # acknowledged "no matching subscribers" (sent again later)


class Publisher:
    def __init__(
        self,
        address: BrokerAddress,
        creds: Credentials,
        gateway: str,
        spool: Spool,
        *,
        client_id: str | None = None,
        homeassistant: bool = False,
    ) -> None:
        self.address = address
        self.gateway = gateway
        self.homeassistant = homeassistant
        self.spool = spool
        self.client = new_client(address, creds, client_id or f"meterd-{gateway}", v5=True)
        self.client.will_set(status_topic(gateway), b"offline", qos=1, retain=True)
        # no window of paho's own: the publisher keeps at most IN_FLIGHT messages unacknowledged itself
        # (paho's window, default 20, would pace it by round trips, and paho walks its whole window on
        # every acknowledgement when one is set)
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.connected = False
        self._acked: collections.deque[tuple[int, bool]] = collections.deque()  # (mid, delivered)
        self.published = self.acked = self.replayed = self.refused = 0
        self._announced: set[str] = set()  # meters whose discovery went out on this connection
        self._meters: dict[str, bytes] = {}  # a recent payload per meter, for discovery
        self._waited_upto = 0
        self._resend = False  # a new connection: send again what is unacknowledged
        try:
            self.client.connect_async(address.host, address.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as e:
            raise MqttError(f"broker {address}: {e}") from None

    def stats(self) -> Stats:
        return Stats(self.connected, len(self.spool), self.published, self.acked, self.replayed, self.refused)

    # -- paho callbacks (from the network loop) -------------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.address, reason)
            return
        client.publish(status_topic(self.gateway), b"online", qos=1, retain=True)
        self._announced.clear()
        self._waited_upto = self.spool.last_seq()  # what is in the spool now waited for this connection
        self._resend = True
        self.connected = True
        log.info("connected to %s", self.address)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self.connected:
            log.warning("lost the broker %s (%s); readings wait in the spool", self.address, reason)
        self.connected = False

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, reason: Any = None, _props: Any = None) -> None:
        code = getattr(reason, "value", 0)
        self._acked.append((mid, not (code == NO_SUBSCRIBERS or getattr(reason, "is_failure", False))))

    # -- the process's loop ----------------------------------------------------------------------------

    def serve(self, conn: Any) -> None:
        """Publish the spool and answer the gateway until it says close (or its end of the pipe closes)."""
        state = _InFlight()
        cursor = _Cursor()
        never = threading.Event()
        net = NetworkLoop(self.client, self.address, self._on_disconnect)
        next_stats = 0.0
        while True:
            try:
                net.step(never, timeout=0.02, wake=[conn])
                self._pump_once(state, cursor)
            except Exception as e:  # the spool's disk, the client: keep going, nothing leaves the spool unacked
                log.error("publisher: %s", e)
                conn.poll(0.5)
            try:
                while conn.poll():
                    request = conn.recv()
                    if request[0] == "close":
                        self._drain(net, state, cursor, float(request[1]))
                        self._leave(state, cursor, net.open)
                        conn.send(("stats", self.stats()))
                        conn.send(("closed",))
                        return
                    conn.send(self._append(request[1]))
                if time.monotonic() >= next_stats:
                    conn.send(("stats", self.stats()))
                    next_stats = time.monotonic() + STATS_EVERY_S
            except (EOFError, OSError):  # the gateway is gone: leave as on a clean stop, without waiting
                self._leave(state, cursor, net.open)
                return

    def _append(self, messages: list[tuple[str, bytes]]) -> tuple[Any, ...]:
        try:
            dropped = self.spool.append(messages)
        except SpoolError as e:
            return ("error", e.message)
        if self.homeassistant:
            for topic, body in messages:
                self._meters[topic.rsplit("/", 1)[-1]] = body
        return ("appended", dropped, len(self.spool))

    def _drain(self, net: NetworkLoop, state: _InFlight, cursor: _Cursor, drain_s: float) -> None:
        """A few seconds for the broker to take what is spooled; what remains waits for the next start."""
        never = threading.Event()
        deadline = time.monotonic() + drain_s
        while len(self.spool) and self.connected and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                net.step(never, timeout=0.02)
                self._pump_once(state, cursor)

    def _leave(self, state: _InFlight, cursor: _Cursor, socket_open: bool) -> None:
        """What was acknowledged leaves the spool; `offline` on the status topic; disconnect."""
        with contextlib.suppress(Exception):
            if socket_open and self.connected:
                info = self.client.publish(status_topic(self.gateway), b"offline", qos=1, retain=True)
                end = time.monotonic() + 2.0
                while not info.is_published() and time.monotonic() < end and self.client.drive(0.05) == 0:
                    pass
            self._pump_once(state, cursor, publish=False, remove_now=True)
        self.connected = False  # leaving on purpose: not a lost broker
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
            self.acked += len(state.done)
            state.done = set()
            state.removed_at = now
        if not publish or not self.connected or now < cursor.hold_until:
            return
        # sent again from the spool: what the last connection left unacknowledged, or what has waited
        # RESEND_AFTER_S for its acknowledgement
        stale = state.oldest_sent() < now - RESEND_AFTER_S
        if stale and not self._resend:
            log.warning("%d messages unacknowledged for %.0f s: sending them again", len(state.mids), RESEND_AFTER_S)
        if stale or self._resend:
            self._resend = False
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
            mid = self.client.publish_qos1(msg.topic, msg.payload)
            if mid is None:  # not connected after all: the spool still has it
                cursor.rewind(msg.seq, now)
                break
            state.sent(mid, msg.seq, now)
            self.published += 1
            if msg.seq <= self._waited_upto:
                self.replayed += 1

    def _announce(self) -> None:
        for meter_id, body in list(self._meters.items()):
            if meter_id in self._announced:
                continue
            try:
                r = Reading.from_json(orjson.loads(body))
            except (BadReading, orjson.JSONDecodeError):
                continue
            for topic, config in discovery(self.gateway, r):
                self.client.publish(topic, config, qos=1, retain=True)
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


def run_publisher(
    conn: Any,
    address: BrokerAddress,
    creds: Credentials,
    gateway: str,
    data: Path,
    spool_max: int,
    client_id: str | None,
    homeassistant: bool,
    log_level: int,
) -> None:
    """The publisher process: started by MqttSink, stopped by it (or by the end of its pipe)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        spool = Spool(data, spool_max)
        publisher = Publisher(address, creds, gateway, spool, client_id=client_id, homeassistant=homeassistant)
    except (SpoolError, MqttError) as e:
        log.error("publisher: %s", e.message)
        with contextlib.suppress(OSError):
            conn.send(("failed", e.message))
        return
    quiet_collector()
    try:
        publisher.serve(conn)
    finally:
        spool.close()


def serve_pipe(fd: int) -> None:
    """The publisher process's entry (`python -c ... FD`, see MqttSink): its settings are the pipe's
    first message, so no secret is on the command line."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    try:
        request = conn.recv()
    except (EOFError, OSError):
        return
    if request[0] == "start":
        run_publisher(conn, *request[1:])
    conn.close()
