"""A bay mostly softer than the rest of the frame is hidden by the lens, with no sharp picture of it needed
(``bays/lens.py``).

The probe behind it (wetfirst): a first start with no record on a lens already wet — 40 drops over 29 % of a PKLot
camera from the first frame — gave ``bays.blur`` no sharp picture to compare with, and 9 arms rose under parked cars.
The frames here are a drawn lot: ten bays in two rows over grained asphalt, painted lines, parked cars as boxes
with windows, all drawn sharp, then the lens (a drop blurs what lies under it) and the sensor's noise after it.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest

from edge_agent.bays.lens import LensWatch
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import scene_config
from tests.bays.test_vision import Frames, NoPlates, run

W, H, BW, BH = 800, 400, 140, 150  # the picture, a bay's width and depth
BAYS = {
    f"{row}{k}": [(60 + k * BW, y), (60 + (k + 1) * BW, y), (60 + (k + 1) * BW, y + BH), (60 + k * BW, y + BH)]
    for row, y in (("A", 40), ("B", 210))
    for k in range(5)
}
PARKED = ("A0", "A2", "A3", "B1", "B4")


def lot(parked: tuple[str, ...] = PARKED) -> np.ndarray:
    """The drawn lot, as sharp as the lens sees it."""
    rng = np.random.default_rng(7)
    img = np.zeros((H, W, 3), np.uint8)
    for poly in BAYS.values():
        cv2.polylines(img, [np.array(poly, np.int32)], True, (235, 235, 235), 3, cv2.LINE_AA)
    for bay in parked:
        (x0, y0), (x1, _), (_, y1) = BAYS[bay][0], BAYS[bay][1], BAYS[bay][2]
        body = tuple(int(c) for c in rng.integers(30, 220, 3))
        cv2.rectangle(img, (x0 + 22, y0 + 12), (x1 - 22, y1 - 12), body, -1, cv2.LINE_AA)
        cv2.rectangle(img, (x0 + 32, y0 + 30), (x1 - 32, y0 + 62), (40, 45, 50), -1, cv2.LINE_AA)  # windscreen
        cv2.rectangle(img, (x0 + 32, y1 - 50), (x1 - 32, y1 - 28), (40, 45, 50), -1, cv2.LINE_AA)  # rear window
        cv2.line(img, (x0 + 26, (y0 + y1) // 2), (x1 - 26, (y0 + y1) // 2), (20, 20, 20), 2, cv2.LINE_AA)
    return np.clip(img + texture()[..., None], 0, 255).astype(np.uint8)


@cache
def texture() -> np.ndarray:
    """Wear, stains and grain over everything, with the amplitude spectrum of a natural scene (1/f: as much
    detail per octave at every scale), so no scale of the picture is special."""
    spectrum = np.fft.fft2(np.random.default_rng(3).normal(0, 1, (H, W)))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(W), np.fft.fftfreq(H)))
    f[0, 0] = 1.0
    t = np.real(np.fft.ifft2(spectrum / f))
    return (t - t.mean()) / t.std() * 18 + 100


def through_lens(
    img: np.ndarray,
    drops: tuple[tuple[str, float], ...] = (),
    sigma: float = 6.0,
    seed: int = 0,
    gain: float = 1.0,
    offset: float = 0.0,
    noise: int = 2,
) -> np.ndarray:
    """What the camera sends: drops (bay, share of its width from the left) blur the scene under them by ``sigma``
    px, feathered; light (``gain``, ``offset``) on the scene; the sensor's noise after the lens."""
    f = img.astype(np.float32)
    mask = np.zeros((H, W), np.float32)
    for bay, share in drops:
        (x0, y0), (x1, _), (_, y1) = BAYS[bay][0], BAYS[bay][1], BAYS[bay][2]
        cv2.rectangle(mask, (x0 - 6, y0 - 6), (int(x0 + share * (x1 - x0)), y1 + 6), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 4)[..., None]
    f = f * (1 - mask) + cv2.GaussianBlur(f, (0, 0), sigma) * mask
    f = f * gain + offset + np.random.default_rng(seed).integers(-noise, noise + 1, f.shape)
    return np.clip(f, 0, 255).astype(np.uint8)


def test_a_lens_wet_from_the_first_frame_hides_the_bays_under_its_drops() -> None:
    """No sharp picture of the bay before: the first look already tells A2 (a drop over 80 % of its car) and B3
    (an empty bay under a drop) from the bays the lens sees clearly."""
    watch = LensWatch()
    wet = through_lens(lot(), (("A2", 0.8), ("B3", 1.0)))
    assert watch.see(wet, BAYS, 0.0) == {"A2", "B3"}
    assert watch.see(through_lens(lot(), (("A2", 0.8), ("B3", 1.0)), seed=1), BAYS, 1.0) == {"A2", "B3"}
    assert watch.see(through_lens(lot(), seed=2), BAYS, 2.0) == set()  # wiped: every bay seen again


@pytest.mark.parametrize(
    "light",
    [
        {},
        {"gain": 0.35},  # dusk
        {"gain": 1.5},  # exposure up
        {"gain": 0.4, "offset": 120},  # fog's veil
        {"gain": 0.2, "noise": 8},  # night: little light, the sensor's noise turned up
    ],
)
def test_a_clear_lens_hides_no_bay_whatever_the_light(light: dict) -> None:
    assert LensWatch().see(through_lens(lot(), **light), BAYS, 0.0) == set()


