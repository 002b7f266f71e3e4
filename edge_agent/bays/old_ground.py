"""A bay redrawn off a parked car: its arm waits until the ground the car stood on is seen empty.

The installer's Save (or a hand edit and a reload) may move a bay's outline while a car is parked in it: a
correction, a slip of the mouse, a corner dragged onto the next bay's empty ground. The bay keeps its story
(``BayMonitor.adopt``) and is then judged on the new outline. On empty ground that outline reads empty, its visit
ends (the still-bay rule waits ``still_confirm_s``, not confident), and the first thing that moved through it — a
passer-by — made the "empty" confident: the policy raised the arm under the car, which had never moved (shown on
the test lot, 2026-12-05). The arm sits where the car was, not where an outline is drawn, and only the ground the
car stood on can say it left.

So a bay whose outline changed while it held a car keeps that outline's ground (``OldGround``) and its view vouches
for no empty bay (``bay_redrawn``: the lock interlock refuses a raise, the heartbeat's ``bays_unseen`` lists it) until
that ground is seen empty as a departure is: much of it changed from its picture at the redraw (a car driving off
changes most of its ground; light and shadows over minutes change little once the scene's gain divides out), and
after that change ``confirm_frames`` readings of the classifier in a row at or below ``exit_p`` on it. The bay's
story is not touched (the outline is where the installer says the bay is); only the lock waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_agent.bays.crop import bay_crop

REDRAWN = "bay_redrawn"  # the view code while an old ground is watched (BayVision.vision, bays_unseen)
LEFT_CHANGE = 0.25  # share of the old ground that must change from its picture at the redraw: a car driving off
# changes a median 0.4-0.55 of its bay (``occupancy.FIRM_CHANGE`` is the slighter 0.1 that counts as any motion); the
# picture here is minutes to hours old, so a quarter, which a drifting shadow rarely reaches once the gain divides out
SIDE = 32  # px of the grey picture compared (the crop shrunk: a 5x5 blur's worth of detail is enough for a car)


def ground_picture(frame_bgr: np.ndarray, polygon: Sequence[tuple[float, float]]) -> np.ndarray:
    """The ground's grey picture, rectified as the classifier's crop and shrunk (float32, SIDE x SIDE)."""
    crop = bay_crop(frame_bgr, polygon)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    small = cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32)


def changed_share(cur: np.ndarray, ref: np.ndarray, threshold: float) -> float:
    """Share of the picture beyond ``threshold`` grey levels from ``ref`` once the light's gain (median ratio)
    divides out (``ChangeGate.compare`` without the sway: the pictures are minutes apart, not a frame)."""
    gain = float(np.median((cur + 1.0) / (ref + 1.0)))
    if not np.isfinite(gain) or gain <= 0:
        return 1.0
    return float(np.count_nonzero(np.abs(cur - ref * gain) > threshold)) / cur.size


@dataclass
class OldGround:
    """The outline a bay had (as drawn) when it was redrawn with a car in it, and what has been seen of it since."""

    polygon: list[tuple[float, float]]
    picture: np.ndarray | None = None  # its grey picture at the first frame the camera vouched for after the redraw
    moved: bool = False  # it has changed like a car leaving since then
    empty_reads: int = field(default=0)  # readings at or below exit_p in a row since it changed
    at_start: bool = False  # watched from the start (``BayMonitor.watch_old_ground``): no picture of the car known

    def see(self, picture: np.ndarray, p: float, exit_p: float, threshold: float, confirm: int) -> bool:
        """One look (a frame the camera vouches for): ``picture`` (``ground_picture``) and the classifier's
        ``p_occupied`` of the ground. True once the car has left it: changed, then ``confirm`` readings empty (at
        the start, the readings alone: a car parked at start is judged on its readings, as any first verdict)."""
        if self.at_start:  # what the ground showed under the car is unknown (it may have left meanwhile)
            self.moved = True
        elif self.picture is None or self.picture.shape != picture.shape:
            self.picture = picture  # the car (or what the redraw left there): what a departure changes
            return False
        if not self.moved and self.picture is not None and changed_share(picture, self.picture, threshold) >= LEFT_CHANGE:
            self.moved = True
            self.empty_reads = 0  # only readings after the change count: a misread of the still car does not
        if not self.moved:
            return False
        self.empty_reads = self.empty_reads + 1 if np.isfinite(p) and p <= exit_p else 0
        return self.empty_reads >= confirm
