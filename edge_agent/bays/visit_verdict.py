"""The NEV verdict for a visit's consensus plate (text + majority colour).

Perception decides per frame; a visit re-decides once from the consensus with the same
rules (``perception.verdict.decide``), so a frame and a visit never disagree on the same
evidence. Character polarity is implied by the plate colour (Chinese plates: dark
characters on green / yellow / white, white ones on blue / black).
"""

from __future__ import annotations

from edge_agent.perception.colour import ColourResult
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.verdict import Verdict, decide

_DARK_CHAR_COLOURS = {"green", "yellow_green", "yellow", "white"}

__all__ = ["Verdict", "decide_visit"]


def decide_visit(text: str, colour: str, lists: PlateLists | None) -> Verdict:
    """Verdict for ``text`` seen (by majority) on a ``colour`` plate; the operator's lists win."""
    dark = None if colour == "unknown" else colour in _DARK_CHAR_COLOURS
    return decide(text, ColourResult(colour=colour, dark_chars=dark, confidence=1.0), lists)
