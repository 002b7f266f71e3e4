"""``pitch``: a partial read's ``?`` where the plate's fixed character pitch shows the skipped character
(real detector and recogniser, rendered plates with one character covered)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.bays.consensus import PlateVote
from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.detector import Detection
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.pitch import SLOTS, gap_slot, placed
from edge_agent.perception.recognizer import Read, char_centres
from edge_agent.perception.shape import nev_gap, plate_shape
from edge_agent.plates import parse_plate
from tests.perception.render import plate_crop, render_plate, render_scene


def _ga36(n: int, left_out: int, scale: float = 0.9, offset: float = 0.06) -> tuple[float, ...]:
    """GA 36 slot centres as shares of a crop's width, one slot left out (none: ``left_out`` = ``n``)."""
    slots = np.asarray(SLOTS[n]) / (440 if n == 7 else 480)
    return tuple(np.delete(slots * scale + offset, [k for k in (left_out,) if k < n]))


@pytest.mark.parametrize("n", [7, 8])
def test_the_slot_left_out_is_found_whatever_the_crops_scale_and_offset(n):
    for k in range(n):
        for scale, offset in ((0.9, 0.06), (1.05, -0.03), (0.75, 0.12)):
            assert gap_slot(_ga36(n, k, scale, offset), n) == k


def test_evenly_spaced_characters_leave_no_gap_to_place():
    """Six centres at an even pitch over the plate: any slot fits as badly as the next — ambiguous."""
    even = tuple(np.linspace(0.1, 0.9, 6))
    assert gap_slot(even, 7) is None
    assert placed(plate_shape("苏A9970"), even).text == "苏A9970?"  # the text's own guess stays


def test_only_a_slot_that_can_make_a_plate_is_chosen():
    """``苏A9970`` with the gap at the province's slot fits no plate (苏 is no issuing letter): not placed there."""
    centres = _ga36(7, 0)
    assert gap_slot(centres, 7) == 0
    assert placed(plate_shape("苏A9970"), centres).text == "苏A9970?"
    assert placed(plate_shape("苏A9970"), _ga36(7, 4)).text == "苏A99?70"
    assert placed(plate_shape("京A124警"), _ga36(7, 4)).text == "京A12?4警"  # no partial shape: marked now
    # a ``?`` that replaced a character the read showed (as many centres as places) is not moved
    assert placed(plate_shape("JBAB678"), tuple(np.linspace(0.1, 0.9, 7))).text == "?BAB678"
    assert placed(plate_shape("苏A9970"), ()).text == "苏A9970?"  # no centres (a padded recogniser)
    # 8 slots are an NEV plate's: an emergency plate (8 characters on a 440 mm plate) is left as read
    assert placed(plate_shape("京X123应急"), _ga36(8, 4)).text == "京X123应急"
    assert placed(nev_gap("皖AD1789", "green"), _ga36(8, 4), "small_nev").text == "皖AD1?789"  # was 皖A?D1789


