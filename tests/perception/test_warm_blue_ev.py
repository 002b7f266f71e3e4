"""An NEV plate that lost a character and had its black strokes measured white must not be made a blue fuel plate by
the frame's light (review86).

plates42's ``cast.warm_blue`` called a complete civil read on green with white characters blue when both frame-wide
light estimates said "lamp" and the plate divided by them was blue. Any green plate divided by a light with little
blue is blue, so the rule holds only where the frame's light is the plate's: before a yellow wall or an orange car in
daylight, or lit by a bay's white lamp in a sodium-lit car park, both estimates say "lamp" and NEV plates corrected to
hue 100–116 (small, pale and large two-tone alike). What was left between an EV and a fine was the read losing a
character unseen and the strokes measured white; here the second is given (glare), as the colour stage may report."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

import edge_agent.perception.pipeline as pipeline_module
from edge_agent.perception.colour import ColourResult, classify_colour
from tests.perception.render import render_plate, render_scene
from tests.perception.test_camera_casts import cast

YELLOW_WALL = (20, 190, 240)
ORANGE_CAR = (30, 120, 230)
SODIUM = (1.0, 0.5, 0.05)


def _frame(text: str, style: str, around: str, seed: int) -> np.ndarray:
    """``text`` on ``style`` in daylight with the rest of the frame a warm surface, or lit white in a sodium-lit frame."""
    frame, corners = render_scene(render_plate(text, style), seed=seed, plate_width=130)
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, corners.astype(np.int32), 1)
    if around == "sodium":  # the bay's own white lamp on the plate; a sodium street light on everything else
        near = cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0
        out = cast(frame, *SODIUM)
        out[near] = frame[near]
        return out
    near = cv2.dilate(mask, np.ones((41, 41), np.uint8)) > 0
    frame[~near] = np.array(YELLOW_WALL if around == "wall" else ORANGE_CAR, np.uint8)
    return frame


@pytest.mark.parametrize("around", ["wall", "car", "sodium"])
@pytest.mark.parametrize(
    "text,style",
    [("粤BD1234", "small_nev"), ("粤B12345", "large_nev")],  # 粤BD12345 / 粤B12345D with their last character lost
    ids=["small_nev", "large_nev"],
)
@pytest.mark.parametrize("seed", [0, 3])
def test_an_nev_plate_with_strokes_measured_white_is_never_fined_for_the_frames_light(
    pipeline, monkeypatch, text, style, around, seed
):
    real = classify_colour

    def glare(crop: np.ndarray, text: str | None = None) -> ColourResult:
        res = real(crop, text)
        return replace(res, dark_chars=False, scores={**res.scores, "polarity": 0.3})

    monkeypatch.setattr(pipeline_module, "classify_colour", glare)
    reads = pipeline.process(_frame(text, style, around, seed))
    assert reads and all(r.nev is not False for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]
