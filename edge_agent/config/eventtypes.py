"""The event type names a config may name (``notify.sinks[].events``, ``mqtt.outbox.protected_types``).

The types belong to ``events`` (``events/types.py``: ``EventType``), which the config may not import; the names are
repeated here so that ``check-config``, a reload and ``run`` refuse the same misspelt one, and
``tests/config/test_event_names.py`` fails when the two lists part. Before, only ``run`` checked a sink's list
(``check-config`` said "ok", ``install.sh`` restarted the agent, and it refused to start), and a misspelt protected
type was taken: that event was silently droppable when the outbox filled.
"""

from __future__ import annotations

from edge_agent.config.suggest import suggest_value

#: Every type the event bus carries.
BUS_EVENT_TYPES = frozenset({
    "vehicle_arrived", "vehicle_identified", "vehicle_departed",
    "violation_started", "violation_ended", "overstay_started", "overstay_ended",
    "lock_moved", "lock_refused", "lock_fault", "lock_warning", "lock_tamper", "lock_maintenance",
    "camera_lost", "camera_restored", "camera_moved", "camera_aligned", "camera_image_warning",
    "storage_low", "storage_restored", "evidence_index_reset", "clock_stepped", "web_certificate",
    "charger_status", "charger_suspect", "charger_mismatch", "charger_silent",
    # each charger warning's end (bays/charger_health.py: "<kind>_cleared")
    "charger_suspect_cleared", "charger_mismatch_cleared", "charger_silent_cleared",
})
#: What the MQTT link itself puts in the outbox (``events/mqtt_link.py``) besides the bus's events.
LINK_EVENT_TYPES = frozenset({"outbox_overflow", "outbox_lost"})


def unknown_types(names: list[str], known: frozenset[str]) -> str | None:
    """The error for the names in ``names`` that are no event type, or None."""
    unknown = [n for n in names if n not in known]
    if not unknown:
        return None
    meant = [m for m in (suggest_value(n, known) for n in unknown) if m]
    guess = f": did you mean {', '.join(map(repr, meant))}?" if meant else ""
    # a name with a control character as Python writes it: an escape sequence in the YAML reached the terminal
    shown = [n if n.isprintable() else repr(n) for n in unknown]
    return f"{', '.join(shown)}: no such event type (known: {', '.join(sorted(known))}){guess}"
