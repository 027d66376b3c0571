"""A Mosquitto of the test's own, on a free port of its own: no test sees another test's or another
process's messages (the machine's broker and a fixed share group would let them)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from conftest import require_service

from support.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """Without persistence unless asked: it can be SIGKILLed and started again empty."""

    def __init__(self, tmp: Path, extra: str = "") -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            require_service("Mosquitto", "no mosquitto binary to start a broker of the test's own")
        self.exe = exe
        self.port = free_port()
        self.conf = tmp / f"mosquitto-{self.port}.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\npersistence false\nmessage_size_limit 262144\n{extra}"
            + ("allow_anonymous true\n" if "password_file" not in extra else "")
            + ("user root\n" if os.geteuid() == 0 else "")  # as root it would drop to `mosquitto`
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(self._listening, 10), "the test's broker did not start"

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
            self.proc = None
