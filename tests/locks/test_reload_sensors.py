"""A config reload that changes bays must keep the presence sensors the locks plugged in.

Before: ``attach_locks`` called ``monitor.set_sensor`` on the monitor of the day; a reload built a
new monitor and the agent had nothing to re-attach, so a car over the lock went unseen by the
bays stage from then on.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold
from edge_agent.sim.synthetic import BAYS, H, W

FPS = 5.0


class NoPlates:
    def process(self, frame, region=None):  # noqa: ANN001, ANN201 - PlateReader: presence comes from the sensor here
        return []


def write_config(path: Path, data_dir: Path, b_polygon: list) -> Path:
    cfg = {
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": "0", "fps": FPS, "width": W, "height": H},
        "bays": [{"id": "A", "polygon": [list(p) for p in BAYS["A"]], "lock_id": "LA"},
                 {"id": "B", "polygon": b_polygon}],
        "timers": {"arrival_confirm_s": 2, "departure_confirm_s": 3},
        "locks": [{"id": "LA", "driver": "simulator", "simulator": {"travel_time_s": 1.0, "start": "down"}}],
        "data_dir": str(data_dir),
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_reload_that_changes_bays_keeps_lock_presence_sensors(tmp_path, clock):  # noqa: ANN001
    b = [list(p) for p in BAYS["B"]]
    path = write_config(tmp_path / "agent.yaml", tmp_path / "data", b)
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(600, EMPTY), clock), reader=NoPlates())
    manager = attach_locks(agent, thread=False)
    agent.start()

    def run(seconds: float) -> None:
        for _ in range(int(seconds * FPS)):
            agent.step()
            manager.tick()
            clock.advance(1 / FPS)

    try:
        run(2)
        before = agent.monitor
        write_config(path, tmp_path / "data", [[x + 5, y] for x, y in b])  # bay B moves a little
        res = agent.reload_config()
        assert res.ok and "bays" in res.data["changed"] and agent.monitor is not before
        manager.driver("A").arm.set_vehicle(True)  # a car over lock A: only the sensor sees it
        run(4)  # > arrival_confirm_s
        assert agent.bus.states()["A"].state == "occupied", "the presence sensor was lost in the reload"
        manager.driver("A").arm.set_vehicle(False)
        run(5)  # > departure_confirm_s
        assert agent.bus.states()["A"].state == "free"
    finally:
        agent.stop()
