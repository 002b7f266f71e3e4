"""A Save that renames a locked bay holding a parked car and moves its outline off the car: the real agent, the
shipped occupancy model, a gpiozero lock on MockFactory pins (no presence sensor), a fake clock.

The lock named on the bay (``lock_id``) moves with the new id, so the reload is refused ("lock changes need a
restart") but the file keeps the Save; at the restart the bay under its new id had no past in ``outlines.json``
(kept by bay id): its outline beside the car read free and the arm rose under the car 20 s after the start. The
arm is where the lock is: the last run's outline and wait of the bay its lock guarded then are the renamed bay's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.synthetic import Scene, render
from tests.bays.test_vision import NoPlates
from tests.locks.test_confirm_with_a_car import _never_up
from tests.locks.test_knocked_edit import PARKED, Site


class Run(Site):
    """``Site`` wired as ``run`` wires it: the violation log's recorder ends at the start what the last run left
    open (``agent_stopped``). A subclass may set ``classifier`` (else the shipped model)."""

    classifier: object | None = None

    def _begin(self) -> None:
        model = {} if self.classifier is None else {"classifier": self.classifier}
        self.agent = Agent(load_config(self.path), clock=self.clock, source=self.src, reader=NoPlates(), **model)
        self.factory = MockFactory()
        self.locks = attach_locks(self.agent, pin_factory=self.factory, thread=False)
        recorder = self.agent.add_component(ViolationRecorder(self.agent.evidence.db_path, self.clock,
                                                              self.agent.bus))
        self.agent.on_started.append(recorder.close_previous_run)
        self.position, self.ups, self.events = 0.0, 0, []
        self.agent.bus.subscribe(self.events.append)
        self._sync()
        self.agent.start()

OFF_THE_CAR = [[430.0, 300.0], [484.0, 300.0], [484.0, 505.0], [430.0, 505.0]]


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    s = Run(tmp_path, clock)
    cfg = yaml.safe_load(s.path.read_text())
    cfg["locks"][0].pop("bay")
    cfg["bays"][0]["lock_id"] = "LA"  # the lock named on the bay: a renamed bay takes it along
    s.write(**cfg)
    s.restart()
    yield s
    s.close()


@pytest.mark.parametrize("move", [False, True])
def test_a_renamed_bay_keeps_the_wait_of_the_bay_its_lock_guarded(site, move):  # noqa: ANN001
    site.src.next = render(PARKED)
    site.run(8)
    assert site.agent.bus.states()["A"].state == "occupied"
    bays = yaml.safe_load(site.path.read_text())["bays"]
    bays[0]["id"] = "A2"
    if move:
        bays[0]["polygon"] = OFF_THE_CAR
    site.write(bays=bays)
    assert not site.agent.reload_config(installer=True).ok  # lock changes need a restart
    site.run(2)
    site.restart()
    _never_up(site, 120)
    assert site.agent.monitor.feed.vision("A2").vision == ("bay_redrawn" if move else "ok")
    site.src.next = render(Scene())  # the car drives off: the ground it stood on is seen empty
    site.run(60)
    assert site.position == 1.0
