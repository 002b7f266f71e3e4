"""A restart while the camera's view matches no reference, a car parked in a locked bay: the real agent wired as
``run`` wires it (the violation log ends the last run's visits at the start, ``agent_stopped``), the shipped
occupancy model, a gpiozero lock on MockFactory pins (no presence sensor), a fake clock.

The start ends the last run's visits and a new run knows a bay only by its readings, so on a view it cannot vouch
for no bay held a car: Confirm current view was not refused (``cars_unplaced``), and the installer's Save over the
view did not make the bay wait for its car (``Unplaced``); A's outline beside the car read free and the arm rose
under the car 20 s later (probe review15). Restarted on a view knocked 60 px (a shift measured), Confirm kept no
ground for the car either, and the arm rose under it. A bay the last run left a car in now holds it until this run
judges it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.control import ControlError
from edge_agent.sim.synthetic import Scene, render
from tests.locks.test_confirm_with_a_car import _knocked_hard, _never_up
from tests.locks.test_knocked_edit import PARKED, _knocked
from tests.locks.test_renamed_lock_bay import Run


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock):  # noqa: ANN201
    s = Run(tmp_path, clock)
    yield s
    s.close()


def _restarted_on_a_view_matching_nothing(site: Run, restarts: int = 1) -> None:
    site.src.next = render(PARKED)
    site.run(8)  # the installation's reference; the car in A seen
    assert site.agent.bus.states()["A"].state == "occupied"
    site.src.next = _knocked_hard(render(PARKED))
    site.run(8)
    for _ in range(restarts):  # the agent restarted (a reboot) before the installer came
        site.restart()
        site.run(8)
    assert site.agent.camera.placement == "unmatched" and site.agent.monitor.holding_cars() == ["A"]


@pytest.mark.parametrize("restarts", [1, 2])
def test_a_save_after_a_restart_on_an_unmatched_view_waits_for_the_car(site, restarts):  # noqa: ANN001
    _restarted_on_a_view_matching_nothing(site, restarts)
    site.write(bays=yaml.safe_load(site.path.read_text())["bays"])  # the outlines saved as shown
    assert site.agent.reload_config(installer=True).ok
    _never_up(site, 120)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


def test_confirm_after_a_restart_on_an_unmatched_view_is_refused(site):  # noqa: ANN001
    _restarted_on_a_view_matching_nothing(site)
    with pytest.raises(ControlError) as refused:
        site.agent.confirm_camera()
    assert refused.value.code == "cars_unplaced"
    _never_up(site, 60)


def test_a_restart_on_the_view_in_place_judges_the_bay_as_before(site):  # noqa: ANN001
    """The car left while the agent was stopped, the camera in place: the bay's first reading says empty, but
    nothing was seen to leave (a still car the model misreads reads so too: ``Hysteresis.car_left``, and so does one
    under a drop on a lens wet at the start: probe wetstart), so the arm stays down and the bay counts as holding its
    car, whatever passes through it, until a car is seen there (and then leaves); then it rises as before."""
    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = render(Scene())
    site.restart()
    _never_up(site, 70)  # past the minute's write of outlines.json
    assert site.agent.monitor.holding_cars() == ["A"]
    assert not site.agent.monitor.feed.vision("A").confident
    site.src.next = render(PARKED)  # someone drives through the bay: no car seen to stand there
    site.run(0.4)
    site.src.next = render(Scene())
    _never_up(site, 40)
    site.src.next = render(PARKED)  # the next car parks there…
    site.run(40)
    site.src.next = render(Scene())  # …and drives off: a departure seen
    site.run(60)
    assert site.position == 1.0 and site.agent.monitor.holding_cars() == []
    site.run(70)  # the minute's write of outlines.json
    kept = json.loads((site.path.parent / "data" / "bays" / "outlines.json").read_text())
    assert kept["unverified"] == []


def test_confirm_after_a_restart_on_a_moved_view_keeps_the_cars_ground(site):  # noqa: ANN001
    """Knocked 60 px (a shift measured) and restarted: confirmed, A's outline lies beside the car, and the car's
    ground (its outline carried by the shift) is what the lock waits for, as without the restart."""
    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = _knocked(render(PARKED))
    site.run(8)
    site.restart()
    site.run(8)
    assert site.agent.camera.placement == "moved" and site.agent.monitor.holding_cars() == ["A"]
    assert site.agent.confirm_camera().ok
    _never_up(site, 150)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
