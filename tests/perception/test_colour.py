"""Plate colour and character polarity: rendered plates of every colour, the known failure
modes (night, over-exposure, infrared), bad input, and an accuracy floor on plates-dev."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from edge_agent.perception.colour import COLOURS, classify_colour
from tests.perception.render import STYLES, plate_crop
from tests.perception.test_camera_casts import cast

SAMPLES = {
    "blue": "皖A12345",
    "small_nev": "皖AD12345",
    "large_nev": "皖A12345D",
    "yellow": "皖A12345",
    "yellow_double": "京EA5331",
    "police": "鄂F8888警",
    "black": "使198476",
    "green_white": "民航B9016",
}


def _hsv_edit(img: np.ndarray, s_mul: float = 1.0, v_mul: float = 1.0, h_add: int = 0) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + h_add) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * s_mul, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * v_mul, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


@pytest.mark.parametrize("style", sorted(SAMPLES))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_rendered_colour_and_polarity(style, seed):
    res = classify_colour(plate_crop(SAMPLES[style], style, seed=seed))
    assert (res.colour, res.dark_chars) == (STYLES[style].colour, STYLES[style].dark_chars)
    assert 0.0 < res.confidence <= 1.0


@pytest.mark.parametrize("size", [(94, 24), (168, 48), (440, 140)])
def test_crop_size_does_not_matter(size):
    res = classify_colour(plate_crop("皖AD12345", "small_nev", size=size))
    assert (res.colour, res.dark_chars) == ("green", True)


def test_green_polarity_separates_nev_from_civil_aviation():
    nev = classify_colour(plate_crop("皖AD12345", "small_nev"))
    aviation = classify_colour(plate_crop("民航B9016", "green_white"))
    assert nev.is_green and aviation.is_green
    assert nev.dark_chars is True and aviation.dark_chars is False


def test_dark_desaturated_night_blue_is_blue_not_black():
    night = _hsv_edit(plate_crop("苏A12345", "blue"), s_mul=0.35, v_mul=0.35)
    res = classify_colour(night)
    assert res.colour == "blue" and res.dark_chars is False


def test_over_exposed_cyan_blue_stays_blue():
    cyan = _hsv_edit(plate_crop("苏A12345", "blue"), s_mul=0.6, v_mul=1.3, h_add=-12)  # hue ≈ 93
    assert classify_colour(cyan).colour == "blue"


@pytest.mark.parametrize("as_bgr", [True, False])
def test_infrared_monochrome_crop_has_unknown_colour_but_keeps_polarity(as_bgr):
    gray = cv2.cvtColor(plate_crop("皖AD12345", "small_nev"), cv2.COLOR_BGR2GRAY)
    res = classify_colour(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if as_bgr else gray)
    assert res.colour == "unknown" and res.dark_chars is True


def test_text_settles_black_plates_that_pixels_call_dark_blue():
    tinted = _hsv_edit(plate_crop("使198476", "black"), s_mul=1.0, v_mul=1.0)
    tinted = cv2.add(tinted, np.full_like(tinted, (60, 10, 0)))  # a blue cast, as at night
    assert classify_colour(tinted).colour == "blue"
    res = classify_colour(tinted, text="使198476")
    assert res.colour == "black" and res.dark_chars is False


def test_text_never_turns_green_with_dark_characters_into_another_colour():
    crop = plate_crop("皖AD12345", "small_nev")
    # a coach/police reading of a green NEV plate must not erase the NEV colour evidence
    assert classify_colour(crop, text="皖A1234学").colour == "green"
    assert classify_colour(crop, text="皖A1234警").colour == "green"


def _mud(crop: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """A brown spot (mud, rust) over the character at ``centre`` (share of the width) of the plate."""
    out = crop.copy()
    h, w = out.shape[:2]
    cv2.ellipse(out, (int(centre * w), h // 2), (int(half_width * w), int(0.42 * h)), 0, 0, 360, (40, 75, 110), -1)
    return out


@pytest.mark.parametrize("text", ["皖AD19789", "苏AD39970", "粤BF12345"])
@pytest.mark.parametrize("pos", range(2, 8))  # over the province or letter it is where the band is
@pytest.mark.parametrize("half_width", [0.05, 0.06, 0.09])
def test_a_brown_spot_in_the_middle_of_a_green_plate_is_no_large_nev_band(text, pos, half_width):
    """The spot's pixels vote yellow (0.25-0.35 of the plate) and made the green NEV plate a two-tone
    yellow-green: the large NEV's layout, whose yellow is a band over the province and letter at the LEFT
    (GA 36). A stain in the middle or at the right is no such band: the plate is green."""
    centre = (37.5, 89.5, 181.5, 233.5, 285.5, 337.5, 389.5, 441.5)[pos] / 480  # GA 36 slot centres, 480 mm
    res = classify_colour(_mud(plate_crop(text, "small_nev", seed=3), centre, half_width))
    assert res.scores["yellow"] >= 0.18 * res.scores["chroma"]  # enough yellow for a two-tone by share alone
    assert res.colour == "green" and res.dark_chars is True
    assert dict(res.ranking).get("yellow_green", 0.0) == 0.0  # and no two-tone evidence for the rules to pick


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", [(168, 48), (110, 32), (240, 70)])
def test_a_large_nev_plate_with_its_yellow_band_at_the_left_stays_yellow_green(seed, size):
    res = classify_colour(plate_crop("沪A01230D", "large_nev", size=size, seed=seed))
    assert res.colour == "yellow_green" and res.scores["yellow_left"] >= 0.6


@pytest.mark.parametrize("pos", range(8))
def test_a_brown_spot_on_a_large_nev_plate_leaves_it_yellow_green(pos):
    """Its band stays yellow wherever the stain is: the rule asks where the band is, not where all the yellow is."""
    centre = (37.5, 89.5, 181.5, 233.5, 285.5, 337.5, 389.5, 441.5)[pos] / 480
    assert classify_colour(_mud(plate_crop("沪A01230D", "large_nev", seed=3), centre, 0.06)).colour == "yellow_green"


@pytest.mark.parametrize("bad", [None, np.zeros((0, 0, 3), np.uint8), np.zeros((4, 10, 3), np.uint8),
                                 np.zeros((48, 168), np.uint8)])
def test_bad_input_is_unknown_not_an_error(bad):
    res = classify_colour(bad)
    assert res.colour == "unknown" and res.dark_chars is None


def test_flat_patch_has_no_polarity():
    res = classify_colour(np.full((48, 168, 3), (170, 75, 10), np.uint8))
    assert res.dark_chars is None


def test_four_channel_crop_is_accepted():
    bgra = cv2.cvtColor(plate_crop("皖A12345", "yellow"), cv2.COLOR_BGR2BGRA)
    assert classify_colour(bgra).colour == "yellow"


# --- accuracy floor on real photos -----------------------------------------------------------

FLOOR = 0.93  # the target; measured 0.97 on both sets when written


def _rows(plates_dev, scene):
    with open(plates_dev / "labels.csv", newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["scene"] == scene and r["plate_color"] in COLOURS
                and r["plate_color"] != "unknown"]


@pytest.mark.dataset
def test_accuracy_floor_on_plate_crops(plates_dev):
    rows = _rows(plates_dev, "crop")
    hits = sum(classify_colour(cv2.imread(str(plates_dev / r["file"]))).colour == r["plate_color"] for r in rows)
    assert len(rows) > 500
    assert hits / len(rows) >= FLOOR


@pytest.mark.dataset
def test_accuracy_floor_on_labelled_boxes_in_full_scenes(plates_dev):
    rows = [r for r in _rows(plates_dev, "full") if r["bbox_x1"]]
    hits = 0
    for r in rows:
        img = cv2.imread(str(plates_dev / r["file"]))
        x1, y1, x2, y2 = (int(float(r[k])) for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))
        hits += classify_colour(img[max(0, y1):y2, max(0, x1):x2]).colour == r["plate_color"]
    assert len(rows) > 100
    assert hits / len(rows) >= FLOOR


def test_rendering_is_deterministic():
    """Tests compare exact outcomes, so the same seed must give the same pixels."""
    from tests.perception.render import render_plate, render_scene

    a, b = plate_crop("皖AD12345", "small_nev", seed=3), plate_crop("皖AD12345", "small_nev", seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, plate_crop("皖AD12345", "small_nev", seed=4))
    (s1, c1), (s2, c2) = (render_scene(render_plate("京A12345", "blue"), seed=9) for _ in range(2))
    assert np.array_equal(s1, s2) and np.array_equal(c1, c2)


def _cut_tilted(crop: np.ndarray, cut: float, tilt: float) -> np.ndarray:
    """The rectifier's crop of a plate seen at an angle: ``cut`` of its width lost on the left (a tight or misplaced
    box), ``tilt`` of its height of keystone left to right, resized back to the crop's size."""
    h, w = crop.shape[:2]
    part = cv2.resize(crop[:, int(cut * w):], (w, h))
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[0, tilt * h], [w, 0], [w, h], [0, h - tilt * h]])
    return cv2.warpPerspective(part, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("size,cut,tilt", [((168, 48), 0.06, 0.1), ((240, 70), 0.06, 0.1), ((240, 70), 0.1, 0.05),
                                           ((168, 48), 0.04, 0.1), ((168, 48), 0.08, 0.05)])
def test_a_large_nev_plate_cut_on_the_left_and_tilted_stays_yellow_green(size, cut, tilt):
    """The band was looked for in the first third of the crop: with 6-14 % of the plate cut on the left and a
    tilt, that third held the narrowed band and as much green (yellow_left 0.47-0.50) and the plate read green —
    the small NEV's layout — though its yellow kept a two-tone's share. The band is looked for at the start of the
    plate's coloured columns."""
    res = classify_colour(_cut_tilted(plate_crop("沪A01230D", "large_nev", size=size, seed=0), cut, tilt))
    assert res.scores["yellow"] >= 0.18 * res.scores["chroma"]  # two-tone by share
    assert res.colour == "yellow_green", res.scores


@pytest.mark.parametrize("cut,tilt", [(0.06, 0.0), (0.1, 0.0), (0.1, 0.1), (0.06, -0.1)])
@pytest.mark.parametrize("text", ["皖AD19789", "粤BF12345"])
def test_a_brown_spot_after_the_separator_of_a_cut_green_plate_is_no_band(cut, tilt, text):
    """The spot over the first serial character (just right of the band's place) of a green plate cut on the left
    fell in the crop's first third and read as the large NEV's band (yellow_green); on the plate's own columns it
    lies past the band."""
    centre = 181.5 / 480
    res = classify_colour(_cut_tilted(_mud(plate_crop(text, "small_nev", seed=0), centre, 0.09), cut, tilt))
    assert res.colour == "green", res.scores


# the mud under the same light as the plate: channel gains in linear light (``test_camera_casts.cast``)
_LIGHTS = {"none": (1.0, 1.0, 1.0), "cold_daylight": (0.41, 0.83, 1.0), "warm_3000K": (1.0, 0.80, 0.55),
           "sodium": (1.0, 0.62, 0.22), "green_fluorescent": (0.8, 1.3, 0.85)}


@pytest.mark.parametrize("light", sorted(_LIGHTS))
@pytest.mark.parametrize("style,text,colour", [("small_nev", "京AD12345", "green"), ("small_nev", "皖AF06789", "green"),
                                               ("large_nev", "沪A01230D", "yellow_green"), ("yellow", "京A12345", "yellow"),
                                               ("blue", "粤B01366", "blue")])
def test_mud_over_the_province_is_no_large_nev_band(light, style, text, colour):
    """Brown mud is a dark yellow hue: over a small NEV plate's province it sat where the large NEV's yellow band
    is and read as one (yellow-green, on which the small NEV serial is undecided: an EV fined). The band is paint,
    as light as the green beside it; the mud is not. A large NEV keeps its band, fuel plates their colour."""
    crop = cast(_mud(plate_crop(text, style, seed=1), 37.5 / 480, 0.05), *_LIGHTS[light])
    assert classify_colour(crop).colour == colour
