"""A cut in the picture (``bays/cut.py``): many bays leaping from stillness to a car's worth of change on one frame is
no lot's behaviour."""

from __future__ import annotations

import pytest

from edge_agent.bays.cut import CUT_SETTLE_S, CutWatch, is_cut, leaps


def shares(firm: int, slight: int, still: int) -> dict[str, float]:
    """Bays changed by a car's worth (0.45), slightly (0.05: a shadow's edge) and not at all."""
    values = [0.45] * firm + [0.05] * slight + [0.0] * still
    return {f"B{i:02d}": v for i, v in enumerate(values)}


@pytest.mark.parametrize(("firm", "slight", "still", "cut"), [
    (22, 9, 12, True),  # the probe's replayed buffer: 22 of 43 bays at once
    (15, 0, 28, True),  # a third of them
    (14, 0, 29, False),  # under a third: a busy moment of a big lot
    (7, 10, 26, False),  # the most the live-like PKLot clips showed at once
    (2, 0, 0, False),  # two cars leaving together is never a cut, however few bays are compared
    (3, 0, 1, True),
    (0, 43, 0, False),  # slight changes everywhere (the light, a sway): no car's worth anywhere
    (0, 0, 0, False),  # nothing compared (the first frame)
])
def test_a_cut_is_many_bays_changed_by_a_cars_worth_at_once(firm: int, slight: int, still: int, cut: bool) -> None:
    changes = shares(firm, slight, still)
    assert is_cut(changes, set(changes)) is cut  # every bay still before the frame


def test_only_bays_that_leapt_out_of_stillness_count() -> None:
    """Cars pulling in together (or one along a row) change a car's worth of several bays on one frame too, but each
    bay moved on the frames before as the car came in: on a camera over 3 bays that was a cut (probe cutsmall28)."""
    three = shares(3, 0, 0)
    assert is_cut(three, set(three))  # a picture that jumped: all three were still
    assert not is_cut(three, {"B00", "B01"})  # one of them moved in the second before: a car driving in
    assert not is_cut(three, set())
    assert leaps(three, {"B00", "B05"}) == 1  # a still bay that did not change is no leap
    big = shares(22, 9, 12)  # a replayed buffer on a 43-bay view...
    assert is_cut(big, set(big) - {"B00", "B01", "B02", "B03", "B04", "B05", "B06"})  # ...7 of its bays busy: 15 left
    assert not is_cut(big, set(big) - {f"B{i:02d}" for i in range(8)})  # 14 of 43 leapt: under a third


def test_the_evidence_settles_for_a_while_after_the_last_cut() -> None:
    w = CutWatch()
    assert not w.settling(0.0)  # no cut seen
    every = set(shares(10, 0, 10))
    assert not w.see(shares(2, 0, 10), every, 5.0) and not w.settling(5.0)
    assert not w.see(shares(10, 0, 10), set(), 50.0) and not w.settling(50.0)  # all had moved before: traffic
    assert w.see(shares(10, 0, 10), every, 100.0)
    assert w.settling(100.0) and w.settling(100.0 + CUT_SETTLE_S - 0.1)
    assert w.see(shares(10, 0, 10), every, 110.0)  # the jump back to live restarts it
    assert w.settling(100.0 + CUT_SETTLE_S) and not w.settling(110.0 + CUT_SETTLE_S)
    assert w.settling(float("nan"))  # a clock that says nothing: still settling
    new = CutWatch()
    new.adopt(w)  # a reload during the settling keeps it
    assert new.settling(110.0 + CUT_SETTLE_S - 0.1)


def test_a_leap_far_past_the_weathers_stir_counts() -> None:
    """In rain, snow, a flickering lamp or night noise the gate opens on most bays every frame: none is still, and a
    replayed buffer was no cut (probe review28: the 2013-03-19 NVR replay painted with heavy rain, 11 of 43 bays
    still, 7 leapt). A bay that changed ``CUT_LEAP`` times its largest change of the second before leapt too."""
    jump = shares(22, 0, 21)  # a replayed buffer: 22 of 43 bays change by a car's worth
    wet = dict.fromkeys(jump, 0.06)  # the rain's stir on each bay's frames in the second before
    assert not is_cut(jump, set())  # no bay still: missed
    assert is_cut(jump, set(), wet)  # each changed 0.45 against 0.06: a leap
    driving = dict.fromkeys(jump, 0.2)  # cars driving in: as much change on the frames before
    assert not is_cut(jump, set(), driving)
    assert leaps({"B00": 0.4, "B01": 0.4}, set(), {"B00": 0.1, "B01": 0.11}) == 1  # 4x: the leap's least
