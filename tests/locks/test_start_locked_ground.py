"""A start whose run ledger is put off (another program holding ``evidence.db``'s lock, probe leftovers29) still knows
which bays the last run left a car in.

The start learns them from the ``agent_stopped`` departures it publishes (``Agent._watch_left_grounds``): a bay
redrawn while the agent was stopped waits for the ground the car stood on, and a bay left holding one needs the car
seen leaving. Put off, those departures came a minute later, after that look: the bay's new outline beside the parked
car read free and the arm rose under the car 20 s after the start (review30). The real agent on the rendered lot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.evidence import store as store_module
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import BAYS
from tests.bays.test_vision import NoPlates
from tests.evidence.test_evidence_locked import locked
from tests.locks.test_redrawn_ground import PARKED, Run, _set_a
from tests.locks.test_vision_paths import Frames, write


class LockedStart(Run):
    """``Run`` started while another program holds the index's lock; the waits cut to 20 ms (what follows them is the
    point), the lock let go right after the start."""

    def __init__(self, path, clock) -> None:  # noqa: ANN001 - (Run's own start is not used)
        self.clock, self.src = clock, Frames(clock)
        self.agent = Agent(load_config(path), clock=clock, source=self.src, reader=NoPlates())
        self.manager = attach_locks(self.agent, thread=False)
        recorder = self.agent.add_component(ViolationRecorder(self.agent.evidence.db_path, clock, self.agent.bus))
        for conn in (recorder.log._db, recorder.runs._db):
            conn.execute("PRAGMA busy_timeout=20")
        self.agent.on_started.append(recorder.close_previous_run)
        self.agent.every_minute.append(recorder.mark_alive)
        self.events: list = []
        self.agent.bus.subscribe(self.events.append)
        self.ups: list[float] = []
        with locked(self.agent.evidence.db_path):
            self.agent.start()


def test_a_start_put_off_by_a_lock_keeps_the_arm_down_over_the_ground_the_last_run_left_a_car_on(
        tmp_path: Path, clock, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.02)
    path = write(tmp_path / "agent.yaml", tmp_path / "data", out=False, sensor=False)
    first = Run(path, clock)
    first.run(10, PARKED)
    first.agent.stop()
    _set_a(path, BAYS["B"])  # A's outline moved onto the empty ground beside the car while the agent was stopped
    clock.advance(120)
    run = LockedStart(path, clock)
    try:
        run.run(90, PARKED)
        departed = [e for e in run.events if e.type == EventType.VEHICLE_DEPARTED]
        assert [e.data.get("reason") for e in departed] == ["agent_stopped"]  # the start recorded once free
        assert not run.ups and run.manager.state("A") == "down", "the arm rose under the car the last run left"
        assert run.agent.bays_unseen() == {"A": "bay_redrawn"}
        run.drive_off()
        run.run(30, EMPTY)
        assert run.ups and run.manager.state("A") == "up"
    finally:
        run.agent.stop()
