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
that ground is seen empty as a departure is: ``confirm_frames`` readings of the classifier in a row at or below
``exit_p`` on it, each while much of it differs from its picture with the car (a car driving off changes most of its
ground; light and shadows over minutes change little once the scene's gain divides out). Each outline that held a
car at a redraw is watched (a second Save may drag the outline off another car that parked in the first one's). The bay's
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
SEEN_PARKED_S = 30.0  # an unbroken run of "occupied" readings this long is a car come to rest (``Unplaced``): a
# passer-by or someone standing at the kerb for a few seconds is not; a car parked there holds for minutes
SIDE = 32  # px of the grey picture compared (the crop shrunk: a 5x5 blur's worth of detail is enough for a car)


def held(since: float | None, now: float, settle_s: float) -> bool:
    """Whether a presence sensor's unbroken run of "vehicle" readings begun ``since`` has lasted ``settle_s``: a car
    come to rest in its beam (as the camera's ``SEEN_PARKED_S``), not a passer-by crossing it."""
    return since is not None and now - since >= settle_s - 1e-6


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
    picture: np.ndarray | None = None  # its grey picture with the car: the last frame seen before the redraw (or,
    # when the camera vouched for none then, the first it vouches for after it)
    empty_reads: int = field(default=0)  # readings at or below exit_p in a row, each on ground changed from picture
    at_start: bool = False  # watched from the start (``BayMonitor.watch_old_ground``): no picture of the car known
    # watched from the start: a car not yet seen on it in this run (its readings "empty" do not count until then).
    # Why: a drop on a lens wet at the start reads the still car surely empty, and with no picture of the car those
    # readings alone let the ground go; the arm rose under the car (probe review87, as probe wetstart's restart)
    car: Unplaced | None = None

    def changed(self, picture: np.ndarray, threshold: float) -> bool:
        """Whether ``picture`` (``ground_picture``, a frame the camera vouches for) differs from the ground's
        picture with the car beyond ``LEFT_CHANGE`` (``threshold``: grey levels). The first look with no picture yet
        takes it (False). Watched from the start, every look counts as changed: what the ground showed under the
        car is unknown (it may have left while the agent was stopped), so the readings alone judge it, once a car
        has been seen on it in this run (``car``)."""
        if self.at_start:
            return True
        if self.picture is None or self.picture.shape != picture.shape:
            self.picture = picture  # the car (or what the redraw left there): what a departure changes
            return False
        return changed_share(picture, self.picture, threshold) >= LEFT_CHANGE

    def read(self, changed: bool, p: float, exit_p: float, confirm: int) -> bool:
        """One look: ``changed`` (``changed``) and the classifier's ``p_occupied`` of the ground (NaN: not read).
        True once the car has left it: ``confirm`` readings empty in a row, each on ground changed from its picture
        at the redraw. Only such readings count: a change once seen was kept for good (2026-12-05), so a shadow that
        crossed the ground and left it as it was made two misreads of the still car enough, and the arm rose under
        it. (Ground that has not changed is therefore not classified at all: the cost while the car stands is
        the small grey picture.)"""
        self.empty_reads = self.empty_reads + 1 if changed and np.isfinite(p) and p <= exit_p else 0
        return self.empty_reads >= confirm


@dataclass
class Unplaced:
    """A bay that held a car (or waited for an old ground) when the installer saved its outline over a view whose
    relation to the old one is unknown (one matching no reference, another frame size over a moved view): where the
    car stands on the new view is unknown, so neither its old outline nor its new one can say it left. The lock
    waits (``bay_redrawn``) until a car is seen on the new outline: ``confirm_frames`` readings in a row at or above
    ``enter_p``, spanning ``SEEN_PARKED_S`` (or ``arrival_confirm_s`` if longer: a car come to rest, not a
    passer-by), on frames the camera vouches for. Then the bay is an occupied bay as any other: its departure is
    witnessed on the outline that covers the car, as every departure is. An outline left off the car reads empty
    and keeps waiting: the car leaving it is never seen. Why: such a Save left the outline on the asphalt beside the car, the bay read free and the arm rose
    under the car 23 s later (probe review14)."""

    since: float | None = None  # the first reading of the unbroken run at or above enter_p
    reads: int = 0
    at_start: bool = False  # the last run left a car there (``BayMonitor.left_by_last_run``): the outline is the
    # car's, so the camera's "empty" there is a witness and a healthy presence sensor's "clear" a second (``cleared``)
    clear_since: float | None = None  # the first of the unbroken run of "empty" readings with the sensor clear
    clear_reads: int = 0
    # (``at_start``) the bay's presence sensor reported the car waited for: in the last run (``outlines.json``
    # ``sensed``) or in this one. Only then is its "clear" a witness (``cleared``)
    sensed: bool = False
    visit: str | None = None  # the last run's visit whose car it waits for, where known (the record's key)
    vehicle_since: float | None = None  # the first of the unbroken run of "vehicle" readings during the wait

    def read(self, p: float, now: float, enter_p: float, confirm: int, settle_s: float) -> bool:
        """One fresh reading ``p`` of the bay's outline (NaN: not read, breaks the run). True once a car is seen."""
        if np.isfinite(p) and p >= enter_p:
            self.since = now if self.since is None else self.since
            self.reads += 1
        else:
            self.since, self.reads = None, 0
        return self.since is not None and self.reads >= confirm and now - self.since >= settle_s - 1e-6

    def cleared(self, p: float, sensor: bool | None, now: float, exit_p: float, confirm: int, settle_s: float) -> bool:
        """(A wait the last run left, ``at_start``.) One fresh reading ``p`` of the outline and the bay's presence
        sensor (True vehicle, False clear, None none or unhealthy). True once both have said "no car" together,
        ``confirm`` readings in a row spanning ``settle_s``: two independent witnesses, as every raise needs. Why:
        the wait is for a still car a lens wet at the start reads surely empty; a car over the arm is in the sensor's
        beam, and waiting for the next car to come and go left a bay the car had left during the stop closed for
        hours (probe locks41). A Save's wait is not ended so: its outline may lie beside the car. Nor one whose car the
        sensor never reported (``sensed``): off its beam (a motorbike, a low or off-centre car) its "clear" says
        nothing of that car, and under an untold drop it was the only witness: the arm rose under the car (probe
        locks42). A "vehicle" now for ``settle_s`` in a row (the car still over the arm) makes its later "clear" a
        witness; a blip of one (someone walking through the beam) does not: it made one until probe review97, and the
        arm rose under a car off the beam."""
        self.vehicle_since = (now if self.vehicle_since is None else self.vehicle_since) if sensor is True else None
        self.sensed = self.sensed or held(self.vehicle_since, now, settle_s)
        if self.at_start and self.sensed and sensor is False and np.isfinite(p) and p <= exit_p:
            self.clear_since = now if self.clear_since is None else self.clear_since
            self.clear_reads += 1
        else:
            self.clear_since, self.clear_reads = None, 0
        return (
            self.clear_since is not None and self.clear_reads >= confirm and now - self.clear_since >= settle_s - 1e-6
        )
