"""Readings taken while the camera cannot vouch for the bays' outlines (a view that matches no reference, a camera
moved beyond tolerance) never count toward a raise; once it vouches again, a raise needs fresh confident empty
readings. The real agent, the shipped occupancy model, a gpiozero lock on MockFactory pins, a fake clock.

Before: with the zoom slipped, bay A's outline lay on asphalt beside the parked car, read empty, and the bay's
story concluded a departure on that ground (the lock refused, ``camera_unmatched``). When the view matched again,
the "empty" verdict stood: the first fresh reading that agreed with it, a misread of the still car, made it
confident at once, and the arm rose under the car. The same misread with the view never slipped is held by the
still-bay rule (nothing moved in the bay) and raises nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.runtime.models import default_classifier
from edge_agent.sim.synthetic import Scene, render
from tests.bays.test_vision import NoPlates
from tests.locks.test_knocked_edit import PARKED, Site
from tests.locks.test_vision_paths import _zoom_slipped


class _Misreads:
    """The shipped model, but bay A reads 0.05 from ``at`` on (monotonic): the model's costly mistake on a car
    that stands still (shade over it, dusk)."""

    def __init__(self, inner, clock: FakeClock) -> None:  # noqa: ANN001
        self.inner, self.clock, self.at = inner, clock, float("inf")

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        p = self.inner.classify(frame, polygons, unseen)
        if self.clock.monotonic() >= self.at and "A" in p:
            p["A"] = 0.05
        return p


class _Site(Site):
    """``Site`` with the shipped model wrapped in ``_Misreads``."""

    def _begin(self) -> None:
        cfg = load_config(self.path)
        self.model = _Misreads(default_classifier(cfg), self.clock)
        self.agent = Agent(cfg, clock=self.clock, source=self.src, reader=NoPlates(), classifier=self.model)
        self.factory = MockFactory()
        self.locks = attach_locks(self.agent, pin_factory=self.factory, thread=False)
        self.position, self.ups, self.events = 0.0, 0, []
        self.agent.bus.subscribe(self.events.append)
        self._sync()
        self.agent.start()


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    s = _Site(tmp_path, clock)
    yield s
    s.close()


def _evidence(site: _Site):  # noqa: ANN202
    return site.agent.monitor.feed.vision("A")


@pytest.mark.parametrize("unmatched_s", [40, 2, 0])
def test_a_departure_read_on_an_unmatched_view_raises_no_arm_once_it_matches_again(site, unmatched_s):  # noqa: ANN001
    """40 s: the departure concluded on the wrong ground; 2 s: only the verdict turned there (the story waits
    ``departure_confirm_s``), and the view's return must not be taken for the car leaving; 0: never slipped."""
    parked = render(PARKED)
    site.src.next = parked
    site.run(8)  # the installation's reference; the car in A is seen
    assert site.agent.bus.states()["A"].state == "occupied"
    if unmatched_s:
        site.src.next = _zoom_slipped(parked)
        site.run(unmatched_s)
        assert site.ups == 0 and _evidence(site).vision == "camera_unmatched"
    if unmatched_s > 3:  # the story ended on the wrong ground until 0.11.0; a slip at once is another scene: held
        assert not any(e.type == EventType.VEHICLE_DEPARTED and e.bay_id == "A" for e in site.events)
        assert site.agent.monitor.held and site.agent.bus.states()["A"].state == "occupied"
    site.src.next = parked  # the zoom set back: the view matches again
    site.model.at = site.clock.monotonic()  # ...and the model now misreads the still car
    site.run(1)
    assert site.agent.monitor.matched and _evidence(site).vision == "ok"
    site.run(120)
    assert site.ups == 0 and site.position == 0.0, "the arm rose under the parked car"
    assert not site.agent.monitor.verdicts()["A"].confident  # empty, perhaps, but nothing moved: doubt


def test_an_empty_bay_rises_after_the_view_matches_again_on_fresh_readings_only(site):  # noqa: ANN001
    empty = render(Scene())
    site.src.next = empty
    site.run(30)
    assert site.position == 1.0  # the policy raised A on the empty bay
    assert site.agent.unlock("A", "visitor", "ops").ok
    site.run(3)
    assert site.position == 0.0
    site.src.next = _zoom_slipped(empty)
    site.run(10)
    site.src.next = empty
    site.run(0.2)  # the first frame that matches: nothing measured since vouches yet
    assert site.agent.monitor.matched and not site.agent.monitor.verdicts()["A"].confident
    res = site.agent.lock("A", "close the bay", "ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure", res
    site.run(3)  # fresh readings past exit_p, confirm_frames of them: the bay is vouched empty again
    assert site.agent.monitor.verdicts()["A"].confident
    site.watch_free()  # and seen so for auto_raise_delay_s on end, as every raise needs: a command may raise it
    assert site.agent.lock("A", "close the bay", "ops").ok
    site.run(3)
    assert site.position == 1.0
