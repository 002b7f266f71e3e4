"""Is a read a *complete* GA 36 plate, and if not, what is missing and where?

Why: a recogniser that drops the province (``A12345``), the province and letter (``12345``),
the last character (``渝A1234``) or reads only the lower row of a two-row plate (``D1234``)
still emits a confident text. That text is not a plate, so it must never be a final answer:
the pipeline retries on the side that is missing and, when nothing completes, reports the
read as partial with the missing positions marked ``?`` (``?A12345``).

Text only (``rules.parse_plate`` decides what is complete); the retries live in ``retry.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge_agent.plates import (
    DIGITS,
    EMERGENCY,
    ENERGY_LETTERS,
    LETTERS,
    PROVINCES,
    SPECIAL,
    nev_tail,
    normalise_plate,
    parse_plate,
)

MISSING = "?"  # marks a plate position the read does not cover
PARTIAL_CONFIDENCE = 0.3  # a partial read's confidence never exceeds this

_SER = "[A-HJ-NP-Z0-9]"
_ISSUER = "[A-HJ-Z]"
_SUFFIX = "[港澳学警领挂]"
_PROV = f"[{PROVINCES}]"

# (missing side, what is prepended / appended, pattern of the read). First match wins; the
# longer (less ambiguous) shapes come first.
_PARTIAL: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    # province dropped: issuer + ordinary / NEV serial / special suffix
    ("left", "?", re.compile(f"^{_ISSUER}(?:{_SER}{{5}}|[{ENERGY_LETTERS}]{_SER}[0-9]{{4}}|[0-9]{{5}}[{ENERGY_LETTERS}]"
                             f"|{_SER}{{4}}{_SUFFIX})$")),
    # province dropped from an emergency plate (team code or the ministry's digit, four digits, 应急)
    ("left", "?", re.compile(f"^[XS0-9][0-9]{{4}}{EMERGENCY}$")),
    # last character dropped: province + issuer + 4 serial characters
    ("right", "?", re.compile(f"^{_PROV}{_ISSUER}{_SER}{{4}}$")),
    # province and issuer dropped, or the lower row of a two-row plate alone
    ("left", "??", re.compile(f"^{_SER}{{5}}$")),
)


@dataclass(frozen=True)
class Shape:
    text: str  # the read; partial reads carry ``?`` on the missing positions
    complete: bool
    missing: str | None = None  # "left" | "right" | None (complete, or no known shape)

    @property
    def known(self) -> str:
        """The characters actually read (without the ``?`` marks)."""
        return self.text.replace(MISSING, "")


def is_partial(text: str) -> bool:
    return MISSING in (text or "")


def plate_shape(text: str) -> Shape:
    """Complete when GA 36 (or a listed special shape) parses it whole; otherwise partial,
    marked on the side a known partial shape says is missing.

    A civil plate starts with its province (GA 36-2018). Two letters + five digits is the
    military shape (outside GA 36), but when those seven characters are also an NEV serial
    (``AD12345``, ``GA13189``) it is just as well an NEV plate whose province was not read —
    the text cannot tell, and a dark or over-exposed green plate looks white to the pixels. So
    such a read is partial (``?AD12345``): never a list match nor a visit's identity. A military
    text that is no NEV serial (``VL12345``) stays complete."""
    t = normalise_plate(text or "")
    if not t:
        return Shape("", False)
    if MISSING in t:
        return Shape(t, False, "left" if t.startswith(MISSING) else "right")
    info = parse_plate(t)
    if info.valid and not (info.kind == "military" and nev_tail(t) is not None):
        return Shape(t, True)
    if len(t) == 7 and t[0] not in PROVINCES and nev_tail(t) is not None:
        return Shape(MISSING + t, False, "left")
    if len(t) == 7 and t[0] in LETTERS and _PARTIAL[0][2].match(t[1:]):
        # a letter where the province is, then a whole civil plate (``JBAB678``, ``IBMW005``: JPEG
        # quality 15 reads of 津GAB678, 辽BMW005). Letters lead only military plates, which
        # parsed above: the letter is a misread province, so its position is not read. Nothing
        # is missing from the crop (the province was seen, not cut off): retried on both sides
        return Shape(MISSING + t[1:], False)
    if len(t) == 8 and t[0] in LETTERS and nev_tail(t[1:]) is not None:
        # the same with an NEV serial (``WJJ93015``): the recogniser saw no province in the letter
        # (``recognizer.FORCED_PROVINCE_MIN``), so none was read — partial, never an "NEV plate" by
        # its format alone (an armed-police WJ plate that lost a character reads so in greyscale)
        return Shape(MISSING + t[1:], False)
    for side, mark, pat in _PARTIAL:
        if pat.match(t):
            return Shape(mark + t if side == "left" else t + mark, False, side)
    return Shape(t, False)


_FILL = ENERGY_LETTERS + "0123456789ALMNPQRSTUVWXYZ"  # what an unread serial slot may hold


def nev_gap(text: str, colour: str) -> Shape:
    """A complete 7-character civil read (``苏E05174``) on a plate that is green with dark
    characters: GA 36 has no such plate — a green dark-character plate is an 8-character NEV
    one, so a character was not read. Partial, the ``?`` where the NEV serial of that colour
    has room for it (small NEV, green: the energy letter, ``苏E?05174``; large NEV,
    yellow-green: the last one, ``苏E05174?``), else at the end."""
    want = "large_nev" if colour == "yellow_green" else "small_nev"
    for i in range(2, len(text) + 1):
        filled = [text[:i] + ch + text[i:] for ch in _FILL]
        if any((nev_tail(f[1:]) or ("", ""))[0] == want for f in filled):
            return Shape(text[:i] + MISSING + text[i:], False, "right" if i == len(text) else None)
    return Shape(text + MISSING, False, "right")


_ANY = "".join(dict.fromkeys(PROVINCES + LETTERS + DIGITS + SPECIAL))


def fillable(marked: str, kind: str | None = None) -> bool:
    """Could the one ``?`` of ``marked`` hold a character that makes it a GA 36 plate (of
    ``kind``, a ``parse_plate`` kind or ``small_nev`` / ``large_nev``, when given)?"""
    i = marked.find(MISSING)
    if i < 0 or MISSING in marked[i + 1:]:
        return False
    for ch in _ANY:
        info = parse_plate(marked[:i] + ch + marked[i + 1:])
        if info.valid and (kind is None or info.kind == kind):
            return True
    return False


def agrees(partial: Shape, full: str, max_changes: int = 1) -> bool:
    """Does the complete read ``full`` extend ``partial`` — the same characters where the
    partial read saw some, at most ``max_changes`` of them different? A retry may fill in what
    was missing; it must not swap the serial for another plate's."""
    p = partial.text
    if len(p) != len(full):
        if partial.missing == "left" and len(full) > len(partial.known):
            p = MISSING * (len(full) - len(partial.known)) + partial.known
        elif partial.missing == "right" and len(full) > len(partial.known):
            p = partial.known + MISSING * (len(full) - len(partial.known))
        else:
            return False
    diff = sum(1 for a, b in zip(p, full) if a != MISSING and a != b)
    return diff <= max_changes
