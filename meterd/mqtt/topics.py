"""Topics of meterd on MQTT, and the Home Assistant discovery of a meter (see docs/interfaces.md).

    meterd/<gateway>/readings          batches of readings (meterd.mqtt.batch), QoS 1
    meterd/<gateway>/committed         {"seq": N}, retained: the central store has every seq <= N
    meterd/<gateway>/status            online / offline, retained (offline is the last will)
    meterd/meter/<id>/<medium>/state   a meter's latest reading, retained (`[mqtt] per_meter`)
"""

from __future__ import annotations

import functools
import re
from importlib import metadata

from meterd.jsonio import dumps

SHARED_READINGS = "$share/meterd/meterd/+/readings"  # several ingesters split the load
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
WATER_MEDIA = frozenset({"water", "warm_water", "hot_water", "cold_water"})
EXPIRE_AFTER_S = 6 * 3600  # Home Assistant shows a meter unheard this long as unavailable
MEDIUM_NAMES = {
    "water": "Water meter", "warm_water": "Warm water meter", "hot_water": "Hot water meter",
    "cold_water": "Cold water meter", "gas": "Gas meter", "heat": "Heat meter", "electricity": "Electricity meter",
    "heat_cost_allocator": "Heat cost allocator",
}  # fmt: skip


def safe(name: str) -> str:
    return _UNSAFE.sub("_", name) or "_"


def status_topic(gateway: str) -> str:
    return f"meterd/{safe(gateway)}/status"


def committed_topic(gateway: str) -> str:
    return f"meterd/{safe(gateway)}/committed"


@functools.lru_cache(maxsize=65536)  # a gateway hears a few thousand meters, each again and again
def meter_state_topic(meter_id: str, medium: str) -> str:
    """One topic per meter and medium, whichever gateway heard it (two makers' meters can share an id,
    never also a medium)."""
    return f"meterd/meter/{safe(meter_id)}/{safe(medium or 'unknown')}/state"


def _version() -> str:
    try:
        return metadata.version("meterd")
    except metadata.PackageNotFoundError:
        return "unknown"


def discovery(gateway: str, meter_id: str, manufacturer: str, medium: str, has_volume: bool) -> list[tuple[str, bytes]]:
    """Home Assistant discovery of a meter: a volume sensor (m³, total_increasing, device class from the
    medium) where the meter has a volume register, RSSI and alarms as diagnostics; state from the
    meter's own topic; retained, so Home Assistant finds them after its own restart."""
    node = f"meterd_{safe(meter_id)}_{safe(medium or 'unknown')}"
    device = {
        "identifiers": [node],
        "name": f"{MEDIUM_NAMES.get(medium, 'Meter')} {meter_id}",
        "manufacturer": manufacturer,
        "serial_number": meter_id,
    }
    common = {
        "state_topic": meter_state_topic(meter_id, medium),
        "device": device,
        "availability": [{"topic": status_topic(gateway), "payload_available": "online",
                          "payload_not_available": "offline"}],
        "expire_after": EXPIRE_AFTER_S,
        "origin": {"name": "meterd", "sw_version": _version()},
    }  # fmt: skip
    sensors: list[tuple[str, dict[str, object]]] = []
    if has_volume:
        sensors.append(("volume", {"name": "Volume", "device_class": "gas" if medium == "gas" else "water",
                                   "state_class": "total_increasing", "unit_of_measurement": "m³",
                                   "value_template": "{{ value_json.total_m3 }}"}))  # fmt: skip
    sensors += [
        ("rssi", {"name": "RSSI", "device_class": "signal_strength", "unit_of_measurement": "dBm",
                  "entity_category": "diagnostic", "value_template": "{{ value_json.rssi_dbm }}"}),
        ("alarms", {"name": "Alarms", "entity_category": "diagnostic",
                    "value_template": "{{ value_json.alarms | join(', ') if value_json.alarms else 'none' }}"}),
    ]  # fmt: skip
    return [
        (f"homeassistant/sensor/{node}/{what}/config", dumps({**config, **common, "unique_id": f"{node}_{what}"}))
        for what, config in sensors
    ]
