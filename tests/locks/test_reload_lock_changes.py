"""A config reload cannot change a lock: the lock stage is built once, at start.

Before: a reload with ``policy.auto_raise: false`` (the docs' way out for a camera-only lock that
rose on a car) answered "config reloaded", ``restart_needed: []``, and the lock went on raising
itself; a lock moved to another bay went on reading the camera evidence of the bay id it was
built with — under the new polygons, the wrong bay. Now such a reload is refused, naming the
lock, and the running config (the one the locks run) is kept.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold
from edge_agent.sim.synthetic import BAYS, H, W
from tests.locks.test_reload_sensors import FPS, NoPlates


def write(path: Path, data_dir: Path, lock: dict, swap_bays: bool = False, overstay_s: int = 7200) -> Path:
    a, b = [list(p) for p in BAYS["A"]], [list(p) for p in BAYS["B"]]
    cfg = {
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": "0", "fps": FPS, "width": W, "height": H},
        "bays": [{"id": "A", "polygon": b if swap_bays else a}, {"id": "B", "polygon": a if swap_bays else b}],
        "timers": {"arrival_confirm_s": 2, "departure_confirm_s": 3, "overstay_s": overstay_s},
        "locks": [{"id": "LA", "driver": "simulator", "simulator": {"travel_time_s": 1.0, "start": "down"}, **lock}],
        "data_dir": str(data_dir),
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_reload_that_changes_a_lock_is_refused_and_keeps_the_running_config(tmp_path, clock):  # noqa: ANN001
    path = write(tmp_path / "agent.yaml", tmp_path / "data", {"bay": "A"})
    agent = Agent(load_config(path), clock=clock, source=ScriptedSource(hold(600, EMPTY), clock), reader=NoPlates())
    attach_locks(agent, thread=False)
    agent.start()
    try:
        running = agent.cfg
        write(path, tmp_path / "data", {"bay": "A", "policy": {"auto_raise": False}})
        res = agent.reload_config()
        assert not res.ok and res.data["problems"] == [
            "locks.LA: settings changed; locks apply at start only: restart the agent (systemctl restart edge-agent)"]
        assert agent.cfg is running and running.locks[0].policy.auto_raise  # what the lock runs, said as it is

        # the physical lock sits at the bay drawn first; the bays are renamed and the lock follows its bay:
        # the running lock, built for bay id A, would read the other bay's evidence from now on
        write(path, tmp_path / "data", {"bay": "B"}, swap_bays=True)
        res = agent.reload_config()
        assert not res.ok and res.data["problems"][0].startswith("locks.LA: moved from bay A to bay B"), res
        assert agent.cfg is running

        # the same lock written the other way (the bay's lock_id), and a timer changed: applied
        write(path, tmp_path / "data", {}, overstay_s=3600)
        cfg = yaml.safe_load(path.read_text())
        cfg["bays"][0]["lock_id"] = "LA"
        path.write_text(yaml.safe_dump(cfg))
        res = agent.reload_config()
        assert res.ok and "timers" in res.data["changed"], res
    finally:
        agent.stop()
