"""Device type (medium) byte → lower-case name (EN 13757-7 table)."""

from __future__ import annotations

MEDIUM_NAMES: dict[int, str] = {
    0x00: "other",
    0x01: "oil",
    0x02: "electricity",
    0x03: "gas",
    0x04: "heat",
    0x05: "steam",
    0x06: "warm_water",
    0x07: "water",
    0x08: "heat_cost_allocator",
    0x09: "compressed_air",
    0x0A: "cooling_outlet",
    0x0B: "cooling_inlet",
    0x0C: "heat_inlet",
    0x0D: "heat_cooling",
    0x0E: "bus_system_component",
    0x0F: "unknown",
    0x10: "irrigation_water",
    0x11: "water_data_logger",
    0x12: "gas_data_logger",
    0x13: "gas_converter",
    0x14: "calorific_value",
    0x15: "hot_water",
    0x16: "cold_water",
    0x17: "dual_water",
    0x18: "pressure",
    0x19: "ad_converter",
    0x1A: "smoke_detector",
    0x1B: "room_sensor",
    0x1C: "gas_detector",
    0x1D: "sensor",
    0x1E: "sensor",
    0x1F: "sensor",
    0x20: "breaker",
    0x21: "valve",
    0x22: "switching_device",
    0x23: "switching_device",
    0x24: "switching_device",
    0x25: "customer_unit",
    0x28: "waste_water",
    0x29: "garbage",
    0x2A: "carbon_dioxide",
    0x2B: "environmental",
    0x30: "system_device",
    0x31: "communication_controller",
    0x32: "unidirectional_repeater",
    0x33: "bidirectional_repeater",
    0x36: "radio_converter_system",
    0x37: "radio_converter_meter",
    0x38: "wired_adapter",
}

# Media whose main register is a volume in m3 (`total_m3` of the decode output).
VOLUME_MEDIA = frozenset({0x03, 0x06, 0x07, 0x10, 0x15, 0x16, 0x17, 0x28})
WATER_MEDIA = frozenset({0x06, 0x07, 0x10, 0x15, 0x16, 0x17, 0x28})
# Radio adapters and converters: the meter's identity is in the TPL long header.
ADAPTER_TYPES = frozenset({0x31, 0x36, 0x37, 0x38})


def medium_name(device_type: int) -> str:
    return MEDIUM_NAMES.get(device_type, "reserved")
