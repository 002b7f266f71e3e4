"""A partial read that is an NEV plate by its shape: GA 36's 8-slot geometry, green, an empty gap.

Why: mud over one character of a green NEV plate makes the recogniser skip it; the pitch places the
``?`` where the character was (``苏AD?9970``), but the text then holds seven characters and the verdict
(``verdict.decide``) leaves a civil-looking read on green undecided — a yellow truck under a cold cast
looks the same. So no frame said NEV and the visit ended ``unidentified``: a fine for the mud. Yet the
plate says more than its text. GA 36-2018 prints a small NEV plate's 8 characters on 480 mm, 52 mm
apart with 92 mm across the dot; a blue or yellow plate's 7 on 440 mm, 57 / 79 mm. Seven read
characters whose centres sit in the 8-slot geometry with one slot empty (and clearly not in the
7-slot one), that empty slot showing no strokes, on a plate that is green with dark characters, the
``?`` fillable into a small NEV serial (its energy letter read in its slot, or the ``?`` on it): that
is an NEV plate with one character covered, whatever the seven characters read as. A fuel plate has
seven characters where a whole plate's seven slots are: there is no empty eighth slot to find.

Green reads as the small NEV plate, yellow-green (the two-tone) as the large one, each with its own serial
(``fillable``). Yellow-green is also what a yellow truck plate turns under a cold white balance: there the
geometry and the empty slot decide, and a small NEV serial on yellow-green is no NEV at all (``verdict``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.colour_rules import POLARITY_MIN
from edge_agent.perception.gradient import top_to_bottom
from edge_agent.perception.occlusion import stroke_energy
from edge_agent.perception.pitch import nev_fit, whole_misfit
from edge_agent.perception.shape import MISSING, fillable

#: The seven centres' misfit on the 8 slots (share of the pitch), stricter than ``pitch.MAX_MISFIT``'s 0.25 for
#: placing a ``?``: NEV plates under mud 0.05–0.16 (plates-dev, painted spot) and 0.05–0.18 (rendered); fuel
#: plates under a cold cast and mud whose read took a ``?`` among the 8 slots 0.27 at the least.
NEV_MISFIT = 0.2
#: The two characters either side of the empty slot stand this many pitches apart at least (the median
#: spacing of the others, the dot's left out). Inside the serial an NEV plate's are 2 apart (104 / 52 mm), a whole
#: plate's neighbours 1; across the dot 2.8 (144 / 52 mm), a whole plate's 1.4 (79 / 57) or 1.8 (92 / 52). The
#: recogniser's centres come in steps of its frames (a quarter of a pitch or so on a plate's crop).
WIDE_GAP = 1.6
WIDE_DOT = 2.3
# No margin over a whole plate's 7 slots is asked across the dot (review61): the recogniser's centres come in
# frames of 1/21 of the crop, and a small NEV plate with its type letter covered gives the very centres of a
# yellow 京A12903 read whole under a green tube (0.18 on 8 slots, 0.19 on 7): a margin made 14 of 144 rendered
# and 2 of 103 plates-dev covered-letter NEV visits undecided to save 6 of 540 rendered fuel visits.
#: The empty slot's stroke energy, a share of the plate's median character: below the faintest real
#: character measured (0.22, ``occlusion``).
EMPTY_MAX = 0.2
#: How much wider (in pitches) the step after the second read character of a province-less read must be than the
#: step after its first for the dot to sit after two letters (``dot_after_two``): military plates read ``?GA13189``
#: measured +0.4 … +1.2 (plates-dev: clean, sodium, green and cyan casts, JPEG q20, half size, rain, 60–90 px), NEV
#: plates with the province under mud (``?AD00518``) or lost to JPEG / half size / rain −2.0 … −0.33.
DOT_LATER = 0.2
#: A small NEV plate's ``?`` at the dot needs the plate's own white-to-green gradient (``gradient``: log R/G top minus
#: bottom, strip by strip, the light divided out): the centres cannot tell a covered type letter from a yellow plate
#: read whole under a green tube (review61), its colour can. plates-dev under five lights: small NEV plates 0.21–3.5,
#: yellow plates at most 0.094 (under sodium; 0.072 under the green light); rendered yellow plates under green tubes
#: at most 0.045; 422 dot-gap NEV frames of plates-dev's NEV plates with the type letter covered all above it.
GRADIENT_MIN = 0.1
#: How much wider (in pitches) a complete 7-character read's first step must be than its second for the read to have
#: skipped the character after its province (``issuer_skipped``): a whole plate's first step is 0.4 narrower (1 vs 1.4
#: across the dot), an NEV plate's read without its issuing letter 1.8 wider (2.8 vs 1). plates-dev in infrared: 195
#: complete 7-character reads −1.2 … +0.33; 22 NEV plates' reads with the issuing letter's centre left out +1.5 … +2.5.
ISSUER_GAP = 1.0
#: The NEV plate each colour is: green the small one, yellow-green (the two-tone) the large one.
KINDS = {"green": "small_nev", "yellow_green": "large_nev"}


def nev_shaped(text: str, centres: Sequence[float], crop: np.ndarray | None, colour: ColourResult) -> str | None:
    """The NEV kind (``small_nev`` / ``large_nev``) that ``text`` (one ``?`` inside, eight places, read from
    ``crop`` at ``centres``) is by its shape, or None."""
    kind = KINDS.get(colour.colour)
    f = features(text, centres, crop)
    if kind is None or f is None or colour.dark_chars is not True \
            or colour.scores.get("polarity", 0.0) < POLARITY_MIN or not fillable(text, kind):
        return None
    misfit, wide, energy, _whole = f
    dot = text.find(MISSING) <= 2
    if not (misfit < NEV_MISFIT and wide >= (WIDE_DOT if dot else WIDE_GAP) and energy < EMPTY_MAX):
        return None
    return None if dot and kind == "small_nev" and not graded(crop) else kind


def empty_slot(centres: Sequence[float], crop: np.ndarray | None) -> int | None:
    """The slot inside an NEV plate's 8 (1–6: a read character on each side) that a complete seven-character read
    from ``crop`` at ``centres`` leaves empty, or None. With no colour (infrared, a monochrome camera) a covered NEV
    plate and a fuel plate give the same 7-character civil text; the plate still tells them apart. A blue or yellow
    plate's seven characters fill its seven slots; an NEV plate with one covered sits in 8 slots with a slot two
    pitches wide (2.8 across the dot) that shows no strokes — the same shape ``nev_shaped`` asks of a ``?`` read."""
    for gap in range(1, 7):
        f = features("x" * gap + MISSING + "x" * (7 - gap), centres, crop)
        if f is None:
            return None
        misfit, wide, energy, _whole = f
        if misfit < NEV_MISFIT and wide >= (WIDE_DOT if gap <= 2 else WIDE_GAP) and energy < EMPTY_MAX:
            return gap
    return None


def issuer_skipped(text: str, centres: Sequence[float]) -> bool:
    """Whether a complete seven-character read skipped the character after its province and is then a small NEV plate
    (``鲁F02599`` read from 鲁QF02599 in infrared rain): GA 36 puts the dot after a plate's issuing letter, so on a
    whole plate the first step is the narrowest (1 pitch, then 1.4 across the dot), while a read that skipped the
    issuing letter steps over it and the dot at once (2.8 pitches, then 1). The text alone is any fuel plate of an
    issuer D or F; with no colour only the plate's spacing tells them apart."""
    if len(text) != 7 or len(centres) != 7 or not fillable(text[:1] + MISSING + text[1:], "small_nev"):
        return False
    steps = np.diff(np.asarray(centres, float))
    pitch = float(np.median(steps[2:]))
    return pitch > 0 and (steps[0] - steps[1]) / pitch >= ISSUER_GAP


