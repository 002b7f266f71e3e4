"""What remote commands (MQTT) and the web page may ask of the running agent.

The MQTT and web layers depend on this protocol only, never on the runtime's classes,
so each can be tested against any object that implements it.
"""

from __future__ import annotations

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


class AgentControl(Protocol):
    def bay_ids(self) -> list[str]: ...

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        """Raise the bay's lock (the interlock may refuse: ``ok=False`` with the reason)."""

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult: ...

    def snapshot(self, bay_id: str | None) -> str:
        """Store an annotated frame as evidence now; returns its evidence id."""

    def reload_config(self) -> ControlResult: ...

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult: ...

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        """``status`` in CHARGER_STATES; ``finished`` while parked starts the overstay timer."""

    def charger_warnings(self) -> dict[str, list[dict[str, Any]]]:
        """Open charger health warnings per bay: ``[{"kind", "since", "event_id", "reason"}]``."""

    def reset_lock(self, bay_id: str, operator: str) -> ControlResult:
        """Clear a latched lock FAULT (refused while its cause persists); the lock stays down."""

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
