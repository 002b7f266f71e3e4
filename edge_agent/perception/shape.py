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

from edge_agent.perception.lists import normalise_plate
from edge_agent.perception.rules import ENERGY_LETTERS, PROVINCES, nev_tail, parse_plate

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


def plate_shape(text: str, colour: str | None = None) -> Shape:
    """Complete when GA 36 (or a listed special shape) parses it whole; otherwise partial,
    marked on the side a known partial shape says is missing.

    Two letters + five digits is the military shape (white plates), but also an NEV serial
    whose province was dropped (``AD12345``): when the plate's ``colour`` is known and not
    white, it is the second."""
    t = normalise_plate(text or "")
    if not t:
        return Shape("", False)
    if MISSING in t:
        return Shape(t, False, "left" if t.startswith(MISSING) else "right")
    info = parse_plate(t)
    military_elsewhere = info.kind == "military" and colour not in (None, "white", "unknown")
    if info.valid and not (military_elsewhere and nev_tail(t) is not None):
        return Shape(t, True)
    if len(t) == 7 and t[0] not in PROVINCES and nev_tail(t) is not None:
        return Shape(MISSING + t, False, "left")
    for side, mark, pat in _PARTIAL:
        if pat.match(t):
            return Shape(mark + t if side == "left" else t + mark, False, side)
    return Shape(t, False)


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
