"""The camera's evidence per bay (``BayVision``) from what the bays stage measured on a frame.

The one place that turns a measurement into evidence for the lock interlock: the classifier's
``p_occupied`` and hysteresis ``confident``, ``occupied`` the monitor's fused presence now, and
``vision`` whether the frame, the bay's mask and the camera's alignment can vouch for anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from edge_agent.bays.geometry import BayShape
from edge_agent.bays.occupancy import Verdict
from edge_agent.events.types import BayVision

# camera health reason (or registration's "moved") → BayVision.vision
CAMERA_VISION = {"no_frames": "camera_lost", "frozen": "camera_frozen", "black": "camera_black",
                 "flat": "camera_flat", "moved": "camera_moved", "unmatched": "camera_unmatched"}


def classifier_vision(verdicts: Mapping[str, Verdict], present: Mapping[str, bool | None],
                      view_problems: Mapping[str, str], enter_p: float,
                      shown_since: float | None = None,
                      bay_shown_since: Mapping[str, float | None] | None = None,
                      changed: Iterable[str] = (), exit_p: float = 0.0) -> dict[str, BayVision]:
    """Evidence from the per-bay classifier: its last p_occupied and when it was measured (a bay is
    classified at least every ``occupancy.classify_every_s``, so this stays fresh), confident only
    while that p is clear of the hysteresis band on the side of the verdict (``Hysteresis``).
    ``occupied`` is the fused presence, or True already at the first frame whose p reaches
    ``enter_p``: the verdict waits for confirmation, the evidence of an empty bay does not. ``camera_empty``: the
    classifier's own verdict, settled and confident, says empty (whatever the presence sensor says).
    ``view_problems``: bay → why its view vouches for nothing (a mask without pixels, a blank crop).
    ``shown_since``: when the picture measured first arrived. A camera repeating one frame (a hung encoder
    or capture buffer) was re-measured at every classification as if live, so the arm could rise for up to
    ``camera.frozen_after_s`` (30 s) on a picture from before a car drove in; the evidence is as old as the
    picture, so such a camera blocks UP (``occupancy_stale``) after ``occupancy_max_age_s``. ``bay_shown_since``:
    per bay, when the picture of its own ground first arrived (``BayPictures``): a hung picture under a ticking
    on-screen clock is new as a whole frame, never on the bay; None: not yet seen live (``measured_at`` None).
    ``changed``: bays that differ from their picture when last confidently empty (``bays.empty_picture``).

    A site calibration (``bays.calibration``) makes the verdict the refitted head's, but an empty one is confident
    evidence only while the shipped head reads the same crop at most ``exit_p`` too (``Verdict.p_shipped``): a
    calibration may make the agent more accurate, never make a lock rise on weaker evidence than the shipped model
    gives. Heads refitted on 5 labelled frames of NORPark read 1.9 % of parked cars p <= 0.3 (5.4 % at worst);
    with the shipped head 1.07 %, with ``occupancy.onnx`` too (``BayClassifier.baseline``, folded into
    ``p_shipped``) 0.40 %, against 0.82 % for an uncalibrated site. ``exit_p``'s default 0: a caller that does not say never lets a
    calibrated reading vouch for an empty bay."""
    out = {}
    changed = set(changed)
    for b, v in verdicts.items():
        seen = v.p_occupied is not None and v.p_occupied >= enter_p
        occupied = True if seen else present.get(b)
        at = v.measured_at
        if at is not None and shown_since is not None:
            at = min(at, shown_since)
        if at is not None and bay_shown_since is not None and b in bay_shown_since:
            shown = bay_shown_since[b]
            at = None if shown is None else min(at, shown)
        confident = vouching(v, exit_p).confident
        out[b] = BayVision(at, v.p_occupied, occupied, confident, view_problems.get(b, "ok"),
                           camera_empty=v.occupied is False and confident, changed=b in changed,
                           p_shipped=v.p_shipped)
    return out


def vouching(v: Verdict, exit_p: float) -> Verdict:
    """The verdict as evidence of an empty bay reads it: a calibrated "empty" the shipped head does not read at most
    ``exit_p`` too (NaN included), or whose own verdict is not a confident "empty" (``Verdict.shipped_empty``: one
    stray reading beside its confirmed "occupied" is none), is not confident. The raise's evidence and the bay's empty picture
    (``bays.empty_picture``: else a car only the calibration reads empty became the bay's empty look, and its leaving
    read ``bay_changed`` for ``still_confirm_s``) use this one rule."""
    if v.confident and v.occupied is False and v.p_shipped is not None \
            and not (v.p_shipped <= exit_p and v.shipped_empty):
        return replace(v, confident=False)
    return v


def blind_vision(bays: Iterable[str], why: str, measured_at: Mapping[str, float | None]) -> dict[str, BayVision]:
    """No usable view: say why; each bay's last measurement time stays, so it ages into staleness."""
    code = CAMERA_VISION.get(why, "camera_unusable")
    return {b: BayVision(measured_at.get(b), None, None, False, code) for b in bays}


