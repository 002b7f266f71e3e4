"""A cover over the last character of a plate whose class that character names (GA 36: 警 on a white plate, 学 / 挂
on a yellow one): the read over it is no evidence of the plate's colour, and the class is unsure (real models,
rendered scenes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.perception.render import render_plate, render_scene
from tests.perception.test_camera_casts import cast


def _mud_over_last(plate: np.ndarray, n: int, bgr: tuple[int, int, int] = (40, 75, 110)) -> np.ndarray:
    """A spot a cell wide over the last of ``n`` characters (``render._draw_row``'s single-row layout)."""
    plate = plate.copy()
    h, w = plate.shape[:2]
    inner = 0.9 * w
    cell = (inner - 0.06 * inner) / n
    centre = (int(w - 0.05 * w - cell / 2), h // 2)
    cv2.ellipse(plate, centre, (int(cell * 0.55), int(0.42 * h)), 0, 0, 360, bgr, -1, cv2.LINE_AA)
    return plate


def _read(pipeline, text: str, style: str, seed: int, width: int, bgr=(40, 75, 110)):
    frame = render_scene(_mud_over_last(render_plate(text, style), len(text), bgr), seed=seed, plate_width=width)[0]
    [read] = pipeline.process(frame)
    return read


@pytest.mark.parametrize("text", ["粤BF567警", "京AD123警"])
@pytest.mark.parametrize("bgr", [(40, 75, 110), (90, 95, 100)])
def test_mud_over_a_police_plates_jing_leaves_it_white_and_never_nev(pipeline, text, bgr):
    """The 警 under mud was read as a digit (``粤BF5670``): a civil text, which no white plate carries, so the colour
    was taken from the ranking's next hue the mud gave — yellow, a large vehicle's 01. A position found covered says
    nothing of the plate's kind; its pixels say white (23 of 64 covered police frames were yellow before)."""
    read = _read(pipeline, text, "police", seed=0, width=200, bgr=bgr)
    assert read.text[:6] == text[:6] and not read.complete
    assert (read.colour, read.nev, read.type_code) == ("white", None, "99")


@pytest.mark.parametrize("text", ["皖AF997学", "渝BD587学"])
def test_a_learner_plate_whose_xue_is_covered_has_an_unsure_class(pipeline, text):
    """Yellow plates are large vehicles (01), coaches (学, 16) and trailers (挂, 15): with the last character unread
    the class is not known (99). Yellow is never NEV, so the verdict stays "not NEV"."""
    read = _read(pipeline, text, "yellow", seed=0, width=200)
    assert read.text == text[:6] + "?" and not read.complete
    assert (read.colour, read.nev, read.type_code) == ("yellow", False, "99")


def test_a_blue_plates_covered_last_character_keeps_its_class(pipeline):
    """Blue plates carry no suffix: the class (02, small vehicle) does not rest on the last character."""
    read = _read(pipeline, "苏E12345", "blue", seed=0, width=200)
    assert read.text == "苏E1234?" and (read.colour, read.nev, read.type_code) == ("blue", False, "02")


def _mud_over(plate: np.ndarray, n: int, pos: int) -> np.ndarray:
    """A brown spot over character ``pos`` of ``n`` (``render._draw_row``'s layout, the dot's gap after two)."""
    plate = plate.copy()
    h, w = plate.shape[:2]
    mx = int(0.05 * w)
    gap = (w - 2 * mx) * 0.06
    cell = ((w - 2 * mx) - gap) / n
    cx = int(mx + cell * (pos + 0.5) + (gap if pos >= 2 else 0))
    cv2.ellipse(plate, (cx, h // 2), (int(cell * 0.45), int(h * 0.3)), 0, 0, 360, (40, 75, 110), -1, cv2.LINE_AA)
    return plate


@pytest.mark.parametrize("text,pos", [("粤BD12345", 4), ("粤BD12345", 6), ("皖AD19789", 6)])
def test_a_serial_digit_under_mud_leaves_a_cyan_nev_plate_nev(pipeline, text, pos):
    """A small NEV plate under a cold, over-exposed light reads cyan "blue" with dark characters (plates-dev under
    16000 K: 7 of 24 NEV plates); its complete NEV serial made it green. A spot over one serial digit, read as a
    digit, changes no kind the text shows (eight characters, the energy letter D): the text still judges the colour.
    Taken for no evidence, the plate stayed blue: undecided, an EV a visit could not call NEV."""
    frame = render_scene(_mud_over(render_plate(text, "small_nev"), 8, pos), seed=0, plate_width=200)[0]
    [read] = pipeline.process(cast(frame, 0.2, 0.8, 2.5))
    assert read.extra.get("covered") == [pos] and read.text == text[:pos] + "?" + text[pos + 1:]
    assert (read.colour, read.nev, read.type_code) == ("green", True, "52")
