"""The camera's evidence per bay (``BayVision``) from what the bays stage measured on a frame.

The one place that turns a measurement into evidence for the lock interlock: the classifier's
``p_occupied`` and hysteresis ``confident``, ``occupied`` the monitor's fused presence now, and
``vision`` whether the frame, the bay's mask and the camera's alignment can vouch for anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge_agent.bays.occupancy import Verdict
from edge_agent.events.types import BayVision

# camera health reason (or registration's "moved") → BayVision.vision
CAMERA_VISION = {"no_frames": "camera_lost", "frozen": "camera_frozen", "black": "camera_black",
                 "flat": "camera_flat", "moved": "camera_moved", "unmatched": "camera_unmatched"}


def classifier_vision(verdicts: Mapping[str, Verdict], present: Mapping[str, bool | None],
                      view_problems: Mapping[str, str], enter_p: float,
                      shown_since: float | None = None) -> dict[str, BayVision]:
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
    picture, so such a camera blocks UP (``occupancy_stale``) after ``occupancy_max_age_s``."""
    out = {}
    for b, v in verdicts.items():
        seen = v.p_occupied is not None and v.p_occupied >= enter_p
        occupied = True if seen else present.get(b)
        at = v.measured_at
        if at is not None and shown_since is not None:
            at = min(at, shown_since)
        out[b] = BayVision(at, v.p_occupied, occupied, v.confident, view_problems.get(b, "ok"),
                           camera_empty=v.occupied is False and v.confident)
    return out


def blind_vision(bays: Iterable[str], why: str, measured_at: Mapping[str, float | None]) -> dict[str, BayVision]:
    """No usable view: say why; each bay's last measurement time stays, so it ages into staleness."""
    code = CAMERA_VISION.get(why, "camera_unusable")
    return {b: BayVision(measured_at.get(b), None, None, False, code) for b in bays}
