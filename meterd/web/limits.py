"""Login attempts limited per account and per address: after `most` failures within `window_s`, further
attempts are refused until the oldest failure leaves the window."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginLimiter:
    def __init__(self, most: int = 5, window_s: float = 900.0) -> None:
        self.most = most
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds until an attempt is allowed again for these keys (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for key in keys:
                q = self._failures.get(key)
                while q and now - q[0] > self.window_s:
                    q.popleft()
                if q is not None and len(q) >= self.most:
                    wait = max(wait, self.window_s - (now - q[0]))
            return int(wait) + 1 if wait else 0

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, login_key: str) -> None:
        with self._lock:
            self._failures.pop(login_key, None)