@pytest.mark.xfail(
    strict=True,
    reason="open (review93): the sensor's noise, added after the lens, counts as fine detail over a drop's blur",
)
@pytest.mark.parametrize("light", [{"gain": 0.3, "noise": 4}, {"gain": 0.3, "noise": 6}])
def test_the_sensors_noise_does_not_hide_the_drops(light: dict) -> None:
    """The sensor's noise comes after the lens: it lays fine "detail" over a drop's blur as over everything else. At
    dusk (the scene's contrast down, the same noise) the drops' tiles read as fine as the rest and no bay is told
    (review93, on bays-dev's 30 PKLot frames with drops over 30 % of each: of 57 bays under drops, 42 told with
    sensor noise σ 2 after the lens, 17 with σ 3, 1 at dusk — ×0.2 light, σ 2, ×4 gain; 57 with none)."""
    watch = LensWatch()
    assert watch.see(through_lens(lot(), (("A2", 0.8), ("B3", 1.0)), **light), BAYS, 0.0) == {"A2", "B3"}
    assert LensWatch().see(through_lens(lot(), **light), BAYS, 0.0) == set()


@pytest.mark.xfail(
    strict=True,
    reason="open (review93): the frame's median tile is the reference, and most of the frame under drops moves it",
)
def test_a_lens_wet_over_most_of_the_picture_still_hides_the_bays_under_its_drops() -> None:
    """Drops over 8 of the 10 bays: the median tile is now a wet one, and bays under drops read as sharp as it (review93,
    on bays-dev's PKLot frames: bays under drops told 126 of 132 with half the frame wet, 0 of 228 with 70 %)."""
    wet = tuple((b, 1.0) for b in list(BAYS)[:8])
    assert LensWatch().see(through_lens(lot(), wet), BAYS, 0.0) == {b for b, _ in wet}


def test_a_drop_over_a_small_part_of_a_bay_is_not_told() -> None:
    """The limit: a bay counts as hidden when more than half of its detail is soft; a drop over a quarter of it
    leaves the rest of the bay seen (its classifier reading stands, as before)."""
    assert LensWatch().see(through_lens(lot(), (("A3", 0.25),)), BAYS, 0.0) == set()


def test_a_hidden_bay_stays_hidden_while_the_drop_stays() -> None:
    """A car moving under the drop changes what it blurs, not the drop: the bay stays hidden until its detail is
    mostly back."""
    watch = LensWatch()
    assert watch.see(through_lens(lot(), (("B3", 1.0),)), BAYS, 0.0) == {"B3"}
    parked = lot((*PARKED, "B3"))
    assert watch.see(through_lens(parked, (("B3", 1.0),), seed=1), BAYS, 10.0) == {"B3"}


def test_a_hidden_bay_is_seen_again_only_when_most_of_its_detail_is_back() -> None:
    """The way out is lower than the way in: a drop over about half a bay leaves its share swinging around a half as
    cars move under it, and a release there lets the arm rise under a car still half under the drop (review93: no test
    held ``CLEAR``; the rest passed with it at 0.9)."""
    watch = LensWatch()
    assert "A2" in watch.see(through_lens(lot(), (("A2", 0.8),)), BAYS, 0.0)
    shrunk = through_lens(lot(), (("A2", 0.4),), seed=1)  # about 0.4 of its detail soft: under the way in
    assert "A2" not in LensWatch().see(shrunk, BAYS, 1.0)
    assert "A2" in watch.see(shrunk, BAYS, 1.0)


def test_judged_at_most_once_per_look() -> None:
    watch = LensWatch()
    assert watch.see(through_lens(lot(), (("B3", 1.0),)), BAYS, 0.0, every_s=2.0) == {"B3"}
    assert watch.see(through_lens(lot()), BAYS, 1.0, every_s=2.0) == {"B3"}  # within the look: not judged again
    assert watch.see(through_lens(lot()), BAYS, 2.0, every_s=2.0) == set()


def test_the_agent_started_on_a_wet_lens_vouches_for_no_bay_under_a_drop(tmp_path, clock):  # noqa: ANN001
    """The whole path, from the first frame: a bay under a drop is still classified, but its view vouches for no
    empty bay (``bay_blurred``: the interlock refuses a raise on it, the heartbeat names it); the others are seen."""
    src = Frames(clock)
    bays = [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()]
    agent = Agent(
        scene_config(str(tmp_path), camera={"width": W, "height": H}, bays=bays),
        clock=clock,
        source=src,
        reader=NoPlates(),
    )
    agent.start()
    try:
        src.next = through_lens(lot(), (("A2", 0.8), ("B3", 1.0)), noise=0)  # (Frames adds the sensor's noise)
        run(agent, clock, 4)
        assert agent.health_figures().extra["bays_unseen"] == {"A2": "bay_blurred", "B3": "bay_blurred"}
        assert agent.feed.vision("B3").vision == "bay_blurred" and agent.feed.vision("B2").vision == "ok"
    finally:
        agent.stop()
