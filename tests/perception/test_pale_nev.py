"""The palest NEV plates with one character covered: their 7 read characters are a civil text, and a plate whose
pixels show no hue (white top, a trace of green) was made yellow by that text — "not NEV", an EV fined (plates-dev's
皖AD11166 with mud or a bolt over its D read ``皖A11166`` on yellow). Yellow must be measured across the plate, and
a plate without it is yellow again only where it shows no NEV plate's white-to-green (real detector and recogniser on
rendered plates; the real photo below when the shared data is there)."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from edge_agent.bays.visit_verdict import decide_visit
from edge_agent.perception.colour import ColourResult, classify_colour
from edge_agent.perception.colour_rules import THIRDS_MIN, choose_colour
from edge_agent.perception.gradient import nev_toned
from edge_agent.perception.imageio import read_image
from edge_agent.perception.pitch import SLOTS
from edge_agent.perception.verdict import decide
from tests.conftest import SHARED
from tests.perception.render import plate_crop, render_plate, render_scene

MUD = (40, 75, 110)  # BGR, brown
BAR = (25, 25, 25)  # a plate frame's dark edge


def _pale(plate: np.ndarray) -> np.ndarray:
    """A small NEV plate faded towards white (plates-dev's 皖AD11166: white 0.47 of the votes, green 0.08)."""
    return np.clip(plate * 0.35 + 255 * 0.65, 0, 255).astype(np.uint8)


def _cover(plate: np.ndarray, slot: int, kind: str) -> np.ndarray:
    """Mud (a brown ellipse) or a frame's bar (dark, up from the bottom) over GA 36 slot ``slot`` of a 480 mm plate."""
    plate = plate.copy()
    h, w = plate.shape[:2]
    cx, cw = int(w * SLOTS[8][slot] / 480), int(w * 24 / 480)
    if kind == "mud":
        cv2.ellipse(plate, (cx, h // 2), (cw, int(h * 0.4)), 0, 0, 360, MUD, -1, cv2.LINE_AA)
    else:
        cv2.rectangle(plate, (cx - cw, int(h * 0.2)), (cx + cw, h), BAR, -1)
    return plate


def _washed(plate: np.ndarray, k: float = 0.85) -> np.ndarray:
    """Colour washed out (haze, a camera's low saturation): the plate's own grey, ``k`` of the way."""
    grey = cv2.cvtColor(cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR).astype(np.float32)
    return np.clip(grey * k + plate * (1 - k), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("slot", range(2, 8))
def test_mud_over_one_character_is_no_yellow_across_the_plate(slot):
    """Brown mud is a dark yellow hue: over one character of a pale NEV plate it is the plate's only yellow. A yellow
    plate's paint is in every third of it, with the same mud too."""
    nev = classify_colour(_cover(_pale(plate_crop("皖AD11166", "small_nev")), slot, "mud"))
    fuel = classify_colour(_cover(plate_crop("皖A11166", "yellow"), slot, "mud"))
    assert nev.scores["yellow_thirds"] < THIRDS_MIN <= 0.5 < fuel.scores["yellow_thirds"]


def test_a_civil_text_makes_a_plate_yellow_only_where_yellow_is_across_it():
    white_top = ColourResult(
        "white",
        True,
        {"polarity": 0.2, "yellow": 0.05, "yellow_thirds": 0.0},
        0.4,
        (("white", 0.42), ("yellow", 0.28), ("black", 0.17)),
    )
    assert choose_colour(white_top, "皖AD1166", True).colour == "white"
    stained = ColourResult(
        "yellow", True, {"polarity": 0.2, "yellow": 0.3, "yellow_thirds": 0.0}, 0.6, (("yellow", 0.6), ("white", 0.3))
    )
    assert choose_colour(stained, "皖AD1166", True).colour == "white"
    across = ColourResult(
        "white", True, {"polarity": 0.2, "yellow": 0.2, "yellow_thirds": 0.15}, 0.4, (("white", 0.42), ("yellow", 0.28))
    )
    assert choose_colour(across, "皖AD1166", True).colour == "yellow"
    assert choose_colour(stained, "皖AD11166", True).colour == "yellow"  # an NEV text: other rules, as before


def test_dark_characters_on_no_hue_under_a_civil_text_are_undecided():
    """No GA 36 plate: a washed-out yellow one, or the palest NEV plate read one character short."""
    v = decide("皖AD1166", ColourResult("white", True, {"polarity": 0.2}, 0.5))
    assert (v.nev, v.reason) == (None, "conflict")
    assert decide("鄂F8888警", ColourResult("white", True, {"polarity": 0.2}, 0.5)).nev is False  # a police plate
    assert decide("皖AD1166", ColourResult("yellow", True, {"polarity": 0.2}, 0.5)).nev is False


def test_a_visit_judges_a_hueless_civil_plate_as_its_frames_did():
    """review70: the visit implies dark characters from "white" (``visit_verdict``), so rule (2) left every white civil
    visit undecided — also one whose frames clearly measured light characters (a blue plate bleached white) and each
    said "not NEV". Measured light characters judge the visit as they judged the frames; dark ones keep it undecided."""
    bleached = ColourResult(
        "white", False, {"polarity": 0.3, "yellow_thirds": 0.0}, 0.6, (("white", 0.6), ("black", 0.3))
    )
    frame = decide("京A12345", choose_colour(bleached, "京A12345", True))
    visit = decide_visit("京A12345", "white", None, False, 0.3)
    assert (frame.nev, visit.nev) == (False, False), (frame, visit)
    assert decide_visit("京A12345", "black", None, False, 0.3).nev is False  # black: white characters, as before
    for colour in ("white", "black"):
        assert decide_visit("皖AD1166", colour, None, True, 0.15).nev is None  # dark: the covered pale NEV plate
    assert decide_visit("皖AD1166", "white", None, False, 0.15).nev is None  # light, weaker than blur fakes: doubt
    assert decide_visit("皖AD1166", "white", None, None, None).nev is None  # nothing measured


def test_the_pale_nev_plates_white_to_green_is_measured_and_a_washed_yellow_plate_has_none():
    assert nev_toned(_cover(_pale(plate_crop("皖AD11166", "small_nev")), 2, "bar"))
    assert not nev_toned(_washed(plate_crop("皖A11166", "yellow")))


def _scene(plate: np.ndarray, seed: int, width: int) -> np.ndarray:
    return render_scene(plate, seed=seed, plate_width=width)[0]


# a dark bar over the plate's middle (slot 3) made 粤BD12345 at 140 px read ``粤BD2345`` on blue: the bar's black
# outweighs the characters' polarity (light characters, blue) — not this rule's case, left (see docs/perception.md)
COVERED = [
    (t, s, k) for t in ("皖AD11166", "粤BD12345") for s in range(2, 8) for k in ("mud", "bar") if (s, k) != (3, "bar")
]


@pytest.mark.parametrize("width", [140, 180])
@pytest.mark.parametrize("text,slot,kind", COVERED)
def test_a_pale_nev_plate_with_a_character_covered_is_never_fuel(pipeline, text, slot, kind, width):
    """Before: read one character short (``皖A11166``, ``粤BD1245``), the plate white, the text made it yellow — "not
    NEV" in 35 of these 44 scenes. Now white, undecided: the NEV plate's white-to-green is on it."""
    for r in pipeline.process(_scene(_cover(_pale(render_plate(text, "small_nev")), slot, kind), slot, width)):
        assert r.nev is not False, (r.text, r.colour, r.nev_reason)


@pytest.mark.parametrize("wash", [0.85, 0.7])
@pytest.mark.parametrize("text", ["皖A11166", "湘A97971", "浙A12903"])
@pytest.mark.parametrize("mud", [None, 4])
def test_a_washed_out_yellow_plate_stays_fuel(pipeline, text, wash, mud):
    """The price guarded: a yellow plate that haze or a camera's low saturation left without hue, read whole, is one
    colour top to bottom — yellow again, "not NEV", as before; with mud over a character too."""
    plate = _washed(render_plate(text, "yellow"), wash)
    if mud is not None:
        plate = _cover(plate, mud, "mud")
    reads = [r for r in pipeline.process(_scene(plate, 3, 160)) if r.complete]
    assert reads and all((r.colour, r.nev) == ("yellow", False) for r in reads), [
        (r.text, r.colour, r.nev, r.nev_reason) for r in reads
    ]


PALEST = (
    "hukai__004504310344827586-86_270-291&474_390&516-390&513_293&516_291&483_387&474-0_0_3_25_25_25_30_30-228-16.jpg"
)


def _real_covered(slot: int, kind: str) -> np.ndarray:
    """plates-dev's 皖AD11166 with mud or a bar painted over GA 36 slot ``slot`` (the photo's CCPD corners)."""
    path = SHARED / "datasets" / "plates-dev" / "images" / PALEST
    img = read_image(path)
    v = [int(x) for x in re.findall(r"\d+", PALEST.split("-")[3])]
    corners = np.float32([(v[4], v[5]), (v[6], v[7]), (v[0], v[1]), (v[2], v[3])])  # TL, TR, BR, BL
    h, w = 140, 480
    painted = _cover(np.full((h, w, 3), 255, np.uint8), slot, kind)  # the cover alone, on white
    m = cv2.getPerspectiveTransform(np.float32([(0, 0), (w, 0), (w, h), (0, h)]), corners)
    size = (img.shape[1], img.shape[0])
    cover = cv2.warpPerspective((painted != 255).any(axis=2).astype(np.float32), m, size)[..., None]
    colour = cv2.warpPerspective(painted.astype(np.float32), m, size)
    return np.clip(img * (1 - cover) + colour * cover, 0, 255).astype(np.uint8)


@pytest.mark.skipif(not (SHARED / "datasets" / "plates-dev" / "images" / PALEST).exists(), reason="../shared/datasets/plates-dev is not present")
def test_the_palest_real_nev_plate_with_a_character_covered_is_never_fuel(pipeline):
    """Before: ``皖AL1166`` / ``皖AD1116`` on yellow, "not NEV", at 0.86–0.99. The detector misses the covered plate in
    some of these scenes (over slots 4 and 5): the test counts the one-short reads it guards — two of its five cases
    once found no plate and passed on nothing (review70)."""
    short = []
    for slot in range(2, 8):
        for kind in ("mud", "bar"):
            for r in pipeline.process(_real_covered(slot, kind)):
                assert r.nev is not False, (slot, kind, r.text, r.colour, r.nev_reason)
                if r.complete and len(r.text) == 7:
                    short.append(r.text)
    assert len(short) >= 3, short


@pytest.mark.parametrize("wash", [0.85, 0.7])
def test_a_washed_out_double_row_yellow_plate_stays_fuel(pipeline, wash):
    """GA 36's NEV plates have one row: a two-row plate left without hue under a civil text is a yellow truck's, read
    whole — "not NEV", whatever its gradient (the lower row is no white-to-green)."""
    plate = _washed(render_plate("京EA5331", "yellow_double"), wash)
    reads = [r for r in pipeline.process(render_scene(plate, seed=5, plate_width=200)[0]) if r.complete]
    assert reads and all((r.colour, r.nev) == ("yellow", False) for r in reads), [
        (r.text, r.colour, r.nev, r.nev_reason) for r in reads
    ]


def _over_exposed_nev(text: str, pale: float, gain: float) -> np.ndarray:
    """A small NEV plate faded ``pale`` of the way to white, then over-exposed ``gain`` times (a headlight, a low
    sun): its white top clips and the white-to-green flattens, a trace of green left at the bottom."""
    plate = render_plate(text, "small_nev").astype(np.float32)
    return np.clip((plate * (1 - pale) + 255 * pale) * gain, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("text", ["皖AD1978", "粤BD1234", "皖A11166"])  # 皖AD19789, 粤BD12345, 皖AD11166 one short
@pytest.mark.parametrize("pale,gain", [(0.4, 1.4), (0.3, 1.5)])
@pytest.mark.parametrize("seed", [0, 3])
def test_an_over_exposed_nev_plate_read_one_short_is_never_fuel(pipeline, text, pale, gain, seed):
    """review86: read one character short (no cover seen), white with dark characters and no NEV gradient left
    (``gradient.nev_toned``), the plate was made yellow as a washed-out yellow plate — "not NEV", an EV fined, in 8
    of these 12 scenes. What hue is left of it is green (0.12–0.27 of its pixels) and no yellow: white, undecided."""
    for r in pipeline.process(_scene(_over_exposed_nev(text, pale, gain), seed, 130)):
        assert r.nev is not False, (r.text, r.colour, r.nev_reason, r.extra.get("hue_green"))
