"""The camera's evidence per bay (``BayVision``) from what the bays stage measured on a frame.

The one place that turns a measurement into evidence for the lock interlock. The change
detector gives no probability (``p_occupied`` None); a classifier would fill it and judge
``confident`` by its own margin. Either way, ``occupied`` is the monitor's fused presence now
and ``vision`` says whether the frame and the bay's mask can vouch for anything at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge_agent.config.bays import OccupancyConfig
from edge_agent.events.types import BayVision

CAMERA_VISION = {"no_frames": "camera_lost", "frozen": "camera_frozen", "black": "camera_black",
                 "flat": "camera_flat"}  # camera health reason → BayVision.vision


def change_vision(now: float, fractions: Mapping[str, float], present: Mapping[str, bool | None],
                  occ: OccupancyConfig, compared: bool, untrusted: set[str],
                  mask_problems: Mapping[str, str]) -> dict[str, BayVision]:
    """Evidence from the change detector. Confident only when the changed share is clear of the
    hysteresis band (below ``exit_fraction`` or at least ``enter_fraction``), measured against a
    reference believed empty: not one just taken (``compared`` False), not one known to hold a
    vehicle (``untrusted``)."""
    out = {}
    for b, f in fractions.items():
        confident = compared and b not in untrusted and (f < occ.exit_fraction or f >= occ.enter_fraction)
        out[b] = BayVision(now, None, present.get(b), confident, mask_problems.get(b, "ok"))
    return out


def blind_vision(bays: Iterable[str], why: str, measured_at: float | None) -> dict[str, BayVision]:
    """No usable frame: say why; the last measurement's time stays, so it ages into staleness."""
    code = CAMERA_VISION.get(why, "camera_unusable")
    return {b: BayVision(measured_at, None, None, False, code) for b in bays}
