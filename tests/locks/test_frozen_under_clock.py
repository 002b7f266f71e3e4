"""A camera whose picture froze while its on-screen clock ticks on: no fresh evidence of an empty bay. The real agent,
the shipped occupancy model, a simulated lock without a presence sensor (the camera is its only witness), a fake
clock.

IP cameras stamp the date and time into every encoded frame, after the image sensor: when the sensor or its ISP
hangs ("the picture froze but the time keeps running", a common field report), the stream carries the same picture
with a new clock every second. The camera health's signature of the whole frame saw the clock change, so the
picture counted as live for ever: never ``camera_frozen``, and every re-classification of the hung picture was a
fresh measurement of an empty bay. Lowered for a visitor, the arm rose under the car that parked unseen — on the
policy's admit-window timer, or at once on a remote ``lock`` (``raising`` 12 s into the freeze). And an agent
restarted on a hung camera, clock or none, took its hung picture for a new one.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.camera.source import Frame
from edge_agent.config.errors import ConfigError
from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import BAYS, render
from tests.bays.test_vision import Frames, NoPlates
from tests.locks.test_vision_paths import Rig, write


class FrozenUnderClock(Frames):
    """Live (sensor noise) until ``frozen`` is set; then that picture for ever, with the time stamped in its top
    left corner, as the camera's on-screen display does on every frame."""

    frozen: np.ndarray | None = None
    stamp = True  # False: the picture alone, bit for bit (a hung encoder: ``camera_frozen`` after frozen_after_s)
    at = (10, 40)  # where the clock is stamped: the top left corner, outside the bays
    font, stroke = (1.2,), 3
    _hung = False
    gop = 0  # frames between key frames of the encoder behind the hung sensor (0: the picture sent bit for bit)

    def latest(self):  # noqa: ANN201 - Frame | None
        if self.frozen is None:
            if self._hung:  # back from the hang: the sensor's noise is new (no frame sent before the hang again)
                self._hung, self.seed, self._noisy = False, self.seed + 1, None
            return super().latest()
        self._hung = True
        self.seq += 1
        image = self.frozen.copy()
        if self.gop:  # its encoder runs on: each key frame re-quantises the hung picture, two P-frames refine it
            k = self.seq % self.gop
            image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, (70, 80, 90)[min(k, 2)]])[1],
                                 cv2.IMREAD_COLOR)
        if not self.stamp:
            return Frame(image, self.seq, self.clock.monotonic())
        t = int(self.clock.monotonic())
        cv2.putText(image, f"2026-12-05 11:{t // 60 % 60:02d}:{t % 60:02d}", self.at, cv2.FONT_HERSHEY_SIMPLEX,
                    *self.font, (255, 255, 255), self.stroke)
        return Frame(image, self.seq, self.clock.monotonic())


def _freeze(rig: Rig) -> None:
    """The sensor hangs on the empty bay; from now on a car may park over the lowered arm unseen."""
    frame = rig.src.latest()
    assert frame is not None
    rig.src.frozen = frame.image
    assert max(y for _, y in BAYS["A"]) > 60 < min(y for _, y in BAYS["A"])  # the stamp lies outside bay A


def _lowered_for_a_visitor(tmp_path: Path, clock) -> Rig:  # noqa: ANN001
    rig = Rig(tmp_path, clock, FrozenUnderClock(clock), out=False, sensor=False)
    rig.src.next = render(EMPTY)
    rig.run(30)
    assert rig.manager.state("A") == "up"  # the policy raised A on the empty bay
    assert rig.agent.unlock("A", "visitor", "ops").ok  # admit_window_s (120 s) for the visitor to park
    rig.run(2)
    assert rig.manager.state("A") == "down"
    return rig


def _never_up(rig: Rig) -> None:
    assert rig.manager.driver("A").arm.drive != "up", "the arm rose on a frozen picture: over the car parked unseen"


def test_a_frozen_picture_under_a_ticking_clock_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    rig = _lowered_for_a_visitor(tmp_path, clock)
    agent = rig.agent
    try:
        _freeze(rig)
        rig.run(12, lambda: _never_up(rig))
        assert agent.health.health().ok  # frozen only after camera.frozen_after_s (30 s): the evidence ages already
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_stale", res
        rig.run(150, lambda: _never_up(rig))  # past the admit window: the policy wants A up, on no fresh evidence
        assert rig.manager.state("A") == "down"
        rig.src.frozen = None  # the camera rebooted: live pictures of the (empty) bay again
        rig.run(1)
        rig.watch_free("A")  # live pictures of the empty bay for auto_raise_delay_s: a command may raise it
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()


def test_a_frozen_picture_with_the_clock_stamped_over_the_bay_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    """The camera's clock lies over the bay (an installer moved the OSD, a bay drawn up to the frame's edge). The
    bay's own pixels change every second, so they said nothing of the freeze; the rest of the picture does: the
    evidence ages from the freeze all the same. Until probe ircut25 a ``lock`` 12 s into the freeze raised the arm,
    and the policy's admit-window timer could too, until ``camera_frozen`` (30 s)."""
    rig = _lowered_for_a_visitor(tmp_path, clock)
    agent = rig.agent
    try:
        rig.src.at = (70, 262)  # across bay A's box (and B's); each second changes the sampled pixels too
        frame = rig.src.latest()
        assert frame is not None
        rig.src.frozen = frame.image
        rig.run(12, lambda: _never_up(rig))
        assert agent.health.health().ok  # not frozen yet: frozen_after_s is 30 s
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_stale", res
        rig.src.frozen = None  # the camera rebooted: live pictures of the (empty) bay again
        rig.run(1)
        rig.watch_free("A")  # live pictures of the empty bay for auto_raise_delay_s: a command may raise it
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()


