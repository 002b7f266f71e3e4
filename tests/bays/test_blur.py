"""A bay whose picture lost its fine detail with nothing moving in it is not well seen (``bays/blur.py``).

The probe behind it (blur26, after ircut25): a drop on the lens painted over rows B/C of the live-like 2013-03-19
PKLot clip left two parked cars confidently empty for 84 s and 81 s; the crop kept its contrast, so
``bays.blank`` passed it. Crops here are the synthetic lot's bay A, with sensor noise added after the lens (as a
camera does: the drop blurs the scene, not the sensor's noise).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.bays.blur import BLURRED, HALF_LIFE_S, LOST, BlurWatch, detail
from edge_agent.bays.crop import bay_crop
from edge_agent.sim.scenario import EMPTY, NEV, Scene
from edge_agent.sim.synthetic import BAYS, render

SCENES = {"empty": EMPTY, "parked": Scene(cars=(NEV,))}


def seen(frame: np.ndarray, seed: int) -> np.ndarray:
    """Bay A's crop of ``frame`` as the camera sends it: sensor noise (±2 grey levels) after the lens."""
    noise = np.random.default_rng(seed).integers(-2, 3, frame.shape)
    return bay_crop(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8), BAYS["A"])


def drop(frame: np.ndarray, sigma: float) -> np.ndarray:
    """A drop on the lens over bay A: the scene there blurred by ``sigma`` px of the bay's 64 px crop, a little
    brighter (the drop scatters light), feathered into the rest of the picture."""
    poly = np.array(BAYS["A"], np.float32)
    s = sigma * float(np.ptp(poly[:, 0])) / 64
    mask = np.zeros(frame.shape[:2], np.float32)
    cv2.fillPoly(mask, [poly.astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((int(4 * s) + 1,) * 2, np.uint8)), (0, 0), s)[..., None]
    blurred = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), s) * 1.08 + 6
    return np.clip(frame * (1 - mask) + blurred * mask, 0, 255).astype(np.uint8)


