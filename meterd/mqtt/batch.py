"""Batches of readings on MQTT: how a gateway writes them and how the central side reads them, refusing
whatever it cannot use. Pure: bytes in, typed values out.

A batch is `{"gateway": NAME, "first": F, "readings": [R, ...]}` on `meterd/NAME/readings`, each R a
reading's JSON object with its `seq` (the gateway's own counter, one per reading). `first` is the
lowest seq the gateway still holds: everything below it was committed or dropped from a full spool,
so the central side may count it as handled. A batch may also carry `hearings`: the gateway's
running totals of the day per meter (meterd.coverage.hearing), sent again until they stop changing.

The central side trusts the topic, not the payload. A message too large, not JSON, not a batch, or
naming another gateway is refused whole; a reading that breaks a rule is refused by itself and the
rest of its batch stands. The rules keep out what would stop or fool the store: text with NUL or
control characters, registers nested deeper than the format (a flat object of numbers and text),
totals that are no meter's, times far off, sources a gateway does not have.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import orjson

from meterd.coverage.hearing import DAY_S, BadHearing, Hearing
from meterd.errors import MeterdError
from meterd.jsonio import dumps
from meterd.reading import BadReading, Reading, Source
from meterd.sinks.spool import Spooled
from meterd.store.ingest import TimeWindow

MAX_MESSAGE_BYTES = 256 * 1024
MAX_TOTAL_M3 = 99_999_999.0
MAX_SEQ = 2**53
MAX_REGISTERS = 64
MAX_ALARMS = 16
GATEWAY_SOURCES = frozenset({Source.RADIO, Source.WIRED})
KEPT_CHARS = 2000  # of a refused reading or message, kept for staff to see
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOPIC = re.compile(r"^meterd/([A-Za-z0-9_.-]{1,64})/readings$")


class BatchRefused(MeterdError):
    """A whole message refused; `code` says why."""

    code = "bad_batch"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reading (or with seq None, a whole message) the central side refused, and why."""

    reason: str  # a stable code: bad_reading, bad_seq, bad_text, bad_total, bad_time, bad_source, ...
    message: str
    seq: int | None
    text: str  # what was refused, printable and truncated


