"""An on-screen clock ticking over the picture is found (``camera.overlay``): a box that changes once a second,
every second, on a live (noisy) scene; what changes at no such beat (a car, a light blinking on every frame, a
camera too slow to tell) is no clock. Frames: the rendered car park with sensor noise and a JPEG round trip."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from edge_agent.camera.overlay import PAD, TICKS, TickWatch, fill
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render


def clock_text(t: float) -> str:
    s = int(t)
    return f"2026-12-05 21:{s // 60 % 60:02d}:{s % 60:02d}"


def stamp(img: np.ndarray, t: float, at: tuple[int, int]) -> np.ndarray:
    """The date and time as a camera burns them in: white with a dark edge."""
    out = img.copy()
    cv2.putText(out, clock_text(t), at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, clock_text(t), at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def live(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 80])[1], cv2.IMREAD_COLOR)


def watch(frame, seconds: float, fps: float = 5.0) -> TickWatch:  # noqa: ANN001
    w, rng = TickWatch(), np.random.default_rng(1)
    for i in range(int(seconds * fps)):
        t = 0.37 + i / fps  # the clock's second starts between frames
        w.see(live(frame(t), rng), t)
    return w


def test_a_clock_ticking_on_a_live_picture_is_found_around_its_digits() -> None:
    w = watch(lambda t: stamp(render(EMPTY), t, (200, 300)), TICKS + 10)
    (found,) = w.overlays()
    x0, y0, x1, y1 = found.box
    (width, height), _ = cv2.getTextSize(clock_text(0), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 4)
    seconds = cv2.getTextSize(clock_text(0)[:-2], cv2.FONT_HERSHEY_SIMPLEX, 0.8, 4)[0][0]
    assert 300 - height <= y0 < 300 - height // 2 and 300 - 4 <= y1 <= 300 + 8  # the digits' line, no taller
    assert x0 <= 200 + seconds and x1 >= 200 + width  # the ticking seconds and the minutes beside them


def test_it_takes_a_while_to_call_it_a_clock() -> None:
    assert watch(lambda t: stamp(render(EMPTY), t, (200, 300)), TICKS - 5).overlays() == []


def test_the_clock_turned_off_is_forgotten() -> None:
    w = watch(lambda t: stamp(render(EMPTY), t, (200, 300)) if t < TICKS + 10 else render(EMPTY), TICKS + 20)
    assert w.overlays() == []


def test_a_light_blinking_on_every_frame_is_no_clock() -> None:
    def blink(t: float) -> np.ndarray:
        img = render(EMPTY).copy()
        if round(t * 5) % 2:
            cv2.rectangle(img, (300, 300), (330, 320), (255, 255, 255), -1)
        return img
    assert watch(blink, 60).overlays() == []


def test_a_camera_at_one_frame_a_second_is_never_judged() -> None:
    """At 1 fps a box changing on every frame changes once a second: no beat can be told apart."""
    assert watch(lambda t: stamp(render(EMPTY), t, (200, 300)), 60, fps=1.0).overlays() == []


def test_a_slow_turn_keeps_the_clock() -> None:
    """One turn of the loop slower than ``MAX_FRAME_GAP_S`` (a plate read on a small board, an SD card's sync at a
    violation) says nothing about the beat across it, and nothing against the beat found before it. It forgot the
    clock: the bays under it vouched again at once, for the ``TICKS`` seconds it took to find it again."""
    w, rng = TickWatch(), np.random.default_rng(1)
    t, found = 0.37, 5 * (TICKS + 10)
    for i, gap in enumerate([0.2] * found + [0.8, 0.2, 0.2, 2.2, 0.2, 4.4] + [0.2] * 15):
        t += gap
        w.see(live(stamp(render(EMPTY), t, (200, 300)), rng), t)
        assert i < found or w.overlays(), t  # through the slow turns, and the ticks after them


def test_frames_too_far_apart_now_and_then_are_still_never_judged() -> None:
    """A camera at under 2 fps with jitter (0.5 s, 0.7 s, …): the close pairs alone never make a beat of a box
    changing on every frame."""
    w, rng, t = TickWatch(), np.random.default_rng(1), 0.0
    for i in range(400):
        t += 0.5 if i % 2 else 0.7
        img = render(EMPTY).copy()
        if i % 2:
            cv2.rectangle(img, (300, 300), (330, 320), (255, 255, 255), -1)
        w.see(live(img, rng), t)
    assert w.overlays() == []


def test_a_light_blinking_slowly_is_no_clock() -> None:
    """A light 1 s on, 1 s off (or 1 s on, 2 s off: a beacon, a charger's status light) steps once a second, every
    second, as a seconds digit does; but it shows again what it showed before, where a clock shows a new digit. It was
    called a clock, and its guessed text line blanked a band 654 px wide of the 960: both bays, as long as it blinked."""
    def blink(period: float) -> Callable[[float], np.ndarray]:
        def frame(t: float) -> np.ndarray:
            img = render(EMPTY).copy()
            if (t + 0.13) % period < 1.0:
                cv2.rectangle(img, (300, 300), (330, 320), (255, 255, 255), -1)
            return img
        return frame
    assert watch(blink(2.0), 90).overlays() == []
    assert watch(blink(3.0), 90).overlays() == []
    assert watch(blink(2.0), 90, fps=2.0).overlays() == []


def test_the_found_box_is_filled_in_from_its_edges_and_nothing_else_moves() -> None:
    """``fill``: what the bays' classifier and change gate see once a clock ticks over a bay (bays.monitor)."""
    clean = render(EMPTY)
    painted = stamp(clean, 3.37, (200, 300))
    (found,) = watch(lambda t: stamp(clean, t, (200, 300)), TICKS + 10).overlays()
    x0, y0, x1, y1 = found.box
    out = fill(painted, [found.box])
    text = np.abs(painted.astype(int) - clean.astype(int))[y0:y1, x0:x1].mean()
    left = np.abs(out.astype(int) - clean.astype(int))[y0:y1, x0:x1].mean()
    assert left < 0.7 * text, (text, left)  # the text is gone (the ground under it is only guessed: 28 vs 48)
    outside = np.ones(clean.shape[:2], bool)
    outside[y0 - PAD:y1 + PAD, x0 - PAD:x1 + PAD] = False
    assert np.array_equal(out[outside], painted[outside]) and fill(painted, []) is painted
