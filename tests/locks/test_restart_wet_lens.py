"""A restart on a wet lens: the car the last run left in bay A still stands there, but a drop on the lens now makes
the model read it surely empty (probe occ38: 40 drops over 29 % of the 2013-04-12 clip, parked cars read p ≤ 0.3 with
no single-frame flag; a lens wet at a start gives the blur watch no sharp picture to compare with).

The real agent wired as ``run`` wires it (the start ends the last run's visits), a gpiozero lock on MockFactory
pins, a fake clock, and a classifier that reads the car 0.95, then (after the restart) 0.1. Something passes through
the bay (a car along the row, a person): motion in the bay. Until probe wetstart that motion made the first "empty"
over the car the last run left (``Hysteresis.car_left``) confident, and the policy raised the arm under the car 30 s
later. A departure is only known by seeing it: the bay waits for a car seen on it in this run (and then its leaving)
before its view vouches for an empty bay. Measured on occ38's drops (``replay --sim-locks`` of the wet 2013-04-12
clip restarted on the data dir of a dry run of its first minute): 7 arms raised under parked cars before, 0 after
(docs/occupancy.md, "A blurred bay").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.sim.scenario import Scene
from edge_agent.sim.synthetic import render
from tests.locks.test_confirm_with_a_car import _never_up
from tests.locks.test_knocked_edit import PARKED
from tests.locks.test_restart_still_car import Scripted, ScriptedRun


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    ScriptedRun.classifier = Scripted()
    s = ScriptedRun(tmp_path, clock)
    yield s
    s.close()


def _passer_by(site: ScriptedRun) -> None:
    """Something crosses bay A for a second (its picture changes a car's worth, then is the parked car again)."""
    site.src.next = render(Scene())
    site.run(1)
    site.src.next = render(PARKED)
    site.run(2)


def test_a_restart_on_a_wet_lens_raises_no_arm_under_the_car_the_last_run_left(site):  # noqa: ANN001
    site.src.next = render(PARKED)
    site.run(10)
    assert site.agent.bus.states()["A"].state == "occupied"
    site.classifier.p = 0.1  # the agent restarts, and the lens is wet now: the still car reads surely empty
    site.restart()
    site.run(10)
    for _ in range(3):  # passers-by through the bay, which say nothing of the car
        _passer_by(site)
        _never_up(site, 60)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    res = site.agent.lock("A", "close the bay", "ops")
    assert not res.ok, res


def test_a_car_that_left_while_the_agent_was_stopped_is_waited_for_until_a_car_is_seen_there(site):  # noqa: ANN001
    """The cost: the car drove off during the stop, so its leaving was never seen: the arm stays down until a car is
    seen in the bay (and then leaves it), which a bay that held no car at the stop never pays."""
    site.src.next = render(PARKED)
    site.run(10)
    site.restart()
    site.classifier.p = 0.1
    site.src.next = render(Scene())  # gone while the agent was stopped
    _never_up(site, 90)
    site.classifier.p = 0.95  # the next car parks there…
    site.src.next = render(PARKED)
    site.run(40)
    assert site.agent.monitor.feed.vision("A").vision == "ok"
    site.classifier.p = 0.1  # …and drives off: a departure seen, as any
    site.src.next = render(Scene())
    site.run(60)
    assert site.position == 1.0