def test_a_hung_sensor_behind_a_running_encoder_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    """The encoder keeps running over the hung sensor: a key frame every 2 s re-quantises the picture (a little
    change all over the frame), the clock ticks on. Each key frame made the hung picture new: the evidence fresh
    for a raise for ever, never ``camera_frozen`` (probe keyframe27)."""
    rig = _lowered_for_a_visitor(tmp_path, clock)
    agent = rig.agent
    try:
        rig.src.gop = 10
        _freeze(rig)
        rig.run(12, lambda: _never_up(rig))
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_stale", res
        rig.run(150, lambda: _never_up(rig))  # past the admit window: the policy wants A up, on no fresh evidence
        assert rig.manager.state("A") == "down"
        assert agent.health.health().reason == "frozen"
        rig.src.frozen = None  # the camera rebooted: live pictures of the (empty) bay again
        rig.run(1)
        rig.watch_free("A")  # live pictures of the empty bay for auto_raise_delay_s: a command may raise it
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()


def test_a_reload_during_the_freeze_does_not_make_the_frozen_picture_new(tmp_path, clock):  # noqa: ANN001
    """A reload builds a new bay monitor (here: another occupancy threshold); its first look at the hung picture
    is no newer than the picture."""
    rig = _lowered_for_a_visitor(tmp_path, clock)
    agent = rig.agent
    try:
        _freeze(rig)
        rig.run(5, lambda: _never_up(rig))
        write(rig.path, tmp_path / "data", out=False, sensor=False, exit_p=0.25)
        res = agent.reload_config()
        assert res.ok and "occupancy" in res.data["changed"], res
        rig.run(1, lambda: _never_up(rig))
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_stale", res
        rig.run(150, lambda: _never_up(rig))
        assert rig.manager.state("A") == "down"
    finally:
        agent.stop()


@pytest.mark.parametrize("stamp", [True, False], ids=["under_a_clock", "bit_for_bit"])
def test_a_restart_on_a_hung_camera_does_not_take_its_picture_for_new(tmp_path, clock, stamp):  # noqa: ANN001
    """The camera hung a minute ago with the arm down for a visitor (bit for bit: ``camera_frozen`` said); the agent
    is restarted (an operator clearing the alarm, a crash, an update). The new process cannot tell how old the
    picture it first sees is: it took it as new, and a ``lock`` 0.4 s after the start raised the arm over the car
    that had parked during the freeze."""
    rig = _lowered_for_a_visitor(tmp_path, clock)
    try:
        rig.src.stamp = stamp
        _freeze(rig)
        rig.run(60, lambda: _never_up(rig))
        rig.agent.stop()
        rig.agent = Agent(load_config(rig.path), clock=clock, source=rig.src, reader=NoPlates())
        rig.manager = attach_locks(rig.agent, thread=False)  # the simulated arm starts down, where it was
        rig.agent.start()
        for _ in range(25):  # a lock at every frame of the first 5 s
            rig.run(0.2, lambda: _never_up(rig))
            res = rig.agent.lock("A", "close the bay", "ops")
            assert not res.ok and res.data["code"] in ("bay_unknown", "occupancy_stale", "camera_frozen"), res
        rig.run(150, lambda: _never_up(rig))
        assert rig.manager.state("A") == "down"
        rig.src.frozen = None  # the camera rebooted: live pictures of the (empty) bay again
        rig.run(1)
        rig.watch_free("A")  # live pictures of the empty bay for auto_raise_delay_s: a command may raise it
        assert rig.agent.lock("A", "close the bay", "ops").ok
    finally:
        rig.agent.stop()


def _max_age(path: Path, age: float) -> Path:
    """The config ``write`` made, its lock trusting camera evidence up to ``age`` seconds old."""
    cfg = yaml.safe_load(path.read_text())
    cfg["locks"][0]["occupancy_max_age_s"] = age
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_no_lock_trusts_a_picture_longer_than_the_camera_is_given_to_send_one(tmp_path, clock):  # noqa: ANN001
    """``occupancy_max_age_s`` took up to 60 s whatever ``camera.lost_after_s`` (5 s) said. A hung picture is judged
    by that age alone until ``camera.frozen_after_s`` (30 s), so at 20 s a remote ``lock`` 12 s into the freeze
    raised the arm (``raising``) over the bay a car could have parked in unseen, where frames that stopped would
    have blinded the bay after 5 s. Refused at load now; at the most allowed (5 s) the same ``lock`` is refused."""
    with pytest.raises(ConfigError) as refused:
        load_config(_max_age(write(tmp_path / "agent.yaml", tmp_path / "data", out=False, sensor=False), 20))
    assert refused.value.problems == [
        "locks[0].occupancy_max_age_s: 20s is over camera.lost_after_s 5s: a picture that stops changing (a hung "
        "sensor, its on-screen clock ticking on) would be trusted longer than a camera that sends no frame at all "
        "(set it ≤ camera.lost_after_s, or raise that)"]

    rig = _lowered_for_a_visitor(tmp_path, clock)
    try:
        _max_age(rig.path, 5)  # the most camera.lost_after_s (5 s) allows; lock settings apply at a start
        rig.agent.stop()
        rig.agent = Agent(load_config(rig.path), clock=clock, source=rig.src, reader=NoPlates())
        rig.manager = attach_locks(rig.agent, thread=False)
        rig.agent.start()
        rig.run(3)
        rig.watch_free("A")
        assert rig.agent.lock("A", "close the bay", "ops").ok  # live pictures of the empty bay: it may rise
        assert rig.agent.unlock("A", "visitor", "ops").ok
        rig.run(2)
        _freeze(rig)
        rig.run(12, lambda: _never_up(rig))
        res = rig.agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_stale", res
    finally:
        rig.agent.stop()
