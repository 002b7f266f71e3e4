"""What remote commands (MQTT) and the web page may ask of the running agent.

The MQTT and web layers depend on this protocol only, never on the runtime's classes,
so each can be tested against any object that implements it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol


class ControlError(Exception):
    """A command was understood but refused (unknown bay, interlock, …); ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass
class ControlResult:
    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


CHARGER_STATES = ("charging", "finished", "idle")

Polygon = list[list[float]]
Warp = tuple[tuple[float, float, float], tuple[float, float, float]]  # 2x3: drawn px → the current view's px
IDENTITY: Warp = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))


@dataclass
class InstallerView:
    """What the installer's page draws on, taken in one go: a picture of the current view (``evidence_id``), each
    bay's outline where the agent places it on that picture (``placed``: id → (as drawn, as placed); the same while
    the camera has not moved) and how the camera stands: ``ok`` (in place, or a shift the bays follow), ``moved``
    (beyond ``camera.shift_tolerance_px``, turned, another frame shape: the bays are blind) or ``unmatched`` (the
    view matches no reference: nobody knows where the bays lie).

    Why the placed outlines: a Save takes the current view as the new reference, so what it writes must be the
    outlines on this view. The page showed and saved them as drawn on the old reference: after a 16 px drift,
    every bay the installer did not touch was saved 16 px off the new reference, silently and for good."""

    evidence_id: str
    placed: dict[str, tuple[Polygon, Polygon]] = field(default_factory=dict)
    camera: str = "ok"
    warp: Warp = IDENTITY  # how the bays were carried onto the picture (what a Save compares with the view then)
    reference: int = 0  # which reference ``warp`` was measured against (a Save or a confirmed view starts another)
    # the camera's health when the picture was taken: "" (frames coming, usable) or why not (``no_frames``,
    # ``frozen``, ``black``, ``flat``: then the picture is the last frame the camera sent, or one nobody can label)
    camera_problem: str = ""


@dataclass(frozen=True)
class LockNote:
    """What the live page says of a bay's lock beyond up / down / moving / fault: why it is faulted or stays down,
    and what the operator can do. Before, these lived only in ``lock_fault`` / ``lock_refused`` events, and an
    operator at the page could not tell a jammed motor from a sensor knocked off its aim. Times are wall-clock ISO
    (for people); the retained bay state and the MQTT schema are unchanged."""

    lock_id: str
    fault: str | None = None  # the latched FAULT's code
    fault_message: str = ""  # the agent's words for it (English)
    fault_since: str | None = None
    lowering_timed_out: bool = False  # a lowering in this fault timed out: the arm may not be down
    maintenance: bool = False
    maintenance_since: str | None = None
    maintenance_by: str | None = None
    maintenance_from: str | None = None  # the lock, no longer configured, whose maintenance this one took at a start
    blind_since: str | None = None  # the presence sensor is no witness (``presence_blind``) since
    blind_min: float | None = None  # for how long it missed a car the camera saw (``presence.disagree_s``)
    refused: str | None = None  # the refusal the interlock said last, while it stands and says more than the above
    refused_reason: str = ""
    refused_at: str | None = None
    lowering_in_s: float | None = None  # a lowering owed, not under way: seconds until it starts (0: due)
    lowering_since: str | None = None
    lowering_retried: bool = False  # that lowering's motor line write failed: tried again at each tick
    # why that lowering cannot start now, whatever its time says (``switches_both``: both limit switches read active,
    # the motor kept off): "in 0 s" stood on the page for as long as they did (probe lock36)
    lowering_blocked: str | None = None


class AgentControl(Protocol):
    def bay_ids(self) -> list[str]: ...

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        """Raise the bay's lock (the interlock may refuse: ``ok=False`` with the reason)."""

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult: ...

    def snapshot(self, bay_id: str | None) -> str:
        """Store an annotated frame as evidence now; returns its evidence id."""

    def installer_view(self) -> InstallerView:
        """A snapshot of the current view with the bays as the agent places them on it (``InstallerView``)."""

    def placement(self) -> tuple[Warp, str, int]:
        """How the bays are carried onto the current view now, the camera's state and the reference the carry is
        measured against (``InstallerView``'s)."""

    def reload_config(self, installer: bool = False) -> ControlResult:
        """Re-read the config. ``installer``: the installer page's Save of bays drawn over the current picture,
        which may take a view that no longer fits the bays as their reference (a hand edit may not)."""

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult: ...

    def plate_lists(self) -> tuple[list[str], list[str]]:
        """The allow and deny lists the agent runs now (a held ``set-lists`` keeps the edits made since it came)."""

    def plate_words(self, since: int | None) -> tuple[int, list[tuple[str, str]]]:
        """The number of the page's last list edit, and the (plate, "allow" / "deny") of those after ``since``
        (``PlateLists.words_since``)."""

    def lists_lock(self) -> AbstractContextManager[Any]:
        """Held across a read of the lists and the write built on it (``PlateLists.editing``: a held ``set-lists``'s
        merge, the page's list edit holds it too): an edit landing between them was overwritten."""

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        """``status`` in CHARGER_STATES; ``finished`` while parked starts the overstay timer."""

    def charger_warnings(self) -> dict[str, list[dict[str, Any]]]:
        """Open charger health warnings per bay: ``[{"kind", "since", "event_id", "reason"}]``."""

    def reset_lock(self, bay_id: str, operator: str) -> ControlResult:
        """Clear a latched lock FAULT (refused while its cause persists; the lock stays down), or end a
        ``presence_blind`` hold: whoever checked the sensor trusts it again."""

    def set_maintenance(self, bay_id: str, on: bool, operator: str) -> ControlResult:
        """Maintenance mode: the lock is held DOWN and makes no automatic moves."""

    def simulate(self, bay_id: str, action: str, fields: dict[str, Any]) -> ControlResult:
        """Inject a fault into the bay's simulated lock (``sim/{action}``); ``no_simulator`` for a real one."""


class LockControl(Protocol):
    """What the lock stage (``locks.LockManager``) offers the agent for the lock commands."""

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult: ...

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult: ...

    def reset(self, bay_id: str, operator: str = "operator") -> ControlResult: ...

    def set_maintenance(self, bay_id: str, on: bool, operator: str = "operator") -> ControlResult: ...

    def simulate(self, bay_id: str, action: str, fields: dict[str, Any]) -> ControlResult: ...

    def lock_notes(self) -> dict[str, LockNote]:
        """Per bay with a lock, what the live page says of it (``LockNote``)."""
