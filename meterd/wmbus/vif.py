"""EN 13757-3 value information: primary VIFs, the FB and FD extension tables, combinable VIFEs.

Tables are built once at import and never change. Each entry says what the record measures, in which
output unit, and how raw numbers are scaled to it (value = raw * factor * 10**exp).
"""

from __future__ import annotations

from dataclasses import dataclass

# How a record's bytes become a value besides the DIF's own data type.
NUMBER = "number"
DATE = "date"
DATETIME = "datetime"
HEX = "hex"
TEXT = "text"
FAHRENHEIT = "fahrenheit"  # a temperature in °F, given in °C
FAHRENHEIT_DIFF = "fahrenheit_diff"  # a temperature difference in °F, given in K


@dataclass(frozen=True, slots=True)
class VifInfo:
    quantity: str
    unit: str | None = None
    exp: int = 0
    factor: int = 1
    kind: str = NUMBER
    signed: bool = True


_DURATION_UNITS = (("s", 1), ("s", 60), ("h", 1), ("d", 1))  # nn = 00 s, 01 min (→ s), 10 h, 11 d
_LONG_DURATION_UNITS = (("h", 1), ("d", 1), ("month", 1), ("y", 1))  # pp = hours, days, months, years


def _plain(quantity: str) -> VifInfo:
    """A unitless, unsigned quantity (identifiers, counters, flags)."""
    return VifInfo(quantity, None, signed=False)


def _primary() -> dict[int, VifInfo]:
    t: dict[int, VifInfo] = {}
    for n in range(8):
        t[0x00 + n] = VifInfo("energy", "kWh", n - 6)
        t[0x08 + n] = VifInfo("energy", "J", n)
        t[0x10 + n] = VifInfo("volume", "m3", n - 6)
        t[0x18 + n] = VifInfo("mass", "kg", n - 3)
        t[0x28 + n] = VifInfo("power", "W", n - 3)
        t[0x30 + n] = VifInfo("power", "J/h", n)
        t[0x38 + n] = VifInfo("volume_flow", "m3/h", n - 6)
        t[0x40 + n] = VifInfo("volume_flow", "m3/h", n - 7, 60)
        t[0x48 + n] = VifInfo("volume_flow", "m3/h", n - 9, 3600)
        t[0x50 + n] = VifInfo("mass_flow", "kg/h", n - 3)
    for n in range(4):
        unit, factor = _DURATION_UNITS[n]
        t[0x20 + n] = VifInfo("on_time", unit, 0, factor, signed=False)
        t[0x24 + n] = VifInfo("operating_time", unit, 0, factor, signed=False)
        t[0x70 + n] = VifInfo("averaging_duration", unit, 0, factor, signed=False)
        t[0x74 + n] = VifInfo("actuality_duration", unit, 0, factor, signed=False)
        t[0x58 + n] = VifInfo("flow_temperature", "C", n - 3)
        t[0x5C + n] = VifInfo("return_temperature", "C", n - 3)
        t[0x60 + n] = VifInfo("temperature_difference", "K", n - 3)
        t[0x64 + n] = VifInfo("external_temperature", "C", n - 3)
        t[0x68 + n] = VifInfo("pressure", "bar", n - 3)
    t[0x6C] = VifInfo("date", kind=DATE)
    t[0x6D] = VifInfo("datetime", kind=DATETIME)
    t[0x6E] = VifInfo("hca_units")
    t[0x6F] = _plain("reserved")
    t[0x78] = _plain("fabrication_no")
    t[0x79] = _plain("enhanced_id")
    t[0x7A] = _plain("bus_address")
    t[0x7E] = _plain("any")
    t[0x7F] = VifInfo("manufacturer_specific", kind=HEX, signed=False)
    return t