@dataclass(slots=True)
class Batch:
    gateway: str
    first: int | None
    readings: list[tuple[int, Reading]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    hearings: list[Hearing] = field(default_factory=list)

    @property
    def seqs(self) -> list[int]:
        """Every seq the batch handles: stored and refused readings alike."""
        return [s for s, _ in self.readings] + [r.seq for r in self.refused if r.seq is not None]


# -- the gateway's side ---------------------------------------------------------------------------------


def readings_topic(gateway: str) -> str:
    return f"meterd/{gateway}/readings"


def encode(gateway: str, first: int, rows: Sequence[Spooled]) -> bytes:
    """A batch of spooled readings (each a JSON object without its seq)."""
    body = b",".join(b'{"seq":%d,%s' % (row.seq, row.payload[1:]) for row in rows)
    return b'{"gateway":%s,"first":%d,"readings":[%s]}' % (dumps(gateway), first, body)


def encode_hearings(
    gateway: str, hearings: Sequence[Hearing], max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Hearing totals as messages of the readings topic without readings: `{"gateway", "readings": [],
    "hearings": [...]}`, each at most `max_bytes`; with each message, how many hearings it holds."""
    head = b'{"gateway":%s,"readings":[],"hearings":[' % dumps(gateway)
    parts: list[bytes] = []
    size = len(head) + 2
    for h in hearings:
        item = dumps(h.to_json())
        if parts and size + len(item) + 1 > max_bytes:
            yield head + b",".join(parts) + b"]}", len(parts)
            parts, size = [], len(head) + 2
        parts.append(item)
        size += len(item) + 1
    if parts:
        yield head + b",".join(parts) + b"]}", len(parts)


def split(gateway: str, rows: Sequence[Spooled], max_bytes: int = MAX_MESSAGE_BYTES) -> Iterator[list[Spooled]]:
    """The rows in runs that each make a batch of at most `max_bytes` (a reading larger than that on
    its own goes alone: the central side refuses it, and its seq counts as handled all the same)."""
    overhead = 64 + len(gateway)
    run: list[Spooled] = []
    size = overhead
    for row in rows:
        grow = len(row.payload) + 24
        if run and size + grow > max_bytes:
            yield run
            run, size = [], overhead
        run.append(row)
        size += grow
    if run:
        yield run


# -- the central side ------------------------------------------------------------------------------------


def gateway_of(topic: str) -> str:
    m = _TOPIC.match(topic)
    if m is None:
        raise BatchRefused("bad_topic", "not a topic of readings (meterd/GATEWAY/readings)")
    return m.group(1)


def decode(topic: str, payload: bytes, now: int, max_bytes: int = MAX_MESSAGE_BYTES) -> Batch:
    """The batch of a message; BatchRefused when the message as a whole cannot be used."""
    gateway = gateway_of(topic)
    if len(payload) > max_bytes:
        raise BatchRefused("too_large", f"message of {len(payload)} bytes, the limit is {max_bytes}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise BatchRefused("not_json", f"not JSON ({e})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("readings"), list):
        raise BatchRefused("not_batch", 'not a batch ({"gateway": ..., "readings": [...]})')
    if obj.get("gateway") != gateway:
        raise BatchRefused("wrong_gateway", f"the batch names gateway {printable(repr(obj.get('gateway')))[:80]}, "
                           f"its topic {gateway}")  # fmt: skip
    first = obj.get("first")
    batch = Batch(gateway, first if _is_seq(first) else None)
    window = TimeWindow.around(now)
    for item in obj["readings"]:
        try:
            seq, reading = _reading(item, gateway, window)
        except _Refused as e:
            batch.refused.append(Refusal(e.reason, e.message, e.seq, kept_text(item)))
            continue
        batch.readings.append((seq, reading))
    hearings = obj.get("hearings")
    if isinstance(hearings, list):
        today = now // DAY_S
        for item in hearings:
            try:
                batch.hearings.append(Hearing.from_json(item, gateway, today))
            except BadHearing as e:
                batch.refused.append(Refusal("bad_hearing", str(e), None, kept_text(item)))
    elif hearings is not None:
        batch.refused.append(Refusal("bad_hearing", "hearings is not a list", None, kept_text(hearings)))
    seqs = batch.seqs
    if batch.first is not None and (not seqs or batch.first > min(seqs)):
        batch.first = None  # a hint above its own readings is no hint
    return batch


class _Refused(Exception):
    def __init__(self, reason: str, message: str, seq: int | None) -> None:
        super().__init__(message)
        self.reason, self.message, self.seq = reason, message, seq


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SEQ


def _reading(item: object, gateway: str, window: TimeWindow) -> tuple[int, Reading]:
    if not isinstance(item, dict):
        raise _Refused("bad_reading", "a reading is a JSON object", None)
    seq = item.get("seq")
    if not _is_seq(seq):
        raise _Refused("bad_seq", f"seq is not a whole number from 1 to {MAX_SEQ}", None)
    assert isinstance(seq, int)
    if item.get("gateway", gateway) != gateway:
        raise _Refused("wrong_gateway", f"the reading names another gateway than its topic ({gateway})", seq)
    for name in ("meter_id", "manufacturer", "medium", "reading_id", "gateway", "source", "basis"):
        value = item.get(name)
        if isinstance(value, str) and _CONTROL.search(value):
            raise _Refused("bad_text", f"{name} holds NUL or control characters", seq)
    _check_registers(item.get("registers"), seq)
    alarms = item.get("alarms")
    if isinstance(alarms, list) and (
        len(alarms) > MAX_ALARMS or any(not isinstance(a, str) or len(a) > 32 or _CONTROL.search(a) for a in alarms)
    ):
        raise _Refused("bad_alarms", f"alarms is not a list of at most {MAX_ALARMS} short names", seq)
    try:
        r = Reading.from_json(item)
    except BadReading as e:
        raise _Refused("bad_reading", e.message, seq) from None
    if r.source not in GATEWAY_SOURCES:
        raise _Refused("bad_source", f"a gateway sends only radio and wired readings, not {r.source.value}", seq)
    if r.total_m3 is not None and not 0.0 <= r.total_m3 <= MAX_TOTAL_M3:
        raise _Refused("bad_total", f"total_m3 {r.total_m3!r} is not from 0 to {MAX_TOTAL_M3:.0f} m3", seq)
    if r.rssi_dbm is not None and not (math.isfinite(r.rssi_dbm) and -200.0 <= r.rssi_dbm <= 50.0):
        raise _Refused("bad_reading", "rssi_dbm is not a signal strength", seq)
    if not (window.holds(r.measured_at) and window.holds(r.received_at)):
        raise _Refused("bad_time", "measured_at or received_at is before 2000 or more than a day ahead", seq)
    r.gateway = gateway
    return seq, r


def _check_registers(registers: object, seq: int) -> None:
    """Registers are a flat object of at most MAX_REGISTERS numbers, booleans, text or nulls."""
    if registers is None:
        return
    if not isinstance(registers, dict):
        raise _Refused("bad_reading", "registers is not an object", seq)
    if len(registers) > MAX_REGISTERS:
        raise _Refused("bad_registers", f"more than {MAX_REGISTERS} registers", seq)
    for name, value in registers.items():
        if len(name) > 64 or _CONTROL.search(name):
            raise _Refused("bad_registers", "a register's name is too long or holds control characters", seq)
        if isinstance(value, dict | list):
            raise _Refused("too_deep", f"register {printable(name)!r} is nested; registers hold plain values", seq)
        if isinstance(value, str) and (len(value) > 512 or _CONTROL.search(value)):
            raise _Refused("bad_registers", f"register {printable(name)!r} is too long or holds control characters", seq)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused("bad_registers", f"register {printable(name)!r} is not a finite number", seq)


def printable(text: str) -> str:
    """Text with control characters (NUL included) written as \\xNN, safe for any store and terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def kept_text(item: object) -> str:
    """What is kept of a refused reading: its plain top-level fields (nothing nested, which could be
    too deep to write again), as printable JSON text, truncated."""
    if isinstance(item, dict):
        flat = {str(k)[:64]: v for k, v in list(item.items())[:40] if v is None or isinstance(v, str | int | float | bool)}
        text = dumps({k: (v[:200] if isinstance(v, str) else v) for k, v in flat.items()}).decode()
    else:
        text = type(item).__name__
    return printable(text)[:KEPT_CHARS]


def kept_message(payload: bytes) -> str:
    """What is kept of a refused message: its start, as printable text."""
    return printable(payload[:KEPT_CHARS].decode("utf-8", "replace"))[:KEPT_CHARS]
