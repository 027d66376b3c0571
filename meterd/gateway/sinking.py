"""The gateway's sinks on a thread of their own: batches are handed over and the main thread goes on
decoding while the store writes and the MQTT publisher syncs its spool. Much of that work runs
without Python's interpreter lock (SQLite's B-tree and file writes, waiting for the publisher's
answer), so both threads make progress at once.

Batches are taken in order, by one thread, so every sink sees them in the order they were heard. At
most `MAX_WAITING` batches wait: a sink slower than reception holds the main thread back (the
receivers' queue fills meanwhile) instead of piling readings up in memory. A sink that fails keeps
what it was given (the sink's own contract) and is tried again with the next batch.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from meterd.coverage.hearing import Hearing
from meterd.reading import Reading
from meterd.sinks.base import Sink

log = logging.getLogger("meterd.gateway")
MAX_WAITING = 2


class SinkWorker:
    def __init__(self, sinks: Sequence[Sink], on_error: Callable[[], None]) -> None:
        self.sinks = sinks
        self.on_error = on_error
        self._queue: queue.Queue[tuple[list[Reading], Sequence[Hearing]] | None] = queue.Queue(MAX_WAITING)
        self._idle = threading.Condition()
        self._pending = 0  # batches handed over and not yet through every sink
        self._thread = threading.Thread(target=self._run, name="sinks", daemon=True)
        self._thread.start()

    def submit(self, batch: list[Reading], hearings: Sequence[Hearing] = ()) -> None:
        """Hand a batch (and hearing totals) over; waits only while MAX_WAITING batches are still waiting."""
        with self._idle:
            self._pending += 1
        self._queue.put((batch, hearings))

    def wait(self) -> None:
        """Until every batch handed over has been through every sink."""
        with self._idle:
            while self._pending:
                self._idle.wait()

    def close(self) -> None:
        """Every batch handed over goes through, then the thread ends."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                write_all(self.sinks, item[0], self.on_error, item[1])
            except Exception:  # a fault of ours, not a sink's: this thread must go on, or reception stops
                log.exception("writing a batch to the sinks failed")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


def write_all(
    sinks: Sequence[Sink], batch: list[Reading], on_error: Callable[[], None], hearings: Sequence[Hearing] = ()
) -> None:
    """A batch to every sink (hearing totals to those that take them: a `write_hearings` method); a
    sink that fails keeps what it was given and is tried again next time."""
    for sink in sinks:
        try:
            take_hearings = getattr(sink, "write_hearings", None)
            if hearings and take_hearings is not None:
                take_hearings(hearings)
            if batch:
                sink.write(batch)
            sink.flush()
        except Exception as e:  # the database down or full: readings wait in the sink, reception goes on
            on_error()
            log.error("sink %s failed (%s); its readings are kept and tried again", type(sink).__name__, e)
