"""The scenario harness: rendered (or real-photo) frame sequences through the real agent,
driven by a FakeClock, recording every event and bay state with its scenario time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.bays.occupancy import OccupancyClassifier
from edge_agent.clock import FakeClock
from edge_agent.config.models import AgentConfig
from edge_agent.events.types import BayState, Event
from edge_agent.perception.retry_gate import RetryGate
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import (
    ScriptedSource,
    Segment,
    run_scripted,
    scene_config,
)


@dataclass
class Run:
    agent: Agent
    clock: FakeClock
    t0: float
    events: list[tuple[float, Event]] = field(default_factory=list)
    states: list[BayState] = field(default_factory=list)

    def story(self, bay: str | None = None) -> list[str]:
        """Event types in order (of one bay, or all bay-story events when ``bay`` is None)."""
        return [e.type for _, e in self.events if (bay is None or e.bay_id == bay)]

    def of(self, type_: str, bay: str | None = None) -> list[tuple[float, Event]]:
        return [(t, e) for t, e in self.events if e.type == type_ and (bay is None or e.bay_id == bay)]

    def one(self, type_: str, bay: str | None = None) -> tuple[float, Event]:
        found = self.of(type_, bay)
        assert len(found) == 1, f"expected one {type_} in {self.story()}"
        return found[0]


def play(segments: list[Segment], reader, tmp_path: Path, fps: float = 5.0, source=None, lists=None,
         actions: list[tuple[float, Callable[[Agent], object]]] = (),
         classifier: Callable[[AgentConfig, FakeClock], OccupancyClassifier] | None = None,
         **overrides: object) -> Run:
    """Play ``segments`` through an Agent with the given plate reader; returns what it emitted.

    ``actions``: ``(scenario second, fn(agent))`` pairs, each run once when the scenario reaches it
    (a charger report, a command), between two frames. ``classifier``: builds the occupancy
    classifier from the config and the scenario's clock (default: the agent's own). A real ``Pipeline`` retries
    partial reads as the agent's own reader does (``perception.retry_gate``, on the scenario's clock)."""
    clock = FakeClock()
    gated = hasattr(reader, "retry_gate")
    if gated:  # the session's shared pipeline: a gate of this scenario's own, taken off again at the end
        reader.retry_gate = RetryGate(clock.monotonic)
    cfg = scene_config(str(tmp_path / "data"), **overrides)
    src = source or ScriptedSource(segments, clock)
    agent = Agent(cfg, clock=clock, source=src, reader=reader, lists=lists,
                  classifier=classifier(cfg, clock) if classifier else None)
    run = Run(agent, clock, clock.monotonic())
    agent.bus.subscribe(lambda e: run.events.append((round(clock.monotonic() - run.t0, 3), e)))
    agent.bus.subscribe_state(run.states.append)
    agent.start()
    duration = sum(s.seconds for s in segments)
    todo = sorted(actions, key=lambda a: a[0])

    def step() -> None:
        while todo and clock.monotonic() - run.t0 >= todo[0][0] - 1e-9:
            todo.pop(0)[1](agent)
        agent.step()

    try:
        run_scripted(step, clock, duration, fps)
    finally:
        if gated:
            reader.retry_gate = None
    assert not todo, f"actions after the scenario's end: {todo}"
    agent.stop()
    return run
