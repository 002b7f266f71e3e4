"""Text, colour, type and NEV verdict tell one story (GA 36-2018, plate-rules.md), on real models:
a civil plate starts with its province, a 7-character civil plate is blue or yellow, a green
plate with dark characters has 8; weak polarity does not overrule a complete NEV plate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.config.perception import PerceptionConfig
from edge_agent.perception.colour import ColourResult
from edge_agent.perception.imageio import read_image
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.recognizer import CtcPlateDecoder, OnnxCtcRecognizer
from edge_agent.perception.shape import PARTIAL_CONFIDENCE
from edge_agent.perception.verdict import decide
from tests.perception.render import render_plate, render_scene
from tests.perception.test_recognizer import CLASSES, frames

NEV_TYPES = ("51", "52")


@pytest.fixture(scope="module")
def pipeline(models_dir):
    return Pipeline.from_config(PerceptionConfig(threads=2), models_dir)


def _only(pipeline, text, style):
    scene, _ = render_scene(render_plate(text, style), seed=5, frame=(1280, 720), plate_width=220)
    [plate] = pipeline.process(scene)
    return plate


def test_a_read_without_province_is_partial_and_claims_no_nev_type(pipeline):
    """``AD00518`` on a white plate (what a dark green NEV plate looks like to the pixels) used to
    be complete with type 52 / small_nev: it is an NEV serial whose province was not read."""
    p = _only(pipeline, "AD00518", "police")
    assert (p.text, p.complete) == ("?AD00518", False)
    assert p.type_code not in NEV_TYPES and p.extra["kind"] == "unknown" and p.nev is not True


def test_the_military_style_plate_of_plates_dev_is_partial(pipeline, plates_dev):
    [p] = [r for r in pipeline.process(read_image(plates_dev / "images" / "we__10.jpg")) if "GA13189" in r.text]
    assert (p.text, p.complete, p.type_code) == ("?GA13189", False, "99")


def test_a_seven_character_civil_read_is_never_a_green_complete_plate(pipeline):
    """Dark characters on green are an 8-character NEV plate: a 7-character civil read of it
    used to come out green + complete + type 02. Now partial, the ``?`` where the NEV serial
    has room (the energy letter), type 99, undecided."""
    p = _only(pipeline, "苏E05174", "small_nev")
    assert p.colour == "green"
    assert (p.text, p.complete, p.type_code, p.nev) == ("苏E?05174", False, "99", None)


def test_a_seven_character_civil_plate_keeps_its_blue(pipeline):
    p = _only(pipeline, "苏E05174", "blue")
    assert (p.text, p.complete, p.colour, p.type_code, p.nev) == ("苏E05174", True, "blue", "02", False)


def test_weak_white_polarity_does_not_veto_a_complete_nev_plate():
    """Polarity weaker than POLARITY_MIN is no evidence (as in colour_rules); below POLARITY_STRONG (white
    energy twice the dark one) it only makes a complete NEV text undecided; a clear white-on-green plate stays not NEV."""
    def green(strength):
        return ColourResult("green", False, {"green": 1.0, "polarity": strength}, 1.0)
    assert decide("皖AF68460", green(0.03)).nev is True
    assert decide("皖AF68460", green(0.08)).nev is None
    assert decide("皖AF68460", green(0.16)).nev is None  # blur on a small NEV plate fakes white this strong
    assert decide("皖AF68460", green(0.4)).nev is False
    assert decide("民航B9016", green(0.03)).nev is not True


def test_dark_character_green_plate_with_weak_polarity_is_nev(pipeline, plates_dev):
    """The background car of tombo__plate2.jpg (皖AF68460, small and blurred): its polarity
    measured white at strength 0.03 and the verdict said not NEV. It is 36 px wide and its province a coin
    toss (margin 0.0006: ``?AF68460``, ``pipeline.SMALL_PLATE_PX``); the verdict does not depend on it."""
    reads = {r.text[1:]: r for r in pipeline.process(read_image(plates_dev / "images" / "tombo__plate2.jpg"))}
    assert reads["AF68460"].nev is True and reads["DF10888"].nev is True
    assert reads["DF10888"].text == "浙DF10888"


class FixedFrames(OnnxCtcRecognizer):
    """The real plate decoder on fixed model output: what PP-OCRv4 emits when it merges a repeat."""

    def __init__(self, probs: np.ndarray) -> None:  # noqa: D107 — no session: logits are given
        self.decoder, self.batch, self.probs = CtcPlateDecoder(CLASSES), 8, probs

    def logits(self, crops):
        return np.stack([self.probs] * len(crops))


# 皖AD11111 with the last two 1s merged over an outvoted blank (0.44 against 0.55): best path 皖AD1111
MERGED_ONES = frames({"皖": 0.999, "": 0.001}, "-", "A", "-", "D", "-", "1", "-", "1", "-", "1", "-",
                     {"1": 0.9, "": 0.1}, {"1": 0.55, "": 0.44}, {"1": 0.9, "": 0.1}, "-")


def test_a_merged_repeat_on_a_green_plate_is_read_whole(pipeline, monkeypatch):
    """A green, dark-character plate has 8 characters: when the recogniser's frames back the
    repeat it merged, the NEV plate is the read (it was partial ``皖A?D1111``, NEV undecided);
    the same frames on a blue plate stay the 7-character civil read, never NEV."""
    # fixed frames say nothing about where the rendered plate's characters are (occlusion.covered)
    monkeypatch.setattr("edge_agent.perception.pipeline.covered", lambda crop, centres, text="": ())
    reader = Pipeline(pipeline.detector, FixedFrames(MERGED_ONES), pipeline.cfg)
    green, _ = render_scene(render_plate("皖AD11111", "small_nev"), seed=5, frame=(1280, 720), plate_width=220)
    [p] = reader.process(green)
    assert (p.text, p.complete, p.colour, p.type_code, p.nev) == ("皖AD11111", True, "green", "52", True)
    blue, _ = render_scene(render_plate("皖AD1111", "blue"), seed=5, frame=(1280, 720), plate_width=220)
    [p] = reader.process(blue)
    assert (p.text, p.complete, p.colour, p.nev) == ("皖AD1111", True, "blue", False)


def test_a_large_nev_plate_whose_energy_letter_blurs_into_0_is_nev(pipeline):
    """A 72 px, slightly blurred large-NEV plate: PP-OCRv4 reads its last D as 0 (``浙A123450``,
    8 characters and no plate, so incomplete and undecided). 8 characters are an NEV serial."""
    scene, _ = render_scene(render_plate("浙A12345D", "large_nev"), seed=1, plate_width=72)
    [p] = pipeline.process(cv2.GaussianBlur(scene, (3, 3), 0.8))
    assert (p.text, p.complete, p.type_code, p.nev) == ("浙A12345D", True, "51", True)


# 苏AD12345 cleanly read: 8 characters, a small NEV serial
NEV_TEXT = frames("-", {"苏": 0.999, "": 0.001}, "-", "A", "-", "D", "-", "1", "-", "2", "-", "3", "-", "4", "-", "5", "-")


def test_an_nev_text_on_a_blue_plate_with_white_characters_is_no_complete_read(pipeline, monkeypatch):
    """A blue plate has 7 characters (GA 36), an NEV serial 8 on green: an 8-character NEV text on a
    plate that stays blue with white characters holds a character the plate does not (JPEG q20 read
    川AS9V79 as 川JAS9173, complete). Kept as read, but not complete — no list match, a partial read's
    confidence — and "not NEV" by its colour as before; the same frames on a green plate are its NEV plate."""
    monkeypatch.setattr("edge_agent.perception.pipeline.covered", lambda crop, centres, text="": ())
    lists = PlateLists(allow=["苏AD12345"])
    reader = Pipeline(pipeline.detector, FixedFrames(NEV_TEXT), pipeline.cfg, lists)
    blue, _ = render_scene(render_plate("苏A12345", "blue"), seed=5, frame=(1280, 720), plate_width=220)
    [p] = reader.process(blue)
    assert (p.text, p.complete, p.colour, p.nev, p.nev_reason) == ("苏AD12345", False, "blue", False, "colour")
    assert p.confidence <= PARTIAL_CONFIDENCE and p.type_code not in NEV_TYPES
    green, _ = render_scene(render_plate("苏AD12345", "small_nev"), seed=5, frame=(1280, 720), plate_width=220)
    [p] = reader.process(green)
    assert (p.text, p.complete, p.colour, p.nev, p.nev_reason) == ("苏AD12345", True, "green", True, "allow_list")


# 津R87992's province read as the letter I (a windscreen reflection of 津RB7992, rotated): two letters + five
# digits, the military shape — with no NEV serial in it, so it used to stay complete
LETTER_LED = frames("-", "I", "-", "R", "-", "8", "-", "7", "-", "9", "-", "9", "-", "2", "-")


def test_a_military_text_on_a_plate_that_is_not_white_is_a_misread_province(pipeline, monkeypatch):
    """Military plates (two letters + five digits, outside GA 36) are white; on a blue plate with white
    characters such a text is a civil plate whose province was read as a letter (``IR87992``, complete
    at 0.85 on a blue plate of a probe). Its first position is not read (``?R87992``): partial, a partial
    read's confidence, no list match; the same frames on a white plate stay the complete military text."""
    monkeypatch.setattr("edge_agent.perception.pipeline.covered", lambda crop, centres, text="": ())
    lists = PlateLists(deny=["IR87992"])
    reader = Pipeline(pipeline.detector, FixedFrames(LETTER_LED), pipeline.cfg, lists)
    blue, _ = render_scene(render_plate("津R87992", "blue"), seed=5, frame=(1280, 720), plate_width=220)
    [p] = reader.process(blue)
    assert (p.text, p.complete, p.colour, p.nev, p.nev_reason) == ("?R87992", False, "blue", False, "colour")
    assert p.confidence <= PARTIAL_CONFIDENCE and p.type_code == "02"
    white, _ = render_scene(render_plate("VR87992", "police"), seed=5, frame=(1280, 720), plate_width=220)
    [p] = reader.process(white)
    assert (p.text, p.complete, p.colour, p.nev_reason) == ("IR87992", True, "white", "deny_list")
