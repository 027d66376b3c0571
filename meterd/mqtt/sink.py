"""The gateway's MQTT sink: hands every batch of accepted readings to the publisher process
(meterd.mqtt.publisher), which keeps them in the on-disk spool and sends them to the broker.

`write` returns once the publisher has the batch in the spool, synced to disk: only then does the
batch count as accepted. The publisher's totals come back over the same pipe and become this
process's metrics (published, acknowledged, replayed, spool length, broker connection). A
publisher that dies is started again (the spool on disk is where it left it); one that does not
answer is replaced. When the publisher cannot take a batch, `write` raises SpoolError and the
readings stay in the gateway's own store.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from meterd.metrics import MQTT_ACKED, MQTT_CONNECTED, PUBLISHED, REPLAYED, SPOOL, SPOOL_DROPPED, SPOOLED
from meterd.mqtt.connection import BrokerAddress, Credentials, check_settings
from meterd.mqtt.publisher import Stats
from meterd.mqtt.topics import payload, reading_topic
from meterd.reading import Reading
from meterd.sinks.spool import Spool, SpoolError

log = logging.getLogger("meterd.mqtt")
ANSWER_S = 30.0  # the longest the publisher may take to answer (a connect to an unreachable broker is 5 s)
WATCH_EVERY_S = 0.25
RESTART_MIN_S = 1.0  # a publisher that keeps dying is started again after 1 s, 2 s, 4 s ... 60 s
RESTART_MAX_S = 60.0
PIPE_BUFFER = 2 << 20  # bytes the socket to the publisher holds: a batch of 1000 readings is ~420 kB


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
        self.gateway = gateway
        check_settings(address, creds)  # bad TLS files stop the start, here
        spool = Spool(data, spool_max)  # opened here first: a spool that cannot be opened stops the start
        self.spooled = len(spool)  # in the spool, as the publisher last said
        spool.close()
        self._args = (address, creds, gateway, Path(data), spool_max, client_id, homeassistant)
        self.connected = threading.Event()
        self.refused = 0
        self._lock = threading.Lock()  # one request at a time on the pipe, and one (re)start
        self._proc: Any = None
        self._conn: Any = None
        self._seen = Stats(False, self.spooled)  # the current publisher's totals already counted
        self._closing = threading.Event()
        self._next_start = 0.0
        self._restart_delay = RESTART_MIN_S
        SPOOL.set(self.spooled)
        with self._lock:
            self._start()
        self._watcher = threading.Thread(target=self._watch, name="mqtt-sink", daemon=True)
        self._watcher.start()

    # -- the sink interface ------------------------------------------------------------------------

    def write(self, batch: Sequence[Reading]) -> None:
        """Accepted once in the spool (on disk); raises SpoolError when the spool cannot take them."""
        messages = [(reading_topic(self.gateway, r.meter.id), payload(r)) for r in batch]
        with self._lock:
            answer = self._ask(("append", messages))
            if answer is None:  # the publisher died or hung: a new one, and the batch once more
                self._restart("did not take a batch")
                answer = self._ask(("append", messages))
        if answer is None:
            raise SpoolError("the MQTT publisher process does not answer; the readings stay in the local store")
        if answer[0] == "error":
            raise SpoolError(str(answer[1]))
        SPOOLED.inc(len(batch))
        dropped, self.spooled = int(answer[1]), int(answer[2])
        SPOOL.set(self.spooled)
        if dropped:
            SPOOL_DROPPED.inc(dropped)
            log.warning("spool full: %d oldest readings dropped (they stay in the local store)", dropped)

    def flush(self) -> None:
        """The spool is on disk already; nothing to wait for."""

    def close(self, drain_s: float = 5.0) -> None:
        """Give the broker a few seconds to take what is spooled; what remains waits for the next start."""
        self._closing.set()
        self._watcher.join(timeout=5)
        with self._lock:
            if self._alive():
                self._ask(("close", drain_s), timeout=drain_s + 15, until="closed")
            self._stop_process()
        self.connected.clear()
        MQTT_CONNECTED.labels(role="publisher").set(0)

    @property
    def publisher_pid(self) -> int | None:
        """The publisher process's id (None while there is none)."""
        return self._proc.pid if self._proc is not None else None

    # -- the publisher process -----------------------------------------------------------------------

    def _start(self) -> None:
        """A fresh interpreter (nothing of this process's threads, locks or main module carried over),
        talking over a socket pair; its settings (credentials too) go over the pipe, not the command line."""
        ours, theirs = socket.socketpair()
        with contextlib.suppress(OSError):  # a batch's messages in one write (the kernel caps the size)
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BUFFER)
            theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BUFFER)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from meterd.mqtt.publisher import serve_pipe; "
                 "serve_pipe(int(sys.argv[1]))", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, close_fds=True,
            )  # fmt: skip
        except OSError as e:
            ours.close()
            self._proc = None
            log.error("cannot start the MQTT publisher process: %s", e)
            return
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._seen = Stats(False, self.spooled)
        try:
            self._conn.send(("start", *self._args, logging.getLogger().getEffectiveLevel()))
        except OSError as e:  # it died at once: the watcher sees it and tries again later
            log.error("the MQTT publisher process did not start: %s", e)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _stop_process(self) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._conn.close()
        self._proc = None

    def _restart(self, why: str) -> None:
        if self._proc is not None:
            log.error("the MQTT publisher process %s; starting it again", why)
            if self._alive():
                self._proc.kill()
            self._stop_process()
        now = time.monotonic()
        if now < self._next_start:
            return  # it died a moment ago: not again at once (the watcher tries when it is time)
        self._next_start = now + self._restart_delay
        self._restart_delay = min(self._restart_delay * 2, RESTART_MAX_S)
        self._start()

    def _ask(self, request: tuple[Any, ...], timeout: float = ANSWER_S, until: str = "") -> tuple[Any, ...] | None:
        """Send a request and wait for its answer (taking the statistics that come before it); None
        when the publisher is gone or does not answer in time. Holds the lock."""
        if self._proc is None:
            return None
        try:
            self._conn.send(request)
            deadline = time.monotonic() + timeout
            while self._conn.poll(max(0.0, deadline - time.monotonic())):
                answer = self._conn.recv()
                if self._take_report(answer):
                    if answer[0] == "failed":
                        return None
                elif not until or answer[0] == until:
                    return tuple(answer)
            return None
        except (EOFError, OSError):
            return None

    def _watch(self) -> None:
        """The publisher's statistics into the metrics; a publisher that died is started again."""
        while not self._closing.wait(WATCH_EVERY_S):
            with self._lock:
                if self._closing.is_set():
                    return
                if not self._alive():
                    self._restart("stopped")
                    continue
                try:
                    while self._conn.poll():
                        self._take_report(self._conn.recv())
                except (EOFError, OSError):
                    self._restart("stopped")

    def _take_report(self, message: tuple[Any, ...]) -> bool:
        """Statistics into the metrics, a failure to start into the log; False for anything else (an
        answer to a request)."""
        if message[0] == "stats":
            self._count(message[1])
            return True
        if message[0] == "failed":
            log.error("MQTT publisher: %s", message[1])
            return True
        return False

    def _count(self, now: Stats) -> None:
        seen = self._seen
        PUBLISHED.inc(max(now.published - seen.published, 0))
        MQTT_ACKED.inc(max(now.acked - seen.acked, 0))
        REPLAYED.inc(max(now.replayed - seen.replayed, 0))
        self.refused += max(now.refused - seen.refused, 0)
        self._seen = now
        self.spooled = now.spool
        SPOOL.set(now.spool)
        if now.connected:
            self._restart_delay = RESTART_MIN_S
            self.connected.set()
        else:
            self.connected.clear()
        MQTT_CONNECTED.labels(role="publisher").set(1 if now.connected else 0)
