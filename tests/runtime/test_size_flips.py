"""A camera whose frame size flips (probe camflip14).

Seen on RTSP cameras after a firmware glitch: the stream alternates between the main profile and a sub-stream of
another shape every frame or few. Before: each flip to the other shape was ``camera_moved`` and each flip back
``camera_aligned`` (150 pairs a minute at 5 fps), ``camera/reported.json`` was written durably and removed at each
(a write per frame on an SD card), a warning was logged per flip, every bay's state was published per flip, and the
bays were judged on every other frame. Now a size change must hold ``camera.moved_confirm_s`` before it is an
episode, and frames must fit for as long again before the bays are seen and the episode ends.
"""

from __future__ import annotations

import collections
import logging

import numpy as np
import pytest

from edge_agent.camera import reported
from edge_agent.events.types import Event
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.locks.test_reload_sensors import NoPlates
from tests.locks.test_vision_paths import Frames
from tests.locks.test_vision_paths import Rig as LockRig

PARKED = Scene(cars=(FUEL,))
FPS = 5


def _four_by_three(img: np.ndarray) -> np.ndarray:
    """The 4:3 sub-stream of the 960x540 view: its middle 720 columns."""
    return np.ascontiguousarray(img[:, 120:840])


def _flipping(seconds: float, scene: Scene) -> list:
    """One frame of the 4:3 sub-stream, one of the bays' 16:9 view, and so on."""
    img = render(scene)
    return [s for i in range(int(seconds * FPS)) for s in hold(1 / FPS, _four_by_three(img) if i % 2 == 0 else img)]


@pytest.fixture
def writes(monkeypatch) -> collections.Counter:  # noqa: ANN001
    """Durable writes and removals of ``camera/reported.json`` (the file is written through ``write_durably`` and
    removed with a directory fsync)."""
    counts: collections.Counter = collections.Counter()
    write, fsync = reported.write_durably, reported.fsync_dir

    def counted_write(path, data):  # noqa: ANN001, ANN202
        counts["written"] += 1
        return write(path, data)

    def counted_fsync(path):  # noqa: ANN001, ANN202
        counts["removed"] += 1
        return fsync(path)

    monkeypatch.setattr(reported, "write_durably", counted_write)
    monkeypatch.setattr(reported, "fsync_dir", counted_fsync)
    return counts


def test_frames_flipping_shape_every_frame_are_one_episode_one_write_and_unseen_bays(tmp_path, clock, writes, caplog):
    """A minute of flips with a car parking meanwhile: one ``camera_moved`` once the doubt held 2 s, one
    ``camera_aligned`` 2 s after the flips stop, one write and one removal of the file, a few log lines; the bays
    read nothing while the sizes flip (the car is seen once the frames fit for good)."""
    frames = hold(4, render(EMPTY)) + _flipping(60, PARKED) + hold(300, render(PARKED))
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events: list[Event] = []
    at: dict[str, float] = {}  # event_id -> seconds into the run
    states: list = []
    t0 = clock.monotonic()
    agent.bus.subscribe(lambda e: (events.append(e), at.setdefault(e.event_id, clock.monotonic() - t0)))
    agent.bus.subscribe_state(states.append)
    agent.start()
    with caplog.at_level(logging.INFO, logger="edge_agent.camera.frame_size"):
        run_scripted(agent.step, clock, 4, FPS)
        for _ in range(60 * FPS):  # every turn of the flips, the fitting frames too: no bay is judged
            run_scripted(agent.step, clock, 1 / FPS, FPS)
            assert agent.monitor.unseen() == dict.fromkeys(agent.bay_ids(), "camera_moved"), clock.monotonic() - t0
        flips = [(e.type, e.data) for e in events]
        assert flips == [("camera_moved", {"frame_size": [720, 540], "bays_frame_size": [960, 540]})]
        assert at[events[0].event_id] == pytest.approx(4 + 2, abs=0.5)  # held moved_confirm_s
        assert agent.camera_moved and dict(writes) == {"written": 1}
        run_scripted(agent.step, clock, 20, FPS)
    camera = [(e.type, e.data, at[e.event_id]) for e in events if e.type.startswith("camera_")]
    assert [c[:2] for c in camera][1:] == [("camera_aligned", {"frame_size": [960, 540]})]
    assert camera[1][2] == pytest.approx(64 + 2, abs=0.5)  # the frames fitted moved_confirm_s
    assert dict(writes) == {"written": 1, "removed": 1}
    assert [(e.type, e.bay_id) for e in events if e.type.startswith("vehicle_")] == [("vehicle_arrived", "B")]
    assert not agent.camera_moved and agent.monitor.unseen() == {}
    assert len(states) <= 12, [(s.bay_id, s.state, s.camera_ok) for s in states]  # a few per bay, not per flip
    assert len(caplog.records) <= 4, [r.getMessage() for r in caplog.records]
    agent.stop()


def test_one_frame_of_another_shape_is_no_episode_but_blinds_the_bays_for_a_while(tmp_path, clock, writes):
    """A single sub-stream frame in a steady stream (a reconnect's first frame): before, a ``camera_moved`` /
    ``camera_aligned`` pair and a write and removal of the file. Now nothing is published; the bays are unseen from
    that frame until the frames fitted ``moved_confirm_s``."""
    img = render(EMPTY)
    frames = hold(4, img) + hold(1 / FPS, _four_by_three(img)) + hold(300, img)
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(frames, clock), reader=NoPlates())
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, 4.2, FPS)
    assert agent.monitor.unseen() == dict.fromkeys(agent.bay_ids(), "camera_moved")
    run_scripted(agent.step, clock, 1.6, FPS)
    assert agent.monitor.unseen() == dict.fromkeys(agent.bay_ids(), "camera_moved")  # not yet 2 s of fitting frames
    run_scripted(agent.step, clock, 1, FPS)
    assert agent.monitor.unseen() == {} and not agent.camera_moved
    assert [e.type for e in events if e.type.startswith("camera_")] == [] and dict(writes) == {}
    agent.stop()


def test_no_arm_rises_on_a_bay_seen_empty_while_the_sizes_flip(tmp_path, clock):
    """The lock policy raises an empty bay's arm after 20 s: none while the sizes flip (the bays are unseen),
    once the frames fit again for good. A guard for the debounce above: each fitting frame in the flips unblinded the
    bays before, and the interlock's vouching reset kept the arm down; now nothing is judged while they flip."""
    rig = LockRig(tmp_path, clock, Frames(clock), out=False)
    empty = render(EMPTY)
    turn = [0]

    def flip() -> None:
        turn[0] += 1
        rig.src.next = empty if turn[0] % 2 else _four_by_three(empty)
        assert rig.manager.driver("A").arm.drive != "up", "UP driven while the frame sizes flip"

    try:
        rig.src.next = empty
        rig.run(3)
        rig.run(90, flip)
        assert rig.agent.camera_moved and rig.manager.state("A") == "down"
        rig.src.next = empty
        rig.run(40)
        assert not rig.agent.camera_moved and rig.manager.state("A") == "up"
    finally:
        rig.agent.stop()
