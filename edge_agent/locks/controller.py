"""Per-bay lock policy: when to ask the interlock for UP or DOWN.

- Bay free (camera, presence sensor and recent reads all agree) → keep the lock UP,
  reserving the bay for NEVs.
- ``vehicle_identified`` with ``nev: true`` → DOWN at once (the decision cycle is the
  bus event itself, not the next tick).
- Fuel car or unidentified vehicle → no lowering; ``lock_warning`` event and the warning
  output for ``warning_s``.
- Lowered (NEV or remote unlock) and nobody arrives within ``admit_window_s`` → UP, once the bay has been seen free
  for ``auto_raise_delay_s`` too (as every rise).
- A vehicle was there and left: bay confirmed free for ``auto_raise_delay_s`` → UP; so too after
  the arm moved without a command (``lock_tamper``): not before ``auto_raise_delay_s`` from then.
- Remote ``lock`` / ``unlock`` with a reason; a ``lock`` also needs the bay seen free for ``auto_raise_delay_s`` on
  end, and that long since a ``lock_tamper`` (refused ``occupancy_unsure`` with the seconds left); maintenance mode
  holds DOWN, no automatic moves, until turned off — also over a restart (saved with the faults, ``locks/latches.py``).
The controller never touches the motor: every move is a request the interlock may refuse.
"""

from __future__ import annotations

from typing import Literal

from edge_agent.clock import Clock
from edge_agent.config.locks import LockConfig
from edge_agent.control import LockNote
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, Event, EventType
from edge_agent.locks.interlock import Decision, Interlock

# codes of vehicle_possible() that mean "a vehicle is (or was just) there", not "unknown"
_VEHICLE_CODES = {"vehicle_present", "bay_occupied"}
# codes that say the bay is not free (a vehicle there, arriving, or a visit not yet ended): the policy wants no raise
_NOT_FREE = _VEHICLE_CODES | {"bay_in_visit", "vision_occupied"}
_READ_EVENTS = set(EventType.BAY_STORY) - {EventType.VEHICLE_DEPARTED}
#: held codes the interlock says itself, once an episode of its own that spans the cars coming and going
#: (``Interlock._judge_blindness``): the held raise's word after a car would say it twice
_SAID_BY_INTERLOCK = {"presence_blind"}
#: refusals the live page's note says otherwise (the fault, maintenance, the blind sensor's hold: ``note``)
_NOTED_APART = {"fault", "maintenance", "presence_blind"}
#: the policy's raise refused because the camera's fresh pictures come too far apart for any watch (``_policy_raise``)
SPARSE = "occupancy_sparse"
#: seconds the presence sensor must report a vehicle over the raised arm (gaps shorter than this spanned) before the arm
#: is lowered from under it: a car over the arm stands there; a spike on the line, a bird, a foot stepping over the
#: sensor does not (``_lower_from_under_car``)
OVER_ARM_HOLD_S = 2.0


