"""Issue 10 §3: the colour agrees with the plate's kind and its character polarity, and the
rules never create NEV evidence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.perception.colour import ColourResult, classify_colour
from edge_agent.perception.colour_rules import EVIDENCE_MIN, choose_colour, consistent
from edge_agent.perception.degrade import motion_blur
from edge_agent.perception.imageio import read_image
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.shape import Shape
from edge_agent.perception.verdict import decide
from tests.conftest import SHARED
from tests.perception.render import plate_crop


def res(colour, dark, *ranking):
    return ColourResult(colour, dark, {}, ranking[0][1] if ranking else 0.5, tuple(ranking))


def test_polarity_and_kind_sets():
    assert consistent("small", False) == {"blue"}  # 7-character civil plate, light characters
    assert consistent("small", True) == {"yellow"}  # never green, never white
    assert consistent("police", True) == {"white"}
    assert consistent(None, False) == {"blue", "black", "green"}  # partial: polarity alone
    assert consistent("civil_aviation", False) == {"green"}


@pytest.mark.parametrize("text,complete,before,dark,ranking,after", [
    # night blue plate called green with confidence 1.0: light characters, 7 characters → blue
    ("苏E12345", True, "green", False, (("green", 1.0), ("blue", 0.2)), "blue"),
    # a plate the pixels call green with dark characters keeps green under a civil text (a yellow
    # plate gone lime under a cold white balance, or an NEV plate with one character lost): the read
    # is then partial and the verdict undecided, never a yellow truck "not NEV" (see the stain test)
    ("鲁B12345", True, "green", True, (("green", 0.8), ("yellow", 0.2)), "green"),
    # blue called black: light characters on an ordinary plate can only be blue
    ("川A561WP", True, "black", False, (("black", 0.4), ("blue", 0.0)), "blue"),
    # green is NEV evidence: a read that looks ordinary takes it away only towards a colour
    # the pixels show some sign of (an NEV plate read with a character dropped stays green)
    ("皖AD1234", True, "green", True, (("green", 1.0), ("yellow", 0.0)), "green"),
    # an over-exposed NEV plate read white: the verdict already says NEV → green
    ("皖AD11166", True, "white", True, (("white", 0.4), ("green", 0.1)), "green"),
])
def test_colour_follows_kind_and_polarity(text, complete, before, dark, ranking, after):
    assert choose_colour(res(before, dark, *ranking), text, complete).colour == after


def test_rules_never_make_a_plate_green_that_the_pixels_did_not_call_nev():
    """Blue with dark characters (a polarity error) and a partial NEV-looking read: turning it
    green would call a fuel car NEV. The colour stays as the pixels said."""
    r = res("blue", True, ("blue", 0.7), ("green", 0.3))
    out = choose_colour(r, "?AD12345", False)
    assert out.colour == "blue" and decide("?AD12345", out).nev is not True


@pytest.mark.parametrize("text,style", [("苏E12345", "blue"), ("皖AD12345", "small_nev"),
                                        ("民航B9016", "green_white"), ("浙A1234学", "yellow")])
def test_rendered_plates_keep_their_colour(text, style):
    r = classify_colour(plate_crop(text, style, seed=3), text)
    assert choose_colour(r, text, True).colour == r.colour
    assert r.ranking[0][0] == r.colour and len(r.ranking) == 6


def test_weak_polarity_does_not_turn_a_clearly_blue_plate_yellow():
    """Blur measured dark characters (strength 0.01) on a plate whose pixels are all blue: the
    colour stays blue — neither a weak polarity nor a hue without pixel evidence moves it."""
    r = ColourResult("blue", True, {"polarity": 0.01}, 1.0, (("blue", 1.0), ("yellow", 0.0), ("white", 0.0)))
    assert choose_colour(r, "苏A85Z95", True).colour == "blue"
    strong = ColourResult("blue", True, {"polarity": 0.2}, 1.0, (("blue", 1.0), ("yellow", 0.0), ("white", 0.0)))
    assert choose_colour(strong, "苏A85Z95", True).colour == "blue"  # no pixel sign of yellow either


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_large_nev_read_without_its_energy_letter_stays_yellow_green(seed):
    """plate-rules.md: a large NEV plate is yellow-green two-tone, 5 digits then the energy letter at
    position 8. Read without that letter (``粤B12345``) it looks like a 7-character civil plate; its
    yellow half was taken for a yellow plate, so it became a large truck, "not NEV" — a fuel violation.
    The two-tone stays, and the read is partial (the energy letter not read), never "not NEV"."""
    crop = plate_crop("粤B12345F", "large_nev", seed=seed)
    pixels = classify_colour(crop, "粤B12345")
    assert pixels.colour == "yellow_green" and pixels.dark_chars is True
    chosen = choose_colour(pixels, "粤B12345", True)
    assert chosen.colour == "yellow_green" and decide("粤B12345", chosen).nev is not False
    shape, _, _ = Pipeline._civil_on_green(crop, Shape("粤B12345", True), ("粤B12345", 0.9, (0.9,) * 7))
    assert (shape.text, shape.complete) == ("粤B12345?", False)
    assert decide(shape.text, choose_colour(classify_colour(crop), shape.text, False)).nev is not False


def test_a_yellow_plate_read_whole_stays_yellow():
    """The rule above is the two-tone's: a yellow truck plate is still yellow and "not NEV"."""
    crop = plate_crop("鲁B12345", "yellow", seed=1)
    chosen = choose_colour(classify_colour(crop, "鲁B12345"), "鲁B12345", True)
    assert chosen.colour == "yellow" and decide("鲁B12345", chosen).nev is False
    assert Pipeline._civil_on_green(crop, Shape("鲁B12345", True), ("鲁B12345", 0.9, (0.9,) * 7))[0].complete


