"""An agent with no camera and no plate reader: the evidence tests drive its store and loop alone."""

from __future__ import annotations

from typing import Any


class NoReader:
    def process(self, frame, region=None):  # noqa: ANN001, ANN201
        return []


class NoFrames:
    reconnects = 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def latest(self):  # noqa: ANN201
        return None


def frameless_agent(data_dir: str, clock, **sections: Any):  # noqa: ANN001, ANN201
    """``Agent`` on ``scene_config(data_dir, **sections)`` with no frames and no reads."""
    from edge_agent.runtime.agent import Agent
    from edge_agent.sim.scenario import scene_config

    return Agent(scene_config(data_dir, **sections), clock=clock, source=NoFrames(), reader=NoReader())
