"""A drop on the lens over a bay: no evidence of an empty bay while it blurs the bay (``bays/blur.py``). The real
agent, the shipped occupancy model, a simulated lock without a presence sensor (the camera is its only witness),
a fake clock.

Probe ircut25 painted a drop over rows B/C of the live-like 2013-03-19 PKLot clip: the crops kept their contrast,
nothing moved, and two cars that parked under it read confidently empty for 84 s and 81 s — a lock could rise under
them. Before ``bay_blurred`` the blurred bay here stayed "ok" and confident, and a ``lock`` raised the arm.
"""

from __future__ import annotations

from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render
from tests.bays.test_blur import drop
from tests.bays.test_vision import Frames
from tests.locks.test_vision_paths import Rig


def test_a_drop_on_the_lens_over_the_bay_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    agent = rig.agent
    try:
        rig.src.next = render(EMPTY)
        rig.run(30)
        assert rig.manager.state("A") == "up"  # the policy raised A on the empty bay, seen sharp
        assert agent.unlock("A", "visitor", "ops").ok  # admit_window_s (120 s) for the visitor to park
        rig.run(2)
        assert rig.manager.state("A") == "down"
        for k in range(1, 31):  # a drop runs onto the dome over bay A, spreading over 6 s: nothing moves in the bay
            rig.src.next = drop(render(EMPTY), 0.1 * k)
            rig.run(0.2)
        rig.run(2)
        rig.assert_unvouched("A", "bay_blurred")  # still classified, vouching for nothing
        rig.run(150, lambda: rig.manager.driver("A").arm.drive != "up" or (_ for _ in ()).throw(
            AssertionError("the arm rose on a blurred view of the bay")))
        assert rig.manager.state("A") == "down"  # past the admit window: the policy wants A up, on no evidence
        rig.src.next = render(EMPTY)  # wiped (or the drop ran off): sharp again
        rig.run(3)
        assert agent.feed.vision("A").vision == "ok" and agent.health_figures().extra["bays_unseen"] == {}
        rig.watch_free("A")  # the bay seen sharp and empty for auto_raise_delay_s since: a command may raise it
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()
