"""A blue plate under a sodium lamp reads green with its white characters: undecided, never NEV; and an NEV plate
under the same lights is never "not NEV".

Rendered GA 36 plates pasted in rendered scenes with a white wall, the whole frame under a lamp's cast applied in
linear light. A complete 7-character civil read there is ``green`` and undecided (``conflict``: its white
characters weaker than ``verdict.POLARITY_STRONG``): a fuel car in a charging bay is not fined, the cheap error.
plates42 gave such plates back as blue by the frame's light (``cast.warm_blue``); review86 removed it, since the
frame's light is not the plate's before a yellow wall or under a bay's own white lamp, where NEV plates corrected
blue too (tests/perception/test_warm_blue_ev.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.perception.imageio import read_image
from tests.conftest import SHARED
from tests.perception.render import WHITE, render_plate, render_scene
from tests.perception.test_camera_casts import cast

LOW_PRESSURE_SODIUM = (1.0, 0.45, 0.03)  # nearly monochrome orange: a blue plate keeps no blue
SODIUM = (1.0, 0.5, 0.05)
HIGH_PRESSURE = (1.0, 0.5, 0.08)


def _scene(
    text: str, style: str, gains: tuple[float, float, float], seed: int, width: int = 110, pale: float = 0.0
) -> np.ndarray:
    plate = render_plate(text, style)
    plate = np.clip(plate * (1 - pale) + np.float32(WHITE) * pale, 0, 255).astype(np.uint8)
    frame = render_scene(plate, seed=seed, plate_width=width)[0]
    frame[:60, :60] = 220  # a white wall (more than the brightest 2 %), unclipped under the cast too
    return cast(frame, *gains)


@pytest.mark.parametrize(
    "text,gains,seed,width",
    [
        ("粤B12345", LOW_PRESSURE_SODIUM, 0, 110),
        ("粤B12345", LOW_PRESSURE_SODIUM, 0, 160),
        ("京AF0236", LOW_PRESSURE_SODIUM, 1, 110),
        ("京AF0236", SODIUM, 0, 110),
        ("苏E6N821", LOW_PRESSURE_SODIUM, 3, 110),
        ("苏E6N821", SODIUM, 2, 110),
    ],
)
def test_a_blue_plate_under_a_sodium_lamp_is_never_nev(pipeline, text, gains, seed, width):
    """Read ``green`` with white characters at 0.26–0.33: blue or undecided, never NEV."""
    [r] = pipeline.process(_scene(text, "blue", gains, seed, width))
    assert r.text == text and r.nev is not True, (r.colour, r.nev, r.nev_reason)


@pytest.mark.parametrize(
    "gains", [LOW_PRESSURE_SODIUM, SODIUM, HIGH_PRESSURE, (1.0, 0.6, 0.22)], ids=["lps", "sodium", "hps", "sodium_mild"]
)
@pytest.mark.parametrize(
    "text,style,pale",
    [
        ("粤BD12345", "small_nev", 0.0),
        ("粤BD12345", "small_nev", 0.4),
        ("粤B12345D", "large_nev", 0.0),
        ("粤B12345D", "large_nev", 0.3),
    ],
)
@pytest.mark.parametrize("seed", [0, 3])
def test_an_nev_plate_under_a_sodium_lamp_is_never_fuel(pipeline, text, style, pale, gains, seed):
    """The same lights on green NEV plates, small, pale and the large two-tone: never "not NEV"."""
    frame = _scene(text, style, gains, seed, 130, pale)
    reads = pipeline.process(frame)
    assert reads and all(r.nev is not False for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


PHOTOS = SHARED / "datasets" / "plates-dev" / "images"
REAL_LIGHTS = {"lps": LOW_PRESSURE_SODIUM, "sodium": SODIUM, "sodium_mild": (1.0, 0.6, 0.22)}


@pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/datasets/plates-dev is not present")
@pytest.mark.parametrize("light", list(REAL_LIGHTS))
def test_real_blue_plates_under_sodium_are_never_nev_and_real_nev_plates_never_fuel(pipeline, light):
    """plates-dev's 津E24494 under each lamp reads green / yellow-green at white 0.23–0.25: never NEV. Its NEV plates
    under the same lamps are never "not NEV"."""
    reads = pipeline.process(cast(read_image(PHOTOS / "easypr__津JZ3999.jpg"), *REAL_LIGHTS[light]))
    assert reads and all(r.nev is not True for r in reads), [(r.text, r.colour, r.nev) for r in reads]
    for name in (
        "hukai__004636015325670498-90_268-329&567_450&602-450&602_329&601_330&569_449&567-0_0_3_26_26_33_27_33"
        "-176-28.jpg",
        "hukai__04396551724137931-90_253-218&507_558&625-534&589_218&625_248&512_558&507-0_0_3_25_33_31_32_33-40-6.jpg",
        "tombo__plate2.jpg",
    ):
        frame = cast(read_image(PHOTOS / name), *REAL_LIGHTS[light])
        reads = pipeline.process(frame)
        assert reads and all(r.nev is not False for r in reads), [(r.text, r.colour, r.nev) for r in reads]
