"""A sun-bleached blue plate under a cold light is cyan with dark-looking characters: never NEV.

GA 36 gives the fuel car's blue plate 7 white characters and an NEV plate 8 black ones on green. Years of sun take a
blue plate's paint towards a pale cyan while its embossed characters gather grime, so on the camera the characters
are darker than the background; a cool LED (6500 K on a warmer preset) pushes the hue further to cyan. An over-exposed
or cold-lit green NEV plate looks exactly like that, and the verdict used to call "blue with dark characters on cyan,
8 characters" NEV (``format+polarity``). The plates34 probe (plates-dev's 皖AYL250 faded, under a 6500 K LED) read it
``皖ABT1250`` — one character too many, an NEV serial — and it was called NEV: a fuel car let into a charging bay.
The colour says fuel, the length says NEV: undecided (``conflict``), never NEV, and never "not NEV" either (the
same rendered plate read green, white characters or a civil text are other tests' business).

Rendered with the tests' renderer: a blue plate whose background is bleached (hue towards cyan, saturation − 40 %,
lighter) and whose white characters are grimy grey, under a cool LED cast applied in linear light."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.bays.consensus import PlateVote
from edge_agent.bays.visit_verdict import decide_visit
from edge_agent.perception.colour import classify_colour
from edge_agent.perception.colour_rules import choose_colour
from edge_agent.perception.verdict import CYAN_SHARE, decide
from tests.perception.render import render_plate, render_scene
from tests.perception.test_camera_casts import cast

COOL_LED = (0.8, 0.96, 1.25)  # a 6500 K LED on a camera balanced warmer
TEXT = "皖ABT1250"  # a 7-character blue plate read with one character too many: a small NEV serial


def _faded_blue(text: str, ink: int = 120, value: int = 190, towards_cyan: int = 20) -> np.ndarray:
    """A blue plate after years of sun: the background paler and cyan, the characters grimy grey."""
    plate = render_plate(text, "blue")
    characters = plate.min(axis=2) > 200
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = np.clip(hsv[..., 0] - towards_cyan, 0, 179)
    hsv[..., 1] *= 0.6
    hsv[..., 2] = value
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    out[characters] = ink
    return out


@pytest.mark.parametrize("ink,value", [(120, 190), (150, 190), (120, 220)])
def test_a_faded_blue_plate_with_an_nev_serial_read_is_undecided(ink, value):
    crop = cv2.resize(cast(_faded_blue(TEXT, ink, value), *COOL_LED), (168, 48), interpolation=cv2.INTER_AREA)
    res = choose_colour(classify_colour(crop), TEXT, True)
    # the case: blue, dark characters, its hue votes cyan — what an over-exposed green NEV plate also measures
    assert res.colour == "blue" and res.dark_chars is True and res.scores["cyan"] >= CYAN_SHARE
    v = decide(TEXT, res)
    assert (v.nev, v.reason) == (None, "conflict")  # was (True, "format+polarity")


def test_the_faded_blue_plate_in_a_scene_is_never_nev(pipeline):
    """Through the real detector, recogniser and colour rules: whatever the read, the verdict is not NEV."""
    frame = cast(render_scene(_faded_blue(TEXT), seed=1, plate_width=160)[0], *COOL_LED)
    reads = pipeline.process(frame)
    assert reads, "the plate is found"
    assert all(r.nev is not True for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


def _bleached(text: str) -> np.ndarray:
    """A blue plate bleached to a pale cyan-green, its white characters still white (no grime)."""
    plate = render_plate(text, "blue")
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = np.where(hsv[..., 1] > 60, np.clip(hsv[..., 0] - 22, 0, 179), hsv[..., 0])
    hsv[..., 1] *= 0.6
    hsv[..., 2] = np.clip(hsv[..., 2] * 1.25 + 10, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def test_a_visit_whose_reads_measured_white_characters_is_never_nev(pipeline):
    """Bleached further, the plate reads green with white characters; read with the same character too many in
    every frame (a screw, the frame's edge: ``皖ABT1250``), each frame is "not NEV" or undecided — white characters
    on green are no GA 36 NEV plate. The visit's consensus took the polarity from the colour (green: dark) and
    called it NEV: the arm lowered for a fuel car on evidence every frame had refused."""
    frames = [render_scene(_bleached(TEXT), seed=seed, plate_width=160)[0] for seed in (1, 2, 3)]
    vote = PlateVote()
    for frame in frames:
        for read in pipeline.process(frame):
            assert read.nev is not True, (read.text, read.colour, read.nev_reason)
            vote.add(read)
    c = vote.result()
    assert c is not None and c.colour == "green" and c.dark_chars is False, c  # the case: white characters on green
    v = decide_visit(c.text, c.colour, None, c.dark_chars, c.polarity, c.red_end)
    assert v.nev is not True, (c.text, v)
