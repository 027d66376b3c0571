"""The wired M-Bus master's thin I/O: runs the generators of meterd.drivers.mbus_master over a serial
port (a level converter, 8E1) at 300, 2400 or 9600 Bd."""

from __future__ import annotations

import termios
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import serial

from meterd.drivers.mbus_frames import Answer, FrameReader, bytes_time_s, timeout_s
from meterd.drivers.mbus_master import MbusError, Reply, Request

T = TypeVar("T")
BAUDS = (300, 2400, 9600)
QUIET_S = 0.03  # after an answer, bytes still arriving this soon belong to it (a collision)


class PortError(MbusError):
    code = "port_error"


def run(transaction: Generator[Request, Reply, T], exchange: Callable[[Request], Reply]) -> T:
    """Drive a master generator with an exchange function (a port, or a simulated bus in tests)."""
    try:
        request = next(transaction)
        while True:
            request = transaction.send(exchange(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


class MbusPort:
    def __init__(self, port: str, baud: int = 2400, margin_s: float = 0.15) -> None:
        if baud not in BAUDS:
            raise PortError(f"baud rate {baud}: M-Bus uses {', '.join(map(str, BAUDS))}")
        self.baud = baud
        self.timeout_s = timeout_s(baud, margin_s)
        try:
            self.serial: Any = serial.Serial(port, baud, parity=serial.PARITY_EVEN, timeout=0.01, write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError, termios.error) as e:
            raise PortError(f"{port}: cannot open at {baud} Bd 8E1: {getattr(e, 'strerror', None) or e}") from None

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> MbusPort:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, transaction: Generator[Request, Reply, T]) -> T:
        return run(transaction, self.exchange)

    def exchange(self, request: Request) -> Reply:
        """Send a request, collect the answer: waits up to the slave timeout for its first byte, then
        until a whole answer arrived and the bus stayed quiet for a moment."""
        try:
            self.serial.reset_input_buffer()
            self.serial.write(request.data)
            self.serial.flush()
        except (serial.SerialException, OSError) as e:
            raise PortError(f"writing to {self.serial.port}: {e}") from None
        deadline = time.monotonic() + bytes_time_s(len(request.data), self.baud) + self.timeout_s
        reader = FrameReader()
        answers: list[Answer] = []
        last_byte = 0.0
        received = 0
        while True:
            try:
                chunk = self.serial.read(max(1, self.serial.in_waiting or 1))
            except (serial.SerialException, OSError) as e:
                raise PortError(f"reading {self.serial.port}: {e}") from None
            now = time.monotonic()
            if chunk:
                received += len(chunk)
                last_byte = now
                answers += reader.feed(chunk)
                # a long answer keeps the wait open for as long as its bytes take on the wire
                deadline = max(deadline, now + bytes_time_s(64, self.baud) + 0.05)
                continue
            if answers and not reader.pending() and now - last_byte >= QUIET_S:
                break
            if reader.pending() and now - last_byte > self.timeout_s:
                answers += reader.flush()
                break
            if not answers and not reader.pending() and now >= deadline:
                break
        return Reply(tuple(answers))
