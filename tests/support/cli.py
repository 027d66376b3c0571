"""Running meterd as a user does: a separate process, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys


def meterd(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TZ": "UTC", **(env or {})})  # fmt: skip


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    """stdout of a command that must succeed."""
    res = meterd(*args, env=env)
    assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res.stdout
