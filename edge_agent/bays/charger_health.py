"""Charger health from what the camera sees: three explainable warnings per charger.

``charger_suspect``  NEVs parked ≥ N min in K visits in a row and the charger never said ``charging``
                     (broken or "zombie" charger).
``charger_mismatch`` the charger says ``charging`` while the bay has looked empty ≥ M min
                     (wrong bay mapping, meter fault).
``charger_silent``   no status from the charger for ≥ H h while vehicles use the bay (link lost).

Each warning is one event carrying its evidence (the visits behind it) and ends with a
``<kind>_cleared`` event when its condition ends. Pure on purpose: bus events, charger reports and
the injected clock in, events out — the agent publishes them, so this is tested without a camera.
Nothing is raised before the first charger report since start: a site that feeds no charger status
would otherwise see every charger "suspect" and "silent".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_agent.clock import Clock, iso
from edge_agent.config.chargers import ChargerHealthConfig
from edge_agent.events.types import Event, EventType

SUSPECT, MISMATCH, SILENT = "charger_suspect", "charger_mismatch", "charger_silent"
KINDS = (SUSPECT, MISMATCH, SILENT)
EVIDENCE_MAX = 20  # visits listed in one warning at most (the count is always complete)
WATCHED = {EventType.VEHICLE_ARRIVED, EventType.VEHICLE_IDENTIFIED, EventType.VEHICLE_DEPARTED,
           EventType.CAMERA_LOST, EventType.CAMERA_RESTORED}


@dataclass
class _Visit:
    visit_id: str
    arrived_at: float
    arrived_ts: str
    plate: str | None = None
    nev: bool | None = None
    charging: bool = False  # the charger said `charging` at some time during this visit
    counted: bool = False  # already in the suspect streak

    def summary(self, now: float) -> dict[str, Any]:
        return {"visit_id": self.visit_id, "arrived": self.arrived_ts, "plate": self.plate, "nev": self.nev,
                "parked_min": round((now - self.arrived_at) / 60, 1)}


@dataclass
class _Bay:
    charger_id: str
    empty_since: float | None
    status: str | None = None
    status_at: float | None = None
    status_ts: str | None = None
    visit: _Visit | None = None
    last_visit: dict[str, Any] | None = None
    streak: list[dict[str, Any]] = field(default_factory=list)
    # visits since the last status report: how many, and the last EVIDENCE_MAX ids (a charger that never reports,
    # or a site whose charger feed is not set up, kept every visit id for as long as the agent ran)
    unreported: list[str] = field(default_factory=list)
    unreported_n: int = 0
    active: dict[str, Event] = field(default_factory=dict)
    watched_since: float = float("-inf")  # when a reload put this charger in the config (its silence counts from then)


class ChargerHealth:
    """Feed ``on_event`` (bus events), ``on_status`` (charger reports) and ``tick``; each returns events."""

    def __init__(self, cfg: ChargerHealthConfig, chargers: dict[str, str], clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        now = clock.monotonic()
        self._bays = {bay: _Bay(charger, empty_since=now) for bay, charger in chargers.items()}
        self._armed_at: float | None = None
        self._blind = False
        self._reported: dict[str, str] = {}  # last status of every bay, with a charger id or not

    def status(self, bay: str) -> str | None:
        """The last status reported for ``bay`` since start (None: none yet)."""
        return self._reported.get(bay)

    # ---- inputs -------------------------------------------------------------------------
    def on_event(self, ev: Event) -> list[Event]:
        now = self.clock.monotonic()
        if ev.type in (EventType.CAMERA_LOST, EventType.CAMERA_RESTORED):
            self._blind = ev.type == EventType.CAMERA_LOST
            for each in self._bays.values():  # a blind camera is no evidence that a bay is empty
                each.empty_since = None if self._blind or each.visit else now
            return self.tick()
        bay_id = ev.bay_id or ""
        b = self._bays.get(bay_id)
        if b is None or ev.type not in WATCHED:
            return []
        out: list[Event] = []
        if ev.type == EventType.VEHICLE_ARRIVED:
            b.visit = _Visit(ev.visit_id or ev.event_id, now, ev.ts, charging=b.status == "charging")
            b.empty_since = None
            b.unreported = (b.unreported + [b.visit.visit_id])[-EVIDENCE_MAX:]
            b.unreported_n += 1
            out += self._clear(bay_id, b, MISMATCH, "vehicle_arrived")
        elif ev.type == EventType.VEHICLE_IDENTIFIED and b.visit is not None:
            b.visit.plate, b.visit.nev = ev.data.get("plate"), ev.data.get("nev")
        elif ev.type == EventType.VEHICLE_DEPARTED:
            if b.visit is not None:
                b.last_visit = {**b.visit.summary(now), "departed": ev.ts}
            b.visit = None
            b.empty_since = None if self._blind else now
        return out + self._check(bay_id, b, now)

    def on_status(self, bay: str, status: str) -> list[Event]:
        """A charger report (``charging`` / ``finished`` / ``idle``) for ``bay``."""
        b = self._bays.get(bay)
        now = self.clock.monotonic()
        self._reported[bay] = status
        if self._armed_at is None:
            self._armed_at = now
            for other in self._bays.values():
                other.unreported = [other.visit.visit_id] if other.visit else []
                other.unreported_n = len(other.unreported)
        if b is None:
            return []
        b.status, b.status_at, b.status_ts = status, now, iso(self.clock.now())
        b.unreported = [b.visit.visit_id] if b.visit else []
        b.unreported_n = len(b.unreported)
        out = self._clear(bay, b, SILENT, "status_received")
        if status == "charging":
            if b.visit is not None:
                b.visit.charging = True
            b.streak = []
            out += self._clear(bay, b, SUSPECT, "charging_reported")
        else:
            out += self._clear(bay, b, MISMATCH, f"charger_{status}")
        return out + self._check(bay, b, now)

    def tick(self) -> list[Event]:
        now = self.clock.monotonic()
        return [ev for bay, b in self._bays.items() for ev in self._check(bay, b, now)]

    def reconfigure(self, cfg: ChargerHealthConfig, chargers: dict[str, str]) -> list[Event]:
        """A config reload: kept chargers keep their history; a removed charger's warnings are cleared, also when
        another charger took its bay (a new ``charger_id``): the new one starts its own record (status, run of
        visits), the bay's open visit kept. Before, the old charger's warning stayed open on the bay, to be
        cleared in the new charger's name, and its run of visits counted against the new charger."""
        out: list[Event] = []
        for bay in [bay for bay, b in self._bays.items() if chargers.get(bay) != b.charger_id]:
            b = self._bays.pop(bay)
            for kind in list(b.active):
                out += self._clear(bay, b, kind, "charger_removed")
            if bay in chargers:  # another charger on this bay: what the camera knows of the bay stays
                self._bays[bay] = _Bay(chargers[bay], empty_since=b.empty_since, visit=b.visit,
                                       last_visit=b.last_visit, watched_since=self.clock.monotonic())
        now = self.clock.monotonic()
        for bay, charger in chargers.items():
            self._bays.setdefault(bay, _Bay(charger, empty_since=None if self._blind else now, watched_since=now))
        self.cfg = cfg
        if not cfg.enabled:
            for bay, b in self._bays.items():
                for kind in list(b.active):
                    out += self._clear(bay, b, kind, "disabled")
        return out

    # ---- what the page and the heartbeat show -------------------------------------------
    def active(self) -> dict[str, list[dict[str, Any]]]:
        """Open warnings per bay: ``{bay: [{"kind", "since", "event_id", "reason"}]}``."""
        return {bay: [{"kind": k, "since": e.ts, "event_id": e.event_id, "reason": e.data.get("reason")}
                      for k, e in b.active.items()] for bay, b in self._bays.items() if b.active}

    # ---- internals ----------------------------------------------------------------------
    def _check(self, bay: str, b: _Bay, now: float) -> list[Event]:
        if not self.cfg.enabled or self._armed_at is None:
            return []
        c, out = self.cfg, []
        v = b.visit
        if v and v.nev and not v.charging and not v.counted and now - v.arrived_at >= c.suspect_park_min * 60:
            v.counted = True
            b.streak = (b.streak + [v.summary(now)])[-EVIDENCE_MAX:]
            if len(b.streak) >= c.suspect_visits and SUSPECT not in b.active:
                out += self._raise(bay, b, SUSPECT, v.visit_id, {
                    "reason": f"{len(b.streak)} NEV visits in a row parked ≥ {c.suspect_park_min:g} min, "
                              "no `charging` report", "visits": b.streak[-c.suspect_visits:]})
        if (b.status == "charging" and v is None and b.empty_since is not None and MISMATCH not in b.active
                and now - b.empty_since >= c.mismatch_empty_min * 60):
            out += self._raise(bay, b, MISMATCH, None, {
                "reason": f"charger says charging, bay empty {round((now - b.empty_since) / 60, 1)} min",
                "charging_reported": b.status_ts, "empty_min": round((now - b.empty_since) / 60, 1),
                "visits": [b.last_visit] if b.last_visit else []})
        last = b.status_at if b.status_at is not None else max(self._armed_at, b.watched_since)
        if b.unreported_n and SILENT not in b.active and now - last >= c.silent_after_h * 3600:
            out += self._raise(bay, b, SILENT, None, {
                "reason": f"no charger status for {round((now - last) / 3600, 1)} h "
                          f"while {b.unreported_n} visit(s) happened",
                "last_status": b.status_ts, "silent_h": round((now - last) / 3600, 2),
                "visit_count": b.unreported_n, "visits": [{"visit_id": i} for i in b.unreported]})
        return out

    def _raise(self, bay: str, b: _Bay, kind: str, visit_id: str | None, evidence: dict[str, Any]) -> list[Event]:
        reason = evidence.pop("reason")
        ev = Event.make(kind, self.clock, bay_id=bay, visit_id=visit_id,
                        data={"charger_id": b.charger_id, "reason": reason, "evidence": evidence})
        b.active[kind] = ev
        return [ev]

    def _clear(self, bay: str, b: _Bay, kind: str, why: str) -> list[Event]:
        raised = b.active.pop(kind, None)
        if raised is None:
            return []
        return [Event.make(f"{kind}_cleared", self.clock, bay_id=bay, data={
            "charger_id": b.charger_id, "reason": why, "raised_event_id": raised.event_id, "raised_ts": raised.ts})]
