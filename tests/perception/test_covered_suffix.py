"""A cover over the last character of a plate whose class that character names (GA 36: 警 on a white plate, 学 / 挂
on a yellow one): the read over it is no evidence of the plate's colour, and the class is unsure (real models,
rendered scenes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.perception.render import render_plate, render_scene


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
