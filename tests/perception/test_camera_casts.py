"""What a parking camera does to colour and characters: white-balance casts applied in linear light
(plates-dev) and a mud spot over one character (rendered). The casts pin the one property the NEV
verdict must keep whatever the light — undecided is allowed, a wrong verdict is not; a character
covered by mud is not read rather than read as something else (``occlusion.py``)."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from edge_agent.perception.imageio import read_image
from edge_agent.perception.lists import PlateLists
from tests.perception.render import render_plate, render_scene

_U = np.arange(256) / 255.0
_LINEAR = np.where(_U <= 0.04045, _U / 12.92, ((_U + 0.055) / 1.055) ** 2.4)


def cast(img: np.ndarray, r: float, g: float, b: float) -> np.ndarray:
    """``img`` (BGR, sRGB) with channel gains applied in linear light, as a wrong white balance does."""
    out = np.empty_like(img)
    for plane, gain in zip((2, 1, 0), (r, g, b)):
        v = np.clip(_LINEAR * gain, 0.0, 1.0)
        s = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
        out[..., plane] = np.round(s * 255).astype(np.uint8)[img[..., plane]]
    return out


def test_cast_is_applied_in_linear_light():
    grey = np.full((2, 2, 3), 128, np.uint8)
    assert (cast(grey, 1.0, 1.0, 1.0) == grey).all()
    cold = cast(grey, 0.5, 1.0, 1.0)[0, 0]
    assert cold[0] == cold[1] == 128 and cold[2] == 92  # half the light is 0.72 of the sRGB value, not 0.5


@pytest.mark.dataset
@pytest.mark.parametrize("gains", [(0.41, 0.83, 1.0), (1.0, 0.80, 0.55)], ids=["cold_daylight", "warm_3000K"])
def test_a_white_balance_cast_never_turns_a_verdict_wrong(pipeline, plates_dev, gains):
    """plates-dev's photos with a yellow or green plate under a cold cast (auto white balance failing
    in shade or under an 8000 K+ LED: 21 of 26 yellow plates turn green or two-tone) and a warm one
    (3000 K): plates may become undecided, but no NEV plate is "not NEV" (a wrong fine) and no
    yellow or blue plate is NEV (a fuel car charge-parking)."""
    from edge_agent.perception.evaluate import load_labels, match

    labels = load_labels(plates_dev / "labels.csv")
    wanted = {row["file"] for row in csv.DictReader(open(plates_dev / "labels.csv", encoding="utf-8-sig"))
              if row["plate_color"].lower() in ("yellow", "green", "yellow_green")}
    wrong = []
    for name in sorted(wanted & labels.keys()):
        img = read_image(plates_dev / name)
        for o in match(labels[name], pipeline.process(cast(img, *gains))):
            if o.read is None:
                continue
            if o.label.nev and o.read.nev is False or o.label.colour in ("blue", "yellow") and o.read.nev is True:
                wrong.append((name, o.label.text, o.read.text, o.read.colour, o.read.nev))
    assert len(wanted) >= 40 and not wrong


def _muddy(text: str, style: str, pos: int) -> np.ndarray:
    """A rendered scene whose plate has a brown mud spot over character ``pos`` (a serial character)."""
    plate = render_plate(text, style)
    h, w = plate.shape[:2]
    mx = int(0.05 * w)
    gap = (w - 2 * mx) * 0.06
    cell = ((w - 2 * mx) - gap) / len(text)
    cx = int(mx + cell * (pos + 0.5) + gap)
    cv2.ellipse(plate, (cx, h // 2), (int(cell * 0.55), int(h * 0.42)), 0, 0, 360, (40, 75, 110), -1, cv2.LINE_AA)
    return render_scene(plate, seed=pos, plate_width=160)[0]


@pytest.mark.parametrize("pos", [2, 3, 4, 5, 6])
def test_mud_over_a_character_on_a_blue_plate_is_an_honest_partial_read(pipeline, pos):
    """On a blue plate the recogniser skips a covered character: the read is partial, confidence ≤ 0.3,
    never a complete text (it matches no list and identifies no visit)."""
    [r] = pipeline.process(_muddy("京B12345", "blue", pos))
    assert not r.complete and "?" in r.text and r.confidence <= 0.3


@pytest.mark.parametrize("text,style,pos,marked,nev", [
    ("湘A97971", "yellow", 4, "湘A97?71", False),  # read 湘A97071: complete, 0.99, the spot's 0 at 0.93
    ("湘A97971", "yellow", 5, "湘A979?1", False),  # 湘A97901
    ("皖AD19789", "small_nev", 6, "皖AD197?9", True),  # 皖AD19709, NEV: the verdict stays
    ("浙DF10888", "small_nev", 3, "浙DF?0888", True),  # 浙DF00888
])
def test_mud_over_a_character_read_as_another_is_not_read(pipeline, text, style, pos, marked, nev):
    """A round mud spot on a dark-character plate reads as 0 with high confidence: a complete wrong
    text that would match a list or identify a visit. The plate shows no strokes there, so that
    position is not read: partial, ``?`` in its place, confidence ≤ 0.3, the character's own 0."""
    [r] = pipeline.process(_muddy(text, style, pos))
    assert (r.text, r.complete, r.nev) == (marked, False, nev)
    assert r.confidence <= 0.3 and r.char_confidences[pos] == 0.0 and r.extra["covered"] == [pos]
    assert r.to_json()["complete"] is False


def test_a_covered_character_read_as_another_matches_no_list(models_dir):
    """湘A97971 under mud reads 湘A97071 (complete, 0.99), and that made-up text is allow-listed — another car's
    plate. The covered read kept the verdict of the whole read, list lookup included: NEV by ``allow_list``
    for a yellow truck whose plate nobody saw whole (and a deny-listed text a "not NEV" for an NEV). The
    verdict of a covered read is made without the lists: the yellow plate's own, "not NEV" by colour."""
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline

    listed = Pipeline.from_config(PerceptionConfig(threads=1), models_dir, PlateLists(allow=["湘A97071"]))
    [r] = listed.process(_muddy("湘A97971", "yellow", 4))
    assert (r.text, r.complete) == ("湘A97?71", False)
    assert (r.nev, r.nev_reason) == (False, "colour")
