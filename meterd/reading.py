"""One reading of one meter: what every consumer of decoded telegrams shares (the store, the gateway's
sinks, MQTT, metrics, walk-by, the web view), with one JSON codec.

A reading is built once from a decoded telegram; nothing downstream reads the decoder's output by
string keys. `reading_id` is the same string for the same measurement whichever gateway heard it and
however often it was sent: the meter's identity plus its own clock, else its access number, else
a window of the receive time for meters with neither; never the values read.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from meterd.errors import MeterdError
from meterd.times import parse_time
from meterd.wmbus.result import Decoded, Telegram

# a meter clock further than this from the receive time is not trusted as measured-at
MAX_CLOCK_SKEW_S = 7 * 86400
NO_CLOCK_WINDOW_S = 60
NOT_REGISTERS = frozenset({"volume", "date", "datetime", "manufacturer_specific", "error_flags"})

Value = float | int | str | bool | None


class BadReading(MeterdError):
    code = "bad_reading"


class Source(enum.StrEnum):
    RADIO = "radio"
    WALKBY = "walkby"
    WIRED = "wired"
    MANUAL = "manual"
    ESTIMATE = "estimate"
    TENANT = "tenant"  # reported by a tenant and accepted by staff


class TimeBasis(enum.StrEnum):
    """What `measured_at` and `reading_id` rest on."""

    METER_CLOCK = "meter_clock"
    ACCESS_NUMBER = "access_number"
    RECEIVE_TIME = "receive_time"


_E = TypeVar("_E", bound=enum.Enum)
# by value, for payloads: a dictionary lookup, cheaper than calling the enum
_SOURCES = {s.value: s for s in Source}
_BASES = {b.value: b for b in TimeBasis}


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    manufacturer: str
    id: str
    version: int
    device_type: int

    def key(self) -> str:
        return f"{self.manufacturer}:{self.id}:{self.version}:{self.device_type}"


@dataclass(slots=True)  # not frozen: a frozen one sets its fields through object.__setattr__, which costs
class Reading:  # much for every telegram (BENCHMARKS.md); no stage changes a reading it was given
    meter: MeterIdentity
    medium: str
    measured_at: int  # epoch seconds, UTC
    received_at: int
    total_m3: float | None
    registers: dict[str, Value] = field(default_factory=dict)
    alarms: tuple[str, ...] = ()
    rssi_dbm: float | None = None
    source: Source = Source.RADIO
    gateway: str = ""
    receiver: str = ""
    access_number: int | None = None
    basis: TimeBasis = TimeBasis.RECEIVE_TIME
    reading_id: str = ""
    raw: bytes | None = field(default=None, repr=False, compare=False)
    # the receive time to the millisecond (epoch ms), where the receiver knows it: latency metrics only
    received_ms: int | None = field(default=None, compare=False)

    @property
    def meter_id(self) -> str:
        return self.meter.id

    @property
    def received_s(self) -> float:
        """The receive time in epoch seconds, to the millisecond where the receiver knew it."""
        return received_seconds(self.received_at, self.received_ms)

    def key(self) -> int:
        """60 bits of the SHA-256 of the reading id, as a number (what the store indexes): ids from any
        source (MQTT carries them as text) spread evenly, whatever they look like."""
        return int(hashlib.sha256(self.reading_id.encode()).hexdigest()[:15], 16)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a reading (MQTT payloads, per-meter states, the spool)."""
        return {
            "reading_id": self.reading_id,
            "meter_id": self.meter.id,
            "manufacturer": self.meter.manufacturer,
            "version": self.meter.version,
            "device_type": self.meter.device_type,
            "medium": self.medium,
            "measured_at": iso(self.measured_at),
            "received_at": iso(self.received_at),
            "total_m3": self.total_m3,
            "registers": self.registers,
            "alarms": list(self.alarms),
            "rssi_dbm": self.rssi_dbm,
            "gateway": self.gateway,
            "source": self.source.value,
            "access_number": self.access_number,
            "basis": self.basis.value,
            **({"received_at_ms": self.received_ms} if self.received_ms is not None else {}),
        }

    @classmethod
    def from_json(cls, obj: object) -> Reading:
        """A reading from its JSON object; anything malformed is a BadReading naming the field."""
        if not isinstance(obj, dict):
            raise BadReading("a reading is a JSON object")
        try:
            meter = MeterIdentity(
                _text(obj, "manufacturer", 3),
                _text(obj, "meter_id", 16),
                _int(obj, "version"),
                _int(obj, "device_type"),
            )
            total = obj.get("total_m3")
            if total is not None and (
                not isinstance(total, int | float) or isinstance(total, bool) or not math.isfinite(total)
            ):
                raise BadReading("total_m3 is not a finite number")
            registers = obj.get("registers") or {}
            if not isinstance(registers, dict):
                raise BadReading("registers is not an object")
            alarms = obj.get("alarms") or []
            if not isinstance(alarms, list) or not all(isinstance(a, str) for a in alarms):
                raise BadReading("alarms is not a list of names")
            rssi = obj.get("rssi_dbm")
            if rssi is not None and not isinstance(rssi, int | float):
                raise BadReading("rssi_dbm is not a number")
            acc = obj.get("access_number")
            received_at = parse_iso(obj.get("received_at"), "received_at")
            ms = obj.get("received_at_ms")
            if not isinstance(ms, int) or isinstance(ms, bool) or ms // 1000 != received_at:
                ms = None  # absent, or not the same second: received_at alone
            return cls(
                meter=meter,
                medium=_text(obj, "medium", 32),
                measured_at=parse_iso(obj.get("measured_at"), "measured_at"),
                received_at=received_at,
                total_m3=float(total) if total is not None else None,
                registers=registers,
                alarms=tuple(alarms),
                rssi_dbm=float(rssi) if rssi is not None else None,
                source=_member(_SOURCES, obj.get("source", "radio"), "source"),
                gateway=_text(obj, "gateway", 64, required=False),
                access_number=int(acc) if isinstance(acc, int) and not isinstance(acc, bool) else None,
                basis=_member(_BASES, obj.get("basis", TimeBasis.RECEIVE_TIME.value), "basis"),
                reading_id=_text(obj, "reading_id", 64),
                received_ms=ms,
            )
        except ValueError as e:
            raise BadReading(str(e)) from None


