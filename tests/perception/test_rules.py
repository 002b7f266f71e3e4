"""GA 36-2018 plate formats, table-driven, with the traps that fool a naive NEV rule."""

from __future__ import annotations

import pytest

from edge_agent.plates import (
    ENERGY_LETTERS,
    PLATE_VOCAB,
    PROVINCES,
    SPECIAL,
    nev_tail,
    parse_plate,
)

# text, valid, kind, type code, NEV format, energy
CASES = [
    ("皖AD12345", True, "small_nev", "52", True, "battery"),
    ("皖AF12345", True, "small_nev", "52", True, "other"),
    ("沪AF71017", True, "small_nev", "52", True, "other"),
    ("鲁ADS2952", True, "small_nev", "52", True, "battery"),  # letter in serial position 4
    ("青A00109D", True, "large_nev", "51", True, "battery"),
    ("粤B12345F", True, "large_nev", "51", True, "other"),
    ("皖A12345", True, "small", "02", False, None),
    ("粤OA2160", True, "small", "02", False, None),  # O as issuing authority is real
    ("民航B9016", True, "civil_aviation", "99", False, None),  # green, not NEV
    ("皖1946673", True, "agricultural", "99", False, None),  # green, not NEV
    ("鄂F8888警", True, "police", "23", False, None),
    ("渝B3587学", True, "coach", "16", False, None),
    ("皖Q0686学", True, "coach", "16", False, None),
    ("浙A1234挂", True, "trailer", "15", False, None),
    ("使198476", True, "embassy", "03", False, None),
    ("沪A0001领", True, "consulate", "04", False, None),
    ("粤Z1234港", True, "hk", "26", False, None),
    ("粤ZJ541澳", True, "macau", "27", False, None),
    ("WJ07X0230", True, "armed_police", "31", False, None),
    ("VA30093", True, "military", "32", False, None),
    # emergency rescue (since 2018-12): 8 characters, white, red 应急 — no NEV plate
    ("京X1234应急", True, "emergency", "99", False, None),
    ("粤S0518应急", True, "emergency", "99", False, None),
    ("京12345应急", True, "emergency", "99", False, None),  # the ministry's own: no team letter
    ("京X123应急", False, "unknown", "99", False, None),
    # the team code is X (fire) or S (forest), a digit on the ministry's own: any other letter was complete
    ("京Q1234应急", False, "unknown", "99", False, None),
    ("粤D0518应急", False, "unknown", "99", False, None),
    # I and O never appear in a serial
    ("皖AI12345", False, "unknown", "99", False, None),
    ("京AO1234", False, "unknown", "99", False, None),
    ("京A1234O", False, "unknown", "99", False, None),
    ("皖AD1234I", False, "unknown", "99", False, None),
    # the issuing letter: never I (no authority uses it); O only on a 7-character plate (粤O), never an NEV one
    ("苏I12345", False, "unknown", "99", False, None),
    ("粤O12345", True, "small", "02", False, None),
    ("粤OD12345", False, "unknown", "99", False, None),
    # not an energy letter in position 3 (L) and a 6-char serial → no format at all
    ("皖AL12345", False, "unknown", "99", False, None),
    ("", False, "unknown", "99", False, None),
    ("皖A1234", False, "unknown", "99", False, None),
    ("使19847", False, "unknown", "99", False, None),
    ("领A1234沪", False, "unknown", "99", False, None),  # 领 trails, never leads
    ("粤A1234港", False, "unknown", "99", False, None),  # HK plates are 粤Z
]


@pytest.mark.parametrize("text,valid,kind,code,nev,energy", CASES)
def test_parse_plate_table(text, valid, kind, code, nev, energy):
    info = parse_plate(text)
    assert (info.valid, info.kind, info.type_code, info.is_nev_format, info.energy) == (valid, kind, code, nev, energy)


@pytest.mark.parametrize("letter", list(ENERGY_LETTERS))
def test_every_extended_energy_letter_is_nev(letter):
    small = parse_plate(f"浙A{letter}12345")
    large = parse_plate(f"浙A12345{letter}")
    expected = "battery" if letter in "ABCDE" else "other"
    assert (small.kind, small.energy) == ("small_nev", expected)
    assert (large.kind, large.energy) == ("large_nev", expected)


@pytest.mark.parametrize("letter", list("LMNPQRSTUVWXYZ"))
def test_other_letters_in_position_three_are_not_nev(letter):
    assert not parse_plate(f"浙A{letter}12345").is_nev_format


def test_colour_separates_small_from_large_ordinary_plates():
    assert (parse_plate("皖A12345", "yellow").kind, parse_plate("皖A12345", "yellow").type_code) == ("large", "01")
    assert (parse_plate("皖A12345", "blue").kind, parse_plate("皖A12345", "blue").type_code) == ("small", "02")


@pytest.mark.parametrize("colour", ["unknown", "white", "black", "green"])
def test_an_ordinary_plate_whose_colour_tells_neither_blue_nor_yellow_has_no_type(colour):
    """plate-rules.md: ``01`` large vehicle (yellow), ``02`` small vehicle (blue). ``recognize --json`` printed ``02``
    for a 7-character plate under infrared (colour unknown): a guess, a yellow truck's plate called a small car's.
    ``99`` where the colour does not tell (leftovers30); the text alone (no colour asked) stays ``02``."""
    assert parse_plate("皖A12345", colour).type_code == "99"
    assert parse_plate("皖A12345").type_code == "02"


def test_an_ordinary_plate_seen_yellow_green_has_no_type():
    """plate-rules.md: ``01`` is the large vehicle's **yellow** plate; yellow-green is the large NEV plate's two-tone
    (``51``), which carries 8 characters. Seven on it are a large NEV plate with its energy letter lost or a yellow
    plate under a cold cast: a large plate whose type is not told (``99``). It was ``01``, the large fuel vehicle's
    code, on a read the verdict itself leaves undecided."""
    info = parse_plate("粤B12345", "yellow_green")
    assert (info.kind, info.type_code) == ("large", "99")
    assert parse_plate("粤B12345D", "yellow_green").type_code == "51"  # the plate's own 8 characters


def test_dots_spaces_and_lower_case_are_normalised():
    info = parse_plate("皖a·d1234 5")
    assert info.text == "皖AD12345" and info.kind == "small_nev"
    # the plate's dot as other input methods and web pages write it (bullet, katakana middle dot and its
    # half-width form, hyphenation point, dot operator, en dash): an allow-list entry pasted so is a plate
    for dot in "•・･‧∙⋅–":
        assert parse_plate(f"皖A{dot}D12345").text == "皖AD12345", dot
    assert not parse_plate("皖A!D12345").valid  # other punctuation is no separator


def test_nev_format_does_not_depend_on_the_province():
    """The province is the weakest character: any first character keeps an NEV serial NEV-shaped,
    but only a real province makes the plate valid."""
    wrong = parse_plate("XAD12345")
    assert wrong.is_nev_format and not wrong.valid and wrong.province is None
    assert nev_tail("AD12345") == ("small_nev", "battery")
    assert nev_tail("A12345K") == ("large_nev", "other")
    assert nev_tail("A12345") is None and nev_tail("AI12345") is None


def test_vocabulary_constants_cover_every_plate_character():
    assert len(PROVINCES) == 31 and len(set(PROVINCES)) == 31
    for text, *_ in CASES:
        assert set(text) <= set(PLATE_VOCAB) | {"·", " "}, text
    assert set("港澳学警使领挂民航应急") == set(SPECIAL)
