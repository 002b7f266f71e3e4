"""``nev_shape``: a partial read is an NEV plate by its shape — seven characters in GA 36's 8-slot NEV geometry
with one slot empty, on green / yellow-green — never a fuel plate, whatever the light (real detector and
recogniser, rendered plates with a brown mud spot over one character)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.nev_shape import WIDE_DOT, WIDE_GAP, dot_after_one, dot_after_two, features, nev_shaped
from edge_agent.perception.pitch import SLOTS
from tests.perception.render import plate_crop, render_plate, render_scene
from tests.perception.test_camera_casts import _muddy, cast

GREEN = ColourResult(colour="green", dark_chars=True, scores={"polarity": 0.25}, confidence=0.9)
# the camera casts of ``test_camera_casts`` (cold daylight, 3000 K) and a milder cold one (degrade's)
CASTS = {"none": (1.0, 1.0, 1.0), "cold_daylight": (0.41, 0.83, 1.0), "warm_3000K": (1.0, 0.80, 0.55),
         "cold": (0.68, 0.92, 1.0)}


def _centres(n: int, left_out: int | None = None) -> tuple[float, ...]:
    """GA 36 slot centres of an ``n``-character plate as shares of a tight crop, one slot left out."""
    slots = np.asarray(SLOTS[n]) / (440 if n == 7 else 480)
    return tuple(np.delete(slots, [] if left_out is None else [left_out]))


@pytest.mark.parametrize("gap", range(1, 7))
def test_a_whole_seven_character_plate_has_no_empty_slot_wide_enough(gap):
    """A blue / yellow plate's seven characters stand one pitch apart (1.4 across the dot): wherever a ``?``
    is put among them, the characters either side are no NEV gap apart — the shape never says NEV."""
    crop = plate_crop("苏A99070", "yellow")
    text = "苏A99070"[:gap] + "?" + "苏A99070"[gap:]
    f = features(text, _centres(7), crop)
    assert f is not None and f[1] < (WIDE_DOT if gap <= 2 else WIDE_GAP)
    assert nev_shaped(text, _centres(7), crop, GREEN) is None


@pytest.mark.parametrize("gap", range(1, 7))
def test_seven_characters_in_the_nev_geometry_are_two_pitches_apart_at_the_empty_slot(gap):
    text = "苏AD39970"[:gap] + "?" + "苏AD39970"[gap + 1:]
    f = features(text, _centres(8, gap), plate_crop("苏AD39970", "small_nev"))
    assert f is not None and f[0] < 0.01 and f[1] >= (WIDE_DOT if gap <= 2 else WIDE_GAP)


@pytest.mark.parametrize("text,pos", [(t, p) for t in ("粤BD12345", "皖AD19789", "苏AF39970") for p in range(2, 7)
                                      if (t, p) != ("粤BD12345", 3)])  # that one below
def test_a_small_nev_plate_with_a_character_under_mud_is_nev_by_its_shape(pipeline, text, pos):
    """The recogniser skips the covered character, the pitch puts the ``?`` there (``苏AF3?970``), and the
    seven characters read like a civil plate: undecided before (``conflict``), so no frame said NEV and a
    visit of such reads was an ``unidentified`` violation. The plate is green, its characters sit in the
    8-slot geometry with that slot empty: NEV, the read still partial."""
    [r] = pipeline.process(_muddy(text, "small_nev", pos))
    assert not r.complete and r.text[pos] == "?" and r.text.replace("?", "") == text[:pos] + text[pos + 1:]
    assert (r.colour, r.nev, r.nev_reason, r.extra["kind"], r.type_code) == ("green", True, "format+colour",
                                                                              "small_nev", "52")


@pytest.mark.parametrize("text", ["粤B12345D", "京A67890F"])
@pytest.mark.parametrize("pos", [2, 3, 4, 5, 6])
def test_a_large_nev_plate_with_a_character_under_mud_is_nev_by_its_shape(pipeline, text, pos):
    """The same on the large NEV plate's yellow-green: the ``?`` fillable into its serial (five digits, then
    the energy letter). Before: ``conflict`` wherever the recogniser skipped the character."""
    [r] = pipeline.process(_muddy(text, "large_nev", pos))
    assert not r.complete and r.text[pos] == "?"
    assert (r.colour, r.nev, r.extra["kind"], r.type_code) == ("yellow_green", True, "large_nev", "51")


def test_a_question_mark_the_pitch_put_on_a_character_is_no_empty_slot(pipeline):
    """粤BD12345 with its 1 (slot 3) under mud: the pitch puts the ``?`` a slot early (``粤B?D2345``), where the D
    is — the place shows strokes, so the shape says nothing and the read stays undecided, as before."""
    [r] = pipeline.process(_muddy("粤BD12345", "small_nev", 3))
    assert (r.text, r.complete, r.nev, r.nev_reason) == ("粤B?D2345", False, None, "conflict")


@pytest.mark.parametrize("text,style", [("湘A97971", "yellow"), ("京B12345", "blue"), ("粤C88U61", "yellow"),
                                        ("苏E05174", "blue")])
@pytest.mark.parametrize("pos", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("gains", list(CASTS.values()), ids=list(CASTS))
def test_a_fuel_plate_with_a_character_under_mud_is_never_nev_under_any_cast(pipeline, text, style, pos, gains):
    """The bar: a yellow or blue plate — seven characters in seven slots — is never NEV by its shape, also
    when a cold cast turns it green or two-tone and a spot takes one of its characters."""
    for r in pipeline.process(cast(_muddy(text, style, pos), *gains)):
        assert r.nev is not True, (r.text, r.colour, r.nev_reason)


def test_the_dot_after_two_read_letters_is_no_nev_plate_without_its_province():
    """GA 36 puts an NEV plate's dot after its issuing letter: read without its province (``?AD12345``) the wide
    step comes after the first read character; a military plate's seven characters (``GA·13189``) have theirs
    after the second."""
    assert not dot_after_two("?AD12345", _centres(8, left_out=0))
    assert dot_after_two("?GA13189", _centres(7))
    assert not dot_after_two("粤AD12345", _centres(8))  # a read with its province: not asked


def _shaded_military(text: str, width: int, gains: tuple[float, float, float]) -> np.ndarray:
    """A military plate (white, its first letter red) in shade, as a camera with a cast sees it: its grey-white
    takes the cast's hue (plates-dev's two military photos read green under a green cast and a cyan one)."""
    plate = (render_plate(text, "military").astype(np.float32) * 0.75).astype(np.uint8)
    frame, _ = render_scene(plate, seed=0, plate_width=width)
    return cast(frame, *gains)


@pytest.mark.parametrize("text,width", [("GA13189", 110), ("GA13189", 160), ("VA30093", 160)])
@pytest.mark.parametrize("gains", [(0.5, 1.0, 0.9), (0.7, 1.4, 0.75)], ids=["cyan_awb", "green_cast"])
def test_a_military_plate_turned_green_by_a_cast_is_not_nev(pipeline, text, width, gains):
    """Its two letters and five digits are an NEV serial without a province, and the cast made it green with dark
    characters: it was NEV (``colour``), a fuel car let charge-park. The dot after two letters says military."""
    [r] = pipeline.process(_shaded_military(text, width, gains))
    assert (r.text, r.colour) == ("?" + text, "green")  # the case, as the cast makes it
    assert (r.nev, r.nev_reason) == (None, "conflict")


def _bay_camera_yellow(text: str, gains: tuple[float, float, float]) -> np.ndarray:
    """A shaded yellow plate at a bay camera's size (64 px wide, JPEG q40) under a green light, as plates-dev's 苏DLA031
    under a green fluorescent was read: its province read as a letter, so ``text`` puts a letter in the province's
    place — the seven characters the recogniser saw."""
    plate = (render_plate(text, "yellow").astype(np.float32) * 0.75).astype(np.uint8)
    frame, _ = render_scene(plate, seed=2, plate_width=64)
    ok, buf = cv2.imencode(".jpg", cast(frame, *gains), [cv2.IMWRITE_JPEG_QUALITY, 40])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def test_a_province_less_nev_serial_without_the_nev_dot_is_undecided(pipeline):
    """A yellow truck plate turned green by the light, its province read as a letter (苏DLA031 read ``?FDL4031``):
    seven read characters — a yellow plate's count — that are an NEV serial without its province. It was NEV
    (``colour``), and such frames, repeated over a visit, identify it NEV by its partial reads: a fuel truck let into a
    charging bay. GA 36 puts an NEV plate's dot after its issuing letter; at this size the recogniser's centres do not
    show it, so nothing says an eighth slot is there: undecided."""
    [r] = pipeline.process(_bay_camera_yellow("FD12345", (0.5, 1.4, 0.7)))
    assert (r.text, r.colour, r.complete) == ("?FD12345", "green", False)  # the case, as light and size make it
    assert (r.nev, r.nev_reason, r.type_code) == (None, "conflict", "99")


def test_the_nev_dot_after_the_issuing_letter_is_asked_of_the_read_centres():
    """The dot after the first read character (an NEV plate without its province: 1.8 pitches, then 1) is seen; steps
    alike (a frame too coarse to show it) or the dot after the second (a 7-character plate) are not."""
    assert dot_after_one("?AD12345", _centres(8, left_out=0))
    assert not dot_after_one("?FD12345", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7))
    assert not dot_after_one("?GA13189", _centres(7))
    assert not dot_after_one("粤AD12345", _centres(8))  # a read with its province: not asked


def test_the_nev_dot_is_asked_after_a_province_read_as_a_letter_and_not_trusted():
    """A dirty province read as a letter (``WAD12345``) is not read (``?AD12345``) but its centre stays among the
    read's eight: the dot is looked for after the issuing letter, not after the province's place (the eight
    centres were no read of this shape at all, and an NEV plate that shows its dot was undecided)."""
    assert dot_after_one("?AD12345", _centres(8))
    assert not dot_after_one("?GA13189", (0.05, *_centres(7)))
    assert dot_after_two("?GA13189", (0.05, *_centres(7)))


@pytest.mark.parametrize("width", [120, 160])
@pytest.mark.parametrize("text", ["JAD12345", "HAF05568"])
def test_an_nev_plate_whose_province_reads_as_a_letter_stays_nev(pipeline, text, width):
    """Mud or a sticker over an NEV plate's province reads as a letter: eight characters read, the letter not
    trusted (``?AD12345``), the plate green and its dot after the issuing letter plain at these sizes — the very
    plate partial reads exist for. It was undecided (``conflict``): an EV fined ``unidentified``."""
    frame, _ = render_scene(render_plate(text, "small_nev"), seed=1, plate_width=width)
    [r] = pipeline.process(frame)
    assert (r.text, r.colour, r.complete) == ("?" + text[1:], "green", False)
    assert (r.nev, r.nev_reason) == (True, "colour")


@pytest.mark.parametrize("text", ["京AD12345", "粤BD01366"])
@pytest.mark.parametrize("gains", [(1.0, 1.0, 1.0), (0.61, 1.0, 1.0), (0.8, 1.3, 0.85)], ids=["none", "cyan", "green"])
def test_an_nev_plate_with_its_province_covered_stays_nev(pipeline, text, gains):
    """The price guarded: a sticker over the province of a small NEV plate leaves ``?AD12345`` on green, its dot
    after the issuing letter — still NEV by its serial and colour."""
    plate = render_plate(text, "small_nev")
    h, w = plate.shape[:2]
    x, cw = int(w * 0.05), int(w * 0.9 / 8)
    cv2.rectangle(plate, (x - 2, int(h * 0.12)), (x + cw + 2, int(h * 0.88)), (40, 40, 40), -1)
    frame, _ = render_scene(plate, seed=0, plate_width=160)
    [r] = pipeline.process(cast(frame, *gains))
    assert (r.text, r.colour, r.nev, r.nev_reason) == ("?" + text[1:], "green", True, "colour")


def _mud_over_province(text: str, style: str, width: int) -> np.ndarray:
    """A rendered scene whose plate has brown mud over its province (GA 36's first slot, 15-60 mm of 480 / 440)."""
    plate = render_plate(text, style)
    h, w = plate.shape[:2]
    x0, x1 = int(w * 15 / 480), int(w * 62 / 480)
    cv2.rectangle(plate, (x0, int(h * 0.12)), (x1, int(h * 0.88)), (40, 75, 110), -1)
    return render_scene(plate, seed=1, plate_width=width)[0]


@pytest.mark.parametrize("width", [120, 140])
@pytest.mark.parametrize("text", ["京AD12345", "粤BD01366"])
def test_mud_over_a_small_nev_plates_province_is_no_large_nev_band(pipeline, text, width):
    """Mud is brown, a dark yellow hue: over a small NEV plate's province it sat where the large NEV's yellow band
    is and made the plate a two-tone yellow-green, on which the small NEV serial read is undecided (``conflict``) —
    an EV fined in its bay. The band is paint, as light as the green beside it; the mud is not."""
    [r] = pipeline.process(_mud_over_province(text, "small_nev", width))
    assert r.text.endswith(text[1:]) and r.colour == "green"
    assert (r.nev, r.nev_reason) == (True, "colour")


@pytest.mark.parametrize("text,style,colour", [("京A12345", "yellow", "yellow"), ("粤B01366", "blue", "blue"),
                                               ("沪A01230D", "large_nev", "yellow_green")])
def test_mud_over_the_province_of_other_plates_keeps_their_colour(pipeline, text, style, colour):
    """The price guarded: the same mud leaves a yellow or blue fuel plate its colour and "not NEV" or undecided,
    never NEV, and a large NEV plate its two-tone band (its letter still stands on yellow)."""
    [r] = pipeline.process(_mud_over_province(text, style, 160))
    assert r.colour == colour
    assert r.nev is (True if style == "large_nev" else r.nev) and (style == "large_nev" or r.nev is not True)


def _green_tube(text: str, width: int) -> np.ndarray:
    """A yellow plate (render seed 1, 200 px) under a green fluorescent tube (BGR gains 0.9, 1.2, 0.7), scaled so
    the plate is ``width`` px: it reads green, whole, and the ``?`` goes after the dot (``京A?12903``)."""
    img = render_scene(render_plate(text, "yellow"), seed=1, plate_width=200)[0]
    img = np.clip(img.astype(np.float32) * np.float32((0.9, 1.2, 0.7)), 0, 255).astype(np.uint8)
    k = width / 200
    return img if k == 1 else cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)),
                                         interpolation=cv2.INTER_AREA)


