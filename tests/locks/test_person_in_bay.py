"""A person (or a thing) in an empty bay is not a car: the classifier, trained on cars and empty bays, reads them
empty, and the arm must not rise under them. The real agent, the real classifier, simulated locks."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.events.types import EventType
from edge_agent.sim.synthetic import Person, Scene, render
from tests.bays.test_vision import Frames
from tests.locks.test_vision_paths import Rig


def _crouching(x: float) -> np.ndarray:
    """The empty scene with someone crouched in bay A (a child, someone fixing a bike): a low blob."""
    img = render(Scene()).copy()
    img[400:470, int(x) - 25:int(x) + 25] = (120, 60, 30)  # BGR: a dark blue jacket
    img[382:402, int(x) - 10:int(x) + 10] = (30, 40, 60)  # the head
    return img


SCENES = {
    "standing": lambda x: render(Scene(people=(Person(x),))),
    "crouching": _crouching,
}


@pytest.mark.parametrize("pose", sorted(SCENES))
def test_the_arm_stays_down_over_a_person_in_the_bay(tmp_path, clock, pose):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(Scene())
        rig.run(40)
        assert manager.state("A") == "up"  # the bay free and seen: the policy raised it
        assert agent.unlock("A", "visitor", "ops").ok  # lowered for a visitor: admit_window_s (120 s) to come
        rig.run(3)
        assert manager.state("A") == "down"
        for x in range(470, 240, -30):  # someone walks in from the side and stops in the middle of the bay
            rig.src.next = render(Scene(people=(Person(x),)))
            rig.run(0.6)
        rig.src.next = SCENES[pose](250)
        ps: list[float] = []
        rig.run(200, lambda: ps.append(agent.feed.vision("A").p_occupied))  # past admit_window_s: a raise is due
        assert max(ps) <= 0.3  # the classifier calls the bay surely empty: it knows cars, not people
        assert manager.state("A") == "down", f"the arm rose over someone {pose} in the bay"
        v = agent.feed.vision("A")
        assert v.vision == "ok" and v.changed and v.confident, v  # seen, and called empty: not its empty picture
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "bay_changed", res
        for x in range(250, 500, 30):  # they walk off: the bay is its empty self again, and the policy raises
            rig.src.next = render(Scene(people=(Person(x),)))
            rig.run(0.6)
        rig.src.next = render(Scene())
        rig.run(25)
        assert manager.state("A") == "up"
        refused = [e.data["code"] for e in rig.events if e.type == EventType.LOCK_REFUSED]
        assert refused == ["bay_changed"], refused  # the remote lock's, above
    finally:
        agent.stop()
