"""One day's hearing of one meter by one gateway or walk, and its JSON form in MQTT batches."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

DAY_S = 86_400
_MAKER = re.compile(r"^([A-Z]{3})?$")
_SERIAL = re.compile(r"^[0-9A-F]{8}$")
MAX_TELEGRAMS = 10_000_000  # a day's telegrams of one meter at one gateway, at most (one every 10 ms)


class HearingKind(enum.StrEnum):
    GATEWAY = "gateway"  # a fixed gateway
    WALK = "walk"  # a meter reader's walk


class BadHearing(ValueError):
    """A hearing in a message that is not one."""


def day_of(t: int) -> int:
    """Days since 1970-01-01 (UTC) of an epoch time."""
    return t // DAY_S


@dataclass(frozen=True, slots=True)
class Hearing:
    gateway: str
    kind: HearingKind
    manufacturer: str
    serial: str
    day: int
    telegrams: int
    rssi_median_dbm: float | None
    last_at: int

    @property
    def meter(self) -> tuple[str, str]:
        return self.manufacturer, self.serial

    def to_json(self) -> dict[str, Any]:
        """The form a gateway sends with its batches (the gateway is the topic's)."""
        return {"meter_id": self.serial, "manufacturer": self.manufacturer, "day": self.day, "kind": self.kind.value,
                "telegrams": self.telegrams, "rssi_median_dbm": self.rssi_median_dbm, "last": self.last_at}  # fmt: skip

    @classmethod
    def from_json(cls, obj: object, gateway: str, today: int) -> Hearing:
        """A hearing as a batch carries it, checked like everything else that comes in: BadHearing."""
        if not isinstance(obj, dict):
            raise BadHearing("a hearing is a JSON object")
        serial, maker, day = obj.get("meter_id"), obj.get("manufacturer", ""), obj.get("day")
        telegrams, rssi, last = obj.get("telegrams"), obj.get("rssi_median_dbm"), obj.get("last")
        if not isinstance(serial, str) or not _SERIAL.match(serial):
            raise BadHearing("meter_id is not 8 upper-case hex digits")
        if not isinstance(maker, str) or not _MAKER.match(maker):
            raise BadHearing("manufacturer is not three upper-case letters")
        if not _whole(day) or not today - 400 <= day <= today + 1:
            raise BadHearing("day is not a day of the last year (days since 1970-01-01)")
        if not _whole(telegrams) or not 1 <= telegrams <= MAX_TELEGRAMS:
            raise BadHearing(f"telegrams is not a count from 1 to {MAX_TELEGRAMS}")
        if rssi is not None and (not isinstance(rssi, int | float) or isinstance(rssi, bool)
                                 or not math.isfinite(rssi) or not -200 <= rssi <= 50):  # fmt: skip
            raise BadHearing("rssi_median_dbm is not a signal strength")
        if not _whole(last) or day_of(last) != day:
            raise BadHearing("last is not a time of that day")
        try:
            kind = HearingKind(obj.get("kind", "gateway"))
        except ValueError:
            raise BadHearing("kind is not gateway or walk") from None
        return cls(gateway, kind, maker, serial, day, telegrams, None if rssi is None else float(rssi), last)

    def at(self, gateway: str) -> Hearing:
        return replace(self, gateway=gateway)


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