def graded(crop: np.ndarray | None) -> bool:
    """Whether the plate shows the small NEV plate's white-to-green gradient, or cannot say (clipped, too dark):
    only a measured uniform plate — a yellow or blue one under a coloured light — is no small NEV plate."""
    change = top_to_bottom(crop)
    return change is None or change >= GRADIENT_MIN


def features(text: str, centres: Sequence[float],
             crop: np.ndarray | None) -> tuple[float, float, float, float] | None:
    """``(misfit on the NEV plate's 8 slots, the spacing across the gap in pitches, the gap's stroke energy, the
    misfit on a whole blue / yellow plate's 7 slots)`` of a read with one ``?`` inside (slot 1–6: a character on
    each side), None for any other."""
    gap = text.find(MISSING)
    if len(text) != 8 or not 1 <= gap <= 6 or text.count(MISSING) != 1 or crop is None or crop.ndim != 3:
        return None
    fit = nev_fit(centres, gap)
    if fit is None:
        return None
    misfit, at = fit
    steps = np.diff(np.asarray(centres, float))  # step i: read character i to i + 1
    across = steps[gap - 1]
    dot = 1 if gap > 2 else None  # read characters 1 → 2 span the dot unless the gap is at / before it
    others = [s for i, s in enumerate(steps) if i != gap - 1 and i != dot]
    pitch = float(np.median(others))
    if pitch <= 0:
        return None
    energy = stroke_energy(crop, (*centres[:gap], at, *centres[gap:]))
    return misfit, float(across / pitch), float(energy[gap]), whole_misfit(centres)


