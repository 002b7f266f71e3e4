"""A restart while a still parked car reads empty to the model (dusk, a car the model never learnt): the real agent
wired as ``run`` wires it (the start ends the last run's visits), a gpiozero lock on MockFactory pins (no presence
sensor), a fake clock, and a classifier that reads the car 0.95 and then, the light gone, 0.2.

Running, the still-bay rule holds that "empty" (nothing moved in the bay): never confident, the arm stays down. The
start knows a bay by its readings alone and its first verdict needs no motion, so until probe raise27 the first
reading after a restart was a confident "empty" and the policy raised the arm under the car 20 s later.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.sim.synthetic import render
from tests.locks.test_confirm_with_a_car import _never_up
from tests.locks.test_knocked_edit import PARKED
from tests.locks.test_renamed_lock_bay import Run


class Scripted:
    """Bay A reads ``p`` (the parked car as the model sees it now); every other bay reads empty."""

    def __init__(self) -> None:
        self.p = 0.95

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        return {b: self.p if b == "A" else 0.05 for b in polygons}


class ScriptedRun(Run):
    """``Run`` reading bay A through ``Scripted``."""


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    ScriptedRun.classifier = Scripted()
    s = ScriptedRun(tmp_path, clock)
    yield s
    s.close()


@pytest.mark.parametrize("restarts", [0, 1, 2])
def test_a_restart_does_not_turn_a_misread_still_car_into_an_empty_bay(site, restarts):  # noqa: ANN001
    site.src.next = render(PARKED)
    site.run(10)
    assert site.agent.bus.states()["A"].state == "occupied"
    site.classifier.p = 0.2  # dusk: the still car reads empty to the model
    site.run(30)
    for _ in range(restarts):  # a power blip, an update, the watchdog
        site.restart()
        site.run(20)
    _never_up(site, 150)
    assert not site.agent.monitor.feed.vision("A").confident
    res = site.agent.lock("A", "close the bay", "ops")
    # after a restart the bay waits for its car to be seen again (bay_redrawn: probe wetstart's wet lens at a start)
    assert not res.ok and res.data["code"] in ("occupancy_unsure", "bay_occupied", "bay_in_visit", "bay_redrawn"), res
