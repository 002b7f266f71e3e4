"""A temporary plate is paper (GA 36-2018's 临时行驶车号牌: black print on sky-blue or brown-yellow guilloche paper),
shown behind the windscreen while the metal plates are made — on a new EV too, and a paper plate says nothing of the
energy. Its sky-blue paper reads ``blue``, and its 7 characters a civil text: "not NEV", a new EV fined (plates43:
all 72 bare reads of rendered paper plates). But GA 36 blue plates carry white characters: dark ones measured on blue
(strength ≥ ``verdict.POLARITY_MIN``) are no GA 36 blue plate, so the verdict is undecided (real blue crops measured
dark: 0 of 691). The brown-yellow and white papers look exactly like yellow plates (black on yellow): left "not NEV"."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.verdict import POLARITY_MIN, decide
from tests.perception.render import render_plate, render_scene

SKY_BLUE = (235, 215, 170)  # BGR: the temporary plate's pale blue paper


def _paper(text: str) -> np.ndarray:
    """``text`` printed black on sky-blue paper with a fine guilloche (the yellow style's layout, its ink kept)."""
    p = render_plate(text, "yellow")
    ink = p.max(axis=2) < 90
    h, w = p.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    guilloche = (0.06 * np.sin(xx / 3.0 + 4 * np.sin(yy / 9.0)))[..., None]
    paper = np.float32(SKY_BLUE) * (1 + guilloche)
    return np.clip(np.where(ink[..., None], p.astype(np.float32), paper), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("text", ["粤B12345", "苏E5K719"])
@pytest.mark.parametrize("width", [120, 170])
def test_a_paper_plate_on_sky_blue_is_not_fined(pipeline, text, width):
    reads = pipeline.process(render_scene(_paper(text), seed=1, plate_width=width)[0])
    assert reads, "the paper plate was not read"
    assert all(r.nev is not False for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


def test_dark_characters_on_blue_under_a_civil_text_are_undecided_and_white_ones_fined():
    def blue(dark: bool, strength: float) -> ColourResult:
        return ColourResult("blue", dark, {"polarity": strength, "cyan": 0.0}, 0.9)

    assert decide("粤B12345", blue(True, 0.2)).nev is None
    assert decide("粤B12345", blue(True, POLARITY_MIN)).nev is None
    # polarity too weak to count is no evidence (blur on a real blue plate), nor are white characters
    assert decide("粤B12345", blue(True, POLARITY_MIN / 2)).nev is False
    assert decide("粤B12345", blue(False, 0.3)).nev is False


@pytest.mark.parametrize("text", ["粤B12345", "苏E5K719"])
def test_a_blue_plate_with_white_characters_is_still_fined(pipeline, text):
    """The price guarded: a real blue plate (white characters) keeps "not NEV"."""
    reads = pipeline.process(render_scene(render_plate(text, "blue"), seed=1, plate_width=140)[0])
    assert reads and all(r.nev is False for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]
