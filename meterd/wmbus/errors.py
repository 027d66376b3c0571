"""Typed decode errors; `code` is stable and used in counters and JSON output."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meterd.wmbus.result import Failure


class DecodeError(Exception):
    """A telegram could not be decoded. `meter_id` is set when the header was readable."""

    def __init__(self, code: str, message: str, meter_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.meter_id = meter_id

    def failure(self) -> Failure:
        """This error as the decode result of its telegram."""
        from meterd.wmbus.result import Failure

        return Failure(self.code, self.message, self.meter_id)

    def to_dict(self) -> dict[str, object]:
        return self.failure().to_dict()


# The stable codes, for documentation and tests.
CODES = (
    "empty",
    "bad_hex",
    "too_short",
    "bad_length",
    "bad_crc",
    "bad_checksum",
    "unsupported_ci",
    "no_key",
    "decrypt_failed",
    "mac_mismatch",
    "replay",
    "truncated_record",
    "bad_record",
    "unknown_signature",
    "application_error",
    "unsupported_security",
    "fragment",
    "bad_input",
    "bad_key",
    "internal_error",
)
