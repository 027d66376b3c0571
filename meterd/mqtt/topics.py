"""Topics and payloads of readings on MQTT (see docs/interfaces.md)."""

from __future__ import annotations

import functools
import re

import orjson

from meterd.jsonio import dumps
from meterd.reading import BadReading, Reading

PREFIX = "meterd"
SHARED_READINGS = "$share/meterd/meterd/+/reading/+"  # several ingesters split the load
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@functools.lru_cache(maxsize=65536)  # a gateway hears a few thousand meters, each again and again
def reading_topic(gateway: str, meter_id: str) -> str:
    return f"{PREFIX}/{_UNSAFE.sub('_', gateway)}/reading/{_UNSAFE.sub('_', meter_id)}"


def status_topic(gateway: str) -> str:
    return f"{PREFIX}/{_UNSAFE.sub('_', gateway)}/status"


def payload(r: Reading) -> bytes:
    return dumps(r.to_json())


def parse_payload(data: bytes) -> Reading:
    """A reading from a message; BadReading naming the problem otherwise."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadReading(f"not JSON ({e})") from None
    return Reading.from_json(obj)


def discovery(gateway: str, r: Reading) -> list[tuple[str, bytes]]:
    """Home Assistant discovery: a water sensor per meter (m³, total_increasing), RSSI and alarms as
    diagnostics; retained, so Home Assistant finds them after its own restart."""
    node = _UNSAFE.sub("_", f"meterd_{r.meter.id}")
    state = reading_topic(gateway, r.meter.id)
    device = {
        "identifiers": [node],
        "name": f"Water meter {r.meter.id}",
        "manufacturer": r.meter.manufacturer,
        "via_device": f"meterd_{gateway}",
    }
    availability = {"topic": status_topic(gateway), "payload_available": "online", "payload_not_available": "offline"}
    sensors = [
        ("volume", {"name": "Volume", "device_class": "water", "state_class": "total_increasing",
                    "unit_of_measurement": "m³", "value_template": "{{ value_json.total_m3 }}"}),
        ("rssi", {"name": "RSSI", "device_class": "signal_strength", "unit_of_measurement": "dBm",
                  "entity_category": "diagnostic", "value_template": "{{ value_json.rssi_dbm }}"}),
        ("alarms", {"name": "Alarms", "entity_category": "diagnostic",
                    "value_template": "{{ value_json.alarms | join(', ') if value_json.alarms else 'none' }}"}),
    ]  # fmt: skip
    out = []
    for what, config in sensors:
        body = {**config, "unique_id": f"{node}_{what}", "state_topic": state, "device": device,
                "availability": [availability]}  # fmt: skip
        out.append((f"homeassistant/sensor/{node}/{what}/config", dumps(body)))
    return out
