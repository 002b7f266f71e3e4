"""The plate vote keeps running totals, not reads: it must decide exactly as the vote over every read did, and hold
no more after a day of reads than after a minute of them."""

from __future__ import annotations

import math
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.bays.consensus import PARTIAL_TEXTS_KEPT, PlateVote
from edge_agent.perception.types import PlateRead
from tests.bays.reference.listed_vote import ListedVote

TEXTS = ["京A12345", "京A12845", "京A1234", "京A12?45", "?A12345", "粤BD12345", "粤BD1?345", "粤B?12345", "WJ1693015"]


# Confidences in 1/16ths add up exactly in binary floats in any order: ties in weight are real ties, in the totals as in
# the list, and the tie-breaks (more reads, then the first seen) are checked; ``test_a_tie_...`` has the ones that are not.
SHARES = [0.25, 0.3125, 0.5, 0.625, 0.75, 0.875, 1.0]
# what a recogniser's extras may hold: the vote counts numbers (a bool is a number to Python), NaN and inf as 0.15.0 did
ODD = [0.1, 0.4, 0.7, True, False, 1, math.nan, math.inf, -math.inf, "0.4", None]


@st.composite
def plate_reads(draw: st.DrawFn) -> PlateRead:
    text = draw(st.sampled_from(TEXTS))
    conf = draw(st.sampled_from([0.2, *SHARES]))
    chars = draw(st.one_of(st.just(()), st.lists(st.sampled_from(SHARES), min_size=len(text), max_size=len(text))))
    extra: dict[str, object] = {}
    if draw(st.booleans()):
        extra["dark_chars"], extra["polarity"] = draw(st.sampled_from([True, False, 1, None])), draw(st.sampled_from(ODD))
    if draw(st.booleans()):
        extra["red_end"] = draw(st.sampled_from([0.0, 0.05, *ODD]))
    if draw(st.booleans()):
        extra["hue_blue"], extra["hue_green"] = draw(st.sampled_from([0.0, 0.19, *ODD])), draw(st.sampled_from(ODD))
    complete = "?" not in text and draw(st.sampled_from([True, True, False]))  # partial without a "?" too
    reason = draw(st.sampled_from(["colour", "format+colour", "unread", "allow_list", "conflict", ""]))
    return PlateRead(text=text, confidence=conf, nev=draw(st.sampled_from([True, False, None])),
                     colour=draw(st.sampled_from(["blue", "green", "yellow", "unknown", "", None])),
                     nev_reason=reason, corners=((0, 0),) * 4,
                     box=(0, 0, 1, 1), char_confidences=tuple(chars), complete=complete, extra=extra,
                     type_code=draw(st.sampled_from(["02", "52", "99"])))


def same(a: object, b: object) -> bool:
    """Equal, floats within rounding (a total adds its reads in another grouping than a sum over a list)."""
    if isinstance(a, float) and isinstance(b, float):  # a NaN polarity stays NaN, in both
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def fields(c: object) -> tuple[object, ...]:
    return tuple(vars(c).values()) if c is not None else ()


@settings(max_examples=400, deadline=None)
@given(st.lists(plate_reads(), max_size=40))
def test_the_totals_decide_as_the_vote_over_every_read(reads: list[PlateRead]) -> None:
    new, old = PlateVote(), ListedVote()
    for r in reads:
        assert new.add(r) == old.add(r)
        assert len(new) == len(old)
        assert same(fields(new.result()), fields(old.result())), (new.result(), old.result())
        for n in (1, 3):
            a, b = new.partial_class(n), old.partial_class(n)
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert same(fields(a[0]), fields(b[0])) and a[1] == b[1], (a, b)


def test_a_day_of_reads_holds_no_more_than_a_minute_of_them() -> None:
    """A fuel car's plate under mud parked for a day: read every 5 s, 17,280 reads. The vote kept each one (6.5 MB a
    day per bay, and redone over all of them after each); its totals stay the size of the first dozen reads."""
    muddy = PlateRead(text="京A12?45", confidence=0.9, colour="blue", nev=False, nev_reason="colour",
                      corners=((0, 0),) * 4, box=(0, 0, 1, 1), complete=False)
    whole = PlateRead(text="京A12845", confidence=0.5, colour="blue", nev=False, nev_reason="colour",
                      corners=((0, 0),) * 4, box=(0, 0, 1, 1), char_confidences=(0.5,) * 7)
    v = PlateVote()
    for _ in range(12):
        v.add(muddy), v.add(whole)
    minute = len(pickle.dumps(v))
    for _ in range(17_280):
        v.add(muddy), v.add(whole)
    assert len(pickle.dumps(v)) <= minute + 64  # a few counters' digits longer, nothing per read
    assert v.result().total_reads == 2 * 17_292 and v.partial_class(3)[0].reads == 17_292


def test_a_tie_in_weight_goes_to_more_reads_whatever_order_it_was_added_in() -> None:
    """京A12345 read once whole (0.2 on its A) and twice partly (0.4, 0.3), 京B12345 once (0.9): a tie at the A/B, which
    the more reads break. A list summed 0.2 + 0.4 + 0.3 = 0.9000000000000001; the totals 0.2 + (0.4 + 0.3) =
    0.8999999999999999, and B won by a float's last bit: another plate, another list match."""
    def plate(text: str, conf: float, chars: tuple[float, ...] = (), complete: bool = True) -> PlateRead:
        return PlateRead(text=text, confidence=conf, colour="blue", nev=None, nev_reason="colour",
                         corners=((0, 0),) * 4, box=(0, 0, 1, 1), char_confidences=chars, complete=complete)

    reads = [plate("京A12345", 0.9, (0.9, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9)), plate("京A12345", 0.4, complete=False),
             plate("京A12345", 0.3, complete=False), plate("京B12345", 0.9)]
    new, old = PlateVote(), ListedVote()
    for r in reads:
        new.add(r), old.add(r)
    assert new.result().text == old.result().text == "京A12345"


def test_a_partial_text_first_read_past_the_kept_texts_still_names_the_plate() -> None:
    """A night of noise: ``PARTIAL_TEXTS_KEPT`` different partial misreads, once each; then the plate under mud is read
    50 times. Its text came after the kept ones and was never weighed: the visit's events named the first misread."""
    def partial(text: str, conf: float) -> PlateRead:
        return PlateRead(text=text, confidence=conf, colour="blue", nev=False, nev_reason="colour",
                         corners=((0, 0),) * 4, box=(0, 0, 1, 1), complete=False)

    v = PlateVote()
    for i in range(PARTIAL_TEXTS_KEPT):
        v.add(partial(f"京A{i:04d}?", 0.35))
    for _ in range(50):
        v.add(partial("京A12?45", 0.9))
    found = v.partial_class(3)
    assert found is not None and found[0].text == "京A12?45" and found[0].total_reads == PARTIAL_TEXTS_KEPT + 50
