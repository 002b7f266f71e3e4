"""CTC decoding on hand-built probabilities (vocabulary restriction, slot rules) and the real recognisers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.recognizer import (
    CtcPlateDecoder,
    create_recognizer,
    ctc_logprob,
    recognizer_keys,
    register_recognizer,
    split_read,
)
from edge_agent.perception.sessions import SessionFactory
from edge_agent.perception.shape import plate_shape
from edge_agent.perception.verdict import decide
from edge_agent.plates import parse_plate
from tests.perception.render import plate_crop, render_plate

# A model dictionary with characters outside the plate vocabulary, like PP-OCR's 6,623.
CLASSES = ["", *"京粤皖苏使民航领锁港学警挂应急", *"0123456789", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "·", " "]
IDX = {c: i for i, c in enumerate(CLASSES)}


def frames(*steps: str | dict[str, float]) -> np.ndarray:
    """One frame per step: a character (prob 0.9), "-" for blank, or {char: prob} (rest to blank)."""
    out = np.full((len(steps), len(CLASSES)), 1e-4, np.float32)
    for t, s in enumerate(steps):
        if isinstance(s, str):
            s = {"": 1.0} if s == "-" else {s: 0.9, "": 0.1}
        for ch, p in s.items():
            out[t, IDX[ch]] = p
    return out / out.sum(axis=1, keepdims=True)


@pytest.fixture
def dec() -> CtcPlateDecoder:
    return CtcPlateDecoder(CLASSES)


def test_collapses_repeats_and_blanks(dec):
    text, conf, chars = dec.decode(frames("-", "苏", "苏", "-", "E", "D", "D", "1", "1", "-", "1", "2", "3", "-", "4"))
    assert text == "苏ED11234"
    assert len(chars) == len(text) and 0.8 < conf <= 1.0


def test_vocabulary_excludes_lookalikes(dec):
    # 锁 is in the model's dictionary but no plate holds it: 领 wins in the plate vocabulary
    p = frames("粤", "A", "1", "2", "3", "4", {"锁": 0.6, "领": 0.3})
    assert dec.decode(p)[0] == "粤A1234领"
    assert "锁" not in dec.vocab and "·" not in dec.vocab


def test_issuer_slot_reads_letter_O(dec):
    # 粤O: the second slot is a letter, so a round glyph there is O, not 0
    p = frames("粤", {"0": 0.6, "O": 0.35}, "1", "2", "3", "4", "5")
    assert dec.decode(p)[0] == "粤O12345"


def test_serial_never_holds_I_or_O(dec):
    p = frames("京", "A", {"O": 0.7, "0": 0.2}, {"I": 0.6, "1": 0.3}, "2", "3", "4")
    assert dec.decode(p)[0] == "京A01234"


def test_misread_province_slot_is_forced_for_nev_length(dec):
    # 8 characters: an NEV plate whose province was read as a letter
    p8 = frames({"R": 0.7, "皖": 0.05}, "A", "D", "1", "2", "3", "4", "5")
    assert dec.decode(p8)[0] == "皖AD12345"


def test_eight_characters_follow_an_nev_serial(dec):
    # GA 36: only NEV plates have 8 characters. A round energy letter read as 0 (the failure
    # plate-rules.md names) keeps some of its mass: small NEV, third slot...
    assert dec.decode(frames("皖", "A", {"0": 0.85, "D": 0.05}, "1", "2", "3", "4", "5"))[0] == "皖AD12345"
    # ...large NEV, last slot; five digits before it (an 8 there is 8, not B)
    assert dec.decode(frames("京", "A", "1", "2", "3", "4", "5", {"0": 0.6, "D": 0.3}))[0] == "京A12345D"
    # the better-backed serial wins: a plain 0 third and a D-ish 0 last is the large plate
    assert dec.decode(frames("京", "A", "0", "8", "1", "2", "3", {"0": 0.6, "D": 0.3}))[0] == "京A08123D"
    assert dec.decode(frames("粤", "B", "F", "0", "1", "2", "3", "4"))[0] == "粤BF01234"
    # a round energy letter and a Q/0 confusion: two changes, the better-backed serial
    assert dec.decode(frames("京", "A", {"Q": 0.9, "0": 0.05}, "1", "2", "3", "0", "-", {"0": 0.9, "D": 0.01}))[0] == "京A01230D"
    # three characters off either NEV serial: no misread NEV plate, nothing forced (no plate, retried)
    assert dec.decode(frames("粤", "B", "1", "X", "Y", "2", "3", "Z"))[0] == "粤B1XY23Z"


def test_a_letter_with_no_province_in_it_is_not_forced_into_one(dec):
    """plates-dev's armed-police WJ1693015 in greyscale read with a character lost: eight
    characters led by a W the model gives every province ~1e-4. Forced, the W became 川 and the
    rest an NEV serial (川JJ93015, "NEV" on a police plate); it is a letter, so no plate is read."""
    text = dec.decode(frames("W", "J", "-", "J", "9", "3", "0", "1", "5"))[0]
    assert text == "WJJ93015"
    shape = plate_shape(text)  # no province read: partial, and without colour no "NEV" by format
    assert (shape.text, shape.complete) == ("?JJ93015", False)
    assert decide(shape.text, ColourResult("unknown", True, {"mono": 1.0, "polarity": 0.2})).nev is None
    # an NEV plate whose province the model reads as a letter but still sees a little (0.0012-0.19
    # on plates-dev) keeps the forced province
    assert dec.decode(frames({"K": 0.9, "皖": 0.002}, "A", "F", "6", "8", "4", "6", "0"))[0] == "皖AF68460"


def test_digit_in_province_slot_is_a_province(dec):
    p = frames({"4": 0.9, "粤": 0.01}, "B", "1", "2", "3", "4", "5")
    assert dec.decode(p)[0] == "粤B12345"


def test_emergency_plate_keeps_its_suffix_and_is_no_nev_serial(dec):
    """The emergency plate (京X1234应急) has 8 characters like an NEV plate: its 应急 is read, not bent
    into serial characters (京X12340A); a read with one of them keeps it and fits no NEV serial."""
    assert dec.decode(frames("京", "X", "1", "2", "3", "4", "应", "急"))[0] == "京X1234应急"
    assert dec.decode(frames("京", "1", "2", "3", "4", "5", "应", "急"))[0] == "京12345应急"
    lost = dec.decode(frames("京", "X", "1", "2", "3", "4", {"0": 0.5, "D": 0.3}, "急"))[0]
    assert lost == "京X12340急" and not parse_plate(lost).valid
    assert dec.decode(frames("X", "1", "2", "3", "4", "应", "急"))[0] == "X1234应急"  # province not read


@pytest.mark.parametrize("seq,read", [
    (("京", "A", "1", "2", "3", "4", "-", "4", "警"), "京A12344警"),  # was the large NEV 京A12344A
    (("粤", "B", "1", "2", "3", "4", "5", "学"), "粤B12345学"),
    (("皖", "A", "1", "2", "3", "4", "-", "4", "挂"), "皖A12344挂"),
    (("粤", "A", "0", "-", "0", "-", "0", "1", "-", "1", "领"), "粤A00011领"),
])
def test_a_suffix_plate_read_one_character_long_is_no_nev_serial(dec, seq, read):
    """警 / 学 / 挂 / 领 / 港 / 澳 end plates that are never NEV ones: a reading of 8 that ends in one
    (a spurious serial character) keeps it and fits no plate — partial, not an NEV serial whose
    energy letter was forced onto the suffix, which the format alone made NEV (infrared, white)."""
    text = dec.decode(frames(*seq))[0]
    assert text == read and not parse_plate(text).valid
    assert decide(text, ColourResult("unknown", None)).nev is not True


def test_guangdong_z_is_the_hong_kong_macau_series(dec):
    # 粤Z is issued only to cross-border Hong Kong / Macau vehicles: the last slot is 港 or 澳
    # (a 90 px rendered 粤ZF023港 read 粤ZF0238 and was then called a blue civil plate)
    assert dec.decode(frames("粤", "Z", "F", "0", "2", "3", {"8": 0.6, "港": 0.2}))[0] == "粤ZF023港"
    assert dec.decode(frames("粤", "B", "F", "0", "2", "3", {"8": 0.6, "港": 0.2}))[0] == "粤BF0238"


def test_embassy_serial_is_digits(dec):
    # 使 + 3-digit mission code + 3-digit serial: a round glyph there is 0, a stroke 1
    assert dec.decode(frames("使", "1", "9", {"B": 0.6, "8": 0.3}, "4", "7", "6"))[0] == "使198476"


def test_letter_plates_outside_ga36_are_kept(dec):
    # military GA13189: no plausible province in the first slot, so no province is forced
    assert dec.decode(frames("G", "A", "1", "3", "1", "8", "9"))[0] == "GA13189"
    # a dropped province stays dropped (the pipeline re-reads a widened crop), serial rule still applies
    assert dec.decode(frames("K", "L", "6", {"O": 0.6, "0": 0.3}, "9", "3"))[0] == "KL6093"


def test_special_leads(dec):
    assert dec.decode(frames("民", "航", "B", "9", "0", "1", "6"))[0] == "民航B9016"
    assert dec.decode(frames("使", "1", "9", "8", "4", "7", "6"))[0] == "使198476"


def test_empty_and_unconstrained(dec):
    assert dec.decode(frames("-", "-", "-")) == ("", 0.0, ())
    free = CtcPlateDecoder(CLASSES, vocab="".join(c for c in CLASSES if c), constrained=False)
    assert free.decode(frames("京", "A", "·", "锁"))[0] == "京A·锁"


@pytest.fixture(scope="module")
def sessions():
    return SessionFactory(2)


@pytest.mark.parametrize("text,style", [("苏E12345", "blue"), ("皖AD12345", "small_nev"), ("民航B9016", "green_white"),
                                        ("京A1234警", "police"), ("粤B12345", "blue"), ("京X1234应急", "emergency"),
                                        ("粤S0518应急", "emergency")])
def test_ppocr_reads_rendered_plates(models_dir, sessions, text, style):
    rec = create_recognizer("ppocr_v4", models_dir, sessions)
    [(got, conf, chars)] = rec.read([plate_crop(text, style, seed=1)])
    assert got == text
    assert len(chars) == len(text) and 0 < conf <= 1


def test_clp_crnn_behind_same_interface(models_dir, sessions):
    rec = create_recognizer("clp_crnn", models_dir, sessions)
    out = rec.read([plate_crop("苏E12345", "blue", seed=2), plate_crop("皖AD12345", "small_nev", seed=2)])
    assert len(out) == 2
    assert all(isinstance(t, str) and 0 <= c <= 1 for t, c, _ in out)
    # Its province guess is weak (strong 皖 prior) and, drawn in Noto Sans SC, it merges the blue
    # plate's "E1" into one "T"; the green plate's serial it reads whole.
    assert out[1][0][1:] == "AD12345"


def test_registry(models_dir, sessions, monkeypatch):
    from edge_agent.perception import recognizer

    monkeypatch.setattr(recognizer, "_REGISTRY", dict(recognizer._REGISTRY))  # the test's backend leaves with it

    class Echo:
        def __init__(self, models_dir, sessions, **opts):
            self.opts = opts

        def read(self, crops):
            return [("X", 1.0, (1.0,)) for _ in crops]

    register_recognizer("echo_test", Echo)
    assert "echo_test" in recognizer_keys() and "ppocr_v4" in recognizer_keys()
    assert create_recognizer("echo_test", models_dir, sessions).read([None, None]) == [("X", 1.0, (1.0,))] * 2
    with pytest.raises(ValueError, match="unknown recogniser"):
        create_recognizer("nope", models_dir, sessions)


# --- a repeat merged over an outvoted blank (桂B00001 → 桂B0001) ------------------------------

MERGED_ZEROS = ("粤", "-", "B", "-", "0", "-", "0", "-", {"0": 0.92, "": 0.08}, {"0": 0.6, "": 0.39},
                {"0": 0.97, "": 0.03}, "-", "1", "-")


def test_repeat_kept_apart_when_the_merged_read_is_no_plate(dec):
    # The blank between the last two zeros lost the argmax (0.39 against 0.6): the best path is
    # 粤B0001, 6 characters — no plate. Its frames back 粤B00001 (a blank there) well enough.
    assert "".join(s.char for s in dec.segments(frames(*MERGED_ZEROS))) == "粤B0001"
    text, conf, chars = dec.decode(frames(*MERGED_ZEROS))
    assert text == "粤B00001"
    assert len(chars) == 7 and 0 < conf <= 1


def test_no_repeat_without_blank_evidence(dec):
    # the same run with no blank mass inside it: one wide 0, the plate's last character not read
    # (the pipeline widens the crop to the right); never a guessed doubling
    solid = tuple({"0": 0.999, "": 0.001} if isinstance(s, dict) else s for s in MERGED_ZEROS)
    assert dec.decode(frames(*solid))[0] == "粤B0001"
    # a valid plate is never lengthened by the decoder itself
    assert dec.decode(frames("京", "A", "1", "2", "3", "4", {"5": 0.6, "": 0.39}, "5", "-"))[0] == "京A12345"


def test_a_lost_last_character_is_not_a_repeat(dec):
    # plates-dev's 皖A3997学: the 学 blurs into one frame shared by blank / 3 / 7 after the last 7.
    # Doubling that 7 is likely enough, but the 7's own run is one frame: nothing was merged there.
    p = frames("皖", "-", "A", "-", "3", "-", "9", "-", "9", "-", "7", "-", {"": 0.27, "3": 0.26, "7": 0.2}, "-")
    assert dec.decode(p)[0] == "皖A3997"


def test_a_read_without_province_is_never_lengthened(dec):
    # A012345: the province was not read (partial, retried on the left). Doubling its last 5
    # made 8 characters, whose forced province and NEV slots gave a complete 京A12345A.
    p = frames("A", "-", "0", "-", "1", "-", "2", "-", "3", "-", "4", "-", "5", {"5": 0.6, "": 0.39}, "5", "-")
    assert dec.decode(p)[0] == "A012345"
    # AD1234 (an NEV plate without province and last digit) stays as read, not AD12344
    p = frames("A", "-", "D", "-", "1", "-", "2", "-", "3", "-", "4", {"4": 0.6, "": 0.39}, "4", "-")
    assert dec.decode(p)[0] == "AD1234"


def test_valid_civil_read_carries_its_split_for_the_colour_check(dec):
    # 皖AD11111 (NEV, green) with the last two 1s merged: 皖AD1111 is a valid civil plate, so the
    # decoder keeps it and offers the 8-character reading for the pipeline's colour check
    p = frames("皖", "-", "A", "-", "D", "-", "1", "-", "1", "-", "1", "-", {"1": 0.9, "": 0.1},
               {"1": 0.55, "": 0.44}, {"1": 0.9, "": 0.1}, "-")
    read = dec.decode(p)
    assert read[0] == "皖AD1111"
    assert split_read(read)[0] == "皖AD11111"
    assert split_read(dec.decode(frames("皖", "A", "D", "1", "2", "3", "4", "-"))) is None


def test_ctc_logprob_sums_alignments():
    # two frames, one label "a" (column 1): alignments a-, -a, aa
    p = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert np.isclose(np.exp(ctc_logprob(p, [1])), 0.5 * 0.25 + 0.5 * 0.75 + 0.5 * 0.75)
    # "aa" needs a blank between: impossible in two frames
    assert np.exp(ctc_logprob(p, [1, 1])) < 1e-20


def loose_crop(text: str, style: str, margin: float, seed: int) -> np.ndarray:
    """A plate whose corners took in ``margin`` of its width of surround on each side (loose
    detector corners, ``perception.pad_x``), rectified to the recogniser's 168×48."""
    img = render_plate(text, style)
    h, w = img.shape[:2]
    px, py = int(w * margin), int(h * 0.1)
    out = np.full((h + 2 * py, w + 2 * px, 3), 90, np.uint8)
    out[py:py + h, px:px + w] = img
    out = cv2.resize(out, (168, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.clip(out + np.random.default_rng(seed).normal(0.0, 4.0, out.shape), 0, 255).astype(np.uint8)


def test_rendered_plate_with_repeated_zeros_keeps_them(models_dir, sessions):
    # 5 characters in the 21 frames' last third: the best path merged two zeros (桂B0001)
    rec = create_recognizer("ppocr_v4", models_dir, sessions)
    got = [r[0] for r in rec.read([loose_crop("桂B00001", "blue", 0.2, seed) for seed in (0, 2)])]
    assert got == ["桂B00001", "桂B00001"]


@pytest.mark.parametrize("text,style,width", [("皖AD12345", "small_nev", 64), ("京AD05678", "small_nev", 56),
                                              ("浙A12345D", "large_nev", 80)])
def test_rendered_nev_energy_letter_is_no_digit(models_dir, sessions, text, style, width):
    # small, slightly blurred NEV plates: PP-OCRv4's best path reads the energy letter D as 0
    # (豫A012345, 浙A123450 — no plate, NEV undecided); the serial is an NEV one
    img = cv2.resize(render_plate(text, style), (width, round(width * 48 / 168)), interpolation=cv2.INTER_AREA)
    img = cv2.resize(cv2.GaussianBlur(img, (3, 3), 1.0), (168, 48), interpolation=cv2.INTER_LINEAR)
    crop = np.clip(img + np.random.default_rng(0).normal(0.0, 4.0, img.shape), 0, 255).astype(np.uint8)
    [(got, _, _)] = create_recognizer("ppocr_v4", models_dir, sessions).read([crop])
    assert got[1:] == text[1:]  # the province of so small a plate is the province re-read's job