def dot_after_two(text: str, centres: Sequence[float]) -> bool:
    """Whether a read whose first place is missing shows the separator dot after its second read character
    (``dot_steps``): two letters and five digits then are a military plate's number (white, ``GA·13189``),
    not an NEV serial whose province was not read — GA 36 puts an NEV plate's dot after its issuing letter."""
    steps = dot_steps(text, centres)
    return steps is not None and steps[1] - steps[0] >= DOT_LATER


def dot_after_one(text: str, centres: Sequence[float]) -> bool:
    """Whether a read whose first place is missing shows GA 36's dot after its first read character (the NEV plate's
    issuing letter): the step after it wider than the next by ``DOT_LATER``. A province-less NEV serial is only a
    claim of eight characters — seven read, as many as a yellow or blue plate has, whose province a cast or a small
    frame can turn into a letter (苏DLA031 read ``?FDL4031``) — and this dot is what says an eighth slot is there."""
    steps = dot_steps(text, centres)
    return steps is not None and steps[0] - steps[1] >= DOT_LATER


def dot_steps(text: str, centres: Sequence[float]) -> tuple[float, float] | None:
    """For a read whose first place is missing (``?AD12345``: seven centres), the steps from its first read
    character to the second and from the second to the third, in pitches (the median of the steps after
    them). An NEV plate without its province shows the dot after its first read character (the issuing
    letter: 52 mm pitch, 92 mm across the dot, 1.8 pitches); a plate of seven characters led by two letters
    (the military plate, ``GA·13189``) after its second. A read whose first place was read as a letter and then not
    trusted (``shape.plate_shape``: ``WAD12345`` → ``?AD12345``, a dirty province read as W) has a centre there
    too: the steps start after it. None for any other read."""
    if not text.startswith(MISSING) or text.count(MISSING) != 1 or len(centres) not in (len(text) - 1, len(text)):
        return None
    serial = centres[len(centres) - (len(text) - 1):]
    if len(serial) < 6:
        return None
    steps = np.diff(np.asarray(serial, float))
    pitch = float(np.median(steps[2:]))
    if pitch <= 0:
        return None
    return float(steps[0] / pitch), float(steps[1] / pitch)
