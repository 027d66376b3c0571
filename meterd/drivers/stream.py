"""Line streams for the text receivers (hex captures, rtl_wmbus): stdin, a pipe, a FIFO or a file.

Reading waits with `select`, so a stop request (SIGTERM) is seen within `poll_s` even on an idle pipe;
a line of `limit` bytes or more is reported as `None` and skipped without being held in memory."""

from __future__ import annotations

import os
import select
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from meterd.errors import MeterdError
from meterd.textinput import split_lines

MAX_LINE = 1 << 16  # a telegram line is at most a few hundred characters
CHUNK = 1 << 16


class StreamError(MeterdError):
    code = "receiver_error"


def open_source(port: str) -> int:
    """A file descriptor for `-` (stdin), a regular file or a FIFO. A FIFO is held open for writing too,
    so that the stream waits for the next writer instead of ending when one writer closes."""
    if port == "-":
        return os.dup(0)
    path = Path(port)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StreamError(f"{port}: no such file or FIFO") from None
    except OSError as e:
        raise StreamError(f"{port}: {e.strerror}") from None
    if stat.S_ISFIFO(mode):
        flags = os.O_RDWR | os.O_NONBLOCK
    elif stat.S_ISREG(mode):
        flags = os.O_RDONLY
    else:
        raise StreamError(f"{port} is neither a file nor a FIFO (a serial dongle needs its --dongle name)")
    try:
        return os.open(path, flags)
    except OSError as e:
        raise StreamError(f"cannot open {port}: {e.strerror}") from None


def lines(fd: int, stop: threading.Event, *, limit: int = MAX_LINE, poll_s: float = 0.25) -> Iterator[str | None]:
    """Decoded lines (UTF-8, undecodable bytes replaced, without line ends) until end of input or
    `stop`; closes `fd`. A line cut short by `stop` is not given."""
    try:
        for raw in split_lines(_chunks(fd, stop, poll_s), limit):
            if raw is None:
                yield None
            elif raw.endswith(b"\n"):
                yield raw[:-1].decode("utf-8", "replace")
            elif not stop.is_set():
                yield raw.decode("utf-8", "replace")
    finally:
        os.close(fd)


def _chunks(fd: int, stop: threading.Event, poll_s: float) -> Iterator[bytes]:
    """What can be read from fd, waiting at most poll_s at a time for `stop`, until end of input."""
    while not stop.is_set():
        try:
            ready, _, _ = select.select([fd], [], [], poll_s)
        except InterruptedError:
            continue
        if not ready:
            continue
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            continue
        if not chunk:
            return
        yield chunk