class LockController:
    def __init__(self, cfg: LockConfig, bay_id: str, interlock: Interlock, bus: EventBus, clock: Clock) -> None:
        self.cfg, self.bay_id, self.il, self.bus, self.clock = cfg, bay_id, interlock, bus, clock
        held = interlock.latches.maintenance(cfg.id) is not None  # set before a restart
        self.mode: Literal["auto", "maintenance"] = "maintenance" if held else "auto"
        self.free_since: float | None = None
        self.seen_at: float | None = None  # the camera's last measurement of the bay seen fresh (``_track_free``)
        # fresh measurements in a row that came at least auto_raise_delay_s after the one before (each restarted the
        # free timer): from the second, the policy's raise refused stale says why it never comes (SPARSE)
        self.gaps_in_a_row = 0
        self.last_gap_s = 0.0
        # SPARSE said and the arm not risen since: a stale raise keeps that word until it rises, another cause is
        # named or a car parks. Ended at the first sooner picture, a camera whose pictures come mostly a delay apart
        # (the odd one sooner: someone walking past) said stale, then sparse, then stale again: two events per few
        # minutes where one was said before (review33)
        self.sparse = False
        self.admitted_at: float | None = None
        self.vehicle_since_admission = False
        self.held_since: float | None = None  # no vehicle in the bay, but something else refuses the raise, since
        self._held_said = False  # that held raise has been said (``_held``: once an episode)
        self._warning_until: float | None = None
        self._warned_visit: str | None = None
        # a vehicle reported over the raised arm: since when, and last (``_lower_from_under_car``)
        self._over_arm: tuple[float, float] | None = None
        interlock.on_input = self.on_input

    def start(self) -> None:
        """After the interlock's start: maintenance mode kept over a restart holds the arm DOWN again, and
        says so (``lock_maintenance`` with ``restored: true``), as a fault kept over a restart does."""
        if self.mode == "maintenance":
            with self.il.guard():
                self._maintenance_event(True, restored=True)
                self.il.lower_at_start("maintenance mode (kept over a restart)")

    # -- inputs from the bay stage --------------------------------------------------------------
    def on_input(self) -> None:
        """A presence or switch edge, already judged by the interlock: a vehicle seen between two
        ticks restarts the free timer as one seen at a tick does."""
        with self.il.guard():
            self._lower_from_under_car()
            self._track_free()

    def on_event(self, ev: Event) -> None:
        if ev.bay_id != self.bay_id:
            return
        with self.il.guard():
            if ev.type in _READ_EVENTS:
                self.il.evidence.last_read_at = self.clock.monotonic()
                self.il.visit_id = ev.visit_id or self.il.visit_id
            elif ev.type == EventType.VEHICLE_DEPARTED:
                self.il.visit_id = None
            if ev.type == EventType.VEHICLE_IDENTIFIED:
                nev = ev.data.get("nev")
                if nev is True:
                    if self.mode == "auto" and self.cfg.policy.lower_for_nev:
                        plate = ev.data.get("plate") or "?"
                        self._admit(f"NEV {plate} identified")
                elif (nev is False and self.cfg.policy.warn_fuel) or (nev is None and self.cfg.policy.warn_unidentified):
                    self._warn(ev, "fuel vehicle" if nev is False else "unidentified vehicle")
            elif ev.type == EventType.VIOLATION_STARTED and self.cfg.policy.warn_unidentified:
                self._warn(ev, "violation: " + str(ev.data.get("kind") or ev.data.get("reason") or "vehicle"))
            self.il.check()
            self._track_free()

    def on_state(self, st: BayState) -> None:
        if st.bay_id != self.bay_id:
            return
        with self.il.guard():
            self.il.evidence.bay_state = st
            self.il.visit_id = st.visit_id if st.state != "free" else None
            self.il.check()
            self._track_free()

    def on_vision(self) -> None:
        """The camera's evidence for the bay changed (code or confidence)."""
        with self.il.guard():
            self.il.check()
            self._track_free()

    # -- commands -------------------------------------------------------------------------------------
    def lock(self, reason: str, operator: str | None) -> Decision:
        with self.il.guard():
            if self.mode == "maintenance":
                return self.il.refuse("maintenance", "bay in maintenance mode", reason, operator)
            left = self._unwatched_left()
            if left is not None:
                at = self.il.tampered_at
                recent = at is not None and self.clock.monotonic() - at < self.cfg.auto_raise_delay_s
                tamper = ", nor that long since the arm was moved without a command" if recent else ""
                return self.il.refuse("occupancy_unsure", (
                    f"the bay has not been seen empty, confidently, for auto_raise_delay_s "
                    f"({self.cfg.auto_raise_delay_s:g}s) on end{tamper}, as every raise needs: raise in {left:.0f}s "
                    "if it stays so"), reason, operator)
            d = self.il.request("up", reason, operator)
            if d.ok:
                self.admitted_at = None
            return d

    def unlock(self, reason: str, operator: str | None) -> Decision:
        with self.il.guard():
            return self._admit(reason, operator)

    def reset(self, operator: str | None = None) -> Decision:
        """Clear the interlock's FAULT; the bay must then be free for ``auto_raise_delay_s`` from now
        before the policy raises (whoever reset it may still be at the arm, as after maintenance)."""
        with self.il.guard():
            had_fault = self.il.fault is not None
            d = self.il.reset(operator)
            if d.ok and had_fault:
                self.free_since = None
                self.admitted_at = None
                self._track_free()
            return d

    def set_maintenance(self, on: bool, operator: str | None = None) -> Decision:
        """Each change of mode is an event (``lock_maintenance``): before, only the command's author saw the
        reply, and a bay held down for a technician who then left stayed down for good with nothing on the
        record — no event (an arm already down does not move), nothing in the bay state or the heartbeat."""
        with self.il.guard():
            began = self.il.latches.maintenance(self.cfg.id)  # the episode an "off" ends
            self.il.latches.set_maintenance(self.cfg.id, on, operator)
            if on:
                if self.mode != "maintenance":
                    self._maintenance_event(True, operator=operator)
                self.mode = "maintenance"
                self.admitted_at = None
                d = self.il.request("down", "maintenance mode", operator)
                if not d.ok and d.code == "down_unconfirmed":
                    # the mode is on all the same (the words and ``data.mode`` say so), but not what the command
                    # promises — the lock held down: ``ok: false`` as for an ``unlock`` that cannot be driven. Answered
                    # ``ok: true`` (probe lock36), a backend reading ``ok`` believed the arm down with it up, the
                    # belief that let an NEV in front of it (lock34); a mode believed off holds nothing up (review56)
                    return Decision(False, f"maintenance mode on; {d.message}", d.code)
                return d
            if self.mode == "maintenance":
                self._maintenance_event(False, operator=operator, since=began.since if began else None)
            self.mode = "auto"
            self.free_since = None  # the confirm delay starts again from now
            self._track_free()
            return Decision(True, "automatic mode")

    def note(self) -> LockNote:
        """What the live page says of this lock (``LockNote``): its fault, maintenance, a blind sensor's hold, the
        refusal said last while the arm is not up, and a lowering owed. Call with the interlock's lock held."""
        il, lock_id = self.il, self.cfg.id
        fault = il.latches.fault(lock_id) if il.fault else None
        maint = il.latches.maintenance(lock_id) if self.mode == "maintenance" else None
        blind = il.latches.presence_blind(lock_id) if il.presence_blind is not None else None
        said = il.said_refusal()
        if said is not None and (said[0] in _NOTED_APART or il.fault or il.public_state == "up"
                                 or (said[0] == SPARSE and not self.sparse)):  # the interlock judges the others
            said = None
        owed = il.owed_lowering_in()
        return LockNote(
            lock_id, fault=il.fault, fault_message=fault.message if fault else "",
            fault_since=fault.since if fault else None, lowering_timed_out=il.lowering_timed_out,
            maintenance=self.mode == "maintenance", maintenance_since=maint.since if maint else None,
            maintenance_by=maint.operator if maint else None, maintenance_from=maint.inherited_from if maint else None,
            blind_since=blind.since if blind else None,
            blind_min=self.cfg.presence.disagree_s / 60 if il.presence_blind is not None and self.cfg.presence else None,
            refused=said[0] if said else None, refused_reason=said[1] if said else "",
            refused_at=said[2] if said else None,
            lowering_in_s=None if owed is None else round(owed, 1),
            lowering_since=il.latches.lowering(lock_id) if owed is not None else None,
            lowering_retried=owed is not None and il.lowering_retried,
            lowering_blocked=il.lowering_blocked if owed is not None else None)

    def _maintenance_event(self, on: bool, operator: str | None = None, since: str | None = None,
                           restored: bool = False) -> None:
        saved = self.il.latches.maintenance(self.cfg.id)
        heir_of = None
        if on and saved is not None:  # when it began, and who began it (a restored one: from the file)
            since, operator = saved.since, operator or saved.operator
            heir_of = saved.inherited_from if restored else None  # a lock no longer configured's (probe locks45)
        self.il.emit(EventType.LOCK_MAINTENANCE, on=on, operator=operator, since=since,
                     restored=True if restored else None, inherited_from=heir_of)

    # -- time -------------------------------------------------------------------------------------------
    def tick(self) -> None:
        with self.il.guard():
            self.il.tick()
            now = self.clock.monotonic()
            if self._warning_until is not None and now >= self._warning_until:
                self._warning_until = None
                self.il.driver.set_warning(False)
            self._lower_from_under_car()
            self._track_free()
            due = self.raise_due()
            if due is not None and now >= due:
                d = self._policy_raise()
                if d.ok:
                    self.admitted_at = None

    def raise_due(self) -> float | None:
        """When the policy wants the lock UP again (None: not waiting to raise)."""
        il = self.il
        if self.mode != "auto" or not self.cfg.policy.auto_raise or il.fault or il.state != "down":
            return None
        if self.free_since is None:
            return None
        # every rise waits for the bay seen free (every input saying empty, confidently) for auto_raise_delay_s on
        # end; the admit window only sets the earliest time. Taken alone, it raised on the one reading at its due
        # time: a parked car the camera never confirmed, read on exit_p (0.28-0.36, one frame in two confidently
        # "empty"), had the arm rise under it 120 s after its unlock (probe occ37, PKLot 2013-03-09's bay A08)
        due = self.free_since + self.cfg.auto_raise_delay_s
        if self.admitted_at is not None and not self.vehicle_since_admission:
            due = max(due, self.admitted_at + self.cfg.admit_window_s)
        if il.tampered_at is not None:
            # an arm pushed flat is a car rolling over it, maybe before the camera calls it: the bay
            # counts as free from then on, not from before (it rose under the car 0.1 s later)
            due = max(due, il.tampered_at + self.cfg.auto_raise_delay_s)
        return due

    # -- internals --------------------------------------------------------------------------------------
    def _policy_raise(self) -> Decision:
        """The policy's UP. Refused stale where the camera's fresh pictures of the bay keep coming
        ``auto_raise_delay_s`` or more apart, it is refused ``occupancy_sparse``, saying so: each such picture
        restarts the free timer (a pause that long is no watch), so the raise never comes — before, the only word
        was one ``occupancy_stale`` refusal, and the arm stayed down for good (a camera sending a frame a minute, a
        still scene's key frames under a raised ``camera.frozen_after_s``). Never a raise the interlock would refuse:
        only the refusal's code and words differ."""
        reason = self._raise_reason()
        why = self.il.vehicle_possible()
        stale = why is not None and why[0] == "occupancy_stale"
        self.sparse = stale and (self.sparse or self.gaps_in_a_row >= 2)
        if self.sparse:
            return self.il.refuse(SPARSE, (
                f"the camera's new pictures of the bay come {self.last_gap_s:.0f}s apart, at least auto_raise_delay_s "
                f"({self.cfg.auto_raise_delay_s:g}s): the bay is never seen free that long between two, so it never "
                "rises (a camera sending fewer frames than camera.fps says, or a still scene's key frames that far "
                "apart)"), reason, None)
        return self.il.request("up", reason, policy=True)

    def _raise_reason(self) -> str:
        if self.admitted_at is not None and not self.vehicle_since_admission:
            return f"nobody parked within the admit window ({self.cfg.admit_window_s:g}s)"
        return f"bay free for {self.cfg.auto_raise_delay_s:g}s"

    def _unwatched_left(self) -> float | None:
        """Seconds a commanded UP must still wait for the bay seen free on end (``free_since``), where that is all that
        stands in its way; None where the interlock decides alone (its own refusal, "already up", a rise under way).
        The same ``auto_raise_delay_s`` as the policy's rise: the backend or operator adds no evidence of the bay —
        they act on a booking or on the same camera's picture — and a car read on ``exit_p`` (one frame in two
        confidently empty) fooled a command sent on an empty frame as it fooled the admit window (probe review74).
        Paid only after the bay's evidence broke: a bay seen free all along is closed at once. An arm moved without a
        command (``lock_tamper``: a car rolling over it, maybe before the camera calls it) counts as such a break, as
        for the policy's rise: a ``lock`` on the next "empty" frame drove it up under the car (probe cmdwatch)."""
        il = self.il
        self._track_free()
        if il.fault or il.state == "up" or il.public_state == "moving" or il.vehicle_possible() is not None:
            return None
        delay = float(self.cfg.auto_raise_delay_s)
        if self.free_since is None:
            return delay
        due = self.free_since + delay
        if il.tampered_at is not None:
            due = max(due, il.tampered_at + delay)
        left = due - self.clock.monotonic()
        if left <= 0:
            return None
        return left if left == left else delay  # NaN: wait the whole delay

    def _admit(self, reason: str, operator: str | None = None) -> Decision:
        d = self.il.request("down", reason, operator)
        if d.ok and self.mode == "auto":
            self.admitted_at = self.clock.monotonic()
            self.vehicle_since_admission = False
        return d

    def _track_free(self) -> None:
        why = self.il.vehicle_possible()
        now = self.clock.monotonic()
        if why is not None and why[0] == "occupancy_stale":
            # a pause in the camera's evidence (a picture repeated between a still scene's key frames, a slow
            # inference, a stream stalled under camera.lost_after_s) says nothing either way: it neither starts
            # nor restarts the timer, and the raise itself still needs fresh evidence. Restarting it let a still
            # scene whose decoded frames repeat for over occupancy_max_age_s once in every auto_raise_delay_s keep
            # the arm down for good, with nothing said. A camera called lost or frozen is blind: that restarts it.
            return
        v = self.il.evidence.vision() if self.il.evidence.vision is not None else None
        at = v.measured_at if v is not None and v.vision == "ok" else None
        if at is not None:
            if self.seen_at is not None and at - self.seen_at >= self.cfg.auto_raise_delay_s:
                # but a pause as long as the whole delay is no pause in a watch: nothing of the bay was seen for the
                # time it must be seen free. Spanned, the arm rose on the first frame after 10 minutes of silence
                # (a camera loop stalled, a bay's picture hung under a ticking clock) on 2 s of watching
                self.free_since = None
                self.gaps_in_a_row, self.last_gap_s = self.gaps_in_a_row + 1, at - self.seen_at
            elif self.seen_at is not None and at > self.seen_at:
                self.gaps_in_a_row = 0
            self.seen_at = at
        # a recent read only blocks the raise itself (interlock); the free timer runs from departure
        if why is None or why[0] == "recent_read":
            if not self._policy_waits():  # a free moment ends no held episode: only a car, a rise or a mode does
                self.held_since, self._held_said = None, False
            if self.free_since is None:
                self.free_since = now
            return
        self.free_since = None
        if why[0] in _VEHICLE_CODES:
            self.sparse = False  # a car parked: whatever comes after it is another episode
        self._held(why, now)
        if self.admitted_at is not None and why[0] in _VEHICLE_CODES:
            self.vehicle_since_admission = True

    def _lower_from_under_car(self) -> None:
        """The presence sensor under the arm reports a vehicle while the arm is up and at rest: a car stands over the
        raised arm (it rose under a car the camera missed, by any fault) → DOWN, whatever the car. Lowering moves the
        arm away from the car's underside; kept up, it stayed pressed there — over a fuel car with a warning, for the
        driver to tear off when leaving (probe lock39) — and the car holds the bay already, so lowering lets no one
        in. A car stopped in front of a raised arm is outside the sensor's beam by design: the camera alone cannot
        tell it from one over the arm, and the NEV-only rule keeps the arm up in front of it.

        Once the sensor has said so for ``OVER_ARM_HOLD_S`` (shorter gaps spanned): taken at once, a 0.1 s spike
        every 40 s drove the arm down and up again 25 times in 10 minutes, the NEV bay open after each, and the arm
        swept down at whoever stepped over the sensor (review85)."""
        il, now = self.il, self.clock.monotonic()
        if il.fault or il.state != "up":
            self._over_arm = None
            return
        if (il.vehicle_possible() or ("",))[0] != "vehicle_present":
            if self._over_arm is not None and not now - self._over_arm[1] < OVER_ARM_HOLD_S:
                self._over_arm = None  # clear that long: the next report starts again
            return
        first = now if self._over_arm is None else self._over_arm[0]
        self._over_arm = (first, now)
        if now - first < OVER_ARM_HOLD_S:
            return
        self._over_arm = None
        il.request("down", "vehicle over the raised arm (presence sensor)")

    def _policy_waits(self) -> bool:
        """The policy wants the arm up once the bay is free: automatic mode, no fault, the arm down."""
        il = self.il
        return self.mode == "auto" and self.cfg.policy.auto_raise and not il.fault and il.state == "down"

    def _held(self, why: tuple[str, str], now: float) -> None:
        """No vehicle in the bay, but something else (``why``) refuses the raise: once that episode has lasted
        ``auto_raise_delay_s`` — as long as a free bay waits for its raise; an admission's ``admit_window_s`` — the
        policy's held raise is said (``lock_refused`` with the code, once an episode). Such a code restarts the free
        timer, so the raise never fell due and nothing was refused: a bay held ``bay_changed`` (its picture differing
        from its empty picture while something keeps moving in it), which neither the heartbeat's ``bays_unseen`` nor
        any event names, kept its arm down for as long as that lasted, with nothing said (probe lock30).

        The episode is ended by a vehicle, a rise, a fault or maintenance mode — not by a free moment: a code coming
        and going more often than ``auto_raise_delay_s`` (15 s changed, 10 s plain) held the arm down for good and
        was never said; nor does it run while the policy waits for nothing (the arm up, in maintenance): an unlock or
        the end of maintenance said at once a hold that had begun long before (probe review35)."""
        if why[0] in _NOT_FREE or not self._policy_waits():
            self.held_since, self._held_said = None, False
            return
        if self.held_since is None:
            self.held_since = now
        due = self.held_since + self.cfg.auto_raise_delay_s
        if self.admitted_at is not None and not self.vehicle_since_admission:
            due = max(due, self.admitted_at + self.cfg.admit_window_s)
        if not self._held_said and now >= due:
            self._held_said = True  # the first code says it; the episode's later codes (a reload's flicker) do not
            # said in this episode already (a remote lock's refusal of the code): not again
            since = None if why[0] in _SAID_BY_INTERLOCK else self.held_since
            self.il.refuse(why[0], why[1], f"the policy's raise: no vehicle in the bay for "
                           f"{now - self.held_since:.0f}s", None, since=since)

    def _warn(self, ev: Event, what: str) -> None:
        visit = ev.visit_id or ev.event_id
        if self._warned_visit == visit and ev.type == EventType.VIOLATION_STARTED:
            return
        self._warned_visit = visit
        self.il.emit(EventType.LOCK_WARNING, reason=what, plate=ev.data.get("plate"), nev=ev.data.get("nev"),
                      lock=self.il.public_state)
        if self.il.driver.has_warning:
            self.il.driver.set_warning(True)
            self._warning_until = self.clock.monotonic() + self.cfg.warning_s
