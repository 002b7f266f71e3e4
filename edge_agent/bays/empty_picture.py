"""A raise needs the bay to look as it did when it was last confidently empty: ``bay_changed``.

The occupancy classifier was trained on cars and empty bays. Anything else in a bay — a person standing or crouched,
a child, a bicycle, a cone, a box — is neither, and it reads mostly "empty": on the real PKLot frames of bays-dev,
with such things drawn into the empty bays at a camera's scale, 41–70 % of the crops read at or under ``exit_p``
(confidently empty), and a person in the rendered scene reads 0.03–0.05. The interlock then had fresh, confident
evidence of an empty bay, and the policy raised the arm under someone crouched in the bay
(``tests/locks/test_person_in_bay.py``).

So each bay keeps its **empty picture**: the change gate's picture of it (``since="empty"``, sway- and
light-tolerant like the gate), taken at a confident "empty" reading and taken again, at most every ``FOLLOW_S``,
while the bay still matches it (under ``MATCH`` of it changed: dusk, a creeping shadow). Taken at every matching
reading it followed a drop spreading over the lens step by step, and the bay wiped clean then differed from it. A bay
that differs from it by more while the classifier calls it empty holds something the classifier does not know: the
interlock refuses a raise on it (``BayVision.changed``, code ``bay_changed``) until the picture matches again (the
person walked off) or the change has stood with nothing moving in the bay for ``still_confirm_s`` (a neighbour's
car over the line, a shadow, a stain: the scene, not someone in it). A car in the bay (the verdict not "empty")
drops the picture: the next confident "empty", with nothing moving in the bay for ``SETTLE_S``, takes a new one. A
view that vouches for nothing (unmatched, a cut settling, blurred, under an on-screen clock) neither takes, follows
nor drops it: the picture and the change from it wait for a view that vouches. A picture lost while the bay
differed from it (outlines set anew, a new frame size, a shift it could not be carried over) is taken again only the
scene's way (``still_confirm_s`` with nothing moving): the person it saw is still there as far as anything knows.

Limits: what was in the bay when its picture was taken (at the start, or as the departing car's bay first read
confidently empty) is part of it; someone who stays motionless in the bay for ``still_confirm_s`` (a person sways,
and that is motion only past ``gate_fraction`` of the bay) is taken in; a person under ``MATCH`` of the bay (far off,
a small camera) is not seen. A presence sensor on the lock is the witness for those.
"""

from __future__ import annotations

import numpy as np

from edge_agent.bays.occupancy import ChangeGate, Verdict

CHANGED = "bay_changed"  # the interlock's code while a bay differs from its empty picture (BayVision.changed)
EMPTY = "empty"  # the change gate's key for it (carried through camera shifts and reloads: CARRIED_KEPT)
MATCH = 0.01  # share of a bay that may differ from its empty picture: a person is 2-5 % of a bay, a car 40-55 %
SETTLE_S = 3.0  # a first empty picture waits for the bay at rest this long: a departing car's tail is no empty bay
FOLLOW_S = 60.0  # the empty picture is taken again at most this often (while the bay matches it): light and shadows
#                  creep slower, a drop spreading on the lens or someone edging in does not


class EmptyPictures:
    """Per bay: its empty picture in ``gate`` and since when the bay has differed from it (``changed``)."""

    def __init__(self, gate: ChangeGate) -> None:
        self.gate = gate
        self._since: dict[str, float] = {}  # bay → when it first differed from its empty picture, this time
        self._taken: dict[str, float] = {}  # bay → when its empty picture was taken

    def see(self, grey: np.ndarray, bay: str, verdict: Verdict | None, now: float, moved_at: float,
            still_s: float) -> None:
        """One classification of ``bay`` on the working copy ``grey`` (before the gate's ``classified`` reset).
        ``verdict`` None: the bay's view vouches for nothing now (unmatched, a cut settling, blurred, under an
        on-screen clock…): what it shows is no picture of the bay to keep or to judge, and the picture and the change
        from it are held as they are, as through a blind camera. Dropped (until review31), the next confident
        "empty" 3 s later took a new one with whatever stood in the bay then: one second of a view too dark to
        match made someone crouched there part of the empty bay, and the arm rose over them. ``moved_at``: when
        something last moved in the bay (the gate opened); ``still_s``: ``still_confirm_s``."""
        if verdict is None:
            return
        if verdict.occupied is not False:
            self.gate.forget(bay, EMPTY)  # a car: its departure takes a new picture
            self._since.pop(bay, None)
            return
        if not self.gate.has(bay, EMPTY):
            if bay in self._since:  # lost while the bay differed from it (a camera shift it could not be carried
                self._still(grey, bay, now, moved_at, still_s)  # over, a reload, a new frame size): the scene's way
            elif verdict.confident and now - moved_at >= SETTLE_S:
                self._take(grey, bay, now)
            return
        if self.gate.compare(grey, bay, EMPTY)[0] < MATCH:
            self._since.pop(bay, None)
            if not now - self._taken.get(bay, float("-inf")) < FOLLOW_S:
                self._take(grey, bay, now)  # the bay as it is: light and shadows creep
            return
        self._since.setdefault(bay, now)
        self._still(grey, bay, now, moved_at, still_s)

    def _still(self, grey: np.ndarray, bay: str, now: float, moved_at: float, still_s: float) -> None:
        """The change has stood ``still_s`` with nothing moving in the bay: it is the scene, taken as the picture."""
        if now - self._since[bay] >= still_s and now - moved_at >= still_s:
            self._take(grey, bay, now)
            self._since.pop(bay, None)

    def _take(self, grey: np.ndarray, bay: str, now: float) -> None:
        self.gate.reset(grey, bay, EMPTY)
        self._taken[bay] = now

    def changed(self) -> set[str]:
        """The bays that differ from their empty picture now."""
        return set(self._since)

    def adopt(self, old: EmptyPictures, kept: set[str]) -> None:
        """A reload: every bay that keeps its id (``kept``) keeps when its empty picture was taken and when it began
        to differ from it; the pictures come over with the gate's references (pixel for pixel, or carried onto a
        redrawn outline: ``ChangeGate.adopt``). Why the redrawn: dropped with the picture, the next confident "empty"
        took in the person who stood in the bay at the Save, and the arm rose over them (review31)."""
        self._since = {b: t for b, t in old._since.items() if b in kept}
        self._taken = {b: t for b, t in old._taken.items() if b in kept}