@pytest.mark.parametrize("text,colour", [("京AD88888", "green"), ("青A00109D", "yellow_green")])
def test_white_polarity_does_not_move_a_green_nev_plate_to_blue(text, colour):
    """A blurred 84 px 京AD88888: green 0.82 of the votes, blue 0.11, characters measured white (0.052).
    "White characters" fit blue, so the plate became blue, "not NEV". The text and the hue agree on
    an NEV plate and blur fakes white on small dark characters: the hue stays, the verdict is in doubt."""
    r = ColourResult(colour, False, {"polarity": 0.052, "cyan": 0.0}, 0.89,
                     ((colour, 0.89), ("blue", 0.11), ("yellow", 0.0)))
    chosen = choose_colour(r, text, True)
    assert chosen.colour == colour
    assert decide(text, chosen).nev is None
    # a civil text with white characters stronger than blur fakes: blue (at 0.052 it stays green: blur's white)
    white = ColourResult(colour, False, {"polarity": 0.27, "cyan": 0.0}, 0.89, r.ranking)
    assert choose_colour(white, "苏E12345", True).colour == "blue"
    assert choose_colour(r, "苏E12345", True).colour == colour


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stain_over_an_nev_character_does_not_make_a_yellow_truck(seed):
    """A mud spot over the energy letter of a small NEV plate: the recogniser skips the letter
    (``苏A39970``, 7 characters: a civil text) and the mud gives the green plate a little yellow
    (17 % of the votes). The civil text moved it to yellow — a yellow truck, "not NEV", a false
    violation (plates-dev's 苏AD39970 with its D covered). Green with dark characters outweighs
    the text: the read is partial (the energy letter not read) and the verdict undecided."""
    crop = plate_crop("苏AD39970", "small_nev", seed=seed).copy()
    cv2.ellipse(crop, (56, 24), (7, 16), 15, 0, 360, (40, 60, 75), -1, cv2.LINE_AA)  # brown mud over the D
    pixels = classify_colour(crop, "苏A39970")
    assert pixels.colour == "green" and pixels.dark_chars is True
    assert dict(pixels.ranking)["yellow"] >= EVIDENCE_MIN  # the stain is pixel evidence of yellow
    chosen = choose_colour(pixels, "苏A39970", True)
    assert chosen.colour == "green" and decide("苏A39970", chosen).nev is not False
    shape, _, _ = Pipeline._civil_on_green(crop, Shape("苏A39970", True), ("苏A39970", 0.99, (0.99,) * 7))
    assert not shape.complete and "?" in shape.text
    assert decide(shape.text, choose_colour(classify_colour(crop), shape.text, False)).nev is not False


