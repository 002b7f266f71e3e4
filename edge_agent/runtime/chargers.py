"""Charger health beside the frame loop: bay events in, charger warnings out, published in order.

``ChargerHealth`` (bays/) decides; this unit feeds it from the bus and publishes what it finds
*after* the bus handler that found it returns, so bay events keep their order.
"""

from __future__ import annotations

import threading
from typing import Any

from edge_agent.bays.charger_health import WATCHED, ChargerHealth
from edge_agent.clock import Clock
from edge_agent.config.models import AgentConfig
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType


def charger_ids(cfg: AgentConfig) -> dict[str, str]:
    """bay id → charger id, for the bays that have a charger."""
    return {b.id: b.charger_id for b in cfg.bays if b.charger_id}


class ChargerWatch:
    def __init__(self, cfg: AgentConfig, bus: EventBus, clock: Clock) -> None:
        self.bus, self.clock = bus, clock
        self.health = ChargerHealth(cfg.charger_health, charger_ids(cfg), clock)
        self._lock = threading.Lock()
        self._out: list[Event] = []  # warnings found inside a bus handler, published after it
        bus.subscribe(self._on_bay_event, set(WATCHED))

    def _on_bay_event(self, ev: Event) -> None:
        with self._lock:
            self._out += self.health.on_event(ev)

    def flush(self, tick: bool = False, extra: list[Event] | None = None) -> list[Event]:
        """Publish charger warnings outside the bus handler that found them (bay events stay in order)."""
        with self._lock:
            out, self._out = self._out + (extra or []), []
            if tick:
                out += self.health.tick()
        for ev in out:
            self.bus.publish(ev)
        return out

    def warnings(self) -> dict[str, list[dict[str, Any]]]:
        """Open charger warnings per bay (live page, heartbeat)."""
        with self._lock:
            return self.health.active()

    def on_status(self, bay_id: str, status: str, visit_id: str | None = None) -> list[Event]:
        """The backend's charger status: ``charger_status`` when it changed; the warnings it settles.
        ``visit_id``: the bay's visit in progress, carried by the event: a backend joins it to the stay as it
        joins the stay's other events (before, it came null, and the backend had to match bay and time)."""
        with self._lock:
            previous = self.health.status(bay_id)
            found = self.health.on_status(bay_id, status)
        if status != previous:  # a change is worth keeping (statistics: time charging); repeats are not
            self.bus.publish(Event.make(EventType.CHARGER_STATUS, self.clock, bay_id=bay_id, visit_id=visit_id,
                                        data={"status": status, "previous": previous}))
        return found

    def reconfigure(self, cfg: AgentConfig) -> None:
        with self._lock:
            self._out += self.health.reconfigure(cfg.charger_health, charger_ids(cfg))
