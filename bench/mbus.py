"""Wired M-Bus: a secondary-address search of a simulated bus of 250 slaves, and a full poll of it,
in bus time at 2400 Bd, against the theoretical minimum (the bits on the wire / baud rate).

Bus time counts every request and answer on the wire (11 bits a character), the slave's turnaround
(11 bit times, the least the standard allows) and, for a request nobody answers, the master's whole
wait (330 bit times + 50 ms, without the margin for USB adapters). The master code is the real one
(meterd.drivers.mbus_master) over the simulated bus of meterd.drivers.mbus_sim.

python bench/mbus.py [--quick]      last lines: `name: value unit`
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from meterd.drivers import mbus_master as master
from meterd.drivers.mbus_frames import bytes_time_s, timeout_s
from meterd.drivers.mbus_master import Reply, Request
from meterd.drivers.mbus_port import run
from meterd.drivers.mbus_sim import Bus, Slave, volume_records

BAUD = 2400


class Clock:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.bus_s = 0.0
        self.wire_s = 0.0
        self.requests = 0

    def exchange(self, request: Request) -> Reply:
        reply = self.bus.exchange(request)
        self.requests += 1
        wire = bytes_time_s(len(request.data) + sum(len(a.data) for a in reply.answers), BAUD)
        self.wire_s += wire
        self.bus_s += wire + (11 / BAUD if reply.answers else timeout_s(BAUD, margin_s=0.0))
        return reply


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.parse_args()  # --quick: the same (the simulated bus takes well under a second)
    n = 250
    rng = random.Random(250)
    ids = sorted({f"{rng.randrange(10**8):08d}" for _ in range(n * 2)})[:n]
    slaves = [Slave(i, sid, telegrams=[volume_records(rng.randrange(10**6))]) for i, sid in enumerate(ids)]

    clock = Clock(Bus(slaves))
    started = time.perf_counter()
    found = run(master.scan_secondary(), clock.exchange)
    cpu = time.perf_counter() - started
    assert sorted(f.secondary_id or "" for f in found) == ids, (len(found), n)
    # the least a search can cost: selecting each slave once by its own address and reading it once
    least = sum(bytes_time_s(17 + 1 + 5 + len(f.frames[0]), BAUD) for f in found)
    print(f"{n} slaves, random 8-digit secondary addresses, {BAUD} Bd; master CPU for the search {cpu:.2f} s")
    print(f"mbus_search_requests: {clock.requests} requests")
    print(f"mbus_search_bus_time: {clock.bus_s:.1f} s")
    print(f"mbus_search_wire_minimum: {least:.1f} s")
    print(f"mbus_search_ratio: {clock.bus_s / least:.1f} x")

    clock = Clock(Bus(slaves))
    for slave in slaves:  # the poll: every slave read by its primary address
        frames = run(master.read(slave.primary), clock.exchange)
        assert len(frames) == 1
    print(f"mbus_poll_bus_time: {clock.bus_s:.1f} s")
    print(f"mbus_poll_wire_minimum: {clock.wire_s:.1f} s")
    print(f"mbus_poll_ratio: {clock.bus_s / clock.wire_s:.2f} x")


if __name__ == "__main__":
    main()
