"""The per-bay state machine: pure (observations and a clock in, events out, no I/O).

Phases (README has the diagram)::

    free ──present ≥ arrival_confirm, at rest──▶ occupied ──consensus──▶ identified (NEV / allowed)
                                          │                    └──▶ identified (fuel) ──grace──▶ violation
                                          └──unidentified_timeout──▶ violation
    any occupied phase ──absent ≥ departure_confirm──▶ free   (blind frames never count as absent)

Overstay runs beside the phases: charger ``finished`` while parked starts a timer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge_agent.bays.consensus import Consensus, PlateVote
from edge_agent.bays.visit_verdict import Verdict
from edge_agent.clock import Clock, iso
from edge_agent.config.bays import TimersConfig
from edge_agent.events.types import BayState, Event, EventType
from edge_agent.perception.types import PlateRead

VerdictFn = Callable[[Consensus], Verdict]  # the visit's plate evidence → its NEV verdict

FREE, OCCUPIED, IDENTIFIED, VIOLATION = "free", "occupied", "identified", "violation"


@dataclass
class Visit:
    visit_id: str
    arrived_at: float
    consensus: Consensus | None = None
    verdict: Verdict | None = None
    partial: Consensus | None = None  # NEV by the class of partial reads alone (``_identify_partial``)
    violation: str | None = None  # reason while a violation is open
    violation_at: float | None = None
    finished_at: float | None = None  # charger reported finished
    overstay: bool = False


class BayMachine:
    """One bay's story. Call ``step`` per analysed frame, ``tick`` when time passes without one."""

    def __init__(
        self,
        bay_id: str,
        timers: TimersConfig,
        verdict: VerdictFn,
        clock: Clock,
        identify_reads: int = 3,
        lock: str | None = None,
    ) -> None:
        self.bay_id = bay_id
        self.timers = timers
        self._verdict = verdict
        self._clock = clock
        self.identify_reads = identify_reads
        self.visit: Visit | None = None
        self.vote = PlateVote(longer_reads=identify_reads)
        self._pending_since: float | None = None
        self._absent_since: float | None = None
        self._moved_at: float | None = None  # when something last moved in the bay (the camera's change gate)
        self._backed = True  # the presence's latest evidence leans present (see ``step``)
        self.camera_ok = True
        # the bay's lock as it last reported (lock_moved): None for no lock or none heard yet, never a
        # made-up word — bay-state.json allows up / down / moving / fault / null only
        self.lock: str | None = lock
        self._label = FREE
        self._since = iso(clock.now())

    # ---- inputs -------------------------------------------------------------------------
    def step(self, present: bool | None, reads: Iterable[PlateRead] = (),
             moved_at: float | None = None, backed: bool = True) -> list[Event]:
        """One observation: ``present`` True/False, or None when the camera cannot tell. ``moved_at``: the
        monotonic time something last moved in the bay, if the camera can tell (see ``_arrival_due``).
        ``backed`` False: present only as a verdict the doubt band holds, its latest reading leaning empty;
        an arrival waits for a reading that leans present again (the wait goes on, it does not restart)."""
        now = self._clock.monotonic()
        out: list[Event] = []
        self._backed = backed
        if moved_at is not None:
            self._moved_at = moved_at
        if present is None:  # blind: keep the story as it is, restart both confirmations
            self._pending_since = self._absent_since = None
        elif self.visit is None:
            if present:
                if self._pending_since is None:
                    self._pending_since = now
                    self.vote = PlateVote(longer_reads=self.identify_reads)
            else:
                self._pending_since = None
        else:
            self._absent_since = None if present else (self._absent_since if self._absent_since is not None else now)
        if present is not False and (self.visit is None or self.visit.consensus is None):
            for r in reads:  # an identified visit's vote is decided: the probes' reads of its plate (every
                self.vote.add(r)  # ``probe_s`` while it stays, 8,640 a day) only grew it, for nothing
        out += self._timers(now)
        return out

    def tick(self) -> list[Event]:
        return self._timers(self._clock.monotonic())

    def charger(self, status: str) -> list[Event]:
        """Charger ``charging`` / ``finished`` / ``idle``; only ``finished`` while parked starts overstay."""
        v = self.visit
        if v is None:
            return []
        out: list[Event] = []
        if status == "finished":
            if v.finished_at is None:
                v.finished_at = self._clock.monotonic()
        else:
            v.finished_at = None
            if v.overstay:
                out += self._end_overstay(v, "charging" if status == "charging" else "charger_idle")
        return out + self.tick()

    def lock_moved(self, state: str) -> None:
        self.lock = state

    def set_camera(self, ok: bool) -> None:
        self.camera_ok = ok
        if not ok:
            self._pending_since = self._absent_since = None

    def reverify(self) -> list[Event]:
        """Re-decide after the allow/deny lists changed: an allowed plate ends its violation."""
        v = self.visit
        if v is None or v.consensus is None:
            return []
        v.verdict = self._verdict(v.consensus)
        if v.violation and v.verdict.nev is True and v.violation != "unidentified":
            return self._end_violation(v, "allowed")
        return self.tick()

    # ---- outputs ------------------------------------------------------------------------
    def state(self) -> BayState:
        v = self.visit
        c, vd = (v.consensus or v.partial, v.verdict) if v else (None, None)
        return BayState(
            bay_id=self.bay_id,
            state=self._label if (self.camera_ok or v) else "unknown",
            since=self._since,
            visit_id=v.visit_id if v else None,
            plate=c.text if c else None,
            colour=c.colour if c else None,
            nev=vd.nev if vd else None,
            nev_reason=vd.reason if vd else None,
            lock=self.lock,
            camera_ok=self.camera_ok,
        )

    @property
    def phase(self) -> str:
        return self._label

    @property
    def idle(self) -> bool:
        """No visit and nothing waiting to become one."""
        return self.visit is None and self._pending_since is None

    # ---- internals ----------------------------------------------------------------------
    def _timers(self, now: float) -> list[Event]:
        out: list[Event] = []
        t = self.timers
        if self.visit is None:
            if self._pending_since is not None and self._backed and self._arrival_due(now, self._pending_since):
                self._pending_since = None
                self.visit = Visit(str(uuid.uuid4()), now)
                self._absent_since = None
                out.append(self._event(EventType.VEHICLE_ARRIVED, {}))
                self._set(OCCUPIED)
            else:
                return out
        v = self.visit
        if self._absent_since is not None and now - self._absent_since >= t.departure_confirm_s:
            return out + self._depart(v, now)
        if v.consensus is None:
            c = self.vote.result()
            if c is not None and c.reads >= self.identify_reads:
                vd = self._verdict(c)
                if vd.nev is not None:
                    out += self._identify(v, c, vd)
        if v.consensus is None and v.partial is None and now - v.arrived_at >= t.unidentified_timeout_s:
            found = self.vote.partial_class(self.identify_reads)
            if found is not None and found[1].nev is True:
                out += self._identify_partial(v, *found)
        if v.violation is None:
            if v.verdict is None and now - v.arrived_at >= t.unidentified_timeout_s:
                out += self._start_violation(v, "unidentified", now)
            elif v.verdict is not None and v.verdict.nev is False and now - v.arrived_at >= t.fuel_grace_s:
                out += self._start_violation(v, "deny_list" if v.verdict.reason == "deny_list" else "fuel_vehicle", now)
        if v.finished_at is not None and not v.overstay and now - v.finished_at >= t.overstay_s:
            v.overstay = True
            out.append(self._event(EventType.OVERSTAY_STARTED, {"finished_for_s": round(now - v.finished_at, 1)}))
            self._relabel()
        return out

    def _arrival_due(self, now: float, since: float) -> bool:
        """Present for ``arrival_confirm_s`` and come to rest: a car parks, then stops moving; one driving past
        or through keeps moving until it is gone (at 5–10 km/h a car takes 3–5 s to cross a bay). People getting
        out or loading keep a parked car's bay moving, so the wait for rest ends after ``arrival_settle_max_s``.
        Without a camera's motion signal (sensor, plates) presence alone counts."""
        t = self.timers
        waited = now - since
        if waited < t.arrival_confirm_s:
            return False
        if t.arrival_settle_s <= 0 or self._moved_at is None or waited >= t.arrival_confirm_s + t.arrival_settle_max_s:
            return True
        return now - self._moved_at >= t.arrival_settle_s

    def _identify(self, v: Visit, c: Consensus, vd: Verdict) -> list[Event]:
        v.consensus, v.verdict = c, vd
        out = [self._event(EventType.VEHICLE_IDENTIFIED, {
            "plate": c.text, "colour": c.colour, "type_code": vd.type_code, "nev": vd.nev,
            "reason": vd.reason, "confidence": round(c.confidence, 3), "reads": c.reads,
        })]
        if v.violation == "unidentified" and vd.nev:
            out += self._end_violation(v, "identified")
        self._relabel()
        return out

    def _identify_partial(self, v: Visit, c: Consensus, vd: Verdict) -> list[Event]:
        """A plate no frame read whole (a character under mud, a sticker, a tow bar) that ``identify_reads``
        frames judged NEV, and none "not NEV": the vehicle's class is known, its identity is not. Decided
        only once the visit would otherwise be ``unidentified`` (complete reads always had the first word
        and still can identify it later), it ends that violation or keeps it from starting: an NEV
        owner is not fined for mud. The plate (``?`` where unread) matched no list, and says so
        (``partial: true``); "not NEV" partial reads fine nobody by their class (an EV on a blue plate
        is told by the allow list, which a partial plate cannot match): they stay ``unidentified``."""
        v.partial, v.verdict = c, vd
        out = [self._event(EventType.VEHICLE_IDENTIFIED, {
            "plate": c.text, "colour": c.colour, "type_code": vd.type_code, "nev": True, "reason": vd.reason,
            "confidence": round(c.confidence, 3), "reads": c.reads, "partial": True,
        })]
        if v.violation == "unidentified":
            out += self._end_violation(v, "identified")
        self._relabel()
        return out

    def _start_violation(self, v: Visit, reason: str, now: float) -> list[Event]:
        v.violation, v.violation_at = reason, now
        data: dict[str, object] = {"reason": reason, "parked_s": round(now - v.arrived_at, 1)}
        if v.consensus:
            data.update(plate=v.consensus.text, colour=v.consensus.colour)
        elif (found := self.vote.partial_class(self.identify_reads)) is not None:
            # what the reviewer can read of the plate: never a list match, never an identity
            data.update(plate=found[0].text, colour=found[0].colour, partial=True)
        ev = self._event(EventType.VIOLATION_STARTED, data)
        self._relabel()
        return [ev]

    def _end_violation(self, v: Visit, reason: str) -> list[Event]:
        now = self._clock.monotonic()
        ev = self._event(EventType.VIOLATION_ENDED, {
            "reason": reason, "violation": v.violation, "duration_s": round(now - (v.violation_at or now), 1)})
        v.violation = v.violation_at = None
        self._relabel()
        return [ev]

    def _end_overstay(self, v: Visit, reason: str) -> list[Event]:
        v.overstay = False
        ev = self._event(EventType.OVERSTAY_ENDED, {"reason": reason})
        self._relabel()
        return [ev]

    def close(self, reason: str) -> list[Event]:
        """End the open visit that no departure will end (the bay left the config at a reload): its violation
        and overstay end and the visit departs, all with ``reason``. Nothing when the bay is free."""
        return self._depart(self.visit, self._clock.monotonic(), reason) if self.visit else []

    def _depart(self, v: Visit, now: float, reason: str | None = None) -> list[Event]:
        out: list[Event] = []
        if v.violation:
            out += self._end_violation(v, reason or "departed")
        if v.overstay:
            out += self._end_overstay(v, reason or "departed")
        data: dict[str, object] = {"stayed_s": round(now - v.arrived_at, 1)}
        if v.consensus:
            data["plate"] = v.consensus.text
        elif (found := v.partial or _first(self.vote.partial_class(self.identify_reads))) is not None:
            # only partial reads (identified by their class, or unidentified): what they showed, said so — no identity
            data.update(plate=found.text, partial=True)
        if reason:
            data["reason"] = reason
        out.append(self._event(EventType.VEHICLE_DEPARTED, data))
        self.visit, self._absent_since, self.vote = None, None, PlateVote(longer_reads=self.identify_reads)
        self._set(FREE)
        return out

    def _relabel(self) -> None:
        v = self.visit
        if v is None:
            self._set(FREE)
        elif v.violation:
            self._set(VIOLATION)
        elif v.overstay:
            self._set("overstay")
        else:
            self._set(IDENTIFIED if v.consensus or v.partial else OCCUPIED)

    def _set(self, label: str) -> None:
        if label != self._label:
            self._label = label
            self._since = iso(self._clock.now())

    def _event(self, type_: str, data: dict[str, object]) -> Event:
        return Event.make(type_, self._clock, bay_id=self.bay_id, visit_id=self.visit.visit_id if self.visit else None,
                          data=data)


def _first(found: tuple[Consensus, Verdict] | None) -> Consensus | None:
    return found[0] if found is not None else None
