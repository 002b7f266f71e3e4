"""The event and state records every stage shares.

One ``Event`` type for everything the backend must receive (bay story, lock moves,
faults, health changes). Each has a UUID ``event_id`` so consumers can de-duplicate,
a timezone-aware ISO-8601 ``ts``, and ``visit_id`` linking the events of one stay.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from edge_agent.clock import Clock, iso

#: Every ``reason`` that ends a violation, an overstay or a visit (``violation_ended``, ``overstay_ended``,
#: ``vehicle_departed``): the car left; it was identified as an NEV or put on the allow-list while in violation;
#: the previous run stopped with it there (``evidence/runs.py``); a reload took its bay out (``bays/monitor.py``);
#: an overstay ends when its charger reports charging again or idle (``bays/machine.py``).
#: The page and the robots have words for each (a test keeps them in step).
END_REASONS = ("departed", "identified", "allowed", "agent_stopped", "bay_removed", "charging", "charger_idle")


class EventType:
    """Known event types (strings on the wire)."""

    VEHICLE_ARRIVED = "vehicle_arrived"
    VEHICLE_IDENTIFIED = "vehicle_identified"
    VIOLATION_STARTED = "violation_started"
    VIOLATION_ENDED = "violation_ended"
    OVERSTAY_STARTED = "overstay_started"
    OVERSTAY_ENDED = "overstay_ended"
    VEHICLE_DEPARTED = "vehicle_departed"
    # locks
    LOCK_MOVED = "lock_moved"
    LOCK_REFUSED = "lock_refused"
    LOCK_FAULT = "lock_fault"
    LOCK_WARNING = "lock_warning"
    LOCK_TAMPER = "lock_tamper"
    LOCK_MAINTENANCE = "lock_maintenance"  # maintenance mode on (arm held down, no automatic moves) or off
    # device health
    CAMERA_LOST = "camera_lost"
    CAMERA_RESTORED = "camera_restored"
    CAMERA_MOVED = "camera_moved"  # the view shifted beyond tolerance: bays must be redrawn or confirmed
    CAMERA_ALIGNED = "camera_aligned"  # back within tolerance, or the new view was confirmed
    CAMERA_IMAGE_WARNING = "camera_image_warning"  # a still image truncated / reduced / refused on decode
    STORAGE_LOW = "storage_low"  # free space under the reserve: evidence pruned or skipped
    STORAGE_RESTORED = "storage_restored"
    EVIDENCE_INDEX_RESET = "evidence_index_reset"  # evidence.db was unreadable: moved aside, rebuilt
    CLOCK_STEPPED = "clock_stepped"  # the wall clock jumped against the monotonic one (NTP after boot)
    WEB_CERTIFICATE = "web_certificate"  # the page's certificate entered its last 14 days, expired, … (web/cert_notices)
    # chargers (bays/charger_health.py); each warning ends with "<kind>_cleared"
    CHARGER_STATUS = "charger_status"
    CHARGER_SUSPECT = "charger_suspect"
    CHARGER_MISMATCH = "charger_mismatch"
    CHARGER_SILENT = "charger_silent"
    CHARGER_SUSPECT_CLEARED = "charger_suspect_cleared"  # named here too: a sink's `events` may only name known types
    CHARGER_MISMATCH_CLEARED = "charger_mismatch_cleared"
    CHARGER_SILENT_CLEARED = "charger_silent_cleared"

    BAY_STORY = (
        VEHICLE_ARRIVED,
        VEHICLE_IDENTIFIED,
        VIOLATION_STARTED,
        VIOLATION_ENDED,
        OVERSTAY_STARTED,
        OVERSTAY_ENDED,
        VEHICLE_DEPARTED,
    )


@dataclass(frozen=True)
class Event:
    type: str
    ts: str
    bay_id: str | None = None
    visit_id: str | None = None
    evidence_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def make(cls, type: str, clock: Clock, **kw: Any) -> "Event":
        """Create an event stamped with the injected clock's wall time."""
        return cls(type=type, ts=iso(clock.now()), **kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: d[k] for k in ("event_id", "type", "ts", "bay_id", "visit_id", "evidence_id", "data")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        return cls(
            type=d["type"],
            ts=d["ts"],
            bay_id=d.get("bay_id"),
            visit_id=d.get("visit_id"),
            evidence_id=d.get("evidence_id"),
            data=dict(d.get("data") or {}),
            event_id=d["event_id"],
        )


@dataclass(frozen=True)
class BayState:
    """What the retained ``bays/{bay}/state`` topic and the live page show."""

    bay_id: str
    state: str  # free | occupied | identified | violation | overstay | unknown
    since: str  # ISO-8601
    visit_id: str | None = None
    plate: str | None = None
    colour: str | None = None
    nev: bool | None = None
    nev_reason: str | None = None
    lock: str | None = None  # up | down | moving | fault | None (no lock, or it has not reported yet)
    camera_ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BayVision:
    """How far the camera's view of one bay can be trusted now: the evidence a lock needs before
    it may rise. Filled by the bays stage on every frame, read by the interlock; stays in the
    process (``measured_at`` is monotonic, meaningless to anyone else).

    Whatever measures occupancy (the change detector today, a classifier tomorrow) fills the
    same four fields; the interlock's rules (locks/interlock.py) read only these.
    """

    measured_at: float | None  # monotonic time of the last occupancy measurement on a usable frame
    p_occupied: float | None = None  # a classifier's probability; None where the measure gives none
    occupied: bool | None = None  # what that measurement says now (fused with plate reads and the
    #                               presence sensor), before the bay state's arrival confirmation
    confident: bool = False  # the measurement is clear of its decision threshold(s)
    vision: str = "ok"  # "ok", or why the view cannot be trusted: camera_lost | camera_frozen |
    #                     camera_black | camera_flat | camera_unusable | camera_moved | camera_unmatched
    #                     (registration matched the view to no reference) | mask_empty |
    #                     mask_outside_frame | bay_flat | bay_clipped (the bay's crop shows nothing) |
    #                     bay_blurred (its fine detail washed out, nothing moving: a drop on the lens) |
    #                     bay_overlay (an on-screen clock ticks over it: ``camera.overlay``; or over 5 % of it
    #                     lies under the installer's ``camera.masks``: ``camera/masks.py``; or its crop holds a block
    #                     the camera paints, one exact grey level: ``bays.blank``, not measured) |
    #                     bay_too_small (under 8 of the camera's pixels across) | bay_redrawn (redrawn with
    #                     a car in it, its old outline's ground not yet seen empty; or saved over an unmatched
    #                     view with a car in it, no car yet seen on the new outline: ``bays.old_ground``) |
    #                     picture_cut (the picture jumped to another moment, a replayed buffer: ``bays.cut``)
    camera_empty: bool = False  # the camera alone (the classifier's settled verdict, without plate reads and
    #                             the presence sensor) says the bay is empty, confidently
    changed: bool = False  # the bay differs from its own picture when last confidently empty: something in it
    #                        the classifier calls empty (a person, a bicycle, a box: ``bays.empty_picture``)
    p_shipped: float | None = None  # with a site calibration, the shipped head's p of the same reading, or the
    #                                 baseline model's (occupancy.onnx) where read and higher (None: no calibration). Not
    #                                 ``confident`` empty unless it too reads at most ``exit_p``


def now_iso(clock: Clock) -> str:
    return iso(clock.now())


def parse_iso(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


class OutboxSeen(NamedTuple):
    """What the run ledger (``evidence/runs.py``) remembers of the MQTT outbox a run used (``Outbox.seen``): a start
    that finds another one knows that one vanished (``MqttLink.check_outbox``)."""

    identity: int  # the file's ``identity`` counter, random, set when the file was made
    last_event_id: str | None  # the newest event it took
    waiting: int  # events not yet delivered (retained documents are not counted: each start says them anew)
