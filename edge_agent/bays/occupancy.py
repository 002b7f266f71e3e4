"""Is a vehicle in the bay? A per-bay classifier's p_occupied with enter / exit hysteresis,
fused with plate reads and an optional presence sensor.

No reference picture decides anything: a car parked when the agent starts is a car. The only
image-difference left is ``ChangeGate``, a cheap test of *when* to run the classifier again
(it compares a bay with itself as the classifier last saw it), so an idle camera costs a
resize and a few array operations per frame, plus one classification per bay every
``classify_every_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from edge_agent.bays.geometry import BayShape
from edge_agent.config.bays import OccupancyConfig

PresenceSensor = Callable[[], "bool | None"]  # True: something over the lock; None: sensor unhealthy

WORK_WIDTH = 320
MIN_MASK_PX = 20  # a bay covering fewer working pixels than this cannot be judged at all
MIN_MASK_SHARE = 0.5  # under this share of its polygon inside the frame, a bay is mostly unseen
MOTION_LEAD_S = 2.0  # motion this long before the verdict's last backing still counts (one slow classification)
MOTION_GAIN = 1.15  # a bay this much brighter or darker than the scene within one classification interval
# moved (a dark car arriving whole between two frames looks like shade to the light-compensated gate)
FIRM_CHANGE = 0.1  # share of a bay that changed like a car coming or going (its true changes: median 0.4-0.55)
SURE_P = 0.8  # a reading this far past 0.5 (≥ 0.8, ≤ 0.2) may change a verdict on a slighter motion
LIGHT_STEP = 4  # every 4th working pixel outside the bays tracks the scene's light (~3.6k of 320x180)
MIN_BACKGROUND_SHARE = 0.1  # less of the frame outside the bays (a mosaic, a tight top-down view): use it all
SWAY_PX = 0.5  # working-copy pixels (2 px of a 1280-px frame) a reference may sit off: a mast swaying in the wind
CONTRAST_REF = 14.0  # grey spread (std) of the view along a bay's rows that ``gate_threshold`` is meant for: clear
# daylight (the PKLot, CNRPark and NORPark views all show ≥ 14.3); fog, dusk or a dirty dome scale every difference
MIN_GATE_SCALE = 1 / 3  # the threshold never falls below a third of itself (6 grey levels: over 10x the blurred
# working copy's sensor noise), however flat the view
# kept pictures ``follow`` carries onto the moved outlines and a reload takes over (bays.cut, bays.empty_picture, and
# the still-bay rule's picture of a bay before what moved in it: ``BayMonitor._left_changed``)
CARRIED_KEPT = ("cut", "empty", "rest")
REDRAWN_KEPT = ("empty",)  # kept pictures a reload carries onto a redrawn outline (bays.empty_picture)
CARRY_MIN = 0.9  # …where the old outline showed at least this share of the new one (else no picture: nothing said)


class OccupancyClassifier(Protocol):
    """What the bays stage needs from the classifier (``edge_agent.bays.classifier.BayClassifier``)."""

    def classify(self, frame_bgr: np.ndarray, polygons: Mapping[str, Sequence[tuple[float, float]]],
                 unseen: dict[str, str] | None = None) -> dict[str, float]: ...


@dataclass(frozen=True)
class Verdict:
    """One bay's camera verdict after hysteresis.

    ``occupied`` is None until the classifier has decided once; ``confident`` only while the
    latest p agrees with the verdict beyond its threshold (not in the band between).
    """

    occupied: bool | None = None
    p_occupied: float | None = None
    measured_at: float | None = None  # monotonic time of the last classification
    confident: bool = False
    # with a site calibration (``bays.calibration``), the shipped head's p of the same reading; None without one (then
    # p_occupied is the shipped head's). The verdict is the site head's; the lock's raise asks both (``bays.vision``)
    p_shipped: float | None = None
    # with a site calibration, the shipped head's own verdict (its readings through the same hysteresis, motion and
    # still-bay rules) is a confident "empty" now: what an uncalibrated agent would take as evidence of an empty bay
    shipped_empty: bool = False
    shipped_occupied: bool = False  # …and its own verdict is "occupied": a car in the bay too (``BayMonitor._holds``)


class Hysteresis:
    """Enter at p ≥ enter_p, exit at p ≤ exit_p, each held for ``confirm_frames`` classifications.

    A vehicle cannot come or go without something moving in the bay. So once the verdict is set,
    a change of it also needs motion in the bay (``moved_at``: the change gate opened) since the
    classifier last backed the old verdict; without any, the new reading is the light changing on
    what was there (a shadow crossing a stain, dusk on a car), and it must last
    ``still_confirm_s`` to count. Until then the verdict holds, but not confidently (the lock
    interlock refuses to raise on it). A car coming or going changes much of its bay: a slight change
    (under ``FIRM_CHANGE`` of it, or its light alone) backs only a reading beyond ``SURE_P``. The
    first verdict needs no motion: a car parked at start is a car. A car that "left" without moving
    is doubt even after that wait: an empty verdict reached so stays not confident until something
    moves in the bay.

    The band between exit_p and enter_p is doubt, and doubt must not freeze a verdict for ever:
    a car drives off and its empty bay reads 0.4 (a stain, a shadow) for the rest of the day, and
    the bay stayed "occupied" — no departure, no later visit, an unidentified violation on bare
    asphalt. Readings that stay below the band's midpoint for ``doubt_confirm_s`` (with the motion
    rule above) turn an "occupied" verdict "empty", not confidently: the classifier's own lean, held
    that long, is the best evidence there is, and the interlock still wants a confident one. Only
    that way: doubt may end a visit (nothing rises, nothing is fined on it), never start one — a
    stain read at 0.6 all day would be an "unidentified" violation on an empty bay; a car the model
    is unsure of still comes in on its plate reads or a presence sensor.
    Such a verdict turns confident only as a change to it would be confirmed (``confirm_frames``
    readings in a row past the threshold): one stray reading past exit_p must not raise a lock.
    """

    def __init__(self, cfg: OccupancyConfig, judges_shipped: bool = True) -> None:
        self.cfg = cfg
        self.verdict = Verdict()
        self._judges_shipped = judges_shipped  # False: this is the shipped head's own (``_judge_shipped``)
        self._up = self._down = 0
        self._streak_since: float | None = None  # when the readings began to contradict the verdict
        self._backed_at: float | None = None  # when a reading last backed the verdict confidently
        self._still_empty_at: float | None = None  # when "empty" was reached with nothing moving (doubt)
        self._lean_since: float | None = None  # when the readings began to lean "empty" against "occupied"
        self._lean_n = 0  # readings in that lean
        self._doubted = False  # the verdict was reached on doubt and no confirmed streak has backed it yet
        self._blind = False  # the camera does not vouch for the outline now (``unvouched``)
        self._held: bool | None = None  # the verdict when it stopped vouching
        self._blind_readings = 0  # readings made since (on ground the outline may not cover)
        self._vouched_at: float | None = None  # when it last vouched again: motion then is the view's, not a car's
        self._car_left_here = False  # the last run left a car here and this run has made no verdict yet (``car_left``)
        # with a site calibration, the shipped head's readings through their own hysteresis (``shipped_empty``): one
        # stray reading of the shipped head at most exit_p beside its confirmed "occupied" vouched for a raise
        # (review72). Told what the verdict is told (``car_left``, ``unvouched``, ``vouched``, ``no_motion_until``)
        self._shipped: Hysteresis | None = None
        self._cut_held: bool | None = None  # the verdict as a cut in the picture began (``cut_began``)

    @property
    def unsettled(self) -> bool:
        """A change of verdict has begun but is not confirmed yet (classify the next frame too)."""
        occupied = self.verdict.occupied
        need = self.cfg.confirm_frames
        return (0 < self._up < need and occupied is not True) or (0 < self._down < need and occupied is not False)

    @property
    def held(self) -> bool:
        """The readings contradict the verdict, confirmed, but nothing moved in the bay: waiting
        ``still_confirm_s`` before believing them."""
        occupied = self.verdict.occupied
        need = self.cfg.confirm_frames
        return (self._up >= need and occupied is False) or (self._down >= need and occupied is True)

    @property
    def still_since(self) -> float | None:
        """When the verdict went "empty" with nothing seen to leave (the still-bay rule's doubt), or None."""
        return self._still_empty_at

    @property
    def in_still_doubt(self) -> bool:
        """This verdict, or with a site calibration the shipped head's own (``shipped_empty``, which a raise asks
        too), is in the still-bay rule's doubt. Why: only the site head's was compared across a passer-by, and the
        shipped head's doubt ended on any motion in the bay (review88)."""
        return self._still_empty_at is not None or (self._shipped is not None and self._shipped.in_still_doubt)

    def update(self, p: float, now: float, moved_at: float | None = None,
               slight_moved_at: float | None = None, p_shipped: float | None = None,
               left_changed: bool | None = None) -> Verdict:
        """One classification at monotonic ``now``. ``moved_at``: when the bay last changed
        (``ChangeGate``), -inf if never; None: motion is not tracked, and confirmation alone
        changes the verdict. ``slight_moved_at``: when it last changed at all (``moved_at`` then
        counts only a change of ``FIRM_CHANGE`` of it): a slight change — a shadow's edge, a
        neighbour's bumper, the light alone — backs a reading the classifier is sure of (beyond
        ``SURE_P``), not one just past a threshold, which is then light on still pixels. ``p_shipped``:
        the shipped head's p of the same crop where ``p`` is a site calibration's: kept in the verdict, and judged
        by a hysteresis of its own whose confident "empty" is ``Verdict.shipped_empty``.
        ``left_changed``: whether the bay, at rest, has differed by a car's worth from its picture before what moved
        in it for ``still_confirm_s`` (``BayMonitor._left_changed``; None: not known): only then does motion end the
        still-bay rule's doubt (``still_since``). Why: a car
        passing along the row crossed a parked car's bay whose reading a drop on the lens had faded, the bay was as
        before, and that motion made "empty" confident: the arm rose under the car (probe wet100)."""
        shipped = self._judge_shipped(p, p_shipped, now, moved_at, slight_moved_at, left_changed)
        if slight_moved_at is not None and moved_at is not None and abs(p - 0.5) >= SURE_P - 0.5:
            moved_at = max(moved_at, slight_moved_at)
        c = self.cfg
        self._blind_readings += self._blind
        if not np.isfinite(p):  # a broken model output is doubt, never a verdict
            self._up = self._down = 0
            self._streak_since = self._lean_since = None
            self._lean_n = 0
            self.verdict = Verdict(self.verdict.occupied, None, now, False)
            return self.verdict
        self._up = self._up + 1 if p >= c.enter_p else 0
        self._down = self._down + 1 if p <= c.exit_p else 0
        occupied = self.verdict.occupied
        against = (self._up > 0 and occupied is False) or (self._down > 0 and occupied is True)
        if not against:
            self._streak_since = None
        elif self._streak_since is None:
            self._streak_since = now
        if occupied is True and p < c.leans_empty_below:  # only that way: doubt ends a visit, never starts one
            self._lean_n += 1
            if self._lean_since is None:
                self._lean_since = now
        else:
            self._lean_since, self._lean_n = None, 0
        flip: bool | None = None
        since = self._streak_since
        if self._up >= c.confirm_frames:
            flip = True
        elif self._down >= c.confirm_frames:
            flip = False
        elif self._leaned_long(now):
            flip, since = not occupied, self._lean_since
        by_doubt = flip is not None and self._up < c.confirm_frames and self._down < c.confirm_frames
        if flip is False and moved_at is not None and self._vouched_at is not None and moved_at <= self._vouched_at:
            moved_at = float("-inf")  # the view's return (``vouched``) is no car leaving
        if flip is not None and occupied is not None and flip != occupied:
            if not self._may_change(now, moved_at, since, flip, by_doubt):
                flip = None
            elif flip is False and c.still_confirm_s > 0 and not self._moved_since_backed(moved_at):
                self._still_empty_at = now
        if flip is False and occupied is None and self._car_left_here and c.still_confirm_s > 0:
            self._still_empty_at = now  # the first verdict, over the car the last run left: nothing seen to leave
        if flip is not None:
            if flip != occupied:
                self._lean_since, self._lean_n = None, 0
                self._doubted = by_doubt
            occupied = flip
            self._car_left_here = False
        if occupied is not False or (moved_at is not None and self._still_empty_at is not None
                                     and moved_at > self._still_empty_at and left_changed is not False):
            self._still_empty_at = None
        # a verdict reached on doubt is backed as a change to it would be confirmed: confirm_frames readings in a
        # row past the threshold, not one stray reading (else the doubt rule would lower what a raise needs)
        streak = self._up if occupied is True else self._down
        confident = (((occupied is True and p >= c.enter_p)
                      or (occupied is False and p <= c.exit_p and self._still_empty_at is None))
                     and (not self._doubted or streak >= c.confirm_frames))
        if confident:
            self._doubted = False
            self._backed_at = now
            self._streak_since = None
        self.verdict = Verdict(occupied, float(p), now, bool(confident),
                               None if p_shipped is None else float(p_shipped),
                               shipped is not None and shipped.occupied is False and shipped.confident,
                               shipped is not None and shipped.occupied is True)
        return self.verdict

    def _judge_shipped(self, p: float, p_shipped: float | None, now: float, moved_at: float | None,
                       slight_moved_at: float | None, left_changed: bool | None = None) -> Verdict | None:
        """The shipped head's own verdict after this reading (``update``'s arguments; None: not judged). A
        reading without the shipped head's p where ``p`` is one (no calibration now) forgets its readings, so a
        calibration put in use again starts from none; a NaN (nothing seen) is doubt to both.

        The calibration gone (set aside by a reload, or taken out), the shipped head's own judgement becomes the
        verdict's: what an uncalibrated agent holds. Why: the site head's verdict, backed by its readings, stayed;
        a parked car it read empty while the shipped head held "occupied" was then confidently empty on one stray
        shipped reading at exit_p, and a lock rose over it (review72's fault, through a reload)."""
        if not self._judges_shipped or (p_shipped is None and np.isfinite(p)):
            if self._shipped is not None and self._shipped.verdict.occupied is not None:
                self._take_over(self._shipped)
            self._shipped = None
            return None
        if self._shipped is None:
            self._shipped = Hysteresis(self.cfg, judges_shipped=False)
        return self._shipped.update(float("nan") if p_shipped is None else p_shipped, now, moved_at, slight_moved_at,
                                   left_changed=left_changed)

    def _take_over(self, other: Hysteresis) -> None:
        """(``_judge_shipped``.) ``other``'s readings, verdict and timers become this one's (its thresholds kept)."""
        for name, value in vars(other).items():
            if name not in ("cfg", "_judges_shipped", "_shipped"):
                setattr(self, name, value)

    def car_left(self) -> None:
        """(At the start, before any verdict.) The last run left a car in the bay: a first verdict "empty" is then
        reached with nothing seen moving (``still_confirm_s`` > 0), confident only once something moves in the bay.
        Why: the start knows the bay by its readings alone, and its first verdict needs no motion; a still parked car
        the model had come to read empty (dusk: held, not confident, by the still-bay rule for as long as the last
        run ran) was confidently empty two readings after a restart, and the policy raised the arm under it 20 s
        later (probe raise27). A car that drove off while the agent was stopped leaves the arm down until something
        moves in the bay, as a car that "left" without moving does."""
        if self.verdict.occupied is None:
            self._car_left_here = True
        if self._judges_shipped:
            if self._shipped is None:
                self._shipped = Hysteresis(self.cfg, judges_shipped=False)
            self._shipped.car_left()

    def unvouched(self) -> None:
        """The camera stopped vouching for the bay's outline (moved, turned, another frame shape, a view that matches
        no reference): the verdict it holds now is the last one made on the drawn ground (kept for ``vouched``)."""
        if not self._blind:
            self._blind, self._held, self._blind_readings = True, self.verdict.occupied, 0
        if self._shipped is not None:
            self._shipped.unvouched()

    def vouched(self, now: float, changed: bool | None = None) -> None:
        """The camera vouches for the outline again (at monotonic ``now``). Readings made meanwhile may have lain on
        other ground, so none of them backs the verdict: it is confident again only as a change to it would be
        confirmed, ``confirm_frames`` fresh readings in a row past the threshold. ``changed``: the bay, as the view
        returns, differs like a car coming or going from the last picture the camera vouched for (None: that
        picture is gone, a frame size or outline changed meanwhile).

        The change the view's return makes in the bay (``now``: that frame's classification) counts toward
        "occupied" always (a car that came meanwhile arrives), and toward "empty" where the bay changed since the
        camera last vouched for it (a car left while a van or the car beside it hid the corners the view is matched
        on, or the bay itself: the departure waited ``still_confirm_s``) or where it last vouched an empty bay (a
        car parked close to the camera hid them while it stood and drove off as they showed again). It counts for
        no departure where the bay shows what it showed under a car the camera last vouched: a verdict that turned
        "empty" meanwhile is then reached with nothing moving (``still_confirm_s``), confident only once something
        moves in the bay from now on. Why: with the zoom slipped, a parked car's outline lay on asphalt, read
        empty, and the departure was concluded on that ground; when the view matched again, a fresh misread of the
        still car (the model's costly mistake, held by the still-bay rule had the view never slipped) backed that
        "empty" at once, confidently, and the arm rose under the car. (A moved camera's bays are not read: their
        gate compares the return with the last crop of the drawn ground, so the return is motion only if it is.)"""
        if self._shipped is not None:
            self._shipped.vouched(now, changed)
        held, read = self._held, self._blind and self._blind_readings > 0
        self._blind, self._held = False, None
        left = held is False or changed is True
        self._vouched_at = now if read and not left else None
        self._up = self._down = 0
        self._streak_since = self._lean_since = None
        self._lean_n = 0
        self._doubted = True
        if read and held is True and not changed and self.verdict.occupied is False and self.cfg.still_confirm_s > 0:
            self._still_empty_at = now
        self.verdict = replace(self.verdict, confident=False)

    def cut_began(self) -> None:
        """A cut in the picture begins (``bays.cut``): the verdicts now are what ``no_motion_until``'s ``held`` says
        for the shipped head's own (the bay stage keeps the site head's)."""
        self._cut_held = self.verdict.occupied
        if self._shipped is not None:
            self._shipped.cut_began()

    def no_motion_until(self, now: float, held: bool | None) -> None:
        """Nothing moved in the bay up to monotonic ``now`` whatever the change gate saw (a cut in the picture that
        settled on the bay as it was before it: ``bays.cut``); ``held``: the verdict before. A verdict turned "empty"
        since was then reached with nothing moving (``still_confirm_s``): confident only once something moves in the
        bay. Why: the cut's change was the motion that let a still parked car's misread (dusk, held by the still-bay
        rule) be believed at once, and the arm rose under the car once the cut had settled (probe raise28)."""
        if self.cfg.still_confirm_s <= 0:
            return
        if self._shipped is not None:  # its own verdict before the cut: it may have seen a car the site head did not
            self._shipped.no_motion_until(now, self._shipped._cut_held)
        self._vouched_at = now if self._vouched_at is None else max(self._vouched_at, now)
        if held is True and self.verdict.occupied is False:
            self._still_empty_at = now
            self.verdict = replace(self.verdict, confident=False)

    def car_seen_again(self, now: float) -> None:
        """The bay at rest looks again as it did before the motion that ended the still-bay rule's doubt (a van that
        stood across the outline has driven on): the car never left, and the "empty" is doubt again, not confident
        until something leaves the bay changed for good (``BayMonitor._car_returned``). Why: a van standing over a
        parked car's faded bay ended the doubt; it drove on and the arm could rise under the car (review88)."""
        if self.cfg.still_confirm_s <= 0:
            return
        if self._shipped is not None:
            self._shipped.car_seen_again(now)
        if self.verdict.occupied is False:
            self._still_empty_at = now
            self.verdict = replace(self.verdict, confident=False)

    def _leaned_long(self, now: float) -> bool:
        """The readings have leaned "empty" against an "occupied" verdict for ``doubt_confirm_s`` (and
        ``confirm_frames`` readings)."""
        c = self.cfg
        return (c.doubt_confirm_s > 0 and self._lean_since is not None
                and self._lean_n >= c.confirm_frames and now - self._lean_since >= c.doubt_confirm_s - 1e-6)

    def _may_change(self, now: float, moved_at: float | None, since: float | None, to: bool,
                    by_doubt: bool = False) -> bool:
        """A confirmed contradiction (begun at ``since``) changes the verdict to ``to`` if the bay moved since the
        verdict was last backed, or if it has lasted ``still_confirm_s`` (0: motion is not asked for). Doubt
        (``by_doubt``: the readings' lean held ``doubt_confirm_s``) ends a visit only on readings the camera vouches
        for: while it cannot (``unvouched``: a lot too dark at night for the view to match) a parked car read in the
        doubt band all night "left" and came back at dawn. A car that went moved its bay, then or at the view's
        return (``vouched``), and readings past ``exit_p`` still take the ``still_confirm_s`` way."""
        if self.cfg.still_confirm_s <= 0 or self._moved_since_backed(moved_at):
            return True
        if self._blind and to is False and by_doubt:
            return False
        return since is not None and now - since >= self.cfg.still_confirm_s - 1e-6

    def moved_since_backed(self, moved_at: float | None) -> bool:
        """Whether motion at ``moved_at`` (None: not tracked) came after the verdict was last backed (a cut's
        settling asks it of the motion before the cut: ``bays.cut``)."""
        return self._moved_since_backed(moved_at)

    def _moved_since_backed(self, moved_at: float | None) -> bool:
        return moved_at is None or self._backed_at is None or moved_at >= self._backed_at - MOTION_LEAD_S


class ChangeGate:
    """Per bay: the share of its pixels that changed since a stage last looked at it.

    Light is compensated per bay (median ratio), so a cloud over one row of bays does not
    open every gate; anything else that moves does, and the classifier then decides. Each
    stage keeps its own reference (``since``): the classifier's (``"classified"``) and the
    plate reader's (``"read"``: a bay whose pixels have not changed since the detector last
    ran over it would give the same answer again).

    The scene's light is followed too, frame to frame, on the pixels outside the bays (median
    ratio, accumulated): ``light_since`` says how much brighter the whole view got since a
    stage looked at a bay, so a lamp coming on or a camera's switch to night mode, which
    brightens or darkens every bay at once, is not taken for a car in each of them.
    """

    def __init__(self, cfg: OccupancyConfig) -> None:
        self.cfg = cfg
        self._scale = 1.0
        self._size: tuple[int, int] | None = None
        self._grid: tuple[int, int] = (0, 0)  # the working copy's (height, width)
        self._pixels: dict[str, np.ndarray] = {}  # bay → flat indices of its mask in the working copy
        self._ref: dict[tuple[str, str], np.ndarray] = {}  # (since, bay) → its pixels then and their
        # neighbourhood's darkest and brightest (3 x n float32: what a sway of SWAY_PX could show there)
        self._spread_of: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (working copy, its min, its max)
        self._shapes: list[BayShape] = []
        self._full_grey: np.ndarray | None = None  # frame-sized, reused: a fresh one every frame is page faults
        self.mask_problems: dict[str, str] = {}  # bay → mask_empty | mask_outside_frame (judged per frame size)
        self._background = np.empty(0, np.intp)  # working-copy indices that follow the scene's light
        self._prev_light: np.ndarray | None = None  # those pixels in the previous working copy
        self._log_light = 0.0  # the scene's light, accumulated log gain (only differences mean anything)
        self._ref_light: dict[tuple[str, str], float] = {}  # (since, bay) → _log_light when it was looked at
        self._resized: set[str] = set()  # bays whose reference a new frame size dropped (``take_resized``)
        self._rows: dict[str, tuple[int, int]] = {}  # bay → the working copy's rows whose contrast scales its threshold
        self._ref_scale: dict[tuple[str, str], float] = {}  # (since, bay) → share of gate_threshold that counts then
        # (since, bay) → a kept picture ``follow`` carried (CARRIED_KEPT): its pixels' flat indices and its reference
        # as taken, and the view's motion since (2x3, working px then → now), so each follow warps it from as taken
        self._origin: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def set_shapes(self, shapes: Sequence[BayShape]) -> None:
        """New (or shifted) polygons: every bay's reference is dropped, so all are classified next."""
        self._shapes = list(shapes)
        self._size = None
        self._ref.clear()
        self._ref_light.clear()
        self._ref_scale.clear()
        self._origin.clear()

    def follow(self, shapes: Sequence[BayShape], moved: np.ndarray, last: np.ndarray | None) -> None:
        """The polygons moved with the view (a sway, a small turn or zoom the camera made, measured as ``moved``:
        2x3, the last frame's full-frame px → the next one's). Each bay's reference becomes ``last`` (the last
        working copy), carried the same way onto its new outline: the same ground as before, so what changed
        there since is what moved in the bay. ``set_shapes`` alone left no reference, which reads as every bay
        changed: motion in each, and a reading that had turned on a still parked car (the model's false
        "empty", held by the still-bay rule) was believed at the next sway of the pole.

        A kept picture of ``CARRIED_KEPT`` (each bay as it was before a picture cut, ``bays.cut``) is carried onto the
        new outline with the view's motion since it was taken (``_carried``). Dropped, a shift between a cut and its
        settling left no bay a picture from before the cut, each was taken as unchanged, and a car that left on the
        cut's frame (PKLot 5 fps: B05 at 100 s) was not believed gone for ``still_confirm_s`` (probe cutkeep28)."""
        size, pixels = self._size, self._pixels
        kept = {k: (self._ref[k], self._ref_light[k], self._ref_scale.get(k, 1.0), self._origin.get(k))
                for k in self._ref if k[0] in CARRIED_KEPT}
        self.set_shapes(shapes)
        if size is None or last is None or last.shape[:2] != self._grid:
            return
        self._build(*size)
        m = np.float64(moved).copy()
        m[:, 2] *= self._scale  # full-frame px → working px (a turn and a zoom are the same at any scale)
        carried = cv2.warpAffine(last, m, (self._grid[1], self._grid[0]), borderMode=cv2.BORDER_REPLICATE)
        # The scene's light is followed on: the last frame's pixels outside the moved bays, carried the same way.
        # Dropped (as ``_build`` does), the next frame's light step was lost, and a camera's exposure or IR-cut
        # jump — which itself moves the measured shift a hair, so the bays follow the view on that very frame —
        # counted as every bay turning brighter than the view: motion in all 43 (probe ircut25).
        self._prev_light = carried.reshape(-1).take(self._background).astype(np.float32)
        for s in self._shapes:
            for since in ("classified", "read"):
                self.reset(carried, s.bay_id, since)
        flat = carried.reshape(-1)
        for key, (ref, light, scale, origin) in kept.items():
            onto, was = self._pixels.get(key[1]), pixels.get(key[1])
            if origin is None:
                if was is None:
                    continue
                origin = (was, ref, np.eye(2, 3))
            if onto is None:
                continue
            idx, taken, acc = origin
            acc = np.hstack([m[:, :2] @ acc[:, :2], (m[:, :2] @ acc[:, 2] + m[:, 2])[:, None]])  # then → now
            out = _carried(taken, idx, acc, onto, self._grid[1], flat)
            if out is not None:
                self._ref[key], self._ref_light[key], self._ref_scale[key] = out, light, scale
                self._origin[key] = (idx, taken, acc)

    def adopt(self, old: ChangeGate, bay_ids: Iterable[str], last: np.ndarray | None = None) -> list[str]:
        """(A reload's new monitor.) Take over ``old``'s references of the bays whose mask is pixel for pixel the
        same here (outline and camera shift unchanged); returns those bays. Why: a bay without a reference reads
        as all changed, which is motion in it, and a reload (another bay saved, a threshold edited) was then the
        motion that let a reading that had turned on a still parked car (held by the still-bay rule) be believed
        at once: a departure, and the lock raised under the car. The pictures kept from before a picture cut
        (``CARRIED_KEPT``) are taken over too: dropped, each bay was taken as unchanged at the cut's settling, and a
        car that left on the cut's frame was not believed gone for ``still_confirm_s`` (probe cutkeep28).

        A bay redrawn keeps its empty picture (``REDRAWN_KEPT``), carried onto its new outline where the old one showed
        ``CARRY_MIN`` of it (``last``: ``old``'s last working copy, for the pixels the old outline did not show).
        Dropped, the next confident "empty" took in the person who stood in the bay at the Save (review31)."""
        if old._size is None:
            return []
        self._build(*old._size)
        self._log_light = old._log_light
        if np.array_equal(self._background, old._background):
            self._prev_light = old._prev_light
        same = []
        for b in bay_ids:
            mine, theirs = self._pixels.get(b), old._pixels.get(b)
            if mine is None or theirs is None:
                continue
            if not np.array_equal(mine, theirs):
                if last is not None and last.shape == self._grid:
                    for key in ((k, b) for k in REDRAWN_KEPT if (k, b) in old._ref):
                        origin = old._origin.get(key) or (theirs, old._ref[key], np.eye(2, 3))
                        out = _carried(origin[1], origin[0], origin[2], mine, self._grid[1], last.reshape(-1))
                        if out is not None:
                            self._ref[key], self._ref_light[key] = out, old._ref_light[key]
                            self._ref_scale[key], self._origin[key] = old._ref_scale.get(key, 1.0), origin
                continue
            same.append(b)
            for key in (("classified", b), ("read", b), *((k, b) for k in CARRIED_KEPT)):
                if key in old._ref:
                    self._ref[key], self._ref_light[key] = old._ref[key], old._ref_light[key]
                    self._ref_scale[key] = old._ref_scale.get(key, 1.0)
                    if key in old._origin:
                        self._origin[key] = old._origin[key]
        return same

    def _build(self, w: int, h: int) -> None:
        """The bays' masks in the working copy of a ``w`` x ``h`` frame (references dropped)."""
        self._size = (w, h)
        self._scale = min(1.0, WORK_WIDTH / w)
        self._pixels = {}
        self._rows = {}
        self._ref.clear()
        self._ref_light.clear()
        self._ref_scale.clear()
        self._origin.clear()
        self.mask_problems = {}
        sh, sw = max(1, round(h * self._scale)), max(1, round(w * self._scale))
        self._grid = (sh, sw)
        for s in self._shapes:
            scaled = BayShape(s.bay_id, [(x * self._scale, y * self._scale) for x, y in s.polygon])
            m = scaled.mask((sh, sw)) > 0
            problem = _mask_problem(int(m.sum()), _area(scaled.polygon))
            if problem:
                self.mask_problems[s.bay_id] = problem
            if m.any():
                self._pixels[s.bay_id] = np.flatnonzero(m)
                ys = np.flatnonzero(m.any(axis=1))
                grow = (ys[-1] - ys[0] + 1) // 2
                self._rows[s.bay_id] = (max(0, int(ys[0] - grow)), min(sh, int(ys[-1] + grow + 1)))
        self._background = self._background_pixels(sh, sw)
        self._prev_light = None

    def prepare(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Blurred, downscaled grey working copy (what ``changed`` and ``reset`` take)."""
        h, w = frame_bgr.shape[:2]
        if self._size != (w, h):
            self._resized.update(b for _, b in self._ref)
            self._build(w, h)
        if frame_bgr.ndim == 2:
            grey = frame_bgr
        else:
            if self._full_grey is None or self._full_grey.shape != (h, w):
                self._full_grey = np.empty((h, w), np.uint8)
            grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY, dst=self._full_grey)
        if self._scale < 1.0:
            grey = cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(grey, (5, 5), 0)  # uint8, small: the comparisons convert a bay at a time
        self._follow_light(small)
        return small

    def take_resized(self) -> set[str]:
        """The bays whose reference the last frames' new size dropped (then forgotten here): no picture of theirs
        at this size to compare with, which says nothing moved in them. Why: the installer's confirmation of a
        view the camera sends at another frame size (a camera that came back from a reconnect in 4:3) or a reload
        to another ``camera.width`` / ``height`` left every bay without a reference, read as all changed: motion
        in each, and a reading that had turned on a still parked car (the model's false "empty", held by the
        still-bay rule) was believed at once — a departure, and the arm raised under the car."""
        out, self._resized = self._resized, set()
        return out

    def _background_pixels(self, sh: int, sw: int) -> np.ndarray:
        outside = np.ones(sh * sw, bool)
        for idx in self._pixels.values():
            outside[idx] = False
        if outside.sum() < MIN_BACKGROUND_SHARE * outside.size:
            outside[:] = True
        return np.flatnonzero(outside)[::LIGHT_STEP]

    def _follow_light(self, grey: np.ndarray) -> None:
        cur = np.ascontiguousarray(grey).reshape(-1).take(self._background).astype(np.float32)
        prev, self._prev_light = self._prev_light, cur
        if prev is None or prev.shape != cur.shape or not len(cur):
            return
        gain = _median((cur + 1.0) / (prev + 1.0))
        if np.isfinite(gain) and gain > 0:
            self._log_light += float(np.log(gain))

    def light_since(self, bay_id: str, since: str = "classified") -> float:
        """How much brighter the scene got since ``since`` last looked at the bay (1.0: unknown)."""
        ref = self._ref_light.get((since, bay_id))
        return 1.0 if ref is None else float(np.exp(self._log_light - ref))

    def changed(self, grey: np.ndarray, bay_id: str, since: str = "classified") -> float:
        """0..1; 1.0 when the bay has no reference yet (look at it)."""
        return self.compare(grey, bay_id, since)[0]

    def compare(self, grey: np.ndarray, bay_id: str, since: str = "classified") -> tuple[float, float]:
        """(changed share 0..1, the bay's light gain since then); (1.0, 1.0) without a reference.

        A pixel has changed when it lies beyond what the reference showed anywhere within ``SWAY_PX`` of it:
        a camera on a mast sways a pixel or two in the wind, below what the shift tracking follows, and the
        edges of every parked car then moved by the plain difference (on live-like PKLot video 18 % of the
        classifications of still bays counted as motion, and the still-bay rule never waited)."""
        cur, ref = self._take(grey, bay_id), self._ref.get((since, bay_id))
        if cur is None or ref is None or cur.shape != ref.shape[1:]:
            return 1.0, 1.0
        gain = _median((cur + 1.0) / (ref[0] + 1.0))
        thr = self.cfg.gate_threshold * self._ref_scale.get((since, bay_id), 1.0)
        out = (cur > ref[2] * gain + thr) | (cur < ref[1] * gain - thr)
        return float(np.count_nonzero(out)) / len(cur), gain

    def keep(self, bay_id: str, since: str = "classified", as_: str = "vouched") -> None:
        """Keep the bay's reference for ``since`` as ``as_`` too (the camera stops vouching for the outlines: the
        last picture it vouched for, which the view's return is compared with; ``BayMonitor._vouching_changed``)."""
        src, dst = (since, bay_id), (as_, bay_id)
        self._origin.pop(dst, None)
        if src not in self._ref:
            self._ref.pop(dst, None)
            return
        self._ref[dst], self._ref_light[dst] = self._ref[src], self._ref_light[src]
        self._ref_scale[dst] = self._ref_scale.get(src, 1.0)

    def forget(self, bay_id: str, since: str) -> None:
        """Drop the bay's reference for ``since`` (its pixels were judged under another fill: ``camera.masks``)."""
        self._ref.pop((since, bay_id), None)
        self._ref_light.pop((since, bay_id), None)
        self._ref_scale.pop((since, bay_id), None)
        self._origin.pop((since, bay_id), None)

    def has(self, bay_id: str, since: str = "classified") -> bool:
        """The bay has a reference for ``since`` (``compare`` reads none as all changed)."""
        return (since, bay_id) in self._ref

    def reset(self, grey: np.ndarray, bay_id: str, since: str = "classified") -> None:
        """That stage just looked at this frame: it becomes the bay's reference for it."""
        cur = self._take(grey, bay_id)
        if cur is None:
            return
        if self._spread_of is None or self._spread_of[0] is not grey:  # once per working copy, not per bay
            self._spread_of = (grey, *_swayed(grey, SWAY_PX))
        lo, hi = self._take(self._spread_of[1], bay_id), self._take(self._spread_of[2], bay_id)
        assert lo is not None and hi is not None
        self._origin.pop((since, bay_id), None)
        self._ref[(since, bay_id)] = np.stack([cur, lo, hi])
        self._ref_light[(since, bay_id)] = self._log_light
        self._ref_scale[(since, bay_id)] = self._contrast_scale(grey, bay_id)

    def _contrast_scale(self, grey: np.ndarray, bay_id: str) -> float:
        """How much of ``gate_threshold`` counts for the bay in this working copy: the view's grey spread along the
        bay's rows (grown by half its height: the bay, its neighbours, lines and kerbs at that distance) against
        ``CONTRAST_REF``, at most 1, at least ``MIN_GATE_SCALE``. Fog (the air light laid over what is farther
        more thickly), dusk, rain or dirt on the dome scale every difference in the view, a car against the asphalt
        as much as the view's own: in fog a car driving in changed 1 % of its bay by 18 grey levels, no motion, and
        its arrival waited ``still_confirm_s``. A whole-width strip, so one car coming or going hardly moves it."""
        r0, r1 = self._rows[bay_id]
        spread = float(np.asarray(grey[r0:r1], np.float32).std())
        return min(1.0, max(MIN_GATE_SCALE, spread / CONTRAST_REF))

    def _take(self, grey: np.ndarray, bay_id: str) -> np.ndarray | None:
        """The bay's pixels of a working copy (float32), or None (no mask, or another frame size)."""
        idx = self._pixels.get(bay_id)
        if idx is None or grey.shape[:2] != self._grid:
            return None
        return np.ascontiguousarray(grey).reshape(-1).take(idx).astype(np.float32)


def _carried(ref: np.ndarray, idx: np.ndarray, acc: np.ndarray, onto: np.ndarray, width: int,
             fill: np.ndarray) -> np.ndarray | None:
    """A bay's reference ``ref`` (3 x n: its pixels and their sway band, on the flat indices ``idx`` of a working copy
    ``width`` wide) carried by the view's motion ``acc`` (2x3, working px then → now) onto the bay's pixels now
    (``onto``), bilinearly. A pixel the old outline did not show (a turn's new corner, rounding at the outline's edge)
    can show no change (its band all grey levels; its value ``fill``'s, the last frame, for the light's median); None
    where the old outline showed under ``CARRY_MIN`` of the new one: no picture, which says nothing changed."""
    ys, xs = np.divmod(idx, width)
    y0, x0 = int(ys.min()), int(xs.min())
    planes = np.zeros((4, int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), np.float32)
    planes[:3, ys - y0, xs - x0] = ref
    planes[3, ys - y0, xs - x0] = 1.0
    inv = cv2.invertAffineTransform(acc)
    ny, nx = np.divmod(onto, width)
    sx = (inv[0, 0] * nx + inv[0, 1] * ny + inv[0, 2] - x0).astype(np.float32)[None, :]
    sy = (inv[1, 0] * nx + inv[1, 1] * ny + inv[1, 2] - y0).astype(np.float32)[None, :]
    got = np.stack([cv2.remap(p, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[0]
                    for p in planes])
    shown = got[3] >= 0.5
    if not np.count_nonzero(shown) >= CARRY_MIN * len(onto):
        return None
    out = got[:3] / np.where(shown, got[3], 1.0)
    out[0, ~shown] = fill.take(onto[~shown])
    out[1, ~shown], out[2, ~shown] = -np.inf, np.inf
    return out.astype(np.float32)


def _swayed(grey: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """The darkest and brightest each pixel of ``grey`` could show with the view moved up to ``px`` (≤ 1) working
    pixels: part of the way to its 3x3 neighbourhood's extremes, as a sub-pixel move interpolates. A whole
    pixel of slack is 4 px of a 1280-px frame, more than a far-row bay's car changes at its edges."""
    if px <= 0:
        return grey, grey
    k = np.ones((3, 3), np.uint8)
    g = grey.astype(np.float32)
    return g + px * (cv2.erode(grey, k) - g), g + px * (cv2.dilate(grey, k) - g)


def _median(a: np.ndarray) -> float:
    """np.median without its checks (called ~40x a frame)."""
    k = (len(a) - 1) // 2
    lo, hi = np.partition(a, (k, len(a) // 2))[[k, len(a) // 2]]
    return 0.5 * float(lo + hi)


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0].astype(np.float64), poly[:, 1].astype(np.float64)
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _mask_problem(pixels: int, area: float) -> str:
    """Why a bay's mask cannot vouch for an empty bay ("" when it can). A mask with no pixel
    measures nothing (a NaN polygon did that); a bay mostly outside the frame is mostly unseen."""
    if pixels < MIN_MASK_PX:
        return "mask_empty"
    if not pixels >= MIN_MASK_SHARE * area:  # NaN area fails too
        return "mask_outside_frame"
    return ""


class PresenceFusion:
    """One bay's presence from the camera verdict, recent plate reads and a sensor.

    Any recent plate read or a sensor saying "present" means present (doubt is presence);
    with no verdict yet and nothing else speaking, presence is unknown (None), never "empty".
    """

    def __init__(self, cfg: OccupancyConfig, sensor: PresenceSensor | None = None) -> None:
        self.cfg = cfg
        self.sensor = sensor
        self.hysteresis = Hysteresis(cfg)
        self._last_plate: float | None = None
        self.vouched = False  # at the last update a plate read or the sensor said present, whatever the camera said

    @property
    def camera_leans_empty(self) -> bool:
        """The verdict says occupied but the latest reading leans empty (below the band's midpoint) and nothing
        else vouches: a passer-by's two readings flipped it and the band holds it. No car has come to rest."""
        v = self.verdict
        return (v.occupied is True and v.p_occupied is not None and not self.vouched
                and v.p_occupied < self.cfg.leans_empty_below)

    @property
    def verdict(self) -> Verdict:
        return self.hysteresis.verdict

    @property
    def camera_present(self) -> bool:
        return self.verdict.occupied is True

    def plate_seen(self, now: float) -> None:
        self._last_plate = now

    def update(self, now: float, plate_hold_s: float | None = None) -> bool | None:
        hold = self.cfg.plate_hold_s if plate_hold_s is None else max(plate_hold_s, self.cfg.plate_hold_s)
        plate = self._last_plate is not None and now - self._last_plate <= hold
        sensed = self.sensor() if self.sensor is not None else None
        self.vouched = bool(plate or sensed)
        if self.verdict.occupied or plate or sensed:
            return True
        if self.verdict.occupied is None:
            return None
        return False