def partial_drop(frame: np.ndarray, sigma: float, share: float) -> np.ndarray:
    """A drop over the left ``share`` of bay A's width (the rest of the bay seen sharp), as ``drop`` otherwise."""
    poly = np.array(BAYS["A"], np.float32)
    s = sigma * float(np.ptp(poly[:, 0])) / 64
    mask = np.zeros(frame.shape[:2], np.float32)
    cv2.fillPoly(mask, [poly.astype(np.int32)], 1.0)
    mask[:, int(poly[:, 0].min() + share * float(np.ptp(poly[:, 0]))) :] = 0
    mask = cv2.GaussianBlur(mask, (0, 0), s)[..., None]
    blurred = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), s) * 1.08 + 6
    return np.clip(frame * (1 - mask) + blurred * mask, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("sigma", [2, 4])
def test_a_drop_on_the_lens_over_the_bay_is_blurred(scene: str, sigma: float) -> None:
    frame = render(SCENES[scene])
    watch = BlurWatch()
    assert watch.see("A", seen(frame, 0), 0.0, False) is None
    assert watch.see("A", seen(frame, 1), 1.0, False) is None  # the same view, new sensor noise: sharp
    assert watch.see("A", seen(drop(frame, sigma), 2), 2.0, False) == BLURRED
    assert watch.see("A", seen(drop(frame, sigma), 3), 60.0, False) == BLURRED  # a drop stays until it runs off
    assert watch.see("A", seen(frame, 4), 61.0, False) is None  # wiped: sharp again, judged as before


def test_a_loss_of_detail_that_comes_with_motion_is_a_new_picture() -> None:
    """A car driving out takes its edges with it — as steep a loss as a drop's, here a smooth bay after a parked car —
    but it moves (the change gate opens): that picture is the bay's new reference, not a blurred view."""
    parked, smooth = render(SCENES["parked"]), drop(render(EMPTY), 4)
    for moved, expected in ((True, None), (False, BLURRED)):
        watch = BlurWatch()
        assert watch.see("A", seen(parked, 0), 0.0, False) is None
        assert watch.see("A", seen(smooth, 1), 1.0, moved) == expected
    watch = BlurWatch()
    watch.see("A", seen(parked, 0), 0.0, False)
    watch.see("A", seen(smooth, 1), 1.0, True)
    assert watch.see("A", seen(smooth, 2), 2.0, False) is None  # …and the smooth bay at rest after it


def test_a_change_of_light_or_contrast_is_no_blur() -> None:
    parked = render(SCENES["parked"])
    watch = BlurWatch()
    assert watch.see("A", seen(parked, 0), 0.0, False) is None
    for t, (gain, offset) in enumerate(((0.5, 0), (1.6, 0), (0.4, 60), (0.25, 0), (1.0, 0)), start=1):
        lit = np.clip(parked.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)  # dusk, exposure, fog's veil
        assert watch.see("A", seen(lit, t), float(t), False) is None, (gain, offset)


def test_detail_lost_over_minutes_is_followed_not_flagged() -> None:
    """Night denoising creeping in, fog settling slowly: the reference follows a loss spread over many half-lives."""
    frame = render(SCENES["parked"])
    watch = BlurWatch()
    steps = 300
    for k in range(steps + 1):  # σ 0 → 3 px over 10 minutes, a look every 2 s
        t = 2.0 * k
        sigma = 3.0 * k / steps
        assert watch.see("A", seen(drop(frame, sigma) if sigma > 0 else frame, k), t, False) is None, (t, sigma)
    assert 2.0 * steps > 10 * HALF_LIFE_S
    sharp, soft = detail(cv2.cvtColor(seen(frame, 0), cv2.COLOR_BGR2GRAY)), detail(
        cv2.cvtColor(seen(drop(frame, 3.0), 0), cv2.COLOR_BGR2GRAY))
    assert soft < LOST * sharp  # the same loss at once would have been a drop


def test_a_car_parking_under_the_drop_keeps_the_bay_blurred() -> None:
    """Under a drop the car's picture is blurred too: it moves in, but the bay is still seen through the drop, so
    it stays blurred until its detail comes back."""
    empty, parked = render(EMPTY), render(SCENES["parked"])
    watch = BlurWatch()
    assert watch.see("A", seen(empty, 0), 0.0, False) is None
    assert watch.see("A", seen(drop(empty, 3), 1), 1.0, False) == BLURRED
    assert watch.see("A", seen(drop(parked, 3), 2), 30.0, True) == BLURRED
    assert watch.see("A", seen(parked, 3), 31.0, True) is None


def test_a_reload_keeps_what_a_kept_bay_had_seen() -> None:
    frame = render(EMPTY)
    old = BlurWatch()
    old.see("A", seen(frame, 0), 0.0, False)
    assert old.see("A", seen(drop(frame, 3), 1), 1.0, False) == BLURRED
    new, redrawn = BlurWatch(), BlurWatch()
    new.adopt(old, ["A"])
    redrawn.adopt(old, [])
    assert new.see("A", seen(drop(frame, 3), 2), 2.0, False) == BLURRED
    assert redrawn.see("A", seen(drop(frame, 3), 2), 2.0, False) is None  # a redrawn bay starts over from what it sees


@pytest.mark.xfail(
    strict=True,
    reason="open (probe occ38): a drop over part of a bay cuts its detail to about half, "
    "above LOST, and the reference decays onto the blurred picture in ~17 s; see docs/occupancy.md",
)
def test_a_drop_over_most_of_a_parked_car_is_blurred() -> None:
    """A drop over 60 % of a parked car's bay, at once, nothing moving: the bay's detail falls to 0.55 of a moment
    before (on real PKLot footage, drops over part of four parked cars: 0.46-0.56), which ``LOST`` (0.35, set from
    pairs minutes apart with cars coming and going) lets through, and the classifier read those cars surely empty:
    under ``replay --sim-locks`` their arms rose under them (probe occ38). Not fixed: a step rule between looks is
    no answer (real still looks on the live-like 2013-03-19 clip step down to 0.42, 1.3 % of them under 0.7), nor
    the bay's detail against its camera's other bays (docs/occupancy.md, "A blurred bay"). Remove the marker with
    the fix."""
    frame = render(SCENES["parked"])
    watch = BlurWatch()
    assert watch.see("A", seen(frame, 0), 0.0, False) is None
    assert watch.see("A", seen(frame, 1), 1.0, False) is None
    assert watch.see("A", seen(partial_drop(frame, 4, 0.6), 2), 2.0, False) == BLURRED
    assert watch.see("A", seen(partial_drop(frame, 4, 0.6), 3), 40.0, False) == BLURRED  # not adopted as it decays
