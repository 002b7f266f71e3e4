"""The one rule every UP must pass: positive evidence that the bay is empty.

Not "no vehicle seen" — a NaN bay polygon once saw nothing for ever and a lock rose under a
parked car — but every input saying "empty" and being trustworthy: the presence sensor
healthy and clear, the bay free with no visit open, and the camera's evidence (``BayVision``)
from a usable frame and a real mask, recent, seeing nothing, and confident. The interlock asks
it before switching the UP line and again on every input edge, bus update, camera-evidence
change and tick while rising; every caller (remote lock, policy timer, reload) goes through
the interlock. Anything unknown counts as "a vehicle may be there".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.config.locks import LockConfig
from edge_agent.events.types import BayState, BayVision
from edge_agent.locks.driver import LockDriver


@dataclass
class VehicleEvidence:
    """What the camera side says about the bay: the bay state and last read (fed by the
    controller from the bus) and the camera's evidence itself (pulled at every decision)."""

    bay_state: BayState | None = None
    last_read_at: float | None = None  # monotonic time of the last plate read / bay-story event
    vision: Callable[[], BayVision | None] | None = None  # None: nothing wired → never UP


def vehicle_possible(driver: LockDriver, evidence: VehicleEvidence, cfg: LockConfig, now: float,
                     presence: Callable[[], bool | None] | None = None) -> tuple[str, str] | None:
    """``(code, message)`` unless there is positive evidence that the bay is empty, else None.

    Codes, in the order checked: presence_unknown, vehicle_present, bay_occupied, bay_in_visit,
    vision_unknown, the camera-evidence code (camera_lost, camera_frozen, camera_black, camera_flat,
    camera_unusable, camera_moved, camera_unmatched, mask_empty, mask_outside_frame, bay_flat, bay_clipped, bay_blurred,
    bay_overlay, bay_too_small, bay_redrawn, picture_cut),
    bay_unknown, camera_not_ok, occupancy_stale, vision_occupied, bay_changed, occupancy_unsure, recent_read.
    ``now`` is monotonic; comparisons are written so that a NaN fails them (refuses). ``presence``: how the sensor
    is read (default: the driver, now); the live page passes the interlock's last reading, never the hardware.
    """
    if driver.has_presence:
        p = (presence or driver.read_presence)()
        if p is None:
            return "presence_unknown", "presence sensor lost or unhealthy"
        if p:
            return "vehicle_present", "presence sensor detects a vehicle"
    st = evidence.bay_state
    if st is not None and st.state not in ("free", "unknown"):
        return "bay_occupied", f"camera reports the bay {st.state}"
    if st is not None and st.visit_id is not None:
        return "bay_in_visit", "a visit is still open (departure not confirmed)"
    v = evidence.vision() if evidence.vision is not None else None
    if v is None:
        return "vision_unknown", "no camera evidence for this bay"
    if v.vision != "ok":  # camera_lost | camera_frozen | … | mask_empty | bay_flat | …
        return v.vision, f"the camera's view of the bay cannot be trusted ({v.vision})"
    if st is None or st.state == "unknown":
        return "bay_unknown", "bay state unknown (no camera report)"
    if not st.camera_ok:
        return "camera_not_ok", "camera not ok: occupancy unknown"
    if v.measured_at is None:
        return "occupancy_stale", ("occupancy never measured since start or reload, or only on a picture not yet "
                                   "seen to change (a camera hung before the start sends one)")
    if not now - v.measured_at <= cfg.occupancy_max_age_s:
        return "occupancy_stale", (f"occupancy last measured on a view {now - v.measured_at:.1f}s old "
                                   f"(limit {cfg.occupancy_max_age_s:g}s)")
    if v.occupied is True:
        return "vision_occupied", "the camera sees something in the bay (arrival not confirmed yet)"
    if v.changed:  # a person, a bicycle, a box: the classifier knows cars and empty bays, and reads them empty
        return "bay_changed", "the bay does not look as it did when last seen empty (a person or a thing in it?)"
    if v.occupied is None or not v.confident or (v.p_occupied is not None and not 0.0 <= v.p_occupied < 0.5):
        p_txt = "" if v.p_occupied is None else f", p_occupied {v.p_occupied:.2f}"
        if v.p_shipped is not None:  # a site calibration: its verdict needs the shipped head's word too
            p_txt += (f" by the site calibration, {v.p_shipped:.2f} by the shipped model (a raise needs both to read "
                      "the bay empty, at most exit_p)")
        return "occupancy_unsure", f"the camera is not sure the bay is empty{p_txt}"
    last = evidence.last_read_at
    if last is not None and now - last < cfg.recent_read_s:
        return "recent_read", f"plate read {now - last:.0f}s ago"
    return None
