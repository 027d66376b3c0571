"""The gateway's sinks' thread: batches reach every sink in order, a failing sink keeps what it was
given and gets it again with the next batch, `wait` and `close` leave nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from meterd.gateway.sinking import MAX_WAITING, SinkWorker
from meterd.reading import MeterIdentity, Reading


def reading(n: int) -> Reading:
    return Reading(MeterIdentity("ELS", f"{n:08d}", 1, 7), "water", 1_780_000_000 + n, 1_780_000_000 + n, float(n))


class Collecting:
    """Holds what it is given until flush; fails its flushes while `down` is set, keeping them."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.pending: list[Reading] = []
        self.stored: list[Reading] = []
        self.down = False
        self.gate = gate

    def write(self, batch: Sequence[Reading]) -> None:
        self.pending.extend(batch)

    def flush(self) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            raise OSError("database unavailable")
        self.stored += self.pending
        self.pending = []

    def close(self) -> None:
        self.flush()


def test_batches_reach_every_sink_in_order_and_a_failing_one_keeps_them() -> None:
    a, b = Collecting(), Collecting()
    errors: list[int] = []
    worker = SinkWorker([a, b], lambda: errors.append(1))
    b.down = True
    for k in range(5):
        worker.submit([reading(10 * k + i) for i in range(3)])
    worker.wait()
    assert [r.total_m3 for r in a.stored] == [float(10 * k + i) for k in range(5) for i in range(3)]
    assert b.stored == [] and len(b.pending) == 15 and len(errors) == 5
    b.down = False
    worker.submit([reading(99)])
    worker.close()
    assert b.stored == a.stored  # what waited went with the next batch, in order


def test_a_slow_sink_holds_the_caller_back_after_a_few_batches() -> None:
    gate = threading.Event()
    sink = Collecting(gate)
    worker = SinkWorker([sink], lambda: None)
    handed: list[int] = []

    def hand_over() -> None:
        for k in range(MAX_WAITING + 3):
            worker.submit([reading(k)])
            handed.append(k)

    caller = threading.Thread(target=hand_over)
    caller.start()
    caller.join(0.5)
    assert caller.is_alive() and len(handed) <= MAX_WAITING + 1  # one being written, MAX_WAITING waiting
    gate.set()
    caller.join(10)
    worker.wait()
    assert [r.total_m3 for r in sink.stored] == [float(k) for k in range(MAX_WAITING + 3)]
    worker.close()