def _fd() -> dict[int, VifInfo]:
    t: dict[int, VifInfo] = {}
    for n in range(4):
        t[0x00 + n] = VifInfo("credit", "currency", n - 3)
        t[0x04 + n] = VifInfo("debit", "currency", n - 3)
    names = {
        0x08: "access_number",
        0x09: "medium",
        0x0A: "manufacturer",
        0x0B: "parameter_set_identification",
        0x0C: "model_version",
        0x0D: "hardware_version",
        0x0E: "firmware_version",
        0x0F: "software_version",
        0x10: "customer_location",
        0x11: "customer",
        0x12: "access_code_user",
        0x13: "access_code_operator",
        0x14: "access_code_system_operator",
        0x15: "access_code_developer",
        0x16: "password",
        0x17: "error_flags",
        0x18: "error_mask",
        0x19: "security_key",
        0x1A: "digital_output",
        0x1B: "digital_input",
        0x1C: "baudrate",
        0x1D: "response_delay_time",
        0x1E: "retry",
        0x1F: "remote_control",
        0x20: "first_storage_number",
        0x21: "last_storage_number",
        0x22: "size_of_storage_block",
        0x23: "descriptor_for_tariff_and_subunit",
        0x2A: "operator_specific_data",
        0x2B: "time_point_second",
        0x3A: "dimensionless",
        0x3B: "register_number",
        0x60: "reset_counter",
        0x61: "cumulation_counter",
        0x62: "control_signal",
        0x63: "day_of_week",
        0x64: "week_number",
        0x65: "time_point_of_day_change",
        0x66: "state_of_parameter_activation",
        0x67: "special_supplier_information",
        0x72: "daylight_saving",
        0x73: "listening_window_management",
        0x75: "number_of_times_meter_stopped",
    }
    for code, name in names.items():
        t[code] = _plain(name)
    t[0x1C] = VifInfo("baudrate", "Bd", signed=False)
    t[0x1D] = VifInfo("response_delay_time", "bittimes", signed=False)
    t[0x2A] = VifInfo("operator_specific_data", kind=HEX, signed=False)
    t[0x76] = VifInfo("manufacturer_specific_container", kind=HEX, signed=False)
    t[0x30] = VifInfo("start_of_tariff", kind=DATETIME)
    t[0x70] = VifInfo("battery_change_datetime", kind=DATETIME)
    t[0x71] = VifInfo("rf_level", "dBm")
    t[0x74] = VifInfo("remaining_battery_life", "d", signed=False)
    for n in range(4):
        unit, factor = _DURATION_UNITS[n]
        t[0x24 + n] = VifInfo("storage_interval", unit, 0, factor, signed=False)
        t[0x2C + n] = VifInfo("duration_since_last_readout", unit, 0, factor, signed=False)
        t[0x34 + n] = VifInfo("period_of_tariff", unit, 0, factor, signed=False)
        if n:
            t[0x30 + n] = VifInfo("duration_of_tariff", unit, 0, factor, signed=False)
        lunit, _ = _LONG_DURATION_UNITS[n]
        t[0x68 + n] = VifInfo("duration_since_last_cumulation", lunit, signed=False)
        t[0x6C + n] = VifInfo("operating_time_battery", lunit, signed=False)
    t[0x28] = VifInfo("storage_interval", "month", signed=False)
    t[0x29] = VifInfo("storage_interval", "y", signed=False)
    t[0x38] = VifInfo("period_of_tariff", "month", signed=False)
    t[0x39] = VifInfo("period_of_tariff", "y", signed=False)
    for n in range(16):
        t[0x40 + n] = VifInfo("voltage", "V", n - 9)
        t[0x50 + n] = VifInfo("current", "A", n - 12)
    return t


def _fb() -> dict[int, VifInfo]:
    t: dict[int, VifInfo] = {}
    for n in range(2):
        t[0x00 + n] = VifInfo("energy", "kWh", n - 1 + 3)  # 10^(n-1) MWh
        t[0x02 + n] = VifInfo("reactive_energy", "kVARh", n)
        t[0x08 + n] = VifInfo("energy", "J", n - 1 + 9)  # 10^(n-1) GJ
        t[0x10 + n] = VifInfo("volume", "m3", n + 2)
        t[0x18 + n] = VifInfo("mass", "kg", n + 2 + 3)  # 10^(n+2) t
        t[0x1A + n] = VifInfo("relative_humidity", "%", n - 1)
        t[0x28 + n] = VifInfo("power", "W", n - 1 + 6)  # 10^(n-1) MW
        t[0x30 + n] = VifInfo("power", "J/h", n - 1 + 9)  # 10^(n-1) GJ/h
    for n in range(4):
        t[0x0C + n] = VifInfo("energy", "kWh", n - 1 - 3, 1163)  # 10^(n-1) Mcal; 1 Mcal = 1.163 kWh
        t[0x58 + n] = VifInfo("flow_temperature", "C", n - 3, kind=FAHRENHEIT)
        t[0x5C + n] = VifInfo("return_temperature", "C", n - 3, kind=FAHRENHEIT)
        t[0x60 + n] = VifInfo("temperature_difference", "K", n - 3, kind=FAHRENHEIT_DIFF)
        t[0x64 + n] = VifInfo("external_temperature", "C", n - 3, kind=FAHRENHEIT)
        t[0x70 + n] = VifInfo("cold_warm_temperature_limit", "C", n - 3, kind=FAHRENHEIT)
        t[0x74 + n] = VifInfo("cold_warm_temperature_limit", "C", n - 3)
    t[0x20] = VifInfo("volume", "m3", -12, 28316846592)  # cubic feet; 1 ft3 = 0.028316846592 m3
    t[0x21] = VifInfo("volume", "m3", -13, 28316846592)  # 1/10 cubic feet
    for n in range(8):
        t[0x78 + n] = VifInfo("cumulative_count_max_power", "W", n - 3)
    return t


