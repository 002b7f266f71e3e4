"""A hung sensor behind a running encoder is frozen; a live camera behind the same encoder is not.

An IP camera's encoder keeps running when its sensor or ISP hangs. Each key frame (every 1–10 s) re-quantises the
same picture and the P-frames after it refine it again, then repeat it bit for bit until the next key frame: a
little change all over the frame at every key frame. The health took each for a new picture, so ``frozen`` never
came and the lock evidence's age restarted at every key frame. Its encoder cycles through the same few decoded
pictures (measured on cv2's mp4v: at most 12 distinct in 60 s, whatever the key-frame interval); a live sensor
sends new noise at each key frame, and a car arriving is a picture never shown before.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.camera.health import HealthTracker
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render

FPS = 5.0
GOP = 10  # frames: a key frame every 2 s


def _scene() -> np.ndarray:
    return cv2.resize(render(EMPTY), (1280, 720), interpolation=cv2.INTER_LINEAR)


def _exposure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)


def _coded(img: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def _osd(img: np.ndarray, t: float) -> np.ndarray:
    s, out = int(t), img.copy()
    cv2.putText(out, f"2026-12-06 03:{s // 60 % 60:02d}:{s % 60:02d}", (16, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0,
                (255, 255, 255), 2)
    return out


def _stream(exposure, i: int, t: float) -> np.ndarray:  # noqa: ANN001
    """Frame ``i`` of a GOP-coded stream: the key frame codes ``exposure(i)`` coarsely, the next two P-frames refine
    it, the rest repeat it until the next key frame (a still scene's skipped blocks); the clock stamped on top."""
    k = i % GOP
    return _osd(_coded(exposure(i - k), (70, 80, 90)[min(k, 2)]), t)


def _watch(clock, exposure, seconds: float, h: HealthTracker | None = None) -> HealthTracker:  # noqa: ANN001
    h = h or HealthTracker(clock, lost_after_s=5, frozen_after_s=30)
    for i in range(int(seconds * FPS)):
        assert h.on_frame(_stream(exposure, i, clock.monotonic()))
        clock.advance(1 / FPS)
    return h


def test_a_hung_sensor_behind_a_running_encoder_is_frozen(clock):  # noqa: ANN001
    hung = _exposure(_scene(), np.random.default_rng(1))
    start = clock.monotonic()
    h = _watch(clock, lambda i: hung, 36)
    got = h.health()
    assert got.frozen and got.reason == "frozen", got  # the key frames re-quantise the hung picture: nothing new
    assert h.picture_since is not None and h.picture_since - start <= 1.0  # the lock's evidence ages from the hang


def test_a_live_sensor_behind_the_same_encoder_is_not_frozen(clock):  # noqa: ANN001
    """A still scene, every P-frame skipped (bit-identical between key frames): each key frame codes new noise."""
    scene, rng = _scene(), np.random.default_rng(2)
    h = _watch(clock, lambda i: _exposure(scene, rng), 60)
    assert not h.health().frozen and h.health().ok, h.health()
    assert clock.monotonic() - h.picture_since <= GOP / FPS  # as new as the last key frame


def test_a_car_arriving_at_a_hung_looking_stream_is_new_at_once(clock):  # noqa: ANN001
    hung = _exposure(_scene(), np.random.default_rng(3))
    h = _watch(clock, lambda i: hung, 20)
    car = hung.copy()
    cv2.rectangle(car, (600, 400), (760, 480), (40, 40, 40), -1)  # a car parks: a large, local change
    assert h.on_frame(_osd(_coded(car, 90), clock.monotonic()))
    assert h.picture_since == clock.monotonic()
