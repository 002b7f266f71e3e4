"""A green NEV plate under warm light (sodium lamps, tungsten) reads yellow; the frame's light gives it back.

Rendered GA 36 plates (a small NEV plate's pale gradient green: the render mixed with white, as plates-dev's
measure) pasted in rendered scenes, the whole frame under a cast applied in linear light. Without
``perception.cast`` a complete small NEV serial on them is ``conflict`` (yellow / yellow-green); with it,
green and NEV. The bar: no yellow plate — one carrying an NEV serial included (a spurious eighth character),
on a yellow car under neutral light, where both estimates read warm — is ever called NEV, and the frame is
not looked at for any read that is not such a conflict."""

from __future__ import annotations

import numpy as np
import pytest

import edge_agent.perception.pipeline as pipeline_module
from edge_agent.perception.cast import warm_green
from tests.perception.render import WHITE, render_plate, render_scene
from tests.perception.test_camera_casts import cast

SODIUM = (1.0, 0.6, 0.22)
TUNGSTEN = (1.0, 0.74, 0.45)  # 2700 K on a daylight preset
CASTS = {"none": (1.0, 1.0, 1.0), "sodium": SODIUM, "tungsten": TUNGSTEN, "3000K": (1.0, 0.8, 0.55),
         "blue_car_awb": (1.14, 1.0, 0.7), "cold": (0.7, 0.92, 1.35), "green": (0.8, 1.3, 0.85)}
YELLOW_CAR = 0  # render_scene's seed 0 paints the car body yellow-orange (BGR 43, 186, 204)


def _scene(text: str, style: str, seed: int, gains: tuple[float, float, float], pale: float = 0.0) -> np.ndarray:
    plate = render_plate(text, style)
    plate = np.clip(plate * (1 - pale) + np.float32(WHITE) * pale, 0, 255).astype(np.uint8)
    return cast(render_scene(plate, seed=seed, plate_width=160)[0], *gains)


@pytest.mark.parametrize("text,pale,seed", [("皖AD12345", 0.35, 5), ("皖AD12345", 0.35, 52), ("粤BF67890", 0.5, 52)])
@pytest.mark.parametrize("light", ["sodium", "tungsten"])
def test_a_green_nev_plate_under_warm_light_is_green_and_nev(pipeline, text, pale, seed, light):
    """Was ``yellow_green``, undecided (``conflict``): an NEV parked under sodium lamps all evening was an
    ``unidentified`` violation. Corrected for the frame's light (grey world and white patch agree) the
    plate is green, the complete small NEV serial NEV."""
    [r] = pipeline.process(_scene(text, "small_nev", seed, CASTS[light], pale))
    assert (r.text, r.colour, r.nev, r.nev_reason) == (text, "green", True, "format+colour")


@pytest.mark.parametrize("light", list(CASTS))
@pytest.mark.parametrize("text", ["皖AD12345", "湘A97971"])
@pytest.mark.parametrize("seed", [YELLOW_CAR, 5, 52])
def test_a_yellow_plate_is_never_nev_whatever_the_light(pipeline, text, seed, light):
    """A yellow plate carrying an NEV serial (a truck plate read with one spurious character) stays undecided
    under every light, on a yellow car too; a civil yellow plate stays "not NEV"."""
    [r] = pipeline.process(_scene(text, "yellow", seed, CASTS[light]))
    assert r.nev is not True and r.colour == "yellow"


@pytest.mark.parametrize("text,style", [("粤BD12345", "small_nev"), ("京B12345", "blue"), ("湘A97971", "yellow")])
def test_the_frame_is_looked_at_only_on_a_conflict(pipeline, monkeypatch, text, style):
    """A clean photo costs nothing: no verdict but a small NEV serial undecided on yellow asks for the light."""
    def asked(*_a: object) -> bool:
        raise AssertionError("the frame's light was estimated")

    monkeypatch.setattr(pipeline_module, "warm_green", asked)
    for gains in (CASTS["none"], SODIUM):
        [r] = pipeline.process(_scene(text, style, 5, gains))
        assert r.nev is not None


def test_the_light_must_be_warm_by_both_estimates():
    """A neutral grey frame with a yellow-green patch: no warm light, no correction. The same frame under
    sodium light, its plate region green before the cast: green."""
    frame = np.full((200, 300, 3), 128, np.uint8)
    frame[:60, :60] = 220  # a white wall (more than the brightest 2 %), unclipped under the cast too
    plate = np.zeros((48, 168, 3), np.uint8)
    plate[:] = (130, 215, 120)  # a pale green NEV plate's background (BGR), hue 63 as plates-dev's (55–78)
    plate[15:35, 20:150:12] = 20  # dark characters
    frame[100:148, 100:268] = plate
    assert not warm_green(frame, plate)
    warm = cast(frame, *SODIUM)
    assert warm_green(warm, warm[100:148, 100:268])
    yellow = frame.copy()
    yellow[100:148, 100:268] = (20, 190, 240)
    yellow[115:135, 120:250:12] = 20
    assert not warm_green(cast(yellow, *SODIUM), cast(yellow, *SODIUM)[100:148, 100:268])
