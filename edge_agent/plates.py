"""GA 36-2018 plate formats: which text is a valid plate, which kind, which GA 24.7 type code.

Below every stage (like ``quad``): the config checks allow / deny lists with it, perception reads
with it, events and the page name plates with it.

Text only. Colour is a separate vote (``perception/colour.py``) and the verdict
(``perception/verdict.py``) fuses them, so a rule here never guesses a colour — except that the
same 7-character text is a blue small plate or a yellow large one, which
``parse_plate(text, colour=...)`` resolves when told.

The NEV checks look at the serial *after* the province on purpose: the province is every
recogniser's weakest character, so "is this an NEV serial" must not depend on it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: The 31 GA 36-2018 province characters (the config validates ``priority_provinces`` with them).
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


#: Separators a written plate may carry between its characters: the plate's own dot as typed or pasted
#: (middle dot, bullet, katakana middle dot — a Japanese-style input method's, hyphenation point, dot
#: operators), spaces and dashes. Full-width forms are folded to these by NFKC first.
SEPARATORS = frozenset(" .·•・‧∙⋅-–—_\t")


def normalise_plate(text: str) -> str:
    """Upper-case, no spaces, dots or dashes: ``皖A·D1234 5`` (also ``皖A•D12345``, ``皖A・D12345``) →
    ``皖AD12345``. Full-width letters, digits and spaces (what a Chinese input method types in its
    full-width mode: ``粤Ｂ１２　３``) are the ASCII ones (NFKC)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).upper() if ch not in SEPARATORS)


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
#: The emergency-rescue plate's two-character suffix (fire and forest rescue vehicles since 2018-12: white,
#: black characters, a red 应急 — province, team code X / S (a digit for the ministry), four digits, 应急).
#: Eight characters, like an NEV plate: a recogniser that cannot emit 应急 reads them as two serial
#: characters, and the eight are then bent into an NEV serial (``京X12349A``).
EMERGENCY = "应急"
SPECIAL = "港澳学警使领挂民航" + EMERGENCY
#: Every character a Chinese civil plate can show (what a recogniser's CTC may emit).
PLATE_VOCAB = PROVINCES + DIGITS + LETTERS + SPECIAL

# Serial characters never include I or O (they read as 1 and 0).
_SER = "[A-HJ-NP-Z0-9]"
_SER_LETTER = "[A-HJ-NP-Z]"
# Issuing authority: A–Z without I; 'O' is real (provincial offices, e.g. 粤O).
_ISSUER = "[A-HJ-Z]"
_PROV = f"[{PROVINCES}]"
_TEAM = "[XS0-9]"  # the emergency plate's team code: X fire, S forest rescue; a digit on the ministry's own
BATTERY_LETTERS = "ABCDE"  # D first, then A B C E when the D series runs out
OTHER_ENERGY_LETTERS = "FGHJK"  # F first, then G H J K
ENERGY_LETTERS = BATTERY_LETTERS + OTHER_ENERGY_LETTERS

#: NEV serial after the province (7 characters), small and large.
SMALL_NEV_TAIL = re.compile(f"^{_SER_LETTER}[{ENERGY_LETTERS}]{_SER}[0-9]{{4}}$")
LARGE_NEV_TAIL = re.compile(f"^{_SER_LETTER}[0-9]{{5}}[{ENERGY_LETTERS}]$")
#: The energy letters issued first (D battery, F other); the rest follow only where a series of them ran out.
FIRST_ENERGY_LETTERS = "DF"
#: A whole 7-character plate's text that is also a small NEV plate read one short: its energy letter third, then a
#: letter or digit and three digits — one of its last five characters (covered, cut off by the picture's edge, blurred
#: into its neighbour) not read. Only colour tells the two apart (GA 36: the NEV plate is green, 8 slots on 480 mm).
#: D / F only: with all ten letters one fuel plate in seven reads so (plates-dev: 136 of 925 vs 26).
SMALL_NEV_SHORT = re.compile(f"^{_PROV}{_ISSUER}[{FIRST_ENERGY_LETTERS}]{_SER}[0-9]{{3}}$")

# (kind, type code, pattern). Order matters: first match wins.
_FORMATS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("civil_aviation", "99", re.compile(f"^民航{_SER}{{5}}$")),
    ("embassy", "03", re.compile("^使[0-9]{6}$")),
    ("consulate", "04", re.compile(f"^{_PROV}{_ISSUER}[0-9]{{4}}领$")),
    ("hk", "26", re.compile(f"^粤Z{_SER}{{4}}港$")),
    ("macau", "27", re.compile(f"^粤Z{_SER}{{4}}澳$")),
    ("police", "23", re.compile(f"^{_PROV}{_ISSUER}{_SER}{{4}}警$")),
    ("coach", "16", re.compile(f"^{_PROV}{_ISSUER}{_SER}{{4}}学$")),
    ("trailer", "15", re.compile(f"^{_PROV}{_ISSUER}{_SER}{{4}}挂$")),
    ("emergency", "99", re.compile(f"^{_PROV}{_TEAM}[0-9]{{4}}{EMERGENCY}$")),
    ("agricultural", "99", re.compile(f"^{_PROV}[0-9]{{7}}$")),
    ("armed_police", "31", re.compile("^WJ[0-9]{2}[A-Z0-9]{5}$")),
    ("military", "32", re.compile("^[A-Z]{2}[0-9]{5}$")),
    ("ordinary", "02", re.compile(f"^{_PROV}{_ISSUER}{_SER}{{5}}$")),
)