def _spotted_scene(text: str, style: str, pos: int, pipeline) -> np.ndarray:
    """A scene of ``text`` with a brown spot over character ``pos`` (placed by the recogniser's own centres)."""
    centres = char_centres(pipeline.recognizer.read([plate_crop(text, style, seed=3)])[0])
    plate = render_plate(text, style)
    h, w = plate.shape[:2]
    cv2.ellipse(plate, (int(centres[pos] * w), h // 2), (int(0.5 * w / len(text)), int(0.42 * h)), 0, 0, 360,
                (40, 75, 110), -1)
    return render_scene(plate, seed=pos, plate_width=200)[0]


@pytest.mark.parametrize("text,style,pos,want", [
    ("苏A99070", "blue", 4, "苏A99?70"),  # read 苏A9970: was 苏A9970?
    ("苏A99070", "blue", 5, "苏A990?0"),
    ("湘A97971", "yellow", 2, "湘A?7971"),
    ("湘A97971", "yellow", 5, "湘A979?1"),
    ("浙C56789", "blue", 3, "浙C5?789"),
    ("沪A01230D", "large_nev", 4, "沪A01?30D"),  # a 7-character civil read on an NEV plate: was 沪A0130D?
    ("沪A01230D", "large_nev", 6, "沪A0123?D"),
])
def test_a_skipped_character_is_marked_where_the_plate_shows_the_gap(pipeline, text, style, pos, want):
    [read] = pipeline.process(_spotted_scene(text, style, pos, pipeline))
    assert read.text == want and not read.complete and read.confidence <= 0.3
    assert read.char_confidences[pos] == 0.0 and len(read.char_confidences) == len(text)
    assert read.nev is not False or not parse_plate(text).is_nev_format  # an NEV plate is never called "not NEV" for it


def _drawn(n: int) -> tuple[float, ...]:
    """Where ``render.render_plate`` draws the characters of an ``n``-character single-row plate (shares of its width)."""
    cell = (0.9 - 0.054) / n
    return tuple(0.05 + cell * (i + 0.5) + (0.054 if i >= 2 else 0.0) for i in range(n))


class _Detector:
    def __init__(self, corners: np.ndarray) -> None:
        self.corners = np.asarray(corners, np.float32)

    def detect(self, frame, region=None):
        x1, y1 = self.corners.min(axis=0)
        x2, y2 = self.corners.max(axis=0)
        return [Detection(self.corners, (float(x1), float(y1), float(x2), float(y2)), 0.9)]


class _Recognizer:
    """The first crop reads ``first`` (characters skipped, the rest at ``centres``); every retry crop reads ``again``."""

    def __init__(self, first: str, centres: tuple[float, ...], again: str) -> None:
        self.first, self.centres, self.again, self.calls = first, centres, again, 0

    def read(self, crops):
        self.calls += 1
        if self.calls == 1:
            return [Read(self.first, 0.95, (0.95,) * len(self.first), centres=self.centres) for _ in crops]
        # no centres: a widened crop moves them, and what a fill saw is ``occlusion.covered``'s test, not this one's
        return [Read(self.again, 0.97, (0.97,) * len(self.again)) for _ in crops]


@pytest.mark.parametrize("again", [
    "苏A99700",  # the 7 and the 0 shifted one place: against the text's guess 苏A9970? no change at all — taken
    "苏A99770",  # every read character in place, the gap filled: the covered place read again (measured: wrong
])               # 27 times for 1 right on plates-dev with a spot)
def test_a_character_skipped_inside_the_plate_is_not_filled_by_a_retry(again):
    """苏A99070 read 苏A9970, its fourth serial character skipped: the pitch puts the gap at 苏A99?70, inside the
    plate. A widened crop brings in what was cut off at an end, nothing there: the retry's read was taken when it
    agreed with the text's own guess ``苏A9970?`` (``苏A99700``: a complete wrong plate). The read stays partial,
    its ``?`` where the pitch shows the gap."""
    frame, corners = render_scene(render_plate("苏A99070", "blue"), seed=1)
    recognizer = _Recognizer("苏A9970", tuple(np.delete(_drawn(7), 4)), again)
    pipe = Pipeline(_Detector(corners), recognizer, PerceptionConfig(), PlateLists())
    [read] = pipe.process(frame)
    assert read.text == "苏A99?70" and not read.complete and read.confidence <= 0.3


def test_a_read_two_characters_short_is_never_completed_by_guesses():
    """苏A99070 with two serial characters under mud reads 苏A970: no partial shape says where the two are, and the
    pitch cannot place two gaps soundly (plates-dev: wrong places where it placed any). A widened retry that reads
    the plate whole over the mud — 苏A99070 here, it could as well be 苏A90070 — was taken by the similarity rule:
    a complete plate, an identity, the allow list's. Now the read stays partial, matches no list, and a visit of
    such reads is not identified by it."""
    frame, corners = render_scene(render_plate("苏A99070", "blue"), seed=1)
    recognizer = _Recognizer("苏A970", tuple(np.delete(_drawn(7), [3, 5])), "苏A99070")
    pipe = Pipeline(_Detector(corners), recognizer, PerceptionConfig(), PlateLists(allow={"苏A99070"}))
    [read] = pipe.process(frame)
    assert recognizer.calls >= 2  # the retry ran
    assert read.text == "苏A970" and not read.complete and read.confidence <= 0.3 and read.nev_reason != "allow_list"
    vote = PlateVote(min_confidence=0.0)
    for _ in range(5):
        vote.add(read)
    assert vote.result() is None  # no identity
