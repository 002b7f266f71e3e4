"""The NEV verdict: lists, format, colour and polarity — and which of them decided."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.perception.colour import ColourResult, classify_colour
from edge_agent.perception.colour_rules import choose_colour
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.verdict import decide
from edge_agent.plates import PROVINCES
from tests.perception.render import plate_crop


def col(colour: str, dark: bool | None) -> ColourResult:
    return ColourResult(colour, dark, {}, 0.9)


# text, colour, dark characters → nev, reason, type code
TABLE = [
    # NEV plates
    ("皖AD12345", "green", True, True, "format+colour", "52"),
    ("皖A12345D", "yellow_green", True, True, "format+colour", "51"),
    ("皖A12345D", "yellow", True, None, "conflict", "51"),  # large NEV in a colour cast, or a misread truck
    # a small NEV serial on the large NEV's two-tone: a yellow plate under a cold cast, a spot read as the energy
    # letter (plates-dev 浙A12903, its A under mud, at 16000 K: NEV before)
    ("苏LE12903", "yellow_green", True, None, "conflict", "52"),
    ("LE12903", "yellow_green", True, None, "conflict", "99"),
    ("皖AK12345", "green", True, True, "format+colour", "52"),  # extended energy letter
    ("AD12345", "green", True, True, "colour", "52"),  # province dropped by the reader
    ("皖皖AD12345", "green", True, True, "colour", "52"),  # junk before the serial
    ("皖AD12345", "unknown", True, True, "format", "52"),  # infrared night: format alone
    ("皖AD12345", "white", True, True, "format", "52"),  # washed-out gradient green
    # dark characters on blue: a cast green plate or a faded blue one read with a character too many — undecided
    ("皖AD12345", "blue", True, None, "conflict", "52"),
    # blue is never NEV, whatever the text
    ("皖AD12345", "blue", False, False, "colour", "02"),
    ("皖A12345", "blue", False, False, "colour", "02"),
    ("AD12345", "blue", False, False, "colour", "02"),
    ("皖A12345D", "blue", False, False, "colour", "02"),
    # green but not NEV: white characters
    ("民航B9016", "green", False, False, "colour+polarity", "99"),
    ("皖1946673", "green", False, False, "colour+polarity", "99"),
    ("皖AD12345", "green", False, False, "colour+polarity", "99"),  # clearly white (no polarity given: 1.0)
    ("民航9016", "green", False, False, "colour+polarity", "99"),  # 民航 with a character lost
    ("民航B9016", "green", True, False, "format+colour", "99"),  # blur measures small 民航 plates dark too
    ("民航B9016", "green", None, False, "format+colour", "99"),
    ("皖4012345", "green", True, None, "conflict", "99"),  # agricultural-shaped (皖AD12345 misread): not by text
    # yellow / white / black plates
    ("皖A12345", "yellow", True, False, "colour", "01"),
    ("皖AD12345", "yellow", True, None, "conflict", "52"),  # a yellow plate never has 8: a warm cast on green
    ("皖AD12345", "yellow", False, False, "colour", "01"),  # light characters on yellow: no NEV plate either
    ("鄂F8888警", "white", True, False, "colour", "23"),
    ("京X1234应急", "white", True, False, "colour", "99"),  # emergency rescue: white, 8 characters
    ("京X1234应急", "unknown", None, False, "format", "99"),
    # a large NEV serial on white is what the emergency plate's red 应急 misread makes (京X12349A):
    # the large NEV plate is a yellow-green two-tone, only the small one's gradient washes out white
    ("京X12349A", "white", True, None, "format", "51"),
    ("使198476", "black", False, False, "colour", "03"),
    ("粤Z1234港", "black", False, False, "colour", "26"),
    # undecided rather than wrong
    ("皖A12345", "green", True, None, "conflict", "99"),  # a yellow plate at night looks lime: no type told
    ("", "green", True, None, "unread", "99"),
    ("AD12345", "unknown", True, None, "format", "99"),  # IR + dropped province: could be blue; undecided: no NEV type
    ("AD12345", "white", True, None, "format", "99"),  # undecided: no NEV type (was 52)
    ("皖A12345", "unknown", False, False, "format", "99"),  # blue (02) or yellow (01): not told (leftovers30)
    # white / black are no hue (night, infrared, glare, fading): they exclude only what the text does
    ("皖AD12345", "black", False, None, "conflict", "52"),  # a dark NEV plate, light polarity from glare
    ("皖AD12345", "white", False, None, "conflict", "52"),
    ("皖A1234?", "white", True, None, "unread", "99"),  # a partial read says nothing either way
    ("?AD1234", "black", False, None, "unread", "99"),
    ("皖A12345", "black", False, False, "colour", "99"),  # a blue or yellow plate at night: civil, not NEV
    ("", "unknown", None, None, "unread", "99"),
]


@pytest.mark.parametrize("text,colour,dark,nev,reason,code", TABLE)
def test_verdict_table(text, colour, dark, nev, reason, code):
    v = decide(text, col(colour, dark), None)
    assert (v.nev, v.reason, v.type_code) == (nev, reason, code)


@pytest.mark.parametrize("province", list(PROVINCES) + ["A", "1", ""])
@pytest.mark.parametrize("colour,dark", [("green", True), ("blue", False), ("green", False), ("yellow_green", True)])
def test_verdict_never_depends_on_the_province(province, colour, dark):
    base = decide("皖AD12345", col(colour, dark)).nev
    assert decide(f"{province}AD12345", col(colour, dark)).nev == base


@pytest.mark.parametrize("text", ["皖AD12345", "皖A12345D", "AD12345", "皖A12345", "民航B9016", ""])
@pytest.mark.parametrize("colour", ["blue", "black"])
def test_blue_and_black_plates_are_never_nev_without_the_operator(text, colour):
    assert decide(text, col(colour, False)).nev is not True


def test_lists_override_format_and_colour():
    lists = PlateLists(allow=["皖A12345"], deny=["皖AD12345"])
    allowed = decide("皖A12345", col("blue", False), lists)
    denied = decide("皖AD12345", col("green", True), lists)
    assert (allowed.nev, allowed.reason) == (True, "allow_list")
    assert (denied.nev, denied.reason) == (False, "deny_list")


@pytest.mark.parametrize("read", ["A12345", "?A12345", "XA12345", "皖A1234?", "沪A12345"])
def test_lists_match_only_a_complete_plate_exactly(read):
    """Issue 10: a partial read (province dropped or garbled, tail missing) is not the listed
    plate — 沪A12345 and 皖A12345 share that serial — so it never matches a list."""
    lists = PlateLists(allow=["皖A12345"], deny=["皖AD12345"])
    assert decide(read, col("blue", False), lists).reason == "colour"
    assert decide("?AD12345", col("green", True), lists).reason != "deny_list"
    assert lists.lookup("?A12345") is None


def test_deny_wins_over_allow():
    lists = PlateLists(allow=["皖AD12345"])
    lists.add("皖AD12345", "deny")
    assert decide("皖AD12345", col("green", True), lists).reason == "deny_list"


@pytest.mark.parametrize("text,style,nev", [
    ("皖AD12345", "small_nev", True),
    ("沪AF71017", "small_nev", True),
    ("皖A12345D", "large_nev", True),
    ("皖A12345", "blue", False),
    ("民航B9016", "green_white", False),
    ("鄂F8888警", "police", False),
    ("使198476", "black", False),
])
def test_rendered_plates_end_to_end_through_colour(text, style, nev):
    crop = plate_crop(text, style, seed=7)
    assert decide(text, classify_colour(crop, text)).nev is nev


def test_blue_plate_misread_as_nev_is_vetoed_by_its_pixels():
    crop = plate_crop("皖AD1234", "blue", seed=3)  # a 7-char blue plate …
    v = decide("皖AD12345", classify_colour(crop))  # … read with one character too many
    assert v.nev is False and v.reason == "colour"


def test_deep_blue_plate_with_blur_faked_dark_characters_is_not_nev():
    """Issue 10 §5 found it: under motion blur a deep-blue plate measured dark characters and
    read as an NEV serial (豫NB19579) — the cyan-green rule called a fuel car NEV. That rule is
    for over-exposed green plates, whose "blue" is cyan; a plate whose blue is deep is blue."""
    deep = ColourResult("blue", True, {"blue": 1.0, "chroma": 1.0, "cyan": 0.0, "polarity": 0.01}, 1.0)
    assert decide("豫NB19579", deep).nev is False
    cyan = ColourResult("blue", True, {"blue": 0.9, "chroma": 0.9, "cyan": 0.9, "polarity": 0.2}, 0.9)
    # cyan is no proof of an over-exposed green plate either: a sun-bleached blue one under a cool light is as
    # cyan, its grimy characters as dark (test_faded_blue) — undecided, never NEV
    assert (decide("皖AD12345", cyan).nev, decide("皖AD12345", cyan).reason) == (None, "conflict")
    weak = ColourResult("blue", True, {"blue": 0.9, "chroma": 0.9, "cyan": 0.9, "polarity": 0.01}, 0.9)
    assert decide("皖AD12345", weak).nev is None  # never "not NEV" there, whatever the polarity's strength
    # a large NEV serial on cyan with dark characters is as well a white emergency plate under a
    # cold cast, its red 应急 read as a digit and a letter (京X12342J, tungsten preset in daylight)
    assert (decide("京X12342J", cyan).nev, decide("京X12342J", cyan).reason) == (None, "conflict")


def test_blue_with_clear_dark_characters_is_undecided_whatever_the_text():
    """Blue plates carry white characters (GA 36): clear dark ones on a deep blue say the hue is a
    cast. The NEV probe (degraded plates-dev) found a camera on the tungsten preset turning green NEV plates
    deep blue, read 皖AA88515 with dark characters and judged "not NEV". Undecided, never NEV;
    under a civil text too: dark print on blue is no GA 36 blue plate (a temporary paper plate on sky-blue paper,
    review91) — "not NEV" needs white characters, or polarity too weak to count."""
    deep = ColourResult("blue", True, {"blue": 1.0, "chroma": 1.0, "cyan": 0.0, "polarity": 0.3}, 1.0)
    assert (decide("皖AA88515", deep).nev, decide("皖AA88515", deep).reason) == (None, "conflict")
    assert decide("渝AA2", deep).nev is None  # a partial read: colour and polarity disagree, nothing else
    assert (decide("皖A12345", deep).nev, decide("皖A12345", deep).reason) == (None, "conflict")
    assert decide("皖A12345", ColourResult("blue", False, {"blue": 1.0, "cyan": 0.0, "polarity": 0.3}, 1.0)).nev is False
    assert decide("皖A12345", ColourResult("blue", True, {"blue": 1.0, "cyan": 0.0, "polarity": 0.04}, 1.0)).nev is False


def _hue_shift(img: np.ndarray, shift: int) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


@pytest.mark.parametrize("shift,seen", [(-45, "yellow"), (45, "blue")])
@pytest.mark.parametrize("text", ["沪AF71017", "皖AD12345"])
def test_colour_cast_never_makes_a_green_nev_plate_fuel(text, shift, seen):
    """Sodium light or a camera fixed on the daylight preset at night turns a green plate yellow,
    the tungsten preset in daylight turns it blue (the probe: 12 of 24 plates-dev NEV plates
    "not NEV" under a sodium cast). An 8-character NEV text with dark characters contradicts
    either hue: undecided — a false violation is the costly error."""
    crop = _hue_shift(plate_crop(text, "small_nev", seed=1), shift)
    res = choose_colour(classify_colour(crop, text), text, True)
    assert (res.colour, res.dark_chars) == (seen, True)
    v = decide(text, res)
    assert (v.nev, v.reason, v.type_code) == (None, "conflict", "52")


@pytest.mark.parametrize("read", ["?AD12345", "?A12345D"])
def test_a_province_less_nev_serial_under_a_sodium_cast_is_undecided(read):
    """plate-rules.md: a yellow plate has 7 characters (ordinary serial) and never an NEV serial, and
    the province is the recogniser's weakest character. A green NEV plate turned yellow by sodium
    light, read without its province, was "not NEV" — while the whole read was undecided, and the
    same partial read on a blue cast too. Undecided on yellow as well; a civil or unread one stays fuel."""
    crop = _hue_shift(plate_crop("皖AD12345", "small_nev", seed=1), -45)
    res = choose_colour(classify_colour(crop), read, False)
    assert (res.colour, res.dark_chars) == ("yellow", True)
    v = decide(read, res)
    assert (v.nev, v.reason, v.type_code, v.kind) == (None, "conflict", "99", "unknown")
    assert decide("?A12345", res).nev is False  # an ordinary serial: a yellow plate's


@pytest.mark.parametrize("shift", [-45, 45])
@pytest.mark.parametrize("text,style", [("皖A12345", "blue"), ("皖A12345", "yellow")])
def test_colour_cast_never_makes_a_blue_or_yellow_plate_nev(text, style, shift):
    crop = _hue_shift(plate_crop(text, style, seed=1), shift)
    assert decide(text, choose_colour(classify_colour(crop, text), text, True)).nev is not True


def test_blurred_rendered_blue_plate_is_never_nev():
    from edge_agent.perception.degrade import defocus, motion_blur

    for blur in (motion_blur, defocus):
        crop = blur(plate_crop("豫NB1957", "blue", size=(336, 96), seed=2))
        r = classify_colour(crop)
        assert r.scores["cyan"] < 0.5
        assert decide("豫NB19579", r).nev is not True


@pytest.mark.parametrize("strength,nev", [(0.16, None), (0.3, None), (0.34, False)])
@pytest.mark.parametrize("text,reason,code", [("皖AD12345", "conflict", "52"), ("皖A12345", "conflict", "99"),
                                              ("", "unread", "99")])
def test_white_characters_on_green_need_a_white_on_green_text_or_clear_dominance(strength, nev, text, reason, code):
    """Blur on a small dark-character NEV plate measures "white" (rendered: up to 0.16, above the
    old 0.12 limit): a fine for an EV owner. Only a 民航 / agricultural text, or white energy at
    least twice the dark one (strength ≥ 1/3), makes white on green "not NEV"."""
    v = decide(text, ColourResult("green", False, {"polarity": strength}, 0.9))
    assert v.nev is nev
    if nev is None:
        assert (v.reason, v.type_code) == (reason, code)
    assert decide("皖1946673", ColourResult("green", False, {"polarity": strength}, 0.9)).nev is False


@pytest.mark.parametrize("colour", ["white", "green", "yellow_green"])
def test_red_characters_at_the_end_are_no_nev_plate(colour):
    """警 and 应急 are the only red characters (white plates); an NEV plate's are all black. A small
    emergency plate read as an NEV serial (粤SD51831) with red strokes at its end is undecided."""
    red = ColourResult(colour, True, {"polarity": 0.3, "red_end": 0.3}, 0.9)
    black = ColourResult(colour, True, {"polarity": 0.3, "red_end": 0.0}, 0.9)
    for text in ("粤SD51831", "京X12349A"):
        assert (decide(text, red).nev, decide(text, red).reason) == (None, "conflict")
    assert decide("粤S51831D" if colour == "yellow_green" else "粤SD51831", black).nev is True  # the colour's own NEV


def test_rendered_plates_measure_red_only_where_painted():
    """``red_end`` on crops as the rectifier hands them over: 应急 and 警 red, NEV plates none."""
    for text, style in [("京X1234应急", "emergency"), ("粤S0518应急", "emergency"), ("京A1234警", "police")]:
        assert classify_colour(plate_crop(text, style)).scores["red_end"] >= 0.1, text
    for text, style in [("京AD12345", "small_nev"), ("沪A12345F", "large_nev"), ("苏E12345", "blue")]:
        assert classify_colour(plate_crop(text, style)).scores["red_end"] < 0.03, text


def test_a_white_plate_whose_only_hue_is_blue_is_no_nev_by_its_format():
    """Over-exposure (×1.8 + 40) on plates-dev's blue 皖AYL250 (96 px): read ``皖AET1250`` (a character too many: a
    small NEV serial), white 0.403 / blue 0.389 / green 0 of the ranking, blue 0.19 of the chroma, "dark" characters
    (0.08): white with dark characters under an NEV format made it NEV, and the colour rules then green — a fuel car
    let off. An over-exposed NEV plate is white-to-green (GA 36): what hue is left of it is green, never blue alone."""
    ranking = (("white", 0.403), ("blue", 0.389), ("black", 0.153), ("green", 0.0), ("yellow", 0.0))
    bleached = ColourResult("white", True, {"blue": 0.194, "green": 0.0, "yellow": 0.0, "polarity": 0.08, "cyan": 0.18},
                            0.403, ranking)
    assert decide("皖AET1250", bleached).nev is None
    assert decide("皖AET1250", choose_colour(bleached, "皖AET1250", True)).nev is None
    # a washed-out NEV plate keeps some green (or no hue at all): NEV by its format, as before
    for green, blue in ((0.05, 0.02), (0.0, 0.0), (0.04, 0.1)):
        washed = ColourResult("white", True, {"blue": blue, "green": green, "yellow": 0.0, "polarity": 0.08}, 0.5,
                              (("white", 0.5), ("green", green), ("blue", blue)))
        assert decide("皖AD12345", washed).nev is True, (green, blue)


@pytest.mark.parametrize(
    "text,colour,dark,code",
    [
        ("渝B3587?", "yellow", True, "99"),  # 学 (16), 挂 (15) or a large vehicle's digit (01)
        ("渝B358?7", "yellow", True, "01"),  # the last character read, a digit: a large vehicle
        ("渝B358?学", "yellow", True, "16"),  # read, 学 names the class (a coach), also on a partial read
        ("渝B35?7挂", "yellow", True, "15"),  # a trailer
        ("京A1234?", "white", True, "99"),
        ("京A12?4警", "white", True, "23"),  # another character missing: 警 read names a police plate (was 99)
        ("粤Z12?4港", "black", False, "26"),  # 港 / 澳 / 领 name their black plates the same way
        ("粤Z1?34澳", "black", False, "27"),
        ("粤Z1234?", "black", False, "99"),
        ("苏E1234?", "blue", False, "02"),  # blue plates carry no suffix
    ],
)
def test_a_plate_whose_last_character_is_unread_has_its_class_only_from_a_colour_that_fixes_it(text, colour, dark, code):
    v = decide(text, col(colour, dark))
    assert v.nev is not True and v.type_code == code