class BayPictures:
    """Per bay: when the picture of its ground (the pixels of its bounding box) first arrived as it is now.

    Why: the camera health's frame signature (``HealthTracker.picture_since``) is of the whole frame, and an IP
    camera stamps the time into every frame after its image sensor: a hung sensor or ISP sends the same picture
    with a clock that ticks, a new frame every second to that signature. The bays were re-measured on the hung
    picture as if live, for ever (never ``camera_frozen`` either), and the arm lowered for a visitor rose under
    the car that parked unseen. A live camera's sensor noise changes every bay's pixels from frame to frame; a
    codec that repeats a still scene between key frames repeats them bit for bit, as a whole frame it did, and the
    evidence pauses the same way (``occupancy_stale``, the free timer untouched).

    Compared with the previous vouched frame on each bay's box as it lies now, so an outline redrawn or followed
    over a hung picture finds it unchanged too; a reload's new monitor takes over the old one's (``adopt``).
    The first frame since the start has nothing to be compared with: its age is unknown (None) until the bay's
    pixels change. A camera hung for minutes before a restart (``camera_frozen`` said; the operator restarts the
    agent) sends the same picture to the new process, which took it as new: a remote ``lock`` 0.4 s after the
    start raised the arm over the car that had parked unseen during the freeze.
    """

    def __init__(self) -> None:
        self._last: np.ndarray | None = None  # the previous frame measured (a copy: a source may reuse its buffer)
        self._since: dict[str, float | None] = {}

    def adopt(self, old: BayPictures) -> None:
        self._last, self._since = old._last, dict(old._since)
        old._last = None  # the buffer is this one's now (the old monitor is done with it)

    def update(self, image: np.ndarray, shapes: Sequence[BayShape], now: float) -> dict[str, float | None]:
        """Note ``image`` (a frame the bays are measured on, at ``now``); returns bay → when its picture arrived
        (None: not known, none seen change since the start)."""
        last, since = self._last, {}
        h, w = image.shape[:2]
        for s in shapes:
            x, y, bw, bh = s.rect
            x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + bw), min(h, y + bh)
            changed = last is not None and (last.shape != image.shape or x1 <= x0 or y1 <= y0
                                            or not np.array_equal(image[y0:y1, x0:x1], last[y0:y1, x0:x1]))
            # unchanged: as old as its first arrival; None while no change was seen (the start: this picture may be
            # as old as a hang before it; a bay a reload added, over a picture that has not changed since)
            since[s.bay_id] = now if changed else self._since.get(s.bay_id)
        if last is not None and last.shape == image.shape and last.dtype == image.dtype:
            np.copyto(last, image)  # into the kept buffer: a fresh frame-sized copy each frame cost page faults
        else:  # (+4.5 s of system time over the PKLot replay's 3,000 frames)
            self._last = image.copy()
        self._since = since
        return dict(since)
