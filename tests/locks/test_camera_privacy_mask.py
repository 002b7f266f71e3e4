"""A privacy mask set in the camera over a parked car: no evidence of an empty bay (``bays/blank.py``). The real
agent, the shipped occupancy model, a simulated lock without a presence sensor (the camera is its only witness),
a fake clock.

Probe mask36 (after occ35): a grey block set in the camera's menu over half a bay made 82 of 421 real PKLot cars
read surely empty, unmarked. The block comes at once, a car's worth of change, so the still-bay rule believes the
misread: here, before the rule, the parked NEV "departed" and the policy raised the arm under it.
"""

from __future__ import annotations

from edge_agent.camera.source import Frame
from edge_agent.sim.scenario import EMPTY, NEV, Scene
from edge_agent.sim.synthetic import render
from tests.bays.test_blank import camera_block
from tests.bays.test_vision import Frames
from tests.locks.test_vision_paths import Rig


class MaskingCamera(Frames):
    """Frames whose camera paints a grey block over bay A's lower half (``level``), after its sensor's noise."""

    level: int | None = None

    def latest(self) -> Frame | None:
        frame = super().latest()
        if frame is None or self.level is None:
            return frame
        return Frame(camera_block(frame.image, "A", self.level), frame.seq, frame.t)


def test_a_privacy_mask_over_a_parked_car_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    src = MaskingCamera(clock)
    rig = Rig(tmp_path, clock, src, out=False, sensor=False)
    agent = rig.agent
    try:
        src.next = render(EMPTY)
        rig.run(30)
        assert rig.manager.state("A") == "up"  # the policy raised A on the empty bay
        assert agent.unlock("A", "visitor", "ops").ok
        rig.run(2)
        assert rig.manager.state("A") == "down"
        src.next = render(Scene(cars=(NEV,)))  # the visitor parks
        rig.run(40)
        assert agent.feed.vision("A").occupied
        src.level = 128  # the installer sets a privacy mask in the camera's menu, over the car
        rig.run(300, lambda: rig.manager.driver("A").arm.drive != "up" or (_ for _ in ()).throw(
            AssertionError("the arm rose under the car behind the camera's mask")))
        assert rig.manager.state("A") == "down"
        v = agent.feed.vision("A")
        assert v.vision == "bay_overlay" and v.occupied, v  # not measured: the car's verdict holds
        assert agent.health_figures().extra["bays_unseen"] == {"A": "bay_overlay"}
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] in ("bay_overlay", "bay_occupied", "bay_in_visit"), res
    finally:
        agent.stop()
