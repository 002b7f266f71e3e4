"""Home Assistant MQTT discovery: retained config topics that point HA at our own topics.

Nothing new is published for HA: its entities read the retained bay states, the health
heartbeat and the status document (availability), so HA and the backend see the same data.
Topic: ``{discovery_prefix}/{component}/{device}/{object}/config`` (node id = device id,
which the per-device broker ACL can allow with one pattern).
"""

from __future__ import annotations

from typing import Any

from edge_agent import __version__
from edge_agent.events.topics import Topics

_BAY_ENTITIES = (
    # component, object suffix, name, extra config
    ("binary_sensor", "occupied", "occupied",
     {"device_class": "occupancy", "value_template": "{{ 'ON' if value_json.state not in ('free', 'unknown') else 'OFF' }}"}),
    ("binary_sensor", "violation", "violation",
     {"device_class": "problem", "value_template": "{{ 'ON' if value_json.state in ('violation', 'overstay') else 'OFF' }}"}),
    ("sensor", "state", "state", {"value_template": "{{ value_json.state }}"}),
    ("sensor", "plate", "plate", {"value_template": "{{ value_json.plate or '' }}", "icon": "mdi:card-text"}),
)
_LOCK_ENTITY = ("sensor", "lock", "lock", {"value_template": "{{ value_json.lock or 'none' }}", "icon": "mdi:lock"})
_HEALTH_ENTITIES = (
    ("sensor", "outbox_depth", "outbox depth", {"value_template": "{{ value_json.outbox_depth }}"}),
    ("sensor", "cpu_temp", "CPU temperature",
     {"value_template": "{{ value_json.cpu_temp_c }}", "device_class": "temperature", "unit_of_measurement": "°C"}),
    ("sensor", "fps", "frames per second", {"value_template": "{{ value_json.fps }}"}),
)


def discovery_messages(
    topics: Topics, site: str, device: str, bays: list[tuple[str, bool]], prefix: str = "homeassistant"
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) pairs; ``bays`` lists (bay id, has a lock)."""
    dev = {
        "identifiers": [f"edge-agent-{site}-{device}"],
        "name": f"EV bays {site}/{device}",
        "manufacturer": "edge-agent",
        "model": "EV-bay edge agent",
        "sw_version": __version__,
    }
    availability = [{"topic": topics.status, "value_template": "{{ value_json.state }}"}]
    out = []

    def add(component: str, obj: str, name: str, state_topic: str, extra: dict[str, Any]) -> None:
        config = {
            "name": name,
            "unique_id": f"{site}_{device}_{obj}",
            "state_topic": state_topic,
            "availability": availability,
            "device": dev,
            **extra,
        }
        out.append((f"{prefix}/{component}/{device}/{obj}/config", config))

    for bay, has_lock in bays:
        for component, suffix, name, extra in _BAY_ENTITIES + ((_LOCK_ENTITY,) if has_lock else ()):
            add(component, f"{bay}_{suffix}", f"bay {bay} {name}", topics.state(bay), extra)
    for component, obj, name, extra in _HEALTH_ENTITIES:
        add(component, obj, name, topics.health, extra)
    return out