def _ordinary(colour: str | None) -> tuple[str, str]:
    """An ordinary 7-character plate's kind and type code by its colour (plate-rules.md: ``01`` large vehicle,
    **yellow**; ``02`` small vehicle, **blue**). ``02`` also where no colour was asked (the text alone, as for a list
    entry). A colour that decides nothing between blue and yellow (unknown: infrared, a monochrome camera; white /
    black: night, glare, fading; green: a yellow plate under a cold cast) is ``99``: the type cannot be told. It was
    ``02``, a guess that called a yellow truck's plate under infrared a small car's (``recognize --json``,
    ``vehicle_identified``). The large NEV plate's yellow-green two-tone is a large plate's colour but no yellow
    one: seven characters on it are a large NEV plate with its energy letter lost (``51``) or a yellow plate under a
    cold cast (``01``) — ``99`` too (it was ``01``, the large *fuel* vehicle's code, against the docs' "only seen
    yellow")."""
    if colour == "yellow":
        return "large", "01"
    if colour == "yellow_green":
        return "large", "99"
    return "small", "02" if colour in (None, "blue") else "99"


@dataclass(frozen=True)
class PlateInfo:
    text: str  # normalised (no dots/spaces, upper case)
    valid: bool  # a GA 36-2018 (or armed-police/military) format, province included
    kind: str  # small | large | small_nev | large_nev | trailer | coach | police | emergency | embassy | ... | unknown
    type_code: str  # GA 24.7 style: 01 02 03 04 15 16 23 26 27 31 32 51 52 99
    is_nev_format: bool  # 8 characters whose serial is an NEV serial (province not checked)
    energy: str | None  # "battery" | "other" for NEV formats, else None
    province: str | None = None  # first character when it is a province


def energy_of(letter: str) -> str | None:
    """Energy letter → ``battery`` (A B C D E) / ``other`` (F G H J K)."""
    if letter and letter in BATTERY_LETTERS:
        return "battery"
    if letter and letter in OTHER_ENERGY_LETTERS:
        return "other"
    return None


def nev_tail(serial: str) -> tuple[str, str] | None:
    """The 7 characters after the province as an NEV serial → (kind, energy), else None.

    Used for 8-character text (``text[1:]``) and for 7-character text whose province the
    recogniser dropped — the latter is only trusted together with a green, dark-character plate.
    """
    if SMALL_NEV_TAIL.match(serial):
        return "small_nev", energy_of(serial[1]) or "other"
    if LARGE_NEV_TAIL.match(serial):
        return "large_nev", energy_of(serial[-1]) or "other"
    return None


def parse_plate(text: str, colour: str | None = None) -> PlateInfo:
    """Classify plate text. ``colour`` (optional) separates small (blue) from large (yellow)."""
    t = normalise_plate(text or "")
    prov = t[0] if t[:1] and t[0] in PROVINCES else None
    if len(t) == 8:
        tail = nev_tail(t[1:])
        if tail is not None:
            kind, energy = tail
            return PlateInfo(t, prov is not None, kind, "51" if kind == "large_nev" else "52", True, energy, prov)
    for kind, code, pat in _FORMATS:
        if pat.match(t):
            if kind == "ordinary":
                kind, code = _ordinary(colour)
            return PlateInfo(t, True, kind, code, False, None, prov)
    return PlateInfo(t, False, "unknown", "99", False, None, prov)


def check_plate_list(key: str, plates: list[str]) -> None:
    """Raise ``ValueError`` naming the first entry of an allow / deny list that is no plate.

    Lists hold what the site decided about real plates: a string that no GA 36 (or armed
    police / military) format matches can never be read from a car, so it is a typo or an
    injection attempt (``<script>``) — refused with its index rather than saved.
    """
    for i, text in enumerate(plates):
        problem = not_a_plate(text)
        if problem:
            raise ValueError(f"{key}[{i}]: {problem}")


def not_a_plate(text: object) -> str | None:
    """Why ``text`` cannot be a list entry (no GA 36 format matches it), or None when it is a plate.
    One message for the config, MQTT ``set-lists`` and the review page."""
    if isinstance(text, str) and parse_plate(text).valid:
        return None
    shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:40] + "…"
    return f"{shown} is not a plate (GA 36 format, e.g. 京AD12345 or 粤B12345)"
