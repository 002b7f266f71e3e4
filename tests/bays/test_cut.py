"""A cut in the picture (``bays/cut.py``): many bays changed by a car's worth on one frame is no lot's behaviour."""

from __future__ import annotations

import pytest

from edge_agent.bays.cut import CUT_SETTLE_S, CutWatch, is_cut


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
    assert is_cut(shares(firm, slight, still)) is cut


def test_the_evidence_settles_for_a_while_after_the_last_cut() -> None:
    w = CutWatch()
    assert not w.settling(0.0)  # no cut seen
    assert not w.see(shares(2, 0, 10), 5.0) and not w.settling(5.0)
    assert w.see(shares(10, 0, 10), 100.0)
    assert w.settling(100.0) and w.settling(100.0 + CUT_SETTLE_S - 0.1)
    assert w.see(shares(10, 0, 10), 110.0)  # the jump back to live restarts it
    assert w.settling(100.0 + CUT_SETTLE_S) and not w.settling(110.0 + CUT_SETTLE_S)
    assert w.settling(float("nan"))  # a clock that says nothing: still settling
    new = CutWatch()
    new.adopt(w)  # a reload during the settling keeps it
    assert new.settling(110.0 + CUT_SETTLE_S - 0.1)