def test_weak_polarity_does_not_move_a_green_plate_to_blue():
    """Defocus on a 340 px 皖AD19789 (plates-dev, disc blur of 2.5 % of the plate's width): read
    ``皖AD19S9`` (a civil text), pixels green 0.98 and blue 0.08, polarity 0.036 — too weak to say
    anything. The civil text alone moved the plate to blue, "not NEV". Nothing in the pixels backs
    blue: it stays green and undecided. With white characters measured it still becomes blue."""
    ranking = (("green", 0.976), ("blue", 0.082), ("yellow", 0.0), ("white", 0.0))
    weak = ColourResult("green", False, {"polarity": 0.036, "cyan": 0.0}, 0.976, ranking)
    chosen = choose_colour(weak, "皖AD19S9", True)
    assert chosen.colour == "green" and decide("皖AD19S9", chosen).nev is None
    white = ColourResult("green", False, {"polarity": 0.27, "cyan": 0.0}, 0.976, ranking)
    assert choose_colour(white, "津E14579", True).colour == "blue"  # sodium light on a blue plate


def test_white_weaker_than_blur_fakes_does_not_move_a_green_plate_to_blue():
    """Horizontal motion blur (a car still rolling in: 9 px on the 720 px photo) on the same 340 px 皖AD19789: read
    ``皖AD1989`` (its 7 merged into the 8s), pixels green 0.971 and blue 0.085, white characters at 0.0597 — past
    ``POLARITY_MIN`` but what blur makes of dark strokes (rendered NEV plates up to 0.16, ``bays.visit_verdict``).
    Moved to blue, "not NEV": an EV fined. A blue plate lit green measures 0.27–0.36 white and still goes to blue."""
    ranking = (("green", 0.971), ("blue", 0.085), ("yellow", 0.0), ("white", 0.0))
    blurred = ColourResult("green", False, {"polarity": 0.0597, "cyan": 0.976}, 0.971, ranking)
    chosen = choose_colour(blurred, "皖AD1989", True)
    assert chosen.colour == "green" and decide("皖AD1989", chosen).nev is not False
    for white in (0.27, 0.36):
        lit = ColourResult("green", False, {"polarity": white, "cyan": 0.976}, 0.971, ranking)
        assert choose_colour(lit, "津E14579", True).colour == "blue"


MOTION_PHOTO = "images/hukai__04396551724137931-90_253-218&507_558&625-534&589_218&625_248&512_558&507-0_0_3_25_33_31_32_33-40-6.jpg"


@pytest.mark.skipif(not (SHARED / "datasets" / "plates-dev" / MOTION_PHOTO).exists(),
                    reason="../shared/datasets/plates-dev is not present")
def test_the_real_nev_plate_under_motion_blur_is_not_fined(pipeline):
    """plates-dev's 皖AD19789 with 25 px (at 1080p) of horizontal motion blur: before, ``皖AD1989``, blue, "not NEV"."""
    img = read_image(SHARED / "datasets" / "plates-dev" / MOTION_PHOTO)
    reads = pipeline.process(motion_blur(img, 25))
    assert all(r.nev is not False for r in reads), [(r.text, r.colour, r.nev_reason) for r in reads]


BLEACHED_PHOTO = "images/hrhome__00205459770115-90_85-352&516_448&547-444&547_368&549_364&517_440&515-0_0_22_10_26_29_24-128-7.jpg"


@pytest.mark.skipif(not (SHARED / "datasets" / "plates-dev" / BLEACHED_PHOTO).exists(),
                    reason="../shared/datasets/plates-dev is not present")
def test_the_real_blue_plate_over_exposed_is_not_nev(pipeline):
    """plates-dev's blue 皖AYL250 over-exposed (×1.8 + 40): before, ``皖AET1250``, green (moved from white), NEV."""
    img = read_image(SHARED / "datasets" / "plates-dev" / BLEACHED_PHOTO).astype(np.float32)
    reads = pipeline.process(np.clip(img * 1.8 + 40, 0, 255).astype(np.uint8))
    assert all(r.nev is not True for r in reads), [(r.text, r.colour, r.nev_reason) for r in reads]
