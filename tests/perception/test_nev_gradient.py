"""The small NEV plate's white-to-green gradient, with the light divided out (``gradient``), as the evidence that a
``?`` after the dot is a covered type letter and not a yellow plate read whole under a green tube (real detector and
recogniser on rendered plates; the real-photo numbers are in docs/perception.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.perception.gradient import top_to_bottom
from edge_agent.perception.imageio import read_image
from edge_agent.perception.nev_shape import GRADIENT_MIN, graded
from tests.perception.render import plate_crop
from tests.perception.test_camera_casts import cast
from tests.perception.test_nev_shape import _glare_over_type_letter, _green_tube

# channel gains in linear light (R, G, B): docs/perception.md's camera lights
LIGHTS = {
    "none": (1.0, 1.0, 1.0),
    "green_fluorescent": (0.58, 1.08, 0.64),
    "tungsten": (1.0, 0.70, 0.38),
    "sodium": (1.0, 0.55, 0.12),
    "cold_led": (0.8, 0.96, 1.25),
}


@pytest.mark.parametrize("gains", list(LIGHTS.values()), ids=list(LIGHTS))
@pytest.mark.parametrize("text", ["京A12903", "川A80765"])
def test_a_uniform_plate_shows_no_gradient_under_any_light(text, gains):
    """A light multiplies each channel of the whole plate alike: the top's R/G over the bottom's stays 1 (a yellow
    plate: dark characters, the plates the gate is asked of)."""
    change = top_to_bottom(cast(plate_crop(text, "yellow"), *gains))
    assert change is not None and abs(change) < GRADIENT_MIN / 2


@pytest.mark.parametrize("gains", list(LIGHTS.values()), ids=list(LIGHTS))
def test_the_small_nev_plates_gradient_survives_any_light(gains):
    change = top_to_bottom(cast(plate_crop("京AD12903", "small_nev"), *gains))
    assert change is not None and change > 5 * GRADIENT_MIN


def test_a_crop_with_nothing_to_measure_says_nothing():
    """Clipped white (a plate drowned in glare) or black: no ratio left, so no evidence against an NEV plate."""
    assert top_to_bottom(np.full((48, 168, 3), 255, np.uint8)) is None
    assert top_to_bottom(np.zeros((48, 168, 3), np.uint8)) is None
    assert top_to_bottom(None) is None
    assert graded(np.full((48, 168, 3), 255, np.uint8))


@pytest.mark.parametrize(
    "text,width", [("京A12903", 200), ("京A12903", 120), ("京A12345", 200), ("京A12345", 120), ("川A80765", 200)]
)
def test_a_yellow_plate_read_whole_under_a_green_tube_is_not_nev(pipeline, text, width):
    """The case review61 left open: the recogniser's frame steps put the ``?`` after the dot (``京A?12903``), where
    a small NEV's type letter stands, and the plate is green with dark characters: NEV by its shape, a fuel car let
    into a charging bay. The centres cannot tell it from a covered type letter; the colour can — the tube made the
    whole plate green alike, with no white top."""
    for r in pipeline.process(_green_tube(text, width)):
        assert r.nev is not True, (r.text, r.colour, r.nev_reason)


def test_an_nev_plate_with_its_type_letter_under_glare_keeps_its_gradient(pipeline):
    """The price guarded: 粤BD12345 with its D under glare reads ``粤B?12345``, the fuel read's very centres, and
    stays NEV: its white-to-green background is measured around the glare."""
    reads = [
        r
        for r in pipeline.process(cast(_glare_over_type_letter("粤BD12345"), *LIGHTS["green_fluorescent"]))
        if r.text.startswith("粤B")
    ]
    assert reads and all(r.nev is True for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


@pytest.mark.parametrize("share", [0.12, 0.2])
def test_glare_over_part_of_the_plate_does_not_wash_out_its_gradient(share):
    """White glare is near R = G, and the NEV plate's green bottom has almost no red: glare over a tenth of it raised
    the bottom's *mean* red several-fold (plates-dev's 皖AD19789 with its type letter under glare measured 0.01–0.09
    so, its clean photo 1.8). Each pixel's own ratio, then the median, leaves the glare one vote among many."""
    crop = plate_crop("京AD12903", "small_nev")
    x0 = int(crop.shape[1] * 0.33)
    crop[:, x0 : x0 + int(crop.shape[1] * share)] = (238, 242, 246)  # glare, unclipped
    change = top_to_bottom(crop)
    assert change is not None and change > 5 * GRADIENT_MIN


def _mud_over_type_letter(frame: np.ndarray, corners) -> np.ndarray:
    """Brown mud over GA 36's type-letter slot (181.5 of 480 mm), painted in the plate's own perspective."""
    h = cv2.getPerspectiveTransform(np.float32([[0, 0], [480, 0], [480, 140], [0, 140]]), np.float32(corners))
    m = np.zeros((140, 480), np.float32)
    cv2.ellipse(m, (181, 70), (26, 58), 0, 0, 360, 1.0, -1)
    a = cv2.warpPerspective(cv2.GaussianBlur(m, (0, 0), 2.0), h, (frame.shape[1], frame.shape[0]))[..., None]
    return np.clip(frame * (1 - a) + a * np.float32((40, 75, 110)), 0, 255).astype(np.uint8)


