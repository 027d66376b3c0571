"""The decode result: the typed values `Decoder.decode` returns, and the one place that writes them as
the JSON objects `meterd decode` prints (see docs/interfaces.md).

A decoded telegram is a `Telegram` (with its `Record`s), a frame without data a `ControlFrame`, a
telegram that could not be decoded a `Failure`. Each knows its JSON object (`to_dict`): the keys, their
order and which optional keys appear are written here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from meterd.jsonio import dumps

Value = int | float | str | None
_MARK = "@@meterd-field-{}@@"


@dataclass(slots=True)
class Record:
    """One data record: where it sits in the telegram (storage, tariff, subunit, function), what it
    measures and its value in the unit given; `dif`/`vif` as hex, None for values a vendor decoder
    read from its own layout or derived."""

    storage: int
    tariff: int
    subunit: int
    function: str
    quantity: str
    unit: str | None
    value: Value
    dif: str | None = None
    vif: str | None = None
    modifiers: list[str] | None = None  # VIF extensions that qualify the value (uncorrected, backward_flow ...)
    error: str | None = None  # the VIFE's error state of the value, when it names one
    notes: dict[str, object] | None = None  # what a vendor decoder says of the value (month, register ...)
    derived: bool = False  # computed by a vendor decoder, not read from the telegram

    @property
    def is_current(self) -> bool:
        """Storage 0, tariff 0, subunit 0, instantaneous: the meter's present value of the quantity."""
        return not (self.storage or self.tariff or self.subunit) and self.function == "instantaneous"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "storage": self.storage,
            "tariff": self.tariff,
            "subunit": self.subunit,
            "function": self.function,
            "quantity": self.quantity,
            "unit": self.unit,
            "value": self.value,
            "dif": self.dif,
            "vif": self.vif,
        }
        if self.modifiers:
            out["modifiers"] = self.modifiers
        if self.error is not None:
            out["error"] = self.error
        if self.notes:
            out.update(self.notes)
        if self.derived:
            out["derived"] = True
        return out


def vendor_record(
    quantity: str,
    unit: str | None,
    value: Value,
    storage: int = 0,
    dif: str | None = None,
    vif: str | None = None,
    modifiers: list[str] | None = None,
    derived: bool = False,
    **notes: object,
) -> Record:
    """A record a vendor decoder reads from its own layout (instantaneous, tariff 0, subunit 0)."""
    return Record(storage, 0, 0, "instantaneous", quantity, unit, value, dif, vif, modifiers, None, notes or None, derived)


@dataclass(slots=True, frozen=True)
class Adapter:
    """The link-layer identity of a radio adapter that relays another device's telegrams."""

    id: str
    manufacturer: str
    version: int
    device_type: int