def _glare_over_type_letter(text: str) -> np.ndarray:
    """A small NEV plate (176 px, render seed 2) with white glare over its type letter (slot 2, 181.5 of 480 mm)."""
    plate = render_plate(text, "small_nev")
    h, w = plate.shape[:2]
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (round(w * 181.5 / 480), h // 2), (round(w * 0.055), round(h * 0.6)), 0, 0, 360, 1, -1)
    a = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 1.0)[..., None] * 0.97
    plate = np.clip(plate * (1 - a) + a * np.float32((250, 252, 255)), 0, 255).astype(np.uint8)
    return render_scene(cv2.resize(plate, (round(w * 0.88), h), interpolation=cv2.INTER_AREA), seed=2,
                        plate_width=176, yaw=0.0)[0]


def test_an_nev_plate_with_its_type_letter_under_glare_stays_nev(pipeline):
    """The recogniser's centres come in frames of 1/21 of the crop: 粤BD12345 with its D under glare reads
    ``粤B?12345`` at 0.17 on the 8 slots and 0.22 on a whole plate's 7, the centres a yellow 京A12903 under a green
    tube gives too — a margin over the 7-slot fit (plates37) made this EV undecided (fined ``unidentified``)."""
    reads = [r for r in pipeline.process(_glare_over_type_letter("粤BD12345")) if r.text.startswith("粤B")]
    assert reads and all(r.nev is True for r in reads), [(r.text, r.colour, r.nev, r.nev_reason) for r in reads]


def test_the_dot_gap_features_of_a_fuel_read_and_a_covered_nev_read():
    """The measured centres of a yellow 京A12903 under a green tube read ``京A?12903`` (misfit 0.18 on the 8 slots,
    0.19 on a whole plate's 7) against an NEV plate's with its type letter covered (皖A?22939, plates-dev under
    glare: 0.10 against 0.32); rendered covered NEV plates give the fuel read's very numbers too (see above)."""
    crop = plate_crop("京AD12903", "small_nev")
    fuel = (0.119, 0.2143, 0.4524, 0.5476, 0.6905, 0.7857, 0.881)
    nev = (0.0714, 0.1667, 0.5, 0.5952, 0.6905, 0.8333, 0.9286)
    f, g = features("京A?12903", fuel, crop), features("皖A?22939", nev, crop)
    assert f is not None and f[0] < 0.2 and f[1] >= WIDE_DOT and f[3] - f[0] < 0.1
    assert g is not None and g[3] - g[0] > 0.2