def _text(obj: dict[str, Any], name: str, limit: int, required: bool = True) -> str:
    value = obj.get(name, "" if not required else None)
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise BadReading(f"{name} is not a string of at most {limit} characters")
    return value


def _member(members: dict[str, _E], value: object, name: str) -> _E:
    member = members.get(value) if isinstance(value, str) else None
    if member is None:
        raise BadReading(f"{name} is not one of {', '.join(members)}")
    return member


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        raise BadReading(f"{name} is not a number from 0 to 255")
    return value


def received_seconds(received_at: int, received_ms: int | None) -> float:
    """A receive time in epoch seconds: to the millisecond where it is known, else the whole second."""
    return received_ms / 1000 if received_ms is not None else float(received_at)


@functools.lru_cache(maxsize=4096)  # readings of one batch share their few seconds
def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # a third of datetime's time, twice a payload


def parse_iso(text: object, name: str) -> int:
    if isinstance(text, str):
        t = epoch_or_none(text)
        if t is not None:
            return t
    raise BadReading(f"{name} is not an ISO 8601 time")


@functools.lru_cache(maxsize=4096)  # the times of one batch are a few seconds, each in many readings
def epoch_or_none(text: str) -> int | None:
    """parse_time, or None where the text is no time (or one outside the calendar)."""
    try:
        return parse_time(text)
    except (ValueError, OverflowError, OSError):
        return None


def reading_id(
    meter: MeterIdentity, basis: TimeBasis, measured_at: int, access_number: int | None, meter_key: str | None = None
) -> str:
    """Stable id of one measurement (see the module text); 32 hex digits. Never from the values read:
    the same measurement sent again with another content is a conflict, not a second reading.
    `meter_key` is meter.key(), where the caller has it already."""
    if basis is TimeBasis.METER_CLOCK:
        anchor = f"t{measured_at}"
    elif basis is TimeBasis.ACCESS_NUMBER:
        anchor = f"a{access_number}"
    else:
        anchor = f"w{measured_at // NO_CLOCK_WINDOW_S}"
    digest = hashlib.sha256(f"{meter_key or meter.key()}|{anchor}".encode()).hexdigest()
    return digest[:32]


def from_telegram(
    decoded: Decoded,
    received_at: int,
    *,
    gateway: str = "",
    receiver: str = "",
    rssi: float | None = None,
    raw: bytes | None = None,
    source: Source = Source.RADIO,
    received_ms: int | None = None,
) -> Reading | None:
    """The reading of a decoded telegram, or None when it did not decode or names no meter.

    measured-at is the meter's own clock when it sends one within a week of the receive time, else the
    receive time. Registers are the instantaneous values of storage 0 other than the main volume."""
    if not isinstance(decoded, Telegram) or not decoded.id:
        return None
    clock: int | None = None
    registers: dict[str, Value] = {}
    for rec in decoded.records:
        if not rec.is_current:
            continue
        q = rec.quantity
        value = rec.value
        if q == "datetime" and isinstance(value, str) and clock is None:
            t = epoch_or_none(value)
            if t is not None and abs(t - received_at) <= MAX_CLOCK_SKEW_S:
                clock = t
        elif q not in NOT_REGISTERS and q not in registers and value is not None and not rec.derived:
            registers[q] = value
    access_number = decoded.access_number
    if clock is not None:
        basis, measured = TimeBasis.METER_CLOCK, clock
    elif access_number is not None:
        basis, measured = TimeBasis.ACCESS_NUMBER, received_at
    else:
        basis, measured = TimeBasis.RECEIVE_TIME, received_at
    meter = MeterIdentity(decoded.manufacturer or "", decoded.id, decoded.version or 0, decoded.device_type or 0)
    total = decoded.total_m3
    total_m3 = float(total) if isinstance(total, int | float) and math.isfinite(float(total)) else None
    alarms = tuple(decoded.alarms)
    return Reading(
        meter=meter,
        medium=decoded.medium or "",
        measured_at=measured,
        received_at=received_at,
        total_m3=total_m3,
        registers=registers,
        alarms=alarms,
        rssi_dbm=rssi,
        source=source,
        gateway=gateway,
        receiver=receiver,
        access_number=access_number,
        basis=basis,
        reading_id=reading_id(meter, basis, measured, access_number),
        raw=raw,
        received_ms=received_ms,
    )
