"""With no colour (infrared, a monochrome camera) a visit's "not NEV" rests on the count of the plate's characters
alone. An NEV plate with one character under mud reads in most frames as a partial read that counts 8 places
(``nev_shape.empty_slot``: ``皖AD2?939``) or names a covered place (``_covered``), and in a few as a whole
7-character text (``皖AD2939``, "not NEV"): three such frames made the visit "not NEV" — an EV fined — however many
frames counted otherwise. The frames' majority decides whether the count is known."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge_agent.bays.consensus import PlateVote
from edge_agent.bays.monitor import BayMonitor
from edge_agent.perception.types import PlateRead


def _read(
    text: str, *, nev: bool | None, reason: str, complete: bool, covered: bool = False, colour: str = "unknown"
) -> PlateRead:
    return PlateRead(
        text=text,
        confidence=0.9 if complete else 0.3,
        colour=colour,
        nev=nev,
        nev_reason=reason,
        corners=((0, 0),) * 4,
        box=(0, 0, 1, 1),
        char_confidences=(0.9,) * len(text),
        complete=complete,
        extra={"covered": [4]} if covered else {},
    )


def _visit(whole: int, eight: int = 0, covered: int = 0, colour: str = "unknown", text: str = "皖AD2939"):
    vote = PlateVote()
    for _ in range(eight):
        vote.add(_read(text[:4] + "?" + text[4:], nev=None, reason="format", complete=False, colour=colour))
    for _ in range(covered):
        vote.add(
            _read(text[:4] + "?" + text[5:], nev=None, reason="conflict", complete=False, covered=True, colour=colour)
        )
    for _ in range(whole):
        vote.add(_read(text, nev=False, reason="format", complete=True, colour=colour))
    c = vote.result()
    assert c is not None and c.text == text
    return BayMonitor._verdict(SimpleNamespace(lists=None), c)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["皖AA2939", "皖A22939"])
def test_an_uncoloured_visit_whose_frames_mostly_counted_eight_places_is_undecided(text):
    """The count alone decides here: an A-series NEV plate (``皖AA22939``) or one with its energy letter covered
    (``皖AD22939``) read one short is no ``plates.SMALL_NEV_SHORT`` text, which is undecided by itself (review91: with
    ``皖AD2939`` this test passed with the count rule removed)."""
    assert _visit(whole=3, eight=12, text=text).nev is None
    assert _visit(whole=3, covered=12, text=text).nev is None
    assert _visit(whole=3, eight=2, covered=2, text=text).nev is None
    assert _visit(whole=3, text=text).nev is False  # the count uncontested: the text's "not NEV"


def test_an_uncoloured_fuel_visit_with_a_few_covered_frames_stays_not_nev():
    """The price guarded: a muddy fuel plate's few covered frames (8 of 89 in plates40's measure) leave it fined. Its
    text is no small NEV plate read one short (``皖AD2939`` is, and is undecided with no colour: plates43)."""
    assert _visit(whole=3, text="皖AM2939").nev is False
    assert _visit(whole=12, covered=3, text="皖AM2939").nev is False
    assert _visit(whole=12, eight=1, text="皖AM2939").nev is False
    assert _visit(whole=3).nev is None


def test_a_colour_the_reads_saw_settles_the_count():
    """A coloured read is judged by its colour as before: blue reads and 8-place partials are not the IR case."""
    assert _visit(whole=3, eight=12, colour="blue").nev is False
