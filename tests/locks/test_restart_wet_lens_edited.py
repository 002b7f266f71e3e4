"""A restart on a wet lens where bay A's outline was also nudged while the agent was stopped (probe review87).

The last run left a car in A and its outline changed meanwhile, so the lock waits for that outline's ground
(``watch_old_ground``, no picture of the car: its readings alone let it go). Probe wetstart's wait for a car seen in
this run skipped such a bay: the drop made the still car read surely empty on the old ground and on the new outline,
the ground was let go after ``confirm_frames`` readings, the first "empty" needed no motion, and the arm rose under the
car (3 steps up within 120 s). A ground watched from the start now lets go only once a car has been seen on it in
this run (``Unplaced``'s bar: 30 s of readings at or above ``enter_p``) and then read empty, as wetstart's wait does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.sim.scenario import Scene
from edge_agent.sim.synthetic import render
from tests.locks.test_confirm_with_a_car import _never_up
from tests.locks.test_knocked_edit import BAY_A, PARKED
from tests.locks.test_restart_still_car import Scripted, ScriptedRun


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    ScriptedRun.classifier = Scripted()
    s = ScriptedRun(tmp_path, clock)
    yield s
    s.close()


def test_an_outline_nudged_while_stopped_on_a_wet_lens_raises_no_arm_under_the_car(site):  # noqa: ANN001
    site.src.next = render(PARKED)
    site.run(10)
    assert site.agent.bus.states()["A"].state == "occupied"
    site.close()
    bays = yaml.safe_load(site.path.read_text())["bays"]
    bays[0]["polygon"] = [[x + 4.0, y] for x, y in BAY_A]  # still over the car
    site.write(bays=bays)
    site.classifier.p = 0.1  # the lens is wet now: the still car reads surely empty
    site._begin()
    _never_up(site, 120)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    site.classifier.p = 0.95  # the lens dries: the car is seen on its old ground…
    site.run(40)
    site.classifier.p = 0.1  # …and drives off: a departure seen, as any
    site.src.next = render(Scene())
    site.run(60)
    assert site.position == 1.0
