"""An on-screen clock stamped over a bay: no evidence of an empty bay while it ticks there (``camera/overlay.py``).
The real agent, the shipped occupancy model, a simulated lock without a presence sensor, a fake clock.

Probe ircut25 painted the camera's date and time across the top rows of the live-like 2013-03-19 clip: the text read
as cars in two bays. A bay under the clock is judged on text, not on its ground; before ``bay_overlay`` its view
vouched as any other and a ``lock`` raised the arm. The same clock in a corner no bay reaches names no bay.
"""

from __future__ import annotations

import numpy as np

from edge_agent.bays.classifier import BayClassifier
from edge_agent.camera.overlay import TICKS
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render
from tests.bays.test_vision import Frames
from tests.camera.test_overlay import stamp
from tests.conftest import MODELS
from tests.locks.test_vision_paths import Rig


def _ticking(rig: Rig, at: tuple[int, int], seconds: float) -> None:
    kept = None  # the last frame held on: ``Frames`` knows a new frame by its id, which a freed one's may take
    for _ in range(int(seconds * 5)):
        kept, rig.src.next = rig.src.next, stamp(render(EMPTY), rig.clock.monotonic() + 0.37, at)  # the clock ticks
        rig.run(0.2)
    del kept


def test_a_clock_over_the_bay_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    agent = rig.agent
    try:
        _ticking(rig, (120, 380), TICKS + 10)  # across bay A
        rig.assert_unvouched("A", "bay_overlay")  # still classified, vouching for nothing
        assert rig.manager.driver("A").arm.drive != "up"
        rig.src.next = render(EMPTY)  # the installer moved the OSD out of the picture's bays
        rig.run(8)
        assert agent.feed.vision("A").vision == "ok" and agent.health_figures().extra["bays_unseen"] == {}
    finally:
        agent.stop()


def test_a_clock_in_a_free_corner_names_no_bay(tmp_path, clock):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    agent = rig.agent
    try:
        _ticking(rig, (560, 120), 3 * TICKS)  # above the bays (they start at y 200)
        assert agent.monitor._osd.overlays()  # found all the same
        assert agent.health_figures().extra["bays_unseen"] == {}
        assert agent.feed.vision("A").vision == "ok"
    finally:
        agent.stop()



def _tilted(rise: int) -> np.ndarray:
    """The scene ``rise`` px higher in the frame (the camera tilted down a little), the bottom rows repeated."""
    img = render(EMPTY)
    return np.vstack([img[rise:], np.repeat(img[-1:], rise, axis=0)])


def test_a_camera_shift_that_brings_a_bay_under_the_clock_names_it(tmp_path, clock):  # noqa: ANN001
    """The clock is burnt into the frame, where it stays when the camera shifts; the bays follow the view
    (registration's ``set_warp``). Before, the bays under the clock were kept per box found and the box had not moved:
    A, carried up under the clock, still vouched for an empty bay."""
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    agent = rig.agent
    at = (150, 185)  # just above bay A (it starts at y 200)
    try:
        _ticking(rig, at, 3 * TICKS)
        assert agent.monitor._osd.overlays() and agent.bays_unseen() == {}
        assert agent.unlock("A", "visitor", "ops").ok  # the policy raised the free bay meanwhile
        kept = None  # the last frame held on (``_ticking``)
        for _ in range(10 * 5):  # the camera tilts: the scene 20 px higher, the clock where it was
            kept, rig.src.next = rig.src.next, stamp(_tilted(20), rig.clock.monotonic() + 0.37, at)
            rig.run(0.2)
            if agent.monitor.shapes[0].polygon[0][1] < 190:
                break
        assert agent.monitor.aligned and agent.monitor.shapes[0].polygon[0][1] < 190  # the bays followed the view
        (found,) = agent.monitor._osd.overlays()
        assert found.overlaps(np.array(agent.monitor.shapes[0].polygon))  # A now lies under the clock
        kept, rig.src.next = rig.src.next, stamp(_tilted(20), rig.clock.monotonic() + 0.37, at)
        rig.run(0.2)
        del kept
        assert agent.bays_unseen() == {"A": "bay_overlay"} and agent.feed.vision("A").vision == "bay_overlay"
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "bay_overlay", res
    finally:
        agent.stop()


def test_one_slow_turn_does_not_lift_the_clock(tmp_path, clock):  # noqa: ANN001
    """A turn of the loop over 0.6 s (a plate read on a small board, an SD card's sync at a violation): the clock's
    beat cannot be seen across it, but nothing says it stopped. Before, the watch forgot the clock at once: the next
    frame's view of A vouched again, and a ``lock`` raised the arm over the clock's text for the 20 s it took to find
    it again."""
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    agent = rig.agent
    try:
        _ticking(rig, (120, 380), TICKS + 10)  # across bay A
        assert agent.feed.vision("A").vision == "bay_overlay"
        assert agent.unlock("A", "visitor", "ops").ok
        rig.clock.advance(1.1)  # the slow turn
        _ticking(rig, (120, 380), 0.4)
        assert agent.feed.vision("A").vision == "bay_overlay"
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "bay_overlay", res
    finally:
        agent.stop()


class _Seen:
    """The shipped classifier, keeping the last frame it was given (what the bays' eyes saw)."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.frame = inner, None

    @property
    def crops(self):  # noqa: ANN201 - the real one's per-thread crops (bays.blur measures them)
        return self.inner.crops

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        self.frame = frame
        return self.inner.classify(frame, polygons, unseen)


def _white(px: np.ndarray) -> int:
    """Pixels of the clock's white strokes (the scene has none this bright)."""
    return int((px.min(axis=-1) > 240).sum())


def test_the_bays_see_a_found_clock_filled_in_not_its_text(tmp_path, clock):  # noqa: ANN001
    """Once the clock over bay A is found, the frame the classifier reads has the clock's box filled in from its
    edges (an NVR's timestamp mask): no text pixel left there, every pixel outside the box as the camera sent it.
    Before it is found, the classifier reads the frame as sent."""
    seen = _Seen(BayClassifier.load(MODELS / "occupancy.onnx", threads=1))
    rig = Rig(tmp_path, clock, Frames(clock), seen, out=False, sensor=False)
    agent = rig.agent
    try:
        _ticking(rig, (120, 380), 5)  # not found yet
        assert seen.frame is not None and _white(seen.frame[350:400, 100:400]) > 50  # the text, as sent
        _ticking(rig, (120, 380), TICKS + 10)  # across bay A
        assert agent.feed.vision("A").vision == "bay_overlay"
        (x0, y0, x1, y1), = (o.box for o in agent.monitor._osd.overlays())
        sent, got = rig.src.next, seen.frame
        inside = np.zeros(sent.shape[:2], bool)
        inside[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = True
        assert np.abs(got.astype(np.int16) - sent)[~inside].max() <= 2  # outside the box: as sent (its noise)
        assert _white(sent[inside]) > 50 and _white(got[inside]) == 0  # no white text stroke is left in the box
    finally:
        agent.stop()
