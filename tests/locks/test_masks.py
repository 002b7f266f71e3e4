"""Text the camera burns into its picture that never ticks (its name, a site label, a privacy block), masked by the
installer (``camera.masks``): the bays' eyes see it filled in, and a bay under it vouches for no empty bay. The real
agent, the shipped occupancy model, a simulated lock without a presence sensor, a fake clock.

The agent finds only a clock that ticks (``camera/overlay.py``); a four-line label block across a rendered empty bay
reads as a car (p ≈ 0.9 with the shipped model) from the first frame: a false arrival, and no fill without a mask."""

from __future__ import annotations

import cv2
import numpy as np
import yaml

from edge_agent.events.types import EventType
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render
from tests.bays.test_vision import Frames
from tests.locks.test_vision_paths import Rig

LABEL = ["SITE 12", "CAM 07", "BAY 1-2", "EV ONLY"]
BLOCK = [[60, 220], [460, 220], [460, 530], [60, 530]]  # round the label, over most of bay A (60..470, 200..530)


def labelled() -> np.ndarray:
    """The empty scene with the camera's label burnt in across bay A (white with a dark edge, as an OSD)."""
    img = render(EMPTY).copy()
    for i, line in enumerate(LABEL):
        at = (80, 280 + 55 * i)
        cv2.putText(img, line, at, cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 8, cv2.LINE_AA)
        cv2.putText(img, line, at, cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 4, cv2.LINE_AA)
    return img


def _arrivals(rig: Rig) -> list:
    return [e for e in rig.events if getattr(e, "type", None) == EventType.VEHICLE_ARRIVED]


def test_the_label_unmasked_makes_a_false_arrival(tmp_path, clock):  # noqa: ANN001
    """The other half of the next test: without a mask the text is a car (what the mask is for)."""
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    try:
        rig.src.next = labelled()
        rig.run(10)
        assert [e.bay_id for e in _arrivals(rig)] == ["A"]
    finally:
        rig.agent.stop()


def test_a_masked_label_over_a_bay_makes_no_arrival_and_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False, masks=[BLOCK])
    agent = rig.agent
    try:
        rig.src.next = labelled()
        rig.run(10)
        assert agent.camera.alignment is not None  # the shift is tracked: its features leave the label out too
        assert agent.camera.alignment.reg.masks == [[(float(x), float(y)) for x, y in BLOCK]]
        assert _arrivals(rig) == []
        assert agent.feed.vision("A").p_occupied < 0.3  # the classifier read the filled-in ground, not the text
        rig.assert_unvouched("A", "bay_overlay")  # classified, vouching for nothing: a lock refuses to rise
        rig.run(30)  # past the policy's raise delay (20 s)
        assert rig.manager.driver("A").arm.drive != "up"
    finally:
        agent.stop()


def test_a_reload_applies_the_masks(tmp_path, clock):  # noqa: ANN001
    """Masks are edited with the bays, not at a restart: a reload that adds one (and only that) applies it at once,
    and one that takes it out gives the bay its view back."""
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False)
    agent = rig.agent
    try:
        rig.src.next = render(EMPTY)
        rig.run(5)
        assert agent.feed.vision("A").vision == "ok"
        cfg = yaml.safe_load(rig.path.read_text())
        cfg["camera"]["masks"] = [BLOCK]
        rig.path.write_text(yaml.safe_dump(cfg))
        res = agent.reload_config()
        assert res.ok and res.data["restart_needed"] == [] and "camera" in res.data["changed"], res
        rig.run(1)
        rig.assert_unvouched("A", "bay_overlay")
        assert agent.camera.alignment is not None and len(agent.camera.alignment.reg.masks) == 1  # and registration
        del cfg["camera"]["masks"]
        rig.path.write_text(yaml.safe_dump(cfg))
        assert agent.reload_config().ok
        rig.run(1)
        assert agent.camera.alignment.reg.masks == []
        assert agent.feed.vision("A").vision == "ok" and agent.bays_unseen() == {}
    finally:
        agent.stop()


def test_a_mask_clipping_a_bay_leaves_its_view(tmp_path, clock):  # noqa: ANN001
    """A text line over the bay's far edge (under a twentieth of it) leaves the bay its view: blinded by it, its
    lock would stay down for good."""
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False, masks=[[[40, 190], [480, 190], [480, 205],
                                                                                  [40, 205]]])
    agent = rig.agent
    try:
        rig.src.next = render(EMPTY)
        rig.run(5)
        assert agent.feed.vision("A").vision == "ok" and agent.bays_unseen() == {}
    finally:
        agent.stop()


def test_a_mask_covers_where_it_was_drawn_and_where_the_view_carried_it(tmp_path, clock):  # noqa: ANN001
    """Burnt-in text stays put in the frame when the camera is knocked; a piece of the scene moves with the view (as
    the bays do). Within the shift tolerance both stay covered: after a 20 px shift the label is filled in where it was
    drawn, and so is the same area 20 px down."""
    rig = Rig(tmp_path, clock, Frames(clock), out=False, sensor=False, masks=[BLOCK])
    monitor = rig.agent.monitor
    try:
        frame = labelled()
        assert (monitor._masked(frame)[220:531, 60:461].min(axis=-1) > 240).sum() == 0
        monitor.set_warp(((1.0, 0.0, 0.0), (0.0, 1.0, 20.0)))  # the view 20 px down: the bays with it
        seen = monitor._masked(frame)
        # drawn (y 220-530) and carried (240-550, past the frame's foot), 2 px round: one area from y 218 down, each
        # column drawn from the row above it alone; without either part, rows 218-237 or 533-539 stay as sent
        assert np.array_equal(seen[218:, 60:461], np.repeat(frame[217:218, 60:461], 540 - 218, axis=0))
        assert np.array_equal(seen[:217], frame[:217])  # above both: as sent
        assert monitor.unseen() == {"A": "bay_overlay"}
    finally:
        rig.agent.stop()