PRIMARY: dict[int, VifInfo] = _primary()
FD_TABLE: dict[int, VifInfo] = _fd()
FB_TABLE: dict[int, VifInfo] = _fb()
PLAIN_TEXT = VifInfo("plain_text", kind=NUMBER)
UNKNOWN = VifInfo("unknown", kind=HEX, signed=False)

# Record error codes carried in a VIFE 0x00-0x1F (slave to master).
RECORD_ERRORS: dict[int, str] = {
    0x00: "none",
    0x01: "too_many_difes",
    0x02: "storage_number_not_implemented",
    0x03: "unit_number_not_implemented",
    0x04: "tariff_number_not_implemented",
    0x05: "function_not_implemented",
    0x06: "data_class_not_implemented",
    0x07: "data_size_not_implemented",
    0x0B: "too_many_vifes",
    0x0C: "illegal_vif_group",
    0x0D: "illegal_vif_exponent",
    0x0E: "vif_dif_mismatch",
    0x0F: "unimplemented_action",
    0x15: "no_data_available",
    0x16: "data_overflow",
    0x17: "data_underflow",
    0x18: "data_error",
    0x1C: "premature_end_of_record",
}

# Combinable (orthogonal) VIFEs that qualify a record without changing its scale.
MODIFIERS: dict[int, str] = {
    0x20: "per_second",
    0x21: "per_minute",
    0x22: "per_hour",
    0x23: "per_day",
    0x24: "per_week",
    0x25: "per_month",
    0x26: "per_year",
    0x27: "per_revolution",
    0x28: "increment_per_input_pulse_ch0",
    0x29: "increment_per_input_pulse_ch1",
    0x2A: "increment_per_output_pulse_ch0",
    0x2B: "increment_per_output_pulse_ch1",
    0x2C: "per_litre",
    0x2D: "per_m3",
    0x2E: "per_kg",
    0x2F: "per_kelvin",
    0x30: "per_kwh",
    0x31: "per_gj",
    0x32: "per_kw",
    0x33: "per_kelvin_litre",
    0x34: "per_volt",
    0x35: "per_ampere",
    0x36: "multiplied_by_s",
    0x37: "multiplied_by_s_per_v",
    0x38: "multiplied_by_s_per_a",
    0x39: "start_datetime_of",
    0x3A: "uncorrected",
    0x3B: "forward_flow",
    0x3C: "backward_flow",
    0x3D: "non_metric",
    0x3E: "value_at_base_conditions",
    0x3F: "obis_declaration",
    0x40: "lower_limit",
    0x48: "upper_limit",
    0x41: "number_of_lower_limit_exceeds",
    0x49: "number_of_upper_limit_exceeds",
    0x7E: "future_value",
}
for _code, _name in (
    (0x42, "begin_first_lower_limit_exceed"),
    (0x43, "end_first_lower_limit_exceed"),
    (0x46, "begin_last_lower_limit_exceed"),
    (0x47, "end_last_lower_limit_exceed"),
    (0x4A, "begin_first_upper_limit_exceed"),
    (0x4B, "end_first_upper_limit_exceed"),
    (0x4E, "begin_last_upper_limit_exceed"),
    (0x4F, "end_last_upper_limit_exceed"),
):
    MODIFIERS[_code] = _name
for _n in range(16):
    MODIFIERS.setdefault(0x50 + _n, "duration_of_" + ("upper" if _n & 8 else "lower") + "_limit_exceed")
for _n in range(8):
    MODIFIERS.setdefault(0x60 + _n, "duration_of_" + ("last" if _n & 4 else "first") + "_limit_exceed")
for _code in (0x6A, 0x6B, 0x6E, 0x6F):
    MODIFIERS[_code] = "datetime_of_limit_exceed"
# Datetime-valued modifiers: the record holds a point in time, not the base quantity.
DATETIME_MODIFIERS = frozenset({0x39, 0x42, 0x43, 0x46, 0x47, 0x4A, 0x4B, 0x4E, 0x4F, 0x6A, 0x6B, 0x6E, 0x6F})
