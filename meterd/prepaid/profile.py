"""Vendor profiles of prepaid meters: where a vendor puts the valve state, tamper and low-credit flags,
the remaining volume credit and the last top-up among a meter's records. The standard gives credit and
debit their own VIFs (FD 00-07); the rest is in standard carriers whose bits a vendor assigns (error
flags FD 17, digital output FD 1A, digital input FD 1B) or in manufacturer-specific data (DIF 0F, kept
as hex). An operator writes the profile from the vendor's telegram description, in the configuration:

    [[prepaid.profile]]
    name = "vendor-x"
    manufacturer = "XYZ"                      # or meters = ["12345678", ...]
    valve = { register = "digital_output", bit = 0, set_means = "closed" }
    tamper = { register = "error_flags", bit = 3 }
    low_credit = { register = "manufacturer_specific", byte = 1, bit = 2 }
    volume_credit = "volume_credit"           # a register holding m3 left, if the meter sends one
    last_topup = "credit_storage_1"           # a register holding the last top-up, if the meter sends one

Pure: registers in, registers with the profile's fields out (`valve` "open"/"closed", `tamper` and
`low_credit_flag` 0/1, `volume_credit` and `last_topup` numbers); a flag whose register is missing or
not a number is left out, never guessed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from meterd.wmbus.result import Telegram

Value = float | int | str | None


class Bit(BaseModel):
    """One bit of a register: of its integer value, or of byte `byte` of a hex register."""

    quantity: str = Field(alias="register", min_length=1, max_length=64)  # a record's quantity, as decode names it
    bit: int = Field(ge=0, le=63)
    byte: int | None = Field(None, ge=0, le=255)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def read(self, registers: dict[str, Value]) -> bool | None:
        value = registers.get(self.quantity)
        if self.byte is not None:
            if not isinstance(value, str):
                return None
            try:
                data = bytes.fromhex(value)
            except ValueError:
                return None
            if self.byte >= len(data) or self.bit > 7:
                return None
            return bool(data[self.byte] >> self.bit & 1)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
            return None
        return bool(int(value) >> self.bit & 1)


class ValveBit(Bit):
    set_means: Literal["closed", "open"] = "closed"


class PrepaidProfile(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    manufacturer: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    meters: list[str] = []
    valve: ValveBit | None = None
    tamper: Bit | None = None
    low_credit: Bit | None = None
    volume_credit: str | None = None
    last_topup: str | None = None
    model_config = ConfigDict(extra="forbid")

    def applies_to(self, manufacturer: str, meter_id: str) -> bool:
        if self.meters:
            return meter_id in self.meters
        return self.manufacturer is not None and manufacturer.upper() == self.manufacturer.upper()

    def fields(self, registers: dict[str, Value]) -> dict[str, Value]:
        """The profile's fields read from `registers` (what is missing is left out)."""
        out: dict[str, Value] = {}
        if self.valve is not None:
            bit = self.valve.read(registers)
            if bit is not None:
                closed = bit if self.valve.set_means == "closed" else not bit
                out["valve"] = "closed" if closed else "open"
        for name, flag in (("tamper", self.tamper), ("low_credit_flag", self.low_credit)):
            if flag is not None:
                bit = flag.read(registers)
                if bit is not None:
                    out[name] = int(bit)
        for name, register in (("volume_credit", self.volume_credit), ("last_topup", self.last_topup)):
            value = registers.get(register) if register else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = value
        return out


def profile_for(profiles: list[PrepaidProfile], manufacturer: str, meter_id: str) -> PrepaidProfile | None:
    """The first profile naming the meter itself, else the first for its manufacturer."""
    for p in profiles:
        if p.meters and meter_id in p.meters:
            return p
    for p in profiles:
        if not p.meters and p.applies_to(manufacturer, meter_id):
            return p
    return None


def record_values(telegram: Telegram) -> dict[str, Value]:
    """The instantaneous values of storage 0 of a decoded telegram, by quantity, the first of each,
    manufacturer-specific data (hex) and error flags included: what a profile reads."""
    out: dict[str, Value] = {}
    for rec in telegram.records:
        q, value = rec.quantity, rec.value
        if rec.is_current and q not in out and isinstance(value, int | float | str) and not isinstance(value, bool):
            out[q] = value
    return out
