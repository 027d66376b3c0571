"""The systemd notify protocol (sd_notify): READY=1, WATCHDOG=1, STOPPING=1 on $NOTIFY_SOCKET.

Written by hand: it is one datagram on a Unix socket, and the library for it (python-systemd) needs
the C library and headers of systemd to build."""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog = usec.isdigit() and (not pid or pid == str(os.getpid()))
        self.watchdog_interval_s = int(usec) / 2e6 if watchdog else 0.0
        self._last_ping = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, state: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(state.encode(), self.address)
        except OSError:
            pass  # the service goes on whether or not systemd is listening

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        """Ping when half the watchdog interval has passed (called from the main loop)."""
        if self.watchdog_interval_s and time.monotonic() - self._last_ping >= self.watchdog_interval_s:
            self._last_ping = time.monotonic()
            self.send("WATCHDOG=1")
