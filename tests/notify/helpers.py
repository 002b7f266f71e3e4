"""What the notify tests share: a config with sinks, a violation event, pumping every sink dry on a FakeClock."""

from __future__ import annotations

from typing import Any

from edge_agent.clock import FakeClock
from edge_agent.config.models import AgentConfig
from edge_agent.events.types import Event
from edge_agent.notify.service import NotifyService
from edge_agent.sim.scenario import scene_config


def config(tmp_path: Any, sinks: list[dict[str, Any]], **web: Any) -> AgentConfig:
    return scene_config(str(tmp_path / "data"), notify={"sinks": sinks},
                        web={"public_url": "https://review.plaza-7.example", **web})


def violation(clock: FakeClock, bay: str = "A", plate: str = "京A12345", i: int = 0) -> Event:
    return Event.make("violation_started", clock, bay_id=bay, visit_id=f"v{i}",
                      data={"reason": "fuel_vehicle", "plate": plate, "colour": "blue", "parked_s": 125.0})


def drain(service: NotifyService, clock: FakeClock, max_rounds: int = 200) -> int:
    """Pump every sink until its outbox is empty, advancing the fake clock over each backoff."""
    rounds = 0
    while any(d.depth() for d in service.deliveries) and rounds < max_rounds:
        waits = [d.pump() for d in service.deliveries]
        clock.advance(max(0.0, min(w for w in waits)) or 0.0)
        rounds += 1
    return rounds
