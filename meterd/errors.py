"""Base of meterd's typed errors: each has a stable `code` for counters and JSON output."""

from __future__ import annotations


class MeterdError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"ok": False, "error": {"code": self.code, "message": self.message}}
