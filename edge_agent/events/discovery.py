"""Home Assistant MQTT discovery: retained config topics that point HA at our own topics.

Nothing new is published for HA: its entities read the retained bay states, the health
heartbeat and the status document (availability), so HA and the backend see the same data.
Topic: ``{discovery_prefix}/{component}/{device}/{object}/config`` (node id = device id,
which the per-device broker ACL can allow with one pattern). Home Assistant takes a node id and an
object id only of ``[a-zA-Z0-9_-]`` (anything else: "Received message on illegal discovery topic",
and the entity never appears), while our ids may also hold ``.``: :func:`ha_level`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from edge_agent import __version__
from edge_agent.events.topics import Topics

_BAY_ENTITIES = (
    # component, object suffix, name, extra config
    ("binary_sensor", "occupied", "occupied",
     # unknown (the camera is lost and no visit is open) is no free bay: HA shows "None" as unknown, never "clear"
     {"device_class": "occupancy", "value_template":
      "{{ 'None' if value_json.state == 'unknown' else ('OFF' if value_json.state == 'free' else 'ON') }}"}),
    ("binary_sensor", "violation", "violation",
     {"device_class": "problem", "value_template": "{{ 'ON' if value_json.state in ('violation', 'overstay') else 'OFF' }}"}),
    ("sensor", "state", "state", {"value_template": "{{ value_json.state }}"}),
    ("sensor", "plate", "plate", {"value_template": "{{ value_json.plate or '' }}", "icon": "mdi:card-text"}),
)
_LOCK_ENTITY = ("sensor", "lock", "lock", {"value_template": "{{ value_json.lock or 'none' }}", "icon": "mdi:lock"})
# numbers: state_class makes HA treat them as numeric (a line chart, long-term statistics, no "" states), else
# a sensor without a unit is text, charted as coloured bars of distinct values
_MEASURED = {"state_class": "measurement"}
_HEALTH_ENTITIES = (
    ("sensor", "outbox_depth", "outbox depth", {"value_template": "{{ value_json.outbox_depth }}", **_MEASURED}),
    ("sensor", "cpu_temp", "CPU temperature",
     {"value_template": "{{ value_json.cpu_temp_c }}", "device_class": "temperature", "unit_of_measurement": "°C",
      **_MEASURED}),
    ("sensor", "fps", "frames per second", {"value_template": "{{ value_json.fps }}", **_MEASURED}),
)


_HA_LEVEL = re.compile(r"[A-Za-z0-9_-]+")  # Home Assistant's TOPIC_MATCHER for node and object ids


def ha_level(ident: str) -> str:
    """``ident`` as a discovery topic level Home Assistant accepts: unchanged when it already is one; else
    each other character (ids allow ``.``) becomes ``_`` and a short hash of the id is appended, so that
    ``A.1`` and ``A_1`` stay two entities."""
    if _HA_LEVEL.fullmatch(ident):
        return ident
    digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:6]
    return re.sub(r"[^A-Za-z0-9_-]", "_", ident) + "_" + digest


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

    def add(component: str, obj: str, name: str, state_topic: str, extra: dict[str, Any], level: str) -> None:
        config = {
            "name": name,
            "unique_id": f"{site}_{device}_{obj}",
            "state_topic": state_topic,
            "availability": availability,
            "device": dev,
            **extra,
        }
        out.append((f"{prefix}/{component}/{ha_level(device)}/{level}/config", config))

    for bay, has_lock in bays:
        for component, suffix, name, extra in _BAY_ENTITIES + ((_LOCK_ENTITY,) if has_lock else ()):
            add(component, f"{bay}_{suffix}", f"bay {bay} {name}", topics.state(bay), extra, f"{ha_level(bay)}_{suffix}")
    for component, obj, name, extra in _HEALTH_ENTITIES:
        add(component, obj, name, topics.health, extra, obj)
    return out
