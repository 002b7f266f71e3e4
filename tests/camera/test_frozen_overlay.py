"""A camera whose picture hung while its on-screen clock ticks on is frozen; a live camera, whatever still scene it
shows, is not. Frames as a camera sends them: a rendered car park at 1920×1080, sensor noise (shot noise, stronger
where the picture is brighter, smeared over neighbouring pixels by the ISP), the date and time burnt in by the
camera's on-screen display, and a JPEG round trip (the stream's encoding).

IP cameras stamp the time into every encoded frame after the sensor: when the sensor or its ISP hangs, the stream
carries the same picture with a new clock every second. The health's whole-frame signature saw a new frame each
second: never frozen, so neither ``camera_lost`` (reason ``frozen``) nor the bays' ``camera_frozen`` was ever said,
and the backend never heard the camera had hung.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.camera.health import HealthTracker
from edge_agent.camera.source import Frame
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render

FPS = 5.0


def _scene(night: bool) -> np.ndarray:
    img = cv2.resize(render(EMPTY), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    return (img * 0.18).astype(np.uint8) if night else img  # night: a dim, lamp-lit car park


def _sensor(img: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    """One exposure of ``img``: shot noise (variance grows with the signal) plus read noise, smeared by demosaicing."""
    f = img.astype(np.float32)
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.sqrt(gain * f + 0.5)
    noise = cv2.GaussianBlur(noise, (3, 3), 0.6)
    return np.clip(f + noise, 0, 255).astype(np.uint8)


def _osd(img: np.ndarray, t: float) -> np.ndarray:
    """The camera's on-screen display: date and time in the top left corner, as it burns it into every frame."""
    s = int(t)
    out = img.copy()
    cv2.putText(out, f"2026-12-05 21:{s // 60 % 60:02d}:{s % 60:02d}", (24, 56), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                (255, 255, 255), 3)
    return out


def _sent(img: np.ndarray) -> np.ndarray:
    """As the stream carries it: JPEG (an MJPEG camera; an H.264 one changes the same blocks)."""
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1], cv2.IMREAD_COLOR)


def _watch(clock, frames, seconds: float) -> HealthTracker:  # noqa: ANN001
    h = HealthTracker(clock, lost_after_s=5, frozen_after_s=30)
    for i in range(int(seconds * FPS)):
        assert h.on_frame(frames(i, clock.monotonic()))
        clock.advance(1 / FPS)
    return h


def test_a_picture_hung_under_a_ticking_clock_is_frozen(clock):  # noqa: ANN001
    rng = np.random.default_rng(1)
    hung = _sensor(_scene(night=False), rng, 0.6)  # the last exposure the sensor made
    h = HealthTracker(clock, lost_after_s=5, frozen_after_s=30)
    for i in range(int(31 * FPS)):
        assert h.on_frame(_sent(_osd(hung, clock.monotonic())))
        if i == int(29 * FPS):
            assert not h.health().frozen  # frozen_after_s is not up yet
        clock.advance(1 / FPS)
    got = h.health()
    assert got.frozen and got.reason == "frozen" and not got.ok, got
    # the exact signature saw the tick; the picture under it is as old as the hang (probe ircut25: it was the tick's
    # age, so a bay whose box the clock crosses had fresh evidence for a raise until frozen_after_s)
    assert h.picture_since is not None and clock.monotonic() - h.picture_since >= 30
    h.on_frame(_sent(_osd(_sensor(_scene(night=False), rng, 0.6), clock.monotonic())))  # the sensor is back
    assert h.health().ok


@pytest.mark.parametrize("night", [False, True], ids=["day", "night"])
def test_a_live_still_car_park_under_its_clock_is_never_frozen(clock, night):  # noqa: ANN001
    """Nothing moves for longer than ``frozen_after_s``, by day or in a dim car park at night, the clock ticking: the
    sensor's noise changes the picture all over, so the camera is live."""
    rng = np.random.default_rng(2)
    scene = _scene(night)
    exposures = [_sensor(scene, rng, 0.6 if not night else 0.25) for _ in range(8)]
    h = _watch(clock, lambda i, t: _sent(_osd(exposures[i % len(exposures)], t)), 40)
    assert not h.health().frozen and h.health().ok, h.health()


def test_a_live_camera_without_a_clock_whose_noise_is_sparse_is_not_frozen(clock):  # noqa: ANN001
    """A dim scene where the noise changes only a few pixels per frame (most below the encoder's step): still spread
    over the whole frame, not one box."""
    rng = np.random.default_rng(3)
    scene = _scene(night=True)

    def frame(i: int, t: float) -> np.ndarray:
        img = scene.copy()
        ys, xs = rng.integers(0, img.shape[0], 3000), rng.integers(0, img.shape[1], 3000)  # 0.14 % of the pixels
        img[ys, xs] = np.clip(img[ys, xs].astype(np.int16) + 3, 0, 255).astype(np.uint8)
        return img

    h = _watch(clock, frame, 60)
    assert not h.health().frozen, h.health()


def test_the_agent_says_camera_lost_frozen_for_a_picture_hung_under_its_clock(tmp_path, clock):  # noqa: ANN001
    """The backend hears it (``camera_lost`` with reason ``frozen``) and the bays read ``camera_frozen``; the camera
    is restored once its sensor sends live pictures again."""
    from edge_agent.runtime.agent import Agent
    from edge_agent.sim.scenario import scene_config

    rng = np.random.default_rng(4)
    live = [_sensor(render(EMPTY), rng, 0.6) for _ in range(4)]

    class Camera:
        reconnects = 0
        hung: np.ndarray | None = None

        def __init__(self) -> None:
            self.seq = 0

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def latest(self) -> Frame | None:
            self.seq += 1
            img = self.hung if self.hung is not None else live[self.seq % len(live)]
            return Frame(_sent(_osd(img, clock.monotonic())), self.seq, clock.monotonic())

    class NoReader:
        def process(self, frame, region=None):  # noqa: ANN001, ANN201
            return []

    cam = Camera()
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=cam, reader=NoReader())
    events: list = []
    agent.bus.subscribe(lambda e: events.append(e) if e.type.startswith("camera_") else None)

    def run(seconds: float) -> None:
        for _ in range(int(seconds * FPS)):
            agent.step()
            clock.advance(1 / FPS)

    run(10)
    assert events == []
    cam.hung = live[0]  # the sensor hangs; the clock ticks on
    run(29)
    assert events == []
    run(2)
    assert [(e.type, e.data["reason"]) for e in events] == [("camera_lost", "frozen")]
    assert {agent.feed.vision(b.id).vision for b in agent.cfg.bays} == {"camera_frozen"}  # what the locks read
    cam.hung = None
    live[:] = [_sensor(render(EMPTY), rng, 0.6) for _ in range(4)]  # the sensor's noise is new: no old frame again
    run(1)
    assert [e.type for e in events] == ["camera_lost", "camera_restored"]
