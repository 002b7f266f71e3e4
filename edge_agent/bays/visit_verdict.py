"""The NEV verdict for a visit's consensus plate (text + majority colour + measured polarity).

Perception decides per frame; a visit re-decides once from the consensus with the same
rules (``perception.verdict.decide``), so a frame and a visit never disagree on the same
evidence. Character polarity follows from the plate colour (Chinese plates: dark characters on
green / yellow / white, white ones on blue / black) — unless the reads measured otherwise: a
camera on the wrong white-balance preset turns a green plate blue while its characters stay
dark. Then a "not NEV" is judged again with the measured polarity, and where the two disagree the
visit is undecided, not fined. The other way round, an NEV verdict on a plate whose reads measured white
characters (a blue plate under a green light with a character too many read into an NEV serial: every frame
undecided) is judged again too, and is undecided where the measured polarity does not give NEV. Green is the one colour GA 36 gives both polarities: dark characters
on NEV plates, white ones on civil-aviation and agricultural plates (the green traps). Implying dark
there left a clearly read 民航 plate undecided for ever (an ``unidentified`` violation, where every
frame said "not NEV"), so on green an undecided visit whose text is one of those kinds is judged
again with the measured white characters.
White implies dark characters too, and dark ones on no hue under a 7-character civil text are undecided
(``verdict``); a white civil visit whose reads clearly measured white characters (a blue plate bleached white, "not
NEV" in each frame) is judged again with them.
"""

from __future__ import annotations

from dataclasses import replace

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.verdict import WHITE_ON_GREEN, Verdict, decide

_DARK_CHAR_COLOURS = {"green", "yellow_green", "yellow", "white"}
_GREENS = ("green", "yellow_green")
_CIVIL = ("small", "large")  # 7-character ordinary texts (``verdict``: dark characters on no hue under one: undecided)
# White characters a visit's reads must have measured (pooled strength, ``Consensus.polarity``) before they take an NEV
# verdict away: white energy at least 1.5 times the dark one. Blur at a bay camera's size makes a dark-character NEV
# plate measure "white" (rendered ≤ 0.16; plates-dev's 皖AD00518 at 50–80 px under σ 0.8–1.5 blur: 0.075 pooled over
# five reads), and an EV's visit left undecided ends an ``unidentified`` violation; a blue plate bleached or lit green
# with white characters measured 0.29–0.36 (clean white-on-green plates 0.37–0.49).
WHITE_OVER_BLUR = 0.2

__all__ = ["Verdict", "decide_visit"]


def decide_visit(text: str, colour: str, lists: PlateLists | None, dark_chars: bool | None = None,
                 polarity: float | None = None, red_end: float | None = None, uncounted: bool = False,
                 hue: tuple[float, float] | None = None) -> Verdict:
    """Verdict for ``text`` seen (by majority) on a ``colour`` plate; the operator's lists win.

    ``dark_chars`` / ``polarity``: what the reads of that colour measured (``Consensus``). They
    only ever turn a verdict into doubt: a "not NEV" — the verdict that fines — where the measured
    polarity does not give it, and an NEV one where the reads measured white characters on a
    green or white plate stronger than blur fakes (``WHITE_OVER_BLUR``); never anything into NEV (the visit
    has no hue shares to tell an over-exposed cyan "blue" apart).
    ``red_end``: the red strokes the reads measured at the plate's end (警 / 应急): with an NEV text,
    what the frames judged undecided stays so (a small emergency plate read as an NEV serial).
    ``uncounted``: with no colour, most frames counted other places than ``text`` has (``Consensus.uncounted``: an
    NEV plate with a character covered, read whole in a few frames as 7 characters) — its "not NEV" is undecided.
    ``hue``: the reads' blue and green shares (``Consensus.hue``): a white plate showing blue and no green is a blue
    plate bleached, no NEV by its format (``verdict.HUE_EVIDENCE``; review81: the visit was NEV, its frames undecided)."""
    implied = None if colour == "unknown" else colour in _DARK_CHAR_COLOURS
    red = {} if red_end is None else {"red_end": red_end}
    if hue is not None:
        red.update(blue=hue[0], green=hue[1])
    v = decide(text, ColourResult(colour=colour, dark_chars=implied, scores=red, confidence=1.0), lists)
    if uncounted and colour == "unknown" and v.nev is False and not v.reason.endswith("_list"):
        return replace(v, nev=None, reason="conflict")
    if v.nev is None and colour in _GREENS and dark_chars is False:
        white = decide(text, _measured(colour, False, polarity, red), lists)
        # only a text of a white-on-green kind: an NEV plate read without its energy letter (粤B12345) with
        # its polarity mismeasured stays in doubt, as before
        return white if white.nev is False and white.kind in WHITE_ON_GREEN else v
    if v.nev is True and dark_chars is False and implied is True and (polarity or 0.0) >= WHITE_OVER_BLUR \
            and not v.reason.endswith("_list"):
        # GA 36 prints an NEV plate's characters black: white ones measured on the plate are a blue plate
        # under a green or cyan light, a faded one gone cyan, or a civil-aviation / agricultural plate — with an
        # NEV text (a character too many, read the same in every frame: a screw, the frame's edge) the colour
        # and the ink disagree, and every frame said so (undecided, or "not NEV" on clearly white ones): the
        # visit is undecided too, never NEV. White weaker than ``WHITE_OVER_BLUR`` is what blur makes of black strokes
        # on a small plate (each frame undecided, the visit NEV: the format and the colour agree, as before)
        measured = decide(text, _measured(colour, False, polarity, red), lists)
        return v if measured.nev is True else replace(v, nev=None, reason="conflict")
    if v.nev is None and v.reason == "conflict" and v.kind in _CIVIL and colour == "white" and dark_chars is False \
            and (polarity or 0.0) >= WHITE_OVER_BLUR:
        # "white" implies dark characters, and dark ones on no hue under a civil text are undecided (``verdict``: a
        # washed-out yellow plate or the palest NEV plate read one short); white ones clearly measured — stronger than
        # blur fakes — are a blue plate bleached, "not NEV" in each frame: the visit judges them as its frames did
        # (review70: it was undecided, where every frame had fined it)
        measured = decide(text, _measured(colour, False, polarity, red), lists)
        return measured if measured.nev is False else v
    if v.nev is not False or dark_chars is None or implied is None or dark_chars == implied \
            or v.reason.endswith("_list"):
        return v
    measured = decide(text, _measured(colour, dark_chars, polarity, red), lists)
    if measured.nev == v.nev:
        return v
    return measured if measured.nev is None else replace(v, nev=None, reason="conflict")


def _measured(colour: str, dark_chars: bool, polarity: float | None, red: dict[str, float]) -> ColourResult:
    scores = dict(red, cyan=0.0) if polarity is None else dict(red, cyan=0.0, polarity=polarity)
    return ColourResult(colour=colour, dark_chars=dark_chars, scores=scores, confidence=1.0)