@dataclass(slots=True)
class Telegram:
    """A decoded telegram. `id`, `manufacturer`, `version`, `device_type` and `medium` are the meter's
    own identity (None for a wired frame that names no meter)."""

    frame: str  # wmbus or mbus
    id: str | None
    manufacturer: str | None
    version: int | None
    device_type: int | None
    medium: str | None
    access_number: int | None = None
    status: int | None = None
    security_mode: int = 0
    decrypted: bool = False
    driver: str = "oms"  # or the vendor decoder's (model's) name
    records: list[Record] = field(default_factory=list)
    total_m3: Value = None  # the main volume register in m3, or the total a vendor decoder read
    alarms: list[str] = field(default_factory=list)
    # optional, written only when set
    adapter: Adapter | None = None
    address: int | None = None  # a wired frame's primary address
    link_warning: str | None = None
    alarm_code: str | None = None  # CI 0x71/0x74/0x75: the meter's alarm, as hex
    security_warning: str | None = None
    default_key: bool = False  # decrypted with a key its vendor publishes, none configured
    more_records_follow: bool = False  # DIF 1F: a wired readout continues in the next telegram
    warnings: tuple[str, ...] = ()  # what lenient reading passed over (trailing_bytes, ...)
    telegrams: int | None = None  # a wired readout merged from this many telegrams
    # what a vendor decoder reports besides values: written after the alarms
    vendor_warning: str | None = None
    vendor_default_key: bool = False  # it assumed the key the vendor ships its meters with (written as default_key)
    alarm_durations: dict[str, str] | None = None
    fixed_format: bool = False  # CI 0x73: read from the fixed data structure of older wired meters

    ok: ClassVar[bool] = True
    code: ClassVar[str] = "ok"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "ok": True,
            "frame": self.frame,
            "id": self.id,
            "manufacturer": self.manufacturer,
            "version": self.version,
            "device_type": self.device_type,
            "medium": self.medium,
            "access_number": self.access_number,
            "status": self.status,
            "security_mode": self.security_mode,
            "decrypted": self.decrypted,
            "driver": self.driver,
        }
        if self.adapter is not None:
            a = self.adapter
            out["adapter"] = {"id": a.id, "manufacturer": a.manufacturer, "version": a.version, "device_type": a.device_type}
        if self.address is not None and not self.fixed_format:
            out["address"] = self.address
        for name in ("link_warning", "alarm_code", "security_warning"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.default_key:
            out["default_key"] = True
        if self.more_records_follow:
            out["more_records_follow"] = True
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.telegrams is not None:
            out["telegrams"] = self.telegrams
        out["records"] = [r.to_dict() for r in self.records]
        out["total_m3"] = self.total_m3
        out["alarms"] = self.alarms
        if self.vendor_warning is not None:
            out["vendor_warning"] = self.vendor_warning
        if self.vendor_default_key:
            out["default_key"] = True
        if self.alarm_durations:
            out["alarm_durations"] = self.alarm_durations
        if self.address is not None and self.fixed_format:  # a fixed-format frame names its address last
            out["address"] = self.address
        return out

    def to_json(self) -> bytes:
        return dumps(self.to_dict())

    def json_around_records(self) -> tuple[str, str]:
        """This telegram's JSON cut where its records array goes (for a writer that makes the records'
        JSON without Record objects)."""
        marked = self.to_dict()
        marked["records"] = _MARK
        before, after = dumps(marked).decode().split(f'"{_MARK}"')
        return before, after


@dataclass(slots=True, frozen=True)
class ControlFrame:
    """A wired frame that carries no data: an acknowledgement (E5) or a short frame (a request)."""

    frame: str  # mbus_ack or mbus_short
    c_field: int | None = None
    address: int | None = None

    ok: ClassVar[bool] = True
    code: ClassVar[str] = "ok"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": True, "frame": self.frame, "records": [], "total_m3": None, "alarms": []}
        if self.c_field is not None:
            out["c_field"] = self.c_field
        if self.address is not None:
            out["address"] = self.address
        return out

    def to_json(self) -> bytes:
        return dumps(self.to_dict())


@dataclass(slots=True, frozen=True)
class Failure:
    """A telegram that could not be decoded: a stable `code`, a message for people, the meter when its
    header was readable."""

    code: str
    message: str
    meter_id: str | None = None

    ok: ClassVar[bool] = False

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": False, "error": {"code": self.code, "message": self.message}}
        if self.meter_id is not None:
            out["id"] = self.meter_id
        return out

    def to_json(self) -> bytes:
        return dumps(self.to_dict())


Decoded = Telegram | ControlFrame | Failure


def merge_readout(parts: Sequence[Decoded]) -> Decoded:
    """One wired readout of several telegrams (DIF 1F: more follow) as one decoded telegram: the first
    telegram's, with the records of every telegram in order; the first failure if one failed."""
    bad = next((p for p in parts if isinstance(p, Failure)), None)
    if bad is not None or len(parts) == 1:
        return bad if bad is not None else parts[0]
    telegrams = [p for p in parts if isinstance(p, Telegram)]
    if not telegrams:
        return parts[0]
    first = telegrams[0]
    total = next((t.total_m3 for t in telegrams if t.total_m3 is not None), None)
    return replace(
        first,
        records=[r for t in telegrams for r in t.records],
        total_m3=total,
        alarms=sorted({a for t in telegrams for a in t.alarms}),
        more_records_follow=False,
        telegrams=len(telegrams),
    )