def test_mud_over_a_real_nev_plates_type_letter_keeps_its_gradient(pipeline, plates_dev):
    """plates-dev's 皖ADJ6382 (a video frame, 129 px) with mud over its D reads ``皖A?J6382``, the dot-gap shape. Its
    crop is tight: between the grown strokes, the mud is most of the background left in the bottom third, and the
    plate's two medians measured −0.21 — the EV fined. Strip by strip, the mud's strips are outvoted."""
    frame = read_image(plates_dev / "images/shaddock__2s_t1.0s_frame.png")
    [clean] = [r for r in pipeline.process(frame) if r.text == "皖ADJ6382"]
    reads = [r for r in pipeline.process(_mud_over_type_letter(frame, clean.corners)) if r.text == "皖A?J6382"]
    assert reads and all(r.nev is True for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


def _sky_shade_over_top(frame: np.ndarray, corners, shift: float) -> np.ndarray:
    """The plate's top half in the shade of the car's overhang on a sunny day, the bottom in the sun: the shade is lit
    by the blue sky alone (a quarter of the light, log R/G ``shift`` lower than the sunlit bottom's, in linear light)."""
    h = cv2.getPerspectiveTransform(np.float32([[0, 0], [480, 0], [480, 140], [0, 140]]), np.float32(corners))
    m = np.zeros((140, 480), np.float32)
    m[:70] = 1.0
    a = cv2.warpPerspective(cv2.GaussianBlur(m, (0, 0), 3.0), h, (frame.shape[1], frame.shape[0]))[..., None]
    lin = (frame / 255.0 + 0.055) / 1.055
    lin = np.where(frame / 255.0 <= 0.04045, frame / 255.0 / 12.92, lin**2.4)
    shade = np.float32([0.25 * np.exp(0.8 * shift), 0.25, 0.25 * np.exp(-shift)])  # B, G, R
    lin = lin * (1 - a) + lin * shade * a
    out = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    return np.clip(np.round(255 * out), 0, 255).astype(np.uint8)


def test_a_real_nev_plate_with_its_top_in_the_sky_shade_keeps_its_verdict(pipeline, plates_dev):
    """plates-dev's 黑AD03210 with a plate frame's tab over its type letter reads ``黑A?03210``, the dot-gap shape.
    With its top half in clear-sky shade (log R/G 0.45 under the sunlit bottom's: a 5,500 K sun against a 10,000 –
    15,000 K sky) its background's top-to-bottom change measured 0.015 (0.41 unshaded): a second light over part of
    the plate carries its own colour, and the EV was fined. That top is four times darker than the bottom, which the
    NEV plate's white top never is: the ratio then says nothing."""
    frame = read_image(plates_dev / "images/we__18.jpg")
    [clean] = [r for r in pipeline.process(frame) if r.text == "黑AD03210"]
    h = cv2.getPerspectiveTransform(np.float32([[0, 0], [480, 0], [480, 140], [0, 140]]), np.float32(clean.corners))
    tab = np.zeros((140, 480), np.float32)
    tab[:, 150:213] = 1.0  # a dark frame tab over GA 36's type-letter slot
    a = cv2.warpPerspective(cv2.GaussianBlur(tab, (0, 0), 2.0), h, (frame.shape[1], frame.shape[0]))[..., None]
    covered = np.clip(frame * (1 - a) + a * 30.0, 0, 255).astype(np.uint8)
    reads = [r for r in pipeline.process(_sky_shade_over_top(covered, clean.corners, 0.45)) if r.text == "黑A?03210"]
    assert reads and all(r.nev is True for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


def _shade_top_half(crop: np.ndarray, gains) -> np.ndarray:
    """``crop``'s top half lit by another light (channel gains R, G, B in linear light)."""
    lin = np.where(crop / 255.0 <= 0.04045, crop / 255.0 / 12.92, ((crop / 255.0 + 0.055) / 1.055) ** 2.4)
    lin[: crop.shape[0] // 2] *= np.float32(gains[::-1])
    out = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    return np.clip(np.round(255 * out), 0, 255).astype(np.uint8)


def test_a_yellow_plate_under_a_green_tube_in_a_shallow_shade_is_still_measured():
    """Shade from the same tube (its own reflections, half the light) leaves the ratio alone: the fuel plate's top in
    it is still measured uniform and the NEV verdict withdrawn; only a far deeper shade (the sky's alone) says nothing."""
    crop = cast(plate_crop("京A12903", "yellow"), *LIGHTS["green_fluorescent"])
    change = top_to_bottom(_shade_top_half(crop, (0.5, 0.5, 0.5)))
    assert change is not None and abs(change) < GRADIENT_MIN / 2
    assert top_to_bottom(_shade_top_half(crop, (0.25 * np.exp(-0.4), 0.25, 0.25 * np.exp(0.32)))) is None
