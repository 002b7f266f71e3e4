"""The safety interlock: the ONE place a lock's motor is switched, for every caller.

Rules (README "locks" lists them for the field):
- UP only on positive evidence that the bay is empty: the rule and its reason codes are in
  ``locks/rule.py``, asked before the UP line is switched and again on every input edge,
  bus update, camera-evidence change and tick while rising.
- A vehicle possible while rising stops the motor and sends the arm DOWN after ``reverse_delay_s``.
- A move that reaches no limit switch within ``motor_timeout_s`` → stop, FAULT.
- Both switches active → stop, FAULT. Uncommanded switch changes (held for
  ``switch_debounce_s``, so contact bounce is ignored) → ``lock_tamper``;
  leaving a rest position → lower to the safe end; too many in a window → FAULT (flapping);
  the up position lost again and again with no vehicle seen → FAULT ``arm_drift`` (``locks/drift.py``).
- At start-up the switches say where the arm is; between them → FAULT, lower.
- A presence sensor lost, unreadable, flapping, or saying "vehicle" for ``presence.disagree_s`` while the camera
  alone sees the bay empty → FAULT ``presence_unknown``, lower.
- A presence sensor saying "clear" for ``presence.disagree_s`` while the camera confidently sees a car in the bay,
  the arm down → raises refused ``presence_blind`` until it sees a car the camera sees too, or a reset: its "clear"
  is no second witness (``_judge_blindness``).
- A FAULT lowers the arm if it can, holds it there, and only ``reset()`` clears it; the reset
  lowers an arm it finds off its down end (any doubt leaves the arm down). A FAULT is saved
  (``locks/latches.py``) and a restart starts the lock in it again, lowered, until that reset.
DOWN is always allowed: a lowered arm cannot hurt a car.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Literal

from edge_agent.clock import Clock, iso, parse_iso
from edge_agent.config.locks import LockConfig
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.locks.drift import UpLosses
from edge_agent.locks.driver import Direction, LockDriver, Switches
from edge_agent.locks.latches import Asked, Latches, SavedFault, StartMark
from edge_agent.locks.rule import VehicleEvidence, vehicle_possible

log = logging.getLogger(__name__)

State = Literal["up", "down", "moving", "reversing", "fault"]

STROKES_KEPT = 5  # whole strokes remembered per direction
STROKES_NEEDED = 3  # before an end switch can be called early
EARLY_SHARE = 0.5  # a whole stroke ending in under this share of the usual one did not reach the end (a motor slows
#                   with cold, load or a sagging supply; none runs an arm twice as fast as it did the last strokes)
TICK_FAILS = 3  # ticks failed within TICK_FAIL_WINDOW_S that latch tick_failed: one transient error is retried
# a minute, not 10 s: a driver failing once every 5 s never latched, and each failure cut the policy's next rise short
# (a 3 s stroke between two): the arm rose and lowered until max_moves held it, the bay never guarded, no fault said
TICK_FAIL_WINDOW_S = 60.0
# while the motor's duty holds, the latch file is written at least this often (a fifth of the window, not more often than
# this): the next boot, its wall clock not known right, credits the starts with how long this boot lived (review73)
ALIVE_EVERY_MIN_S = 10.0
# faults that say a limit switch of the lock reads what the arm is not doing (a stone or ice on its lever, a switch
# stuck shut, a wire chafed to ground): their reset does not take the down switch's word (``reset``), unless the
# lock knows the liar was the up switch (a rise's ``switch_early``)
SWITCH_LIES = frozenset({"switch_early", "switches_both", "switch_flapping"})
# a move that reached the OTHER end's switch: the motor turns the arm away from where it is driven (its lines swapped
# in the wiring or the config). Driven again it does the same — a lowering raises the arm — so it is not, until a reset
REVERSED = "motor_reversed"
# how long the other end's switch stays shut, driven, before the move is called reversed: an end stop holds the arm
# there (the motor pushing it against the stop, or a car, that long and a tick); a flapping contact flicks shut and open
REVERSED_HOLD_S = 0.5


#: refusals whose cause the live page cannot judge again without trying (``Interlock._still_refused``): a fault and
#: maintenance (said apart), a disk that would not take the rise's record, the controller's ``occupancy_sparse``
_STAND_UNTIL_MOVED = frozenset({"fault", "maintenance", "switches_both", "rise_unrecorded", "occupancy_sparse"})


@dataclass
class Decision:
    ok: bool
    message: str
    code: str = ""


@dataclass
class _Motion:
    target: Direction
    started: float
    reason: str
    operator: str | None = None
    recovery: bool = False  # a lowering the interlock started itself (fault, tamper, aborted rise, start-up)
    full: bool = False  # started at rest on the other end switch: a whole stroke (set by _start)
    early_at: float | None = None  # a lowering's end switch closed implausibly soon: it runs on (_end_switch_early)
    run_on_s: float | None = None  # a lowering that runs this long whatever its down switch says (``reset``)
    other_open: bool = False  # the other end's switch read open as this move began (set by _start; ``_went_back``)
    other_shut_at: float | None = None  # since when that switch reads shut in this move
    # a lowering someone asked for in this run with no fault (an NEV's, an unlock's, maintenance turned on): saved
    # with its record (``latches.Asked``), the next start drives it at once, not held by the duty (``_start_up``)
    asked: bool = False
    # a raise the policy asked for itself, nobody waiting for its answer: backed off while its record cannot be written
    policy: bool = False


class Interlock:
    def __init__(self, cfg: LockConfig, bay_id: str, driver: LockDriver, bus: EventBus, clock: Clock,
                 evidence: VehicleEvidence | None = None, latches: Latches | None = None) -> None:
        self.cfg, self.bay_id, self.driver, self.bus, self.clock = cfg, bay_id, driver, bus, clock
        self.evidence = evidence or VehicleEvidence()
        self.latches = latches or Latches(clock)  # a fault outlives the process (a file, in the agent)
        self.lock = threading.RLock()
        self._depth = threading.local()
        self._outbox: deque[Event] = deque()
        self._flushing = threading.Lock()
        self.state: State = "down"
        self.fault: str | None = None
        self._down_doubted = False  # the fault says the down switch may lie (``SWITCH_LIES``): its reset lowers anyway
        self._motion: _Motion | None = None
        self._reverse_at: float | None = None
        self._deferred: _Motion | None = None  # a lowering waiting out reverse_delay_s (started at _reverse_at)
        self._stopped: tuple[Direction, float] | None = None  # the direction last driven, and when it stopped
        self._switches = Switches(down=False, up=False)  # debounced view
        self._pending: tuple[Switches, float, Direction | None] | None = None  # reading, since, motor's direction then
        self._change_driven: Direction | None = None  # the direction driven when the committed change began
        # when each switch's debounced reading last changed in this run (``_note_changes``; ``_start``'s other_open)
        self._switch_changed_at: dict[str, float] = {}
        self._uncommanded: deque[float] = deque()
        self._moves: deque[float] = deque(maxlen=cfg.max_moves)  # the last motor starts (its duty: _duty_rest)
        self._up_losses = UpLosses()
        # the last whole strokes' durations each way: an end switch closing in a fraction of that lies
        self._strokes: dict[Direction, deque[float]] = {"up": deque(maxlen=STROKES_KEPT),
                                                         "down": deque(maxlen=STROKES_KEPT)}
        self._last_refusal: str | None = None
        # the agent's own refusal (no operator asked) said last, and when: what a held episode's word is judged by
        self._own_said: tuple[str, float] | None = None
        self._refusal_said: tuple[str, str, str] | None = None  # that refusal: code, words, wall time (live page)
        # the due time a lowering was left owed at because its motor line write (or the check before it) failed:
        # the live page's "overdue" (``lowering_retried``); a lowering merely due before the next tick is not that
        self._failed_due: float | None = None
        # the due time a start's own lowering was left owed at because the motor's duty, saved over the restart, was
        # spent (``_start``): it waits and is said; an NEV's or an operator's lowering meanwhile is not held by it
        self._duty_due: float | None = None
        self._starting = False  # inside ``start``: its drives keep to the duty saved by the runs before
        self._published: str | None = None
        self._recovery_timed_out = False
        self._reversed = False  # this run saw the motor drive the arm away from its target (``REVERSED``): not driven
        # the switches say where the arm is: a watched move ended at the one it drove toward in this run, or the start
        # read where the last run left it (``latches.rest``); only then is where the arm rests saved (``_set_state``)
        self._switches_proven = False
        # a faulted arm off its down end whose lowering waits for the motor's duty (``_faulted_arm_moved``), and
        # whether that wait was said since the motor last started
        self._lift_held, self._lift_held_said = False, False
        # a lowering asked for (an NEV's, ``unlock``, maintenance) in a fault, waiting for the motor's duty: its reason
        # and operator (``_hold_asked``)
        self._asked_held: tuple[str, str | None] | None = None
        self._tick_failures: deque[float] = deque(maxlen=TICK_FAILS)  # when this lock's tick last raised
        self.on_input: Callable[[], None] | None = None  # the policy hears every input edge too (controller)
        # the visit the bay's story last named (its events, then its state), for the lock events' visit_id:
        # the monitor publishes a visit's events before the state that names it, so the state alone lags
        self.visit_id: str | None = None
        self.tampered_at: float | None = None  # monotonic time the arm last moved without a command
        self._disagree_since: float | None = None  # sensor "vehicle" while the camera alone sees the bay empty
        self._blind_since: float | None = None  # sensor "clear" while the camera sees a car, the arm down
        self.presence_blind: str | None = None  # why the sensor's "clear" is no witness now (``_judge_blindness``)
        self._presence_seen: bool | None = None  # the sensor's last reading (flapping is judged on its changes)
        self._presence_read = False  # whether _presence_seen holds a reading yet
        # the last flap_changes changes (a line bouncing at kHz must not grow it without bound)
        self._presence_changes: deque[float] = deque(maxlen=cfg.presence.flap_changes if cfg.presence else 1)

    # -- locking and events -------------------------------------------------------------------
    @contextmanager
    def guard(self) -> Iterator[None]:
        """Hold the lock for a decision; publish its events after releasing it.

        Events are never published while the lock is held: bus subscribers (the bay
        monitor) take their own locks and call back in, possibly from another thread.
        """
        with self.lock:
            self._depth.n = getattr(self._depth, "n", 0) + 1
            done = False
            try:
                yield
                done = True
            finally:
                self._depth.n -= 1
                # the rise has ended: its record goes. Not when the decision was cut short (Ctrl-C, SIGTERM in the
                # main thread, an error) — the UP line may be on with the rise not yet noted as the motion, and the
                # record is what lowers an arm that ran up unwatched at the next start
                if done and self._depth.n == 0 and not self._rising():
                    self.latches.set_rising(self.cfg.id, False)
                if self._depth.n == 0 and (done or self._owes_lowering()):  # kept the same way: the safe side
                    # a run-on not done stands too, in a fault that cut it short as well: a restart drives it again
                    self.latches.set_lowering(self.cfg.id, self._owes_lowering() or self._down_doubted,
                                              self._down_doubted, self._lowering_asked())
        if self._depth.n == 0:
            self._flush()

    def _flush(self) -> None:
        while self._outbox:
            if not self._flushing.acquire(blocking=False):
                return  # another thread (or an outer frame of this one) is draining: it publishes ours too
            try:
                while True:
                    with self.lock:
                        if not self._outbox:
                            break
                        ev = self._outbox.popleft()
                    self.bus.publish(ev)
            finally:
                self._flushing.release()

    # -- public -----------------------------------------------------------------------------
    def start(self) -> None:
        """Learn the real position from the switches; never assume it. A saved fault latches again.

        An arm found up whose last rise no run saw end is lowered: the agent died mid-rise (SIGKILL, out of
        memory, a hang and the watchdog), the relay stayed on and the arm ran on to its end stop with nothing
        checking the bay on the way — a car that rolled in meanwhile is over it. It was taken as up, for good,
        with nothing said. An arm that reached its up switch watched and rested there stays up.

        The motor's duty holds across the restart (``_restore_duty``): a drive of the start's own past it waits
        (``_hold_start``)."""
        with self.guard():
            self._starting = True
            try:
                self._start_up()
            except Exception as exc:
                if self._deferred is None or not self.lowering_retried:
                    raise
                # a drive of the start's own whose motor line write failed is owed, due now (``_start``): the tick
                # retries it (``tick_failed`` if that keeps failing), as every other lowering's. Raised, it stopped
                # the agent's start — the arm in front of the NEV whose lowering the start was driving (review66)
                log.warning("lock %s: start-up lowering: the motor line write failed (%s): tried again at the next "
                            "tick", self.cfg.id, exc)
                # the edges ``_start_up`` did not get to ask for: without them a car over a rising arm stopped it at
                # the next tick only, for the rest of the run (probe lock38)
                self.driver.on_input_change(self._input_changed)
            finally:
                self._starting = False

    def _start_up(self) -> None:
        """``start``'s decision (the lock held)."""
        self._motor_stop()
        self._restore_duty()
        sw = self._switches = self.driver.read_switches()
        self._pending = None
        saved = self.latches.fault(self.cfg.id)
        rose = self.latches.rising(self.cfg.id)
        owed = self.latches.lowering(self.cfg.id)
        # a run-on (``reset``) the last run did not see end: the down switch is still no witness. Taken at its
        # word, a restart during the run-on said ``down`` with the arm part way up under a stone (review43)
        self._down_doubted = owed is not None and self.latches.lowering_doubted(self.cfg.id)
        run_on = self.cfg.motor_timeout_s if self._down_doubted else None  # the stroke is not known yet
        rest = self.latches.rest(self.cfg.id)  # where the last run's proven switches left the arm
        self._restore_blindness()
        if saved is not None:
            # a lowering that timed out in this fault is not driven again by a restart: only a reset tries again
            self._recovery_timed_out = saved.lowering_timed_out is not None
            self._reversed = saved.code == REVERSED  # nor a motor seen to turn the wrong way
            if self._recovery_timed_out and sw.position != "down":
                log.warning("lock %s: a lowering in fault %s timed out at %s: not driven again until a reset, the "
                            "arm off its down end", self.cfg.id, saved.code, saved.lowering_timed_out)
            if sw.position == "down" and rest == "up":
                # read down where the last run's proven switches left the arm up (``_unproven_start``): its
                # switches swapped while the agent was stopped (a technician at the faulted lock) — the down
                # switch is no witness until a run-on proves it. Taken at its word, the NEV was told "already
                # down (fault)" and the reset said ``down``, the arm up in front of it (review48)
                log.warning("lock %s: found down at start-up in fault %s where the last run left it up: the down "
                            "switch is no witness until a lowering proves it", self.cfg.id, saved.code)
                self._down_doubted = True
            lower = not (self._recovery_timed_out or self._reversed)
            self._enter_fault(saved.code, saved.message, lower=lower, restored=saved)
            if lower and sw.position == "down" and rest == "up":
                # the fault's safe position is driven whatever the down switch says, as ``_unproven_start`` does:
                # doubted only, the arm swapped switches read down stood up in front of the next NEV until one
                # came or a reset (review49). Once: it ends at the down switch (``rest`` saved down) or reversed
                self._start(_Motion("down", self.clock.monotonic(), f"found down at start-up in fault "
                                    f"{saved.code} where the last run left it up: its switches unproven, lowered",
                                    recovery=True, run_on_s=self.cfg.motor_timeout_s))
        elif sw.position == "both":
            self._enter_fault("switches_both", "both limit switches active at start-up", lower=False)
        elif sw.position == "neither":
            # the arm between its switches with an NEV's or an operator's lowering owed (killed mid-stroke, or while it
            # waited out reverse_delay_s after stopping a rise): its safe position is that lowering still, driven at
            # once as the arm found up is (below) — once, the record then the fault's. Held by the duty, the arm stood
            # part way up in front of the NEV for up to a window (review64)
            asked = self.latches.lowering_asked(self.cfg.id) if owed is not None else None
            self._starting = asked is None
            try:
                self._enter_fault("position_unknown", "arm between the limit switches at start-up (power lost "
                                  "mid-move?)" + (f"; a lowering owed ({asked.reason})" if asked else ""), lower=True)
            finally:
                self._starting = True
        elif sw.position == "up" and rose is not None:
            log.warning("lock %s: found up at start-up after a rise begun %s that no run saw end: lowered",
                        self.cfg.id, rose)
            self._start(_Motion("down", self.clock.monotonic(), f"found up after a rise begun {rose} that "
                                "nothing watched to its end (the agent stopped mid-rise)", recovery=True))
        elif sw.position == "up" and owed is not None:
            # a lowering owed when the last run ended (an NEV's whose write had failed, one waiting out
            # reverse_delay_s): taken as up, the arm stood in front of the car it was owed to (probe lock31)
            asked = self.latches.lowering_asked(self.cfg.id)
            log.warning("lock %s: found up at start-up with a lowering owed since %s%s: lowered", self.cfg.id, owed,
                        f" ({asked.reason})" if asked else "")
            m = _Motion("down", self.clock.monotonic(), f"a lowering owed since {owed} that the last run did not "
                        "finish" + (f" ({asked.reason})" if asked else ""), asked.operator if asked else None,
                        recovery=True, run_on_s=run_on)
            # an NEV's or an operator's, no fault: DOWN is always allowed, as it was asked — once: driven now, it is
            # the start's own (``recovery``), and a crash loop killing it too is held by the duty (probe lock37)
            self._starting = asked is None
            try:
                self._start(m)
            finally:
                self._starting = True
        elif sw.position == "up" and rose is None and owed is None \
                and (dropped := self.latches.unclaimed_move(self.cfg.id)) is not None:
            # a lock renamed in the config is the same arm under a new id, its records dropped: which arm the
            # file cannot say, so any found up with no record of its own is lowered (leftovers34)
            log.warning("lock %s: found up at start-up while %s was dropped with its lock id (renamed?): "
                        "lowered", self.cfg.id, dropped)
            self._start(_Motion("down", self.clock.monotonic(), f"found up while {dropped} was dropped with its "
                                "lock id (renamed in the config?)", recovery=True))
        elif sw.position == "down" and run_on is not None:
            log.warning("lock %s: a run-on owed since %s that the last run did not finish: the down switch is no "
                        "witness, driven down for %gs", self.cfg.id, owed, run_on)
            self._start(_Motion("down", self.clock.monotonic(), f"a lowering owed since {owed} that the last run "
                                "did not finish, its down switch in doubt", recovery=True, run_on_s=run_on))
        elif rest is not None and rest != sw.position:
            self._unproven_start(sw, rest)
        else:
            self._switches_proven = rest is not None
            self._set_state(sw.position, "position read from limit switches at start-up")
        self.driver.on_input_change(self._input_changed)
        self.check()

    def lower_at_start(self, reason: str) -> Decision:
        """A lowering the start owes beyond the interlock's own (maintenance mode kept over a restart: the
        controller's ``start``): within the motor's duty as the start's own drives are (``_hold_start``). Asked as
        any lowering, a crash loop under maintenance with the arm off its down end drove the motor at every start."""
        with self.guard():
            self._starting = True
            try:
                return self.request("down", reason)
            finally:
                self._starting = False

    def _restore_duty(self) -> None:
        """The motor's starts the runs before saved (``latches.starts``), as this run's: its duty (``max_moves`` starts
        a ``max_moves_window_s``) holds across a restart. Forgotten, a crash loop killing the agent during a start's
        own drive (a restored fault's lowering, an unproven start's run-on for ``motor_timeout_s``) drove the motor
        again at every start: 30 kills, 30 starts in 3.7 minutes, 71 s against a stall or a stop (probe lock36).
        Their age is read on the wall clock (the monotonic one starts again at a reboot). A clock set back since (a Pi
        without an RTC boots at 1970 or at its last saved time; NTP) leaves them ahead of it, their ages unknown but
        their order and spacing known: the newest is taken as now, each before it as far before it as saved (a step
        back between two: none), and they are saved so at once (``_ages``). Counted as now but left ahead on disk
        (lock36), each start of a crash loop counted them as now again and its held lowering never started while the
        clock was behind (review56). Dropped (review56), a Pi reset by its own motor at each drive (a stall sagging
        the supply) and booting at the same saved time each time found its duty empty at every boot: one start a boot,
        22 in a window with a 12 s boot, no bound (probe review58). Kept so, no start is forgotten or counted twice,
        and a wait after a step back is at most one window; a step forward only ages them early (at most
        ``max_moves`` more, once a step).

        Within one boot a start's age is read on the monotonic clock (``latches.StartMark``), exact whatever the wall
        clock does: a crash loop in one boot whose wall clock stepped forward and back (NTP, a flapping time source)
        found its duty empty at each forward step (probe lock37). Across boots only the wall links them, as above; the
        spacing of two starts made in the same earlier boot is still that boot's monotonic one."""
        now, wall, window = self.clock.monotonic(), self.clock.now(), self.cfg.max_moves_window_s
        saved = self.latches.starts(self.cfg.id)
        marks, boot = self.latches.start_marks(self.cfg.id), self.latches.boot_id
        synced = self.clock.synced() is True
        ages, stepped = _ages([parse_iso(t) for t in saved], wall, marks, boot, now, synced, self.latches.alive())
        off = not stepped and _off_wall(saved, ages, wall, window)
        # put on this boot's clock once (``_anchored``): a restart in this boot then ages them exactly as counted now
        anchor = boot is not None and any(m is None or m.boot != boot or synced and not m.synced for m in marks)
        if stepped:
            log.warning("lock %s: saved motor start(s) lie ahead of the wall clock or out of order, or of another boot "
                        "whose wall clock was not synchronised (newest %s): the newest taken as now, the ones before it "
                        "as far before it as known", self.cfg.id, saved[-1])
        elif off:
            log.warning("lock %s: the wall clock stepped since saved motor start(s) of this boot (newest %s): counted "
                        "on the monotonic clock, saved again on the wall clock as it reads now", self.cfg.id, saved[-1])
        if stepped or off or anchor:
            self.latches.keep_starts(self.cfg.id, _on_wall(ages, wall, window),
                                     _anchored(ages, boot, now, window, synced) if boot is not None else None)
        self._moves.clear()
        self._moves.extend(now - a for a in ages if a < window)

    def _unproven_start(self, sw: Switches, rest: str) -> None:
        """The start reads the other end from where the last run's proven switches left the arm: its switches (their
        wires or pins swapped, their polarity inverted, while the agent was stopped) are not taken at their word — or
        the arm was moved by hand meanwhile, which a lowering settles too. Read ``up``: lowered. Read ``down``: driven
        down for ``motor_timeout_s`` whatever the down switch says (the arm may be up with swapped switches reading
        ``down``, an NEV told "already down" in front of it). Either ends at the down switch, which proves the wiring
        (``rest`` saved), or in a fault that says why: the bottom read as the up switch (``motor_reversed``), both
        read at once mid-stroke (``switches_both``), no switch (``motor_timeout``). Until then nothing rises: the
        lock is ``moving``. Before (probe lock35), a start took the reading at its word and the policy raised an arm
        its swapped switches read down against its up stop, the arm left up after the fault, "already down"."""
        doubt = sw.position == "down"
        log.warning("lock %s: found %s at start-up where the last run left it %s: its switches are not taken at their "
                    "word (wires or pins swapped, or the arm moved by hand, while the agent was stopped?): lowered%s",
                    self.cfg.id, sw.position, rest, " for %gs whatever the down switch says" % self.cfg.motor_timeout_s
                    if doubt else "")
        self._start(_Motion("down", self.clock.monotonic(), f"found {sw.position} at start-up where the last run left "
                            f"it {rest}: its switches unproven, lowered", recovery=True,
                            run_on_s=self.cfg.motor_timeout_s if doubt else None))

    def _owes_lowering(self) -> bool:
        """A lowering is owed (due, or waiting out ``reverse_delay_s``) or under way."""
        return self._reverse_at is not None or (self._motion is not None and self._motion.target == "down")

    def _lowering_asked(self) -> Asked | None:
        """Whose the lowering owed or under way is, saved with its record: an NEV's or an operator's asked in this run
        with no fault (``_Motion.asked``); None: the interlock's own, the start's, or one in a fault."""
        m = self._motion if self._motion is not None and self._motion.target == "down" else \
            self._deferred if self._reverse_at is not None else None
        if m is None or not m.asked or self.fault:
            return None
        return Asked(m.reason, m.operator)

    def _restore_blindness(self) -> None:
        """A presence sensor found blind before a restart is no witness after it either: the hold ends by what the
        sensor does at the bay (a car it sees) or an operator's reset, never by a restart. Forgotten, the arm rose
        on the camera's word alone for ``presence.disagree_s`` after each restart (probe lock31)."""
        saved = self.latches.presence_blind(self.cfg.id)
        if saved is None:
            return
        if self.cfg.presence is None or not self.driver.has_presence:  # the sensor is gone from the config
            self.latches.set_presence_blind(self.cfg.id, None)
            return
        self.presence_blind = f"{saved.reason} (since {saved.since}, kept over a restart)"
        log.warning("lock %s: %s", self.cfg.id, self.presence_blind)
        self.refuse("presence_blind", self.presence_blind, "every raise from now (kept over a restart)", None)

    def _input_changed(self) -> None:
        """A switch or presence edge (the driver's thread): judged now, then the policy hears of it.

        Without the second part a presence pulse shorter than one tick aborted the rise but never
        reached the policy's free timer: the arm lowered and rose again at once, twice a second
        under a chattering sensor, instead of waiting ``auto_raise_delay_s`` of a free bay.
        """
        with self.guard():
            self.check()
            if self.on_input is not None:
                self.on_input()

    def vehicle_possible(self) -> tuple[str, str] | None:
        """``(code, message)`` unless there is positive evidence that the bay is empty (``locks.rule``); then
        ``presence_blind`` while the sensor's "clear" is no witness (``_judge_blindness``). Last, so that a car
        in the bay is still called a car (the policy's free timer, the drift watch read the code)."""
        why = vehicle_possible(self.driver, self.evidence, self.cfg, self.clock.monotonic())
        if why is None and self.presence_blind is not None:
            return "presence_blind", self.presence_blind
        return why

    def request(self, target: Direction, reason: str, operator: str | None = None, policy: bool = False) -> Decision:
        """Ask for a move; UP is refused (with a ``lock_refused`` event) when unsafe. ``policy``: the policy's own
        raise (its record's write backed off while the disk refuses it: ``Latches.set_rising``)."""
        with self.guard():
            if target == "down":
                try:
                    self.check()
                except Exception as exc:  # noqa: BLE001 - a lowering is owed whatever the check met (review36)
                    return self._owe_down(reason, operator, exc)
                return self._request_down(reason, operator)
            self.check()
            if self.fault:
                return self.refuse("fault", f"lock in fault ({self.fault}): needs reset", reason, operator)
            if self._rising():  # said "already up" beside state moving (a slow or stalled motor): as "already lowering"
                return Decision(True, "already raising")
            if self.state == "up":
                return Decision(True, "already up")
            why = self.vehicle_possible()
            if why:
                return self.refuse(why[0], why[1], reason, operator)
            if self.state == "reversing" or self._motion is not None:
                return self.refuse("busy", "lock is lowering: raise once it is down", reason, operator)
            wait = self._reversal_wait("up")
            if wait > 0:
                return self.refuse("busy", f"the motor stopped lowering just now: raise in {wait:.1f}s "
                                   f"(reverse_delay_s)", reason, operator)
            rest = self._duty_rest()
            if rest > 0:
                return self.refuse("motor_duty", f"the motor started {len(self._moves)} times in the last "
                                   f"{self.cfg.max_moves_window_s:g}s (max_moves): raise in {rest:.0f}s", reason,
                                   operator)
            motion = _Motion("up", self.clock.monotonic(), reason, operator, policy=policy)
            return self._start(motion) or Decision(True, "raising")

    def reset(self, operator: str | None = None) -> Decision:
        """Clear a FAULT once its cause is gone, and lower an arm that is not at its down end.

        Why lower one found up: after a fault its switches, its hold or its position were in doubt, and
        nobody checked the bay when it got there. A reset moves nothing up; the policy's next raise,
        on fresh evidence that the bay is empty, does. The arm's stroke is learned anew (``switch_early``): a
        stroke called early is never learned, so an arm made faster (a new motor, a fresh battery) faulted at
        every move until the agent restarted.

        A fault that says a switch lies (``SWITCH_LIES``) leaves the down switch no witness: the arm is driven down
        for its usual stroke (``motor_timeout_s`` when none is known, at most that) whatever that switch says, and
        only then said ``down``. It was taken at its word: a stone still on it, the arm left half up (a slow
        stroke's run-on, a lift, a sag off the up switch), and the lock said ``down`` — an NEV admitted over the arm
        (probe lock33).
        """
        with self.guard():
            if not self.fault:
                if self.presence_blind is None:
                    return Decision(True, "no fault")
                self._trust_presence_again(f"reset by {operator or 'an operator'}")
                return Decision(True, "presence sensor trusted again")
            sw = self.driver.read_switches()
            if sw.position == "both":
                return self.refuse("switches_both", "both limit switches still active", "reset", operator)
            if self.driver.has_presence and self.driver.read_presence() is None:
                return self.refuse("presence_unknown", "presence sensor still lost", "reset", operator)
            old, self.fault, self._recovery_timed_out, self._reversed = self.fault, None, False, False
            self._lift_held, self._lift_held_said, self._asked_held = False, False, None
            # the page's word of what was refused before ends with the fault: the reset's own refused tries
            # ("presence sensor still lost") stood after the sensor was back and the reset done (review42); the
            # dedup of ``refuse`` (``_last_refusal``), and so every event, is as it was
            self._refusal_said = None
            if self.presence_blind is not None:
                self._trust_presence_again(f"reset by {operator or 'an operator'}")
            self.latches.clear_fault(self.cfg.id)
            self._uncommanded.clear()
            self._up_losses.clear()
            self._presence_changes.clear()
            self._tick_failures.clear()
            # the arm's usual lowering, before it is learned anew: how long a reset that doubts the down switch drives
            run_on = min(self._usual_stroke("down") or self.cfg.motor_timeout_s, self.cfg.motor_timeout_s)
            for strokes in self._strokes.values():  # someone looked at the arm: maybe a new motor or battery, whose
                strokes.clear()  # faster stroke would otherwise be called early at every move until a restart
            try:
                self._motor_stop()
            except Exception:  # noqa: BLE001 - the fault is cleared by now: raised, the lock said "fault" with none,
                # nothing owed, the arm left half up for good (review36). The lowering below is tried, and owed if its
                # write fails too; a line left on is stopped at the next check
                log.warning("lock %s: reset's motor stop failed", self.cfg.id)
            # a lowering under way goes on from when it began, not from the reset: started again, a run-on reset near
            # its end drove the motor unbroken against the down stop past motor_timeout_s (2.8 s + 3.1 s, review44)
            under_way = self._motion.started if self._motion is not None and self._motion.target == "down" else None
            self._motion, self._reverse_at, self._switches, self._pending = None, None, sw, None
            reason = f"fault {old} reset"
            # the down switch may be the one that lies: it says nothing of the arm. The doubt ends only with a run-on
            # driven to its end (``_check_motion``): a fault that cut the last one short (a sensor lost, a tick
            # failed) dropped it, and that fault's reset said ``down`` at once, the arm part way up (review43)
            doubted = self._down_doubted
            if sw.position == "down" and not doubted:
                self._set_state("down", reason, operator)
                return Decision(True, reason)
            try:  # between the switches, or up after a fault, or a down switch in doubt: any doubt leaves the arm down
                self._start(_Motion("down", self.clock.monotonic() if under_way is None else under_way, reason,
                                    operator, recovery=True, run_on_s=run_on if doubted else None))
            except Exception as exc:  # noqa: BLE001 - owed (``_start``), as a lowering command's: the fault is
                # cleared by now, and the error answered the reset with the lock still saying "fault" (review35)
                log.warning("lock %s: reset's lowering: the motor line write failed (%s): tried again at the next "
                            "tick", self.cfg.id, exc)
                return Decision(True, f"{reason}; lowering (the motor line write failed: {type(exc).__name__}: "
                                f"{exc}; tried again at the next tick)")
            return Decision(True, reason)

    # -- what the live page says of the lock (``LockController.note``) ---------------------------------
    def said_refusal(self) -> tuple[str, str, str] | None:
        """The refusal said last (code, words, wall time) while it stands: a move of the arm, or the sensor
        trusted again, ends it (as it ends the dedup of ``refuse``) — and so does its cause going (``_still_refused``):
        "presence sensor detects a vehicle" or "raise in 30s" stood on the page, hours after the car left or the
        wait ran out, until the arm next moved, and an operator trusted it (leftovers34). The dedup is unchanged."""
        said = self._refusal_said
        if said is None or said[0] != self._last_refusal or not self._still_refused(said[0]):
            return None
        return said

    def _still_refused(self, code: str) -> bool:
        """Whether a raise asked now would still be refused for ``code``, judged from what the lock already knows
        (its last presence reading, not the hardware: the page reads it). Codes judged elsewhere or only by trying
        again (the controller's ``occupancy_sparse``, a fault, maintenance, ``rise_unrecorded``) stand."""
        if code == "busy":
            return self.state == "reversing" or self._motion is not None or self._reversal_wait("up") > 0
        if code == "motor_duty":
            return self._duty_rest() > 0
        if code in _STAND_UNTIL_MOVED or (self.driver.has_presence and not self._presence_read):
            return True
        why = vehicle_possible(self.driver, self.evidence, self.cfg, self.clock.monotonic(),
                               presence=lambda: self._presence_seen)
        if why is None and self.presence_blind is not None:
            why = "presence_blind", self.presence_blind
        return why is not None and why[0] == code

    def owed_lowering_in(self) -> float | None:
        """Seconds until a lowering that is owed, not under way, starts: waiting out ``reverse_delay_s``, or a
        faulted arm's waiting for the motor's duty (``_lift_held``); 0 when due and not started (at the next tick,
        or retried there: ``lowering_retried``). None: none owed."""
        if self._reverse_at is not None:
            return max(0.0, self._reverse_at - self.clock.monotonic())
        if self._lift_held or self._asked_held is not None:
            return self._duty_rest()
        return None

    @property
    def lowering_blocked(self) -> str | None:
        """Why the lowering owed cannot start now, whatever ``owed_lowering_in`` says (None: nothing stops it): both
        limit switches read active — the motor is kept off while they do (``check``), so a faulted arm's lowering held
        for the motor's duty waited on past its time, and the live page said "in 0 s" for as long as they did (probe
        lock36)."""
        return "switches_both" if self._switches.position == "both" else None

    @property
    def lowering_retried(self) -> bool:
        """The lowering owed is due because its motor line write (or the check before it) failed, and is tried again
        at each tick. Not one merely due since the last tick: "0 s left" said that for every lowering after a
        reversal, up to a tick long, "the motor line did not take it, check the driver and wiring" (review42)."""
        return self._reverse_at is not None and self._reverse_at == self._failed_due

    @property
    def lowering_timed_out(self) -> bool:
        """A lowering in this fault timed out: the motor could not bring the arm down, and is not driven again."""
        return self.fault is not None and self._recovery_timed_out

    def stop(self) -> None:
        """The agent stops: the motor is switched off and the driver closed, and a move under way ends where the arm
        stands, said as such.

        Why: the stop switched the motor off with nothing said, so a backend's last word on a lock stopped mid-stroke
        was ``moving`` for as long as the agent stayed down. Now an end switch the arm reached is its state; between
        them, ``lock_fault`` ``position_unknown`` (what the next start finds and says too). Published only, never
        saved: the next start reads the switches itself, and the record of a lowering owed stays as it was. One hold
        of the lock to the driver's close: no tick in between starts a lowering that waited out ``reverse_delay_s``.
        The state held follows what was said: it stayed ``moving`` until probe locks43, and a second stop said the
        fault again."""
        with self.lock:
            try:
                if self.public_state == "moving":
                    self._say_stopped()
            except Exception:  # noqa: BLE001 - a read that fails leaves it unsaid; the close and other locks' stop go on
                log.exception("lock %s: saying where the arm stopped failed", self.cfg.id)
            finally:
                self.driver.close()
        self._flush()

    def _say_stopped(self) -> None:
        m = self._motion if self._motion is not None else self._deferred
        what = "lowering" if m is None or m.target == "down" else "rise"
        self._motor_stop()
        self._motion, self._deferred, self._reverse_at = None, None, None
        sw = self.driver.read_switches()
        if sw.position in ("up", "down"):
            self.state = sw.position
            self._publish_state(sw.position, f"the agent stopped during a {what}: the arm at its {sw.position} switch")
        else:
            message = f"the agent stopped during a {what}: the motor stopped with the arm at no end switch"
            self.state, self.fault = "fault", "position_unknown"
            self.emit(EventType.LOCK_FAULT, code="position_unknown", message=message, switches=sw.position)
            self._publish_state("fault", message)

    @property
    def public_state(self) -> str:
        return {"reversing": "moving"}.get(self.state, self.state)

    def tick(self) -> None:
        self.check()

    def check(self) -> None:
        """Re-evaluate every rule now (input edge, bus update, tick)."""
        with self.guard():
            now = self.clock.monotonic()
            if self._duty_rest() > 0:  # how long this boot lived, for the next one's duty (``latches.alive``)
                self.latches.note_alive(max(ALIVE_EVERY_MIN_S, self.cfg.max_moves_window_s / 5))
            if self._motion is None and self.driver.driving:
                # a line left on that no motion of ours watches: a stop whose write failed (``tick_failed``,
                # ``_drive``). The rise it drove ran on for reverse_delay_s with nothing asking about a car, until
                # the lowering began; stopped first, before a read that may fail as well (a failure: tick_failed).
                # Both lines on counts too (an H-bridge shorted, relays fighting): ``motor`` says None for it
                driven = self.driver.motor or "both lines"
                self._motor_stop()
                log.warning("lock %s: motor found driving %s with no move under way: stopped", self.cfg.id, driven)
            raw = self.driver.read_switches()
            sw = self._debounced(raw, now)
            self._note_changes(sw, now)
            left_down, self._switches = self._switches.position == "down" and sw.position != "down", sw
            if sw.position == "both":  # position unknown: motor off whatever was going on
                if self.fault != "switches_both":
                    self._enter_fault("switches_both", "both limit switches active", lower=False)
                elif self._motion or self._reverse_at is not None:
                    self._motor_stop()
                    self._motion, self._reverse_at = None, None
                return
            presence = self.driver.read_presence() if self.driver.has_presence else None  # one reading per check
            if self.driver.has_presence and presence is None and not self.fault \
                    and not self.driver.presence_pending:  # first reading not due, health off briefly: not lost yet
                self._enter_fault("presence_unknown", "presence sensor lost or unhealthy", lower=True)
            self._judge_disagreement(now, presence)
            self._judge_blindness(now, presence)
            if self._presence_flapping(now, presence) and not self.fault:
                self._enter_fault("presence_unknown", f"presence sensor flapping: {len(self._presence_changes)} changes "
                                  f"in {self.cfg.flap_window_s:g}s (loose wire, interference, or a reading at its "
                                  "threshold?)", lower=True)
            if self._flapping(now) and self.fault != "switch_flapping":
                self._enter_fault("switch_flapping", f"{len(self._uncommanded)} uncommanded switch changes "
                                  f"in {self.cfg.flap_window_s:g}s", lower=True)
            if self._reverse_at is not None and now >= self._reverse_at:
                self._reverse_at, deferred, self._deferred = None, self._deferred, None
                reason = "safe position after fault" if self.fault else "lowering after aborted rise"
                # a failed write: owed again. In a fault its operator (``_forbids_lowering``) and what is left of its
                # run-on are kept: a plain lowering stopped at once at the down switch in doubt, and saved the rest
                # ``down``, an arm part way up under a stone (tick_failed latched over the run-on; review50)
                self._start(replace(deferred, started=now) if deferred and not self.fault
                            else _Motion("down", now, reason, deferred.operator if deferred else None, recovery=True,
                                         run_on_s=deferred.run_on_s if deferred else None))
            m = self._motion
            if m is not None:
                self._check_motion(m, raw, now)  # the end stop is where the arm is now, not the debounced view
            elif self.state in ("up", "down") and sw.position != self.state:
                self._tamper(sw)
            elif self.fault and (left_down or self._lift_held) and self._reverse_at is None \
                    and not self._recovery_timed_out and not self._reversed:
                self._faulted_arm_moved(sw, now, left_down)
            elif self.fault and self._asked_held is not None and self._reverse_at is None:
                self._start_asked(sw, now)
            self._up_losses.explain(self.vehicle_possible)  # a car seen since the arm lost its up position

    # -- internals ----------------------------------------------------------------------------
    def _judge_disagreement(self, now: float, presence: bool | None) -> None:
        """A presence sensor that keeps reporting a vehicle while the camera alone, fresh and confident, sees the
        bay empty, for ``presence.disagree_s`` → FAULT ``presence_unknown``: one of them is wrong, and only an
        operator at the bay can tell which. A sensor stuck on, covered (snow, a box) or configured the wrong way
        round (``pin_active``) read as a car for ever: the bay stayed occupied, an "unidentified vehicle"
        violation opened on an empty bay, the arm never rose again, and nothing said why. The fault says it once,
        lowers the arm (a car under it, if the camera is the one wrong, is safe) and refuses every raise until
        a reset, after which the watch starts again."""
        pr = self.cfg.presence
        if pr is None or self.fault or not self.driver.has_presence:
            self._disagree_since = None
            return
        v = self.evidence.vision() if self.evidence.vision is not None else None
        said_at = v.measured_at if v is not None and v.vision == "ok" and v.camera_empty else None
        if said_at is not None and presence is True and not now - said_at <= self.cfg.occupancy_max_age_s:
            # a pause in the camera's word (a still scene's picture repeated between key frames, under
            # camera.frozen_after_s) ends no disagreement: restarted at each, a still scene never reached
            # disagree_s. The fault itself still waits for fresh evidence of the empty bay.
            return
        camera_empty = said_at is not None and now - said_at <= self.cfg.occupancy_max_age_s
        if not camera_empty or presence is not True:
            self._disagree_since = None
            return
        if self._disagree_since is None:
            self._disagree_since = now
        elif now - self._disagree_since >= pr.disagree_s:
            self._enter_fault("presence_unknown", f"presence sensor reports a vehicle for {pr.disagree_s:g}s while "
                              "the camera sees the bay empty (sensor stuck or covered, or presence.pin_active "
                              "the wrong way round?)", lower=True)

    def _judge_blindness(self, now: float, presence: bool | None) -> None:
        """A presence sensor that keeps reporting the bay clear while the camera, fresh and confident, sees a car in
        it, the arm down (a parked car sits over the lock and its sensor), for ``presence.disagree_s`` → raises
        refused ``presence_blind``, said once: a sensor stuck clear, dead in its clear state or knocked off its aim
        never sees the cars the camera sees, so its "clear" is no second witness before a raise, and the arm rose
        on the camera's word alone with nothing said. It ends when the sensor reports a vehicle while the camera
        sees one (it sees cars again), or at an operator's reset. Not a FAULT: a car parked off the sensor's beam or
        a motorbike it misses is no broken sensor, and the next car it does see ends the hold with no one at the
        bay; meanwhile the arm only stays down (the safe side). Judged with the arm down only: a car stopped in front
        of a raised arm is outside the sensor's beam by design. Kept over a restart (``latches.py``,
        ``_restore_blindness``)."""
        pr = self.cfg.presence
        if pr is None or self.fault or not self.driver.has_presence:
            self._blind_since = None
            return
        v = self.evidence.vision() if self.evidence.vision is not None else None
        car_at = v.measured_at if v is not None and v.vision == "ok" and v.occupied is True else None
        car = car_at is not None and now - car_at <= self.cfg.occupancy_max_age_s
        if presence is True and car:
            self._blind_since = None
            if self.presence_blind is not None:
                self._trust_presence_again("it reports a vehicle the camera sees too")
            return
        if car_at is not None and not car and presence is False:
            return  # a pause in the camera's word ends no watch (as in _judge_disagreement); firing needs fresh evidence
        if not (car and v is not None and v.confident) or presence is not False or self.presence_blind is not None \
                or self.state != "down" or self._motion is not None:
            self._blind_since = None
            return
        if self._blind_since is None:
            self._blind_since = now
        elif now - self._blind_since >= pr.disagree_s:
            self._blind_since = None
            self.presence_blind = (
                f"presence sensor reported the bay clear for {pr.disagree_s:g}s while the camera saw a vehicle in it, "
                "the arm down (sensor knocked off its aim, stuck clear or dead, or a vehicle parked off its beam): its "
                "\"clear\" is no witness; raises refused until it reports a vehicle the camera sees too, or a reset")
            log.warning("lock %s: %s", self.cfg.id, self.presence_blind)
            self.latches.set_presence_blind(self.cfg.id, self.presence_blind)
            self.refuse("presence_blind", self.presence_blind, "every raise from now (said as it starts)", None)

    def _trust_presence_again(self, why: str) -> None:
        log.info("lock %s: presence sensor trusted again as a witness: %s", self.cfg.id, why)
        self.presence_blind, self._blind_since = None, None
        self.latches.set_presence_blind(self.cfg.id, None)
        if self._last_refusal == "presence_blind":
            self._last_refusal = None  # a later episode is said again

    def _check_motion(self, m: _Motion, sw: Switches, now: float) -> None:
        if self._went_back(m, sw, now):
            return
        if m.target == "up":
            why = self.vehicle_possible()
            if why:
                self._abort_rise(why)
                return
        if sw.position == m.target:
            if self._end_switch_early(m, now):
                return
            self._motor_stop()
            self._motion = None
            if m.early_at is None:  # a watched move ended at the switch it drove toward: the switches say the arm
                self._switches_proven = True
                self.latches.set_rest(self.cfg.id, m.target)
            if m.run_on_s is not None and self.fault not in SWITCH_LIES:  # driven to its end whatever the down
                # switch said: the doubt is spent — not while a fault says the switch still lies (``_lower_doubted``)
                self._down_doubted = False
            elif m.full and m.early_at is None:  # a run-on measures its own length, not the arm's (review43)
                self._strokes[m.target].append(now - m.started)
            if m.early_at is not None:
                # a down switch that closed early is no witness, also in a fault's lowering (no switch_early is
                # latched over it): its reset took it at its word, a slow arm left part way up (review43)
                self._down_doubted = True
                if not self.fault:
                    self._enter_fault("switch_early", f"down switch closed {m.early_at - m.started:.1f}s into a "
                                      f"lowering that takes the arm {self._usual_stroke('down'):.1f}s: lowered on for "
                                      "that long (a switch stuck shut or pressed, a chafed wire?)", lower=False)
            elif not self.fault:
                self._set_state(m.target, m.reason, m.operator)
            return
        if now - m.started >= self.cfg.motor_timeout_s:
            msg = f"moving {m.target}: no limit switch after {self.cfg.motor_timeout_s:g}s (stall?)"
            if self.fault:
                self._motor_stop()
                self._motion = None
                if not self._recovery_timed_out:
                    self._lowering_timed_out()
                    self.emit(EventType.LOCK_FAULT, code="motor_timeout", message=msg, fault=self.fault)
                return
            self._enter_fault("motor_timeout", msg, lower=m.target == "up")
            # a lowering that timed out is this fault's timed-out lowering: the motor that could not lower the arm
            # is not driven again when the arm later leaves its down end (``_faulted_arm_moved``); it was, for
            # another motor_timeout_s, at the first opening of a down switch that had closed late (probe review41)
            if m.target == "down":
                self._lowering_timed_out()

    def _went_back(self, m: _Motion, sw: Switches, now: float) -> bool:
        """A move begun off the OTHER end's switch that reaches it, and stays there ``REVERSED_HOLD_S`` while driven,
        turns the arm away from its target: the motor's lines are swapped (up ↔ down in the wiring or the config) — or
        its end switches are, which reads the same (a lowering from between the ends reaches the bottom, read as the up
        switch: stopped there, the safe end). Stopped, FAULT ``motor_reversed``, and the motor is not driven again
        until a reset — every lowering would raise the arm. Before (probe lock34), an arm found between its switches
        at start with a car over it was "lowered" by ``position_unknown`` up over the car and pushed against the up
        stop until ``motor_timeout_s``; each later lowering (an NEV's, an ``unlock``) drove it up again. Not a move
        begun on that switch (the arm leaving it; a swapped motor there only pushes the arm against that stop: a plain
        timeout), nor a contact that closes for less than the hold (a flapping switch: ``switch_flapping``)."""
        other = "up" if m.target == "down" else "down"
        if not m.other_open or not getattr(sw, other):
            m.other_shut_at = None
            return False
        if m.other_shut_at is None:
            m.other_shut_at = now
        if now - m.other_shut_at < REVERSED_HOLD_S:
            return False
        self._enter_fault("motor_reversed", f"moving {m.target}, the arm reached its {other} switch and stayed "
                          "there: the motor turns it the wrong way, or the switches are the wrong way round (up and down "
                          "swapped in the wiring or in the config's motor or switches pins?); not driven again until a "
                          "reset", lower=False)
        return True

    def _lowering_timed_out(self) -> None:
        """A lowering in this fault timed out: the motor is not driven again until a reset — over a restart too (the
        saved fault keeps it). Forgotten, every restart (a crash loop under systemd's ``Restart=``) drove a stalled
        motor another ``motor_timeout_s`` (probe lock34: 5 restarts, 5 × 5 s against the stall)."""
        self._recovery_timed_out = True
        self.latches.set_lowering_timed_out(self.cfg.id)

    def _usual_stroke(self, target: Direction) -> float | None:
        """The median of the arm's last whole strokes toward ``target`` (None: too few seen yet)."""
        done = sorted(self._strokes[target])
        return done[len(done) // 2] if len(done) >= STROKES_NEEDED else None

    def _end_switch_early(self, m: _Motion, now: float) -> bool:
        """A whole stroke's end switch closing in under ``EARLY_SHARE`` of the arm's usual stroke did not reach the
        end: a switch stuck shut, pressed by a stone or ice, a wire chafed to ground. The motor stopped on that
        first edge and the lock said ``down`` with the arm half up (an NEV admitted over it), or ``up`` with it
        half raised, nothing said. Up: FAULT ``switch_early``, lowered. Down (always safe): the motor runs on for
        the usual stroke, then the FAULT. True while the lowering runs on (the caller does not stop it)."""
        if m.run_on_s is not None:  # a reset's lowering that does not take the down switch's word
            return now - m.started < m.run_on_s
        usual = self._usual_stroke(m.target)
        if m.early_at is not None:
            return now - m.started < min(usual or 0.0, self.cfg.motor_timeout_s)
        if not m.full or usual is None or now - m.started >= EARLY_SHARE * usual:
            return False
        if m.target == "up":
            self._enter_fault("switch_early", f"up switch closed {now - m.started:.1f}s into a rise that takes the "
                              f"arm {usual:.1f}s (a switch stuck shut or pressed, a chafed wire?)", lower=True)
            # the up switch lied; the lowering to the safe end stops at the down switch, which nothing doubts (an arm
            # made faster, a new motor, faults so too: its reset need not drive the motor against the down stop)
            self._down_doubted = False
            return True
        m.early_at = now
        log.warning("lock %s: down switch closed %.1fs into a %.1fs stroke: lowering on", self.cfg.id,
                    now - m.started, usual)
        return True

    def _request_down(self, reason: str, operator: str | None) -> Decision:
        m = self._motion
        if self.state == "down" and not m:
            return Decision(True, "already down")
        if self._duty_held():
            return self._ask_held_start(reason, operator)
        if m and m.target == "down" or self._reverse_at is not None:
            return Decision(True, "already lowering")
        if m and m.target == "up":
            self._motor_stop()
            self._motion = None
            self._reverse(reason)
            if self._reverse_at is not None and self._deferred is None and not self.fault:  # whose it is (``asked``)
                self._deferred = _Motion("down", self._reverse_at, "lowering after aborted rise", operator,
                                         recovery=True, asked=not self._starting)
            return Decision(True, "rise stopped; lowering")
        if self._reversed and not (self.driver.read_switches().down and not self._down_doubted):
            # a lowering would raise the arm (``_went_back``); a shut down switch no fault doubts: "already down"
            log.warning("lock %s: lowering (%s) not driven: the motor turns the arm the wrong way", self.cfg.id, reason)
            return Decision(False, f"the arm may not be down: the motor turned it the wrong way ({self.fault}), "
                            "and a lowering would raise it; check the motor's wiring at the bay, then reset",
                            "down_unconfirmed")
        if self.fault:
            sw = self.driver.read_switches()
            if sw.position == "both":  # position unknown: the motor is kept off (``check``), so nothing is driven
                return self._not_driven(reason, "both limit switches are active: the motor is not driven while they "
                                        "are (position unknown)")
            if sw.down and not self._down_doubted:
                return Decision(True, "already down (fault)")
            if self._recovery_timed_out and operator is None:  # the motor that could not lower the arm is driven
                # again by a person's command (an ``unlock``, a reset), never by the policy: each NEV that came drove
                # a stalled motor another motor_timeout_s, after a restart too (review44)
                return self._not_driven(reason, "a lowering in this fault timed out (the motor could not bring the arm "
                                        "down): not driven again but by an operator's unlock or reset")
            if sw.down:
                return self._lower_doubted(reason, operator)
            if (rest := self._duty_rest()) > 0:
                return self._hold_asked(reason, operator, rest)
        try:
            self._start(_Motion("down", self.clock.monotonic(), reason, operator, recovery=bool(self.fault),
                                asked=not (self.fault or self._starting)))
        except Exception as exc:  # noqa: BLE001 - the lowering is owed (``_start``): the tick tries it again
            # and latches tick_failed if that keeps failing. Raised to the caller, the command was answered with an
            # error and the controller took no note of it: an `unlock` for a visitor had no admit window, and the
            # arm, lowered by the tick's retry 0.1 s later, rose again at once ("bay free for 30s") in front of them
            log.warning("lock %s: lowering (%s): the motor line write failed (%s): tried again at the next tick",
                        self.cfg.id, reason, exc)
            return Decision(True, f"lowering (the motor line write failed: {type(exc).__name__}: {exc}; "
                            "tried again at the next tick)")
        return Decision(True, "lowering")

    def _ask_held_start(self, reason: str, operator: str | None) -> Decision:
        """A lowering asked for (an NEV's, an ``unlock``, maintenance) while the start's own waits for the motor's duty
        (``_hold_start``). In a fault it waits with it, as any lowering asked for in a fault past the duty does
        (``_hold_asked``); with none, a lowering asked for is never held by the duty (DOWN is always allowed): the
        start's lowering, its run-on kept, starts now as this request's. Answered "already lowering", nothing
        driven, it was neither."""
        held, due = self._deferred, self._reverse_at
        if held is None or due is None:  # ``_duty_held`` said both stand
            return Decision(True, "already lowering")
        rest = due - self.clock.monotonic()
        if self.fault or self._starting:  # (the start's own: maintenance kept over a restart, ``lower_at_start``)
            return Decision(True, f"lowering in {rest:.0f}s: " + (f"lock in fault ({self.fault}), " if self.fault
                                                                  else "") + f"the motor started {len(self._moves)} "
                            f"times in the last {self.cfg.max_moves_window_s:g}s (max_moves)")
        self._deferred, self._reverse_at, self._duty_due = None, None, None
        try:
            self._start(replace(held, started=self.clock.monotonic(), reason=reason, operator=operator, asked=True))
        except Exception as exc:  # noqa: BLE001 - owed (``_start``), tried again at the next tick
            log.warning("lock %s: lowering (%s): the motor line write failed (%s): tried again at the next tick",
                        self.cfg.id, reason, exc)
            return Decision(True, f"lowering (the motor line write failed: {type(exc).__name__}: {exc}; "
                            "tried again at the next tick)")
        return Decision(True, "lowering")

    def _lower_doubted(self, reason: str, operator: str | None) -> Decision:
        """A lowering asked for (an NEV, ``unlock``, maintenance) in a fault that says the down switch lies, that switch
        shut: it says nothing of the arm, which may stand part way up (lifted during the fault, a slow stroke's run-on
        cut short). It was answered "already down (fault)", the arm left at 0.5 in front of the NEV (probe lock34).
        Down is always safe: the arm is driven down for its usual stroke (``motor_timeout_s`` when none is known), as
        a reset does, within the motor's duty and, once a lowering in this fault has timed out, only for an operator
        (``_request_down``); where it cannot be driven the answer says the arm may not be down (``down_unconfirmed``).
        The doubt stays with the fault: the stone is still on the switch."""
        if (rest := self._duty_rest()) > 0:
            return self._not_driven(reason, f"fault {self.fault} says the down switch may lie, and the motor started "
                                    f"{len(self._moves)} times in the last {self.cfg.max_moves_window_s:g}s "
                                    f"(max_moves): not driven for {rest:.0f}s")
        run_on = min(self._usual_stroke("down") or self.cfg.motor_timeout_s, self.cfg.motor_timeout_s)
        try:
            self._start(_Motion("down", self.clock.monotonic(), reason, operator, recovery=True, run_on_s=run_on))
        except Exception as exc:  # noqa: BLE001 - owed (``_start``), tried again at the next tick
            log.warning("lock %s: lowering (%s): the motor line write failed (%s): tried again at the next tick",
                        self.cfg.id, reason, exc)
            return Decision(True, f"lowering (the motor line write failed: {type(exc).__name__}: {exc}; "
                            "tried again at the next tick)")
        return Decision(True, f"lowering for {run_on:g}s: fault {self.fault} says the down switch may lie, so it is "
                        "no witness that the arm is down")

    def _not_driven(self, reason: str, why: str) -> Decision:
        """A faulted arm's lowering asked for that is not driven (``why``): the answer says the arm may not be down
        (``down_unconfirmed``), never "lowering" or "already down" (review44)."""
        log.warning("lock %s: lowering (%s) in fault %s not driven (%s): the arm may not be down", self.cfg.id,
                    reason, self.fault, why)
        return Decision(False, f"the arm may not be down: {why}; check the arm at the bay", "down_unconfirmed")

    def _hold_asked(self, reason: str, operator: str | None, rest: float) -> Decision:
        """A lowering asked for in a fault, the arm off its down end, past the motor's duty (``max_moves`` starts a
        ``max_moves_window_s``): it waits, and starts once the motor may if the arm is still off its down end then
        (``_start_asked``). Each NEV or ``unlock`` drove the motor again at once — under a plain ``motor_timeout``,
        one start per request against the stall, with no bound (probe lock34): the bound that holds a faulted arm's
        other lowerings (``_faulted_arm_moved``, probe review41). Said once a wait (log, and the reply of each)."""
        self._asked_held = (reason, operator)
        if not self._lift_held_said:
            self._lift_held_said = True
            log.warning("lock %s: lowering (%s) in fault %s waits %.0fs: the motor started %d times in the last %gs "
                        "(max_moves)", self.cfg.id, reason, self.fault, rest, len(self._moves),
                        self.cfg.max_moves_window_s)
        return Decision(True, f"lowering in {rest:.0f}s: lock in fault ({self.fault}), the motor started "
                        f"{len(self._moves)} times in the last {self.cfg.max_moves_window_s:g}s (max_moves)")

    def _start_asked(self, sw: Switches, now: float) -> None:
        """The held lowering (``_hold_asked``) starts once the motor may, if the arm is still off its down end."""
        if sw.position == "down" or self._reversed:
            self._asked_held = None
            return
        if self._duty_rest() > 0:
            return
        (reason, operator), self._asked_held = self._asked_held or ("", None), None
        self._lift_held_said = False
        self._start(_Motion("down", now, reason, operator, recovery=True))

    def _owe_down(self, reason: str, operator: str | None, exc: Exception) -> Decision:
        """A lowering asked for while the check before it failed (a line left driving whose stop fails again, a read
        that fails): accepted and owed, as one whose own write failed (``_start``), tried again at the next tick. The
        check's error answered the ``unlock`` / NEV / maintenance lowering, and the controller took no note of it: no
        admit window, so once the tick's retry had lowered the arm the policy raised it again in front of the
        visitor (probe review36). Not where the fault forbids it (``_forbids_lowering``): said as not driven."""
        if (why := self._forbids_lowering(operator)) is not None:
            return self._not_driven(reason, why)
        log.warning("lock %s: lowering (%s): the check before it failed (%s): tried again at the next tick",
                    self.cfg.id, reason, exc)
        m = self._motion
        if not (m is not None and m.target == "down") and self._reverse_at is None:
            try:
                self._motor_stop()  # a rise's line, or one left driving
            except Exception:  # noqa: BLE001 - the next check stops a line left on before anything else
                log.warning("lock %s: motor stop failed too", self.cfg.id)
            now = self.clock.monotonic()
            self._motion = None
            self._deferred, self._reverse_at = _Motion("down", now, reason, operator, recovery=bool(self.fault),
                                                       asked=not (self.fault or self._starting)), now
            self._failed_due = now
            if not self.fault and self.state != "reversing":
                self._set_state("reversing", reason, operator, direction="down")
        return Decision(True, f"lowering (the lock's check failed: {type(exc).__name__}: {exc}; tried again at the "
                        "next tick)")

    def _motor_stop(self) -> None:
        """Every stop of the motor: notes the direction that was driven and when, for ``_reversal_wait``."""
        was = self.driver.motor
        self.driver.motor_stop()
        if was is not None:
            self._stopped = (was, self.clock.monotonic())

    def _duty_rest(self) -> float:
        """Seconds until a raise may start the motor again: a lock/unlock flood (a backend retrying in a loop,
        anyone who can publish a command) ran a small geared motor 86 % of the time with 179 starts in 10
        minutes. Lowering is never held back by this (an arm down cannot hurt a car), so a flood ends with
        the arm down and the motor at rest; the policy's own raises are counted and held back alike."""
        now, window = self.clock.monotonic(), self.cfg.max_moves_window_s
        while self._moves and self._moves[0] <= now - window:
            self._moves.popleft()
        if len(self._moves) < self.cfg.max_moves:
            return 0.0
        return self._moves[0] + window - now

    def _reversal_wait(self, target: Direction) -> float:
        """Seconds until the motor may be driven toward ``target``: ``reverse_delay_s`` after it last stopped
        driving the other way — also at its end switch, where it still turns as it brakes."""
        last = self._stopped
        if last is None or last[0] == target:
            return 0.0
        return max(0.0, last[1] + self.cfg.reverse_delay_s - self.clock.monotonic())

    def _start(self, m: _Motion) -> Decision | None:
        """Switch the motor toward ``m.target`` (or defer a lowering by ``reverse_delay_s``); a refusal of a rise
        whose record could not be saved is returned (None: started, or deferred)."""
        wait = self._reversal_wait(m.target)
        if m.target == "up":
            if self.fault or self.vehicle_possible() or wait > 0:  # the last gate before the UP line
                log.error("lock %s: UP start while unsafe (or reversing) ignored", self.cfg.id)
                return None
            try:  # on disk before the line: a kill now leaves it rising, and the next start lowers the arm; the
                # motor's start rides the same write (its duty over a restart: ``_restore_duty``)
                self.latches.set_rising(self.cfg.id, True, keep_starts=self.cfg.max_moves, backed_off=m.policy)
            except OSError as exc:
                return self._rise_unrecorded(m, exc)
            self._drive(self.driver.motor_up)
            self._moves.append(self.clock.monotonic())
            self._up_losses.rising()
        elif (why := self._forbids_lowering(m.operator)) is not None:  # the last gate, as for a rise
            log.error("lock %s: lowering (%s) in fault %s not driven: %s", self.cfg.id, m.reason, self.fault, why)
            return None
        elif self._starting and (rest := self._duty_rest()) > 0:
            self._hold_start(m, rest)
            return None
        elif wait > 0:  # the motor drove up until just now: down once it has stopped turning (as after a rise)
            self._deferred, self._reverse_at = m, self.clock.monotonic() + wait
            if not self.fault:  # "moving" with its direction, as every lock_moved of a moving arm says
                self._set_state("reversing", m.reason, m.operator, direction="down", safety=m.recovery or None)
            return None
        else:
            try:
                self._drive(self.driver.motor_down)
            except BaseException:  # the motor did not take it (a GPIO write failed): still owed, due now — retried at
                # the next check, the tick's at the latest. Dropped, the arm stayed where it was for good, with no fault
                # where the lowering began off the tick: the aborted rise's half up in front of the car, an NEV's
                # lowering (the bus's thread), a fault's safe position judged on the camera's evidence
                self._deferred, self._reverse_at = m, self.clock.monotonic()
                self._failed_due = self._reverse_at
                if not self.fault and self.state != "reversing":  # said as the lowering it is: a reset left "fault"
                    # with no fault, an NEV's lowering "up" (a lock then answered "already up")
                    self._set_state("reversing", m.reason, m.operator, direction="down", safety=m.recovery or None)
                raise
            self._moves.append(self.clock.monotonic())
            # written with the lowering's record at the end of this decision (``guard``), not before the line: no
            # lowering waits for an fsync, and no stroke costs an extra write
            self.latches.note_start(self.cfg.id, self.cfg.max_moves)
            self._asked_held = None  # a lowering under way is the one a held request waited for
        m.full = self._switches.position == ("down" if m.target == "up" else "up") and self._pending is None
        # off the other end only once its switch has read open a while: one that opened a moment ago (an arm resting
        # up, jolted off its switch: the tamper's lowering) may still be on it — its lever's travel, a slow arm, the
        # arm springing back — and reads shut again as the lowering begins. Taken for the arm driven back, a healthy
        # lock latched motor_reversed and its arm stood up in front of every NEV until a reset (review48). A switch
        # seen open since start-up with no change counts as open a while (an arm found between its switches)
        other = "down" if m.target == "up" else "up"
        opened = self._switch_changed_at.get(other)
        m.other_open = not getattr(self._switches, other) and (
            opened is None or self.clock.monotonic() - opened >= REVERSED_HOLD_S)
        self._motion = m
        self._last_refusal = None
        if not self.fault:
            self._set_state("moving", m.reason, m.operator, direction=m.target, safety=m.recovery or None)
        return None

    def _hold_start(self, m: _Motion, rest: float) -> None:
        """A start's own lowering (a restored fault's, an unproven start's run-on, an owed or unwatched one's) past the
        motor's duty as the runs before left it (``_restore_duty``): it waits ``rest`` seconds and is said (the log,
        ``lock_moved`` with the wait where no fault holds the state, the live page's "a lowering is owed: in …s"),
        then starts as a lowering waiting out ``reverse_delay_s`` does (``check``). Driven at once, each start of a
        crash loop killed during it drove the motor again: N kills, N × up to ``motor_timeout_s`` against a stall
        (probe lock36). An NEV's or an operator's lowering meanwhile is not held by it (``_request_down``)."""
        now = self.clock.monotonic()
        self._deferred, self._reverse_at = m, now + rest
        self._duty_due = self._reverse_at
        why = (f"the motor started {len(self._moves)} times in the last {self.cfg.max_moves_window_s:g}s, before "
               "this start too (max_moves)")
        log.warning("lock %s: %s: lowered in %.0fs: %s", self.cfg.id, m.reason, rest, why)
        if not self.fault:
            self._set_state("reversing", f"{m.reason}: lowered in {rest:.0f}s ({why})", m.operator,
                            direction="down", safety=True)

    def _duty_held(self) -> bool:
        """A start's own lowering waits for the motor's duty (``_hold_start``)."""
        return self._reverse_at is not None and self._reverse_at == self._duty_due and self._deferred is not None

    def _forbids_lowering(self, operator: str | None) -> str | None:
        """Why this fault forbids driving a lowering (None: it does not): a motor seen to turn the arm the wrong way
        (``_went_back``: a lowering would raise it), or, but for an operator's command, one whose lowering in this
        fault timed out (``_request_down``). Asked by ``_start`` itself, the last gate: a lowering owed by another
        path came back to it unasked — the "safe position" owed by ``tick_failed`` latched over the timed-out fault,
        an NEV's lowering whose check had failed (``_owe_down``) — and drove the stalled motor another
        ``motor_timeout_s`` at the next tick (review49)."""
        if not self.fault:
            return None
        if self._reversed:
            return (f"the motor turned the arm the wrong way ({self.fault}), and a lowering would raise it; check "
                    "the motor's wiring at the bay, then reset")
        if self._recovery_timed_out and operator is None:
            return ("a lowering in this fault timed out (the motor could not bring the arm down): not driven again "
                    "but by an operator's unlock or reset")
        return None

    def _drive(self, switch_on: Callable[[], None]) -> None:
        """Switch the motor on, or leave it stopped: a line write that fails (a GPIO chip's I/O error, a line
        released) may have switched a line all the same, and a motor the interlock does not know it drives is an
        arm moving with nothing watching it for a car — a rise left on ran until its switch changed and was taken
        for a tamper. The error goes on to the caller; the tick, which retries what is owed, latches
        ``tick_failed`` when it fails too."""
        try:
            switch_on()
        except BaseException:
            try:
                self._motor_stop()
            except Exception:  # noqa: BLE001 - the driver is what failed; the first error is the one to report
                log.warning("lock %s: motor stop failed too", self.cfg.id)
            raise

    def _rise_unrecorded(self, m: _Motion, exc: OSError) -> Decision:
        """A rise whose record cannot be saved (disk full, read-only or failing data dir) is refused: killed
        mid-rise, the agent would leave the relay on and the next start would take the arm for one that rose
        watched, a car rolled in under it unseen. A refusal, not a FAULT: the arm has not moved and nothing
        about the lock is in doubt; the next raise writes again and goes ahead once the disk takes it (a FAULT
        needing an operator could not even be saved, so a restart would forget it)."""
        code = "rise_unrecorded"
        if self._last_refusal != code:
            log.error("lock %s: rise refused, its record %s cannot be written (%s)", self.cfg.id,
                      self.latches.where(), exc.strerror or exc)
        return self.refuse(code, f"the rise's record cannot be written to {self.latches.where()} "
                           f"({exc.strerror or exc}): a rise not on record must not start; free space or fix "
                           "the data dir", m.reason, m.operator)

    def _rising(self) -> bool:
        """The arm is being driven up (a rise under way; its record in the latch file stands for it)."""
        return self._motion is not None and self._motion.target == "up"

    def _abort_rise(self, why: tuple[str, str]) -> None:
        """A vehicle possible while the arm rises: motor off, lowered after ``reverse_delay_s``. That lowering is saved
        as asked (``latches.Asked``), as an NEV's is: the start that finds it owed drives it at once, once, not held by
        the motor's duty. The interlock's own before, a kill while it waited out ``reverse_delay_s`` (or during its
        stroke) left the arm part way up under the car that stopped it until the duty let the start drive (probe
        lock38)."""
        self._motor_stop()
        m, self._motion = self._motion, None
        self._reverse("vehicle possible while rising", safety=True,
                      then=None if self.fault else _Motion("down", 0.0, f"rise stopped: {why[1]}; lowering",
                                                           recovery=True, asked=not self._starting))
        self.emit(EventType.LOCK_REFUSED, code=why[0], reason=f"rise aborted: {why[1]}; lowering",
                  operator=m.operator if m else None)

    def _reverse(self, reason: str, safety: bool = False, then: _Motion | None = None) -> None:
        """Lower after ``reverse_delay_s`` (``then``: the lowering to start then, its reason and whose it is)."""
        self._reverse_at = self.clock.monotonic() + self.cfg.reverse_delay_s
        self._deferred = replace(then, started=self._reverse_at) if then is not None else None
        if not self.fault:
            self._set_state("reversing", reason, direction="down", safety=safety or None)
        if self.cfg.reverse_delay_s == 0:
            self.check()

    def tick_failed(self, message: str) -> None:
        """This lock's tick raised (a driver's read or write failed): the motor is stopped and what the lock owed
        stays owed — a lowering (an aborted rise's, an NEV's, a fault's safe position) is tried again at the next
        tick, and a rise cut short is lowered after ``reverse_delay_s``, as a rise aborted for a car. ``tick_failed``
        is latched once the tick has failed ``TICK_FAILS`` times within ``TICK_FAIL_WINDOW_S`` (a chip gone, a line
        released: every tick fails), not at the first: one transient ``EIO`` latched a FAULT that needs an operator
        at the bay, and dropped the lowering it interrupted — the arm stayed half up in front of the car that had
        stopped its rise. Latched, the owed lowering is still tried at each tick (the tick that watches it runs on):
        a driver that works again brings the arm down. Logged once, with the traceback, until an operator's reset."""
        with self.guard():
            now = self.clock.monotonic()
            try:
                self._motor_stop()
            except Exception:  # noqa: BLE001 - the driver is what failed; the fault below is what matters
                log.warning("lock %s: motor stop failed too", self.cfg.id)
            was, self._motion = self._motion, None
            if was is not None and self._reverse_at is None:
                if was.target == "down":  # the lowering is owed, due now
                    if was.run_on_s is not None:  # a run-on goes on for what is left of it, not all of it again: its
                        # stop failing at its end drove the motor against the stop another stroke (review43)
                        was = replace(was, run_on_s=max(0.0, was.run_on_s - (now - was.started)))
                    self._deferred, self._reverse_at = was, now
                    self._failed_due = now
                else:  # a rise cut short, its arm between the ends: lowered once the motor has stopped turning
                    self._deferred, self._reverse_at = None, now + self.cfg.reverse_delay_s
                    if not self.fault:
                        self._set_state("reversing", "rise stopped: the lock's supervision failed", direction="down",
                                        safety=True)
            owed, rested = self._reverse_at, self.state
            owed_motion = self._deferred if owed is not None else None  # whose lowering is owed (its operator)
            if self.fault == "tick_failed":
                return
            while self._tick_failures and now - self._tick_failures[0] > TICK_FAIL_WINDOW_S:
                self._tick_failures.popleft()
            self._tick_failures.append(now)
            if len(self._tick_failures) < TICK_FAILS:
                log.warning("lock %s: its tick failed (%s); motor stopped, tried again at the next tick", self.cfg.id,
                            message)
                return
            log.exception("lock %s: its tick failed (%s); motor stopped, fault latched", self.cfg.id, message)
            try:
                self._enter_fault("tick_failed", f"the lock's supervision failed: {message}", lower=False)
            except Exception:  # noqa: BLE001 - reading the switches failed as well: latch without them
                self.fault, self.state = "tick_failed", "fault"
                self.latches.set_fault(self.cfg.id, "tick_failed", message, None)
                self.emit(EventType.LOCK_FAULT, code="tick_failed", message=message, switches="unknown")
                self._publish_state("fault", message)
            if owed is None and rested != "down" and self._forbids_lowering(None) is None:
                # every FAULT's safe position is down, and this one's too: latched with the arm resting up (a driver
                # failing between moves), nothing was owed, and the arm stood up in front of the next car for as long
                # as the fault lasted, though the driver worked again a moment later (probe lock31)
                owed = now
            if owed is not None:  # still owed: the safe position after the fault, when the driver takes it — still
                # the operator's where it was (``_forbids_lowering``): dropped, an unlock's lowering of a timed-out
                # arm, cut short by this latch, was refused once the driver worked again, the arm part way up (review50)
                self._reverse_at, self._deferred = owed, owed_motion

    def _enter_fault(self, code: str, message: str, lower: bool, restored: SavedFault | None = None) -> None:
        """Latch ``code`` and save it; ``restored``: saved before a restart (``restored: true``, its ``since``)."""
        was_rising = self._rising()
        # whose lowering this fault cuts short (under way, or owed): its safe position is still that operator's
        # (``_forbids_lowering``): nobody's, an unlock's lowering of a timed-out arm ended at a switch_flapping latched
        # on the way, refused, the arm part way up (review50)
        cut = self._motion if self._motion is not None else self._deferred if self._reverse_at is not None else None
        operator = cut.operator if cut is not None and cut.target == "down" else None
        self._motor_stop()
        self._motion, self._reverse_at = None, None
        self.fault = code
        self._reversed = self._reversed or code == REVERSED
        # kept while a run-on owed to an earlier fault is not done; restored too: which switch lied is not saved
        self._down_doubted = self._down_doubted or code in SWITCH_LIES
        self.state = "fault"
        self.latches.set_fault(self.cfg.id, code, message, restored.since if restored else None)
        sw = self.driver.read_switches()
        self.emit(EventType.LOCK_FAULT, code=code, message=message, switches=sw.position,
                  restored=True if restored else None, since=restored.since if restored else None)
        self._publish_state("fault", message)
        if lower and sw.position not in ("down", "both"):
            if was_rising and self.cfg.reverse_delay_s > 0:
                self._reverse_at, self._deferred = self.clock.monotonic() + self.cfg.reverse_delay_s, None
            else:
                self._start(_Motion("down", self.clock.monotonic(), "safe position after fault", operator,
                                    recovery=True))

    def _tamper(self, sw: Switches) -> None:
        was = self.state
        now = self.tampered_at = self.clock.monotonic()
        tamper = {"was": was, "switches": sw.position,
                  "message": f"arm moved without a command ({was} → {sw.position})"}
        if was == "up" and self._lost_up(now):
            n, window_min = self._up_losses.count, self._up_losses.window_s / 60
            self.emit(EventType.LOCK_TAMPER, **tamper)
            self._enter_fault("arm_drift", f"up position lost {n} times within {window_min:g} min with no command "
                              "and no vehicle seen (arm sagging, brake slipping or up switch loose?)", lower=True)
            return
        if sw.position == "down":
            self._set_state("down", f"arm forced down while {was}")
        else:  # off its rest switch (or lifted): lower it to the safe end
            self._start(_Motion("down", now, f"arm moved off {was} without a command", recovery=True))
        self.emit(EventType.LOCK_TAMPER, **tamper)

    def _faulted_arm_moved(self, sw: Switches, now: float, left: bool) -> None:
        """A FAULT holds the arm at its safe end: one that leaves its down end with no command (lifted by hand, a
        brake or a spring letting go) is said and lowered again, as in automatic mode. Only the ``up`` / ``down``
        states were watched, so a faulted lock's arm pushed up stayed up in front of the next car for as long as the
        fault lasted, the lock saying ``fault`` and nothing more (probe lock32). Not again once a lowering in this
        fault has timed out (a motor that cannot lower it), and said only where the switches themselves are not the
        fault (a flapping one would say it at each flap).

        Within the motor's duty (``max_moves`` starts a ``max_moves_window_s``, as a raise): past it the lowering
        waits (``_lift_held``) and starts once the motor may, if the arm is still off its down end then. Unbounded,
        a down switch whose own flapping latched ``switch_flapping`` (the arm resting on its stop, the contact
        opening for a moment over and over) ran the motor against the stop at each opening — 300 starts in 3
        minutes, for as long as the fault lasted — and someone working at the arm was fought at each lift (probe
        review41). Said once per start, and once a wait: never at each flap or tick."""
        if left:
            self.tampered_at = now
        if sw.position == "down":  # back at its end (pushed down, the contact closed again): nothing owed
            self._lift_held = False
            return
        rest, said = self._duty_rest(), self.fault == "switch_flapping"
        if rest > 0:
            self._lift_held = True
            if not said and not self._lift_held_said:
                self._lift_held_said = True
                log.warning("lock %s: arm off its down end during fault %s: lowered in %.0fs (max_moves)",
                            self.cfg.id, self.fault, rest)
                self.emit(EventType.LOCK_TAMPER, was="fault", switches=sw.position, fault=self.fault,
                          message=f"arm moved off its down end without a command during fault {self.fault}: "
                          f"lowered in {rest:.0f}s (the motor started {len(self._moves)} times in the last "
                          f"{self.cfg.max_moves_window_s:g}s, max_moves)")
            return
        if left and not said:  # a wait that ends starts the lowering it said already
            self.emit(EventType.LOCK_TAMPER, was="fault", switches=sw.position, fault=self.fault,
                      message=f"arm moved off its down end without a command during fault {self.fault}: lowered")
        self._lift_held, self._lift_held_said = False, False
        self._start(_Motion("down", now, f"arm moved off its down end during fault {self.fault}", recovery=True))

    def _lost_up(self, now: float) -> bool:
        """Count a loss of the up position (unless a vehicle already explains it); True: the arm drifts."""
        self._up_losses.lost(now)
        self._up_losses.explain(self.vehicle_possible)
        return self._up_losses.drifting

    def _debounced(self, raw: Switches, now: float) -> Switches:
        """Switch readings that held for ``switch_debounce_s`` (contact bounce is not tamper).

        The target switch of a move counts at once: the motor must stop at the end stop.
        """
        m = self._motion
        self._change_driven = self._driven(now)
        if raw == self._switches or (m and raw.position == m.target):
            self._pending = None
            return raw
        if self._pending is None or self._pending[0] != raw:
            self._pending = (raw, now, self._change_driven)
        if now - self._pending[1] >= self.cfg.switch_debounce_s:
            self._change_driven = self._pending[2] or self._change_driven
            self._pending = None
            return raw
        return self._switches

    def _driven(self, now: float) -> Direction | None:
        """The direction the motor drives now, or drove until ``switch_debounce_s`` ago: a switch change that
        begins then is the motor's own doing (a rise stopped within its first ``switch_debounce_s`` left its down
        switch while driven; counted as uncommanded, three such stops latched ``switch_flapping``)."""
        if self._motion is not None:
            return self._motion.target
        last = self._stopped
        return last[0] if last is not None and now - last[1] <= self.cfg.switch_debounce_s else None

    def _note_changes(self, sw: Switches, now: float) -> None:
        prev, driven = self._switches, self._change_driven
        for name in ("down", "up"):
            before, after = getattr(prev, name), getattr(sw, name)
            if before == after:
                continue
            self._switch_changed_at[name] = now
            expected = driven is not None and (
                (name == driven and after) or (name != driven and not after)
            )
            if not expected:
                self._uncommanded.append(now)

    def _presence_flapping(self, now: float, p: bool | None) -> bool:
        """The sensor's reading changed ``presence.flap_changes`` times within ``flap_window_s``: no vehicle comes
        and goes like that. A sensor bouncing every few ms (a loose wire, a ground loop picking up the motor) was
        never judged: each "vehicle" only restarted the free timer, so the arm stayed down for ever, the bay
        opened visits on it, and nothing said why. Counted on every check, which every input edge runs."""
        pr = self.cfg.presence
        if pr is None or not self.driver.has_presence:
            return False
        # a reading that drops to unknown and back (a health output blinking off) changes too: each blink alone is
        # too short to call the sensor lost (``presence_pending``), but a line doing it over and over is flapping
        if self._presence_read and p != self._presence_seen:
            self._presence_changes.append(now)
        self._presence_seen, self._presence_read = p, True
        while self._presence_changes and now - self._presence_changes[0] > self.cfg.flap_window_s:
            self._presence_changes.popleft()
        return len(self._presence_changes) >= pr.flap_changes

    def _flapping(self, now: float) -> bool:
        while self._uncommanded and now - self._uncommanded[0] > self.cfg.flap_window_s:
            self._uncommanded.popleft()
        return len(self._uncommanded) >= self.cfg.flap_changes

    def refuse(self, code: str, message: str, reason: str, operator: str | None, since: float | None = None) -> Decision:
        """A refusal, said (``lock_refused``) unless the last one said had the same code — and, with ``since`` (the
        controller's held raise, once an episode), the agent's own refusal of that code was said at or after it: the
        last word of an earlier episode swallowed the next one's (a car parked and left between, the arm never up).
        A command's answer is not the agent's word: an operator's ``lock`` refused in the episode ("raise in 28s if it
        stays so", in a free spell) stood for the hold, and the arm stayed down past it with nothing said (locks40)."""
        own = self._own_said
        if operator is not None or self._last_refusal != code or (
                since is not None and (own is None or own[0] != code or own[1] < since)):
            self._last_refusal = code
            if operator is None:
                self._own_said = code, self.clock.monotonic()
            self._refusal_said = (code, message, iso(self.clock.now()))
            self.emit(EventType.LOCK_REFUSED, code=code, reason=message, request=reason, operator=operator)
        return Decision(False, message, code)

    def _set_state(self, state: State, reason: str, operator: str | None = None, **extra: Any) -> None:
        self.state = state
        if state in ("up", "down") and self._switches_proven:  # (a tamper adopted down, a reset at the down end)
            self.latches.set_rest(self.cfg.id, state)
        self._publish_state(self.public_state, reason, operator, **extra)

    def _publish_state(self, public: str, reason: str, operator: str | None = None, **extra: Any) -> None:
        if public == self._published and public != "moving":
            return
        self._published = public
        data: dict[str, Any] = {"state": public, "reason": reason, **extra}
        if operator:
            data["operator"] = operator
        self.emit(EventType.LOCK_MOVED, **data)

    def emit(self, type_: str, **data: Any) -> None:
        """Publish a lock event for this bay (``lock_id`` added, None values dropped)."""
        payload = {"lock_id": self.cfg.id, **{k: v for k, v in data.items() if v is not None}}
        with self.lock:  # queued; published by guard() once the lock is released
            self._outbox.append(Event.make(type_, self.clock, bay_id=self.bay_id, visit_id=self.visit_id, data=payload))


def _ages(starts: list[datetime], wall: datetime, marks: list[StartMark | None] | None = None,
          boot: str | None = None, mono: float | None = None, synced: bool = False,
          alive: StartMark | None = None) -> tuple[list[float], bool]:
    """The saved starts' ages in seconds (oldest first, as saved), and whether the wall clock was set back since or
    between them where it was read, or could not place them (``Interlock._restore_duty``): the newest no younger than
    now, each before it at least as old as the one after it. A start marked in this boot (``boot``, ``mono`` now) is
    aged on the monotonic clock, and two marked in the same boot are spaced on it; else the wall clock's spacing, where
    not negative — but between two boots (a marked start of another boot) only where the wall clock was synchronised at
    both ends (``StartMark.synced``; ``synced``: this clock's now): otherwise no spacing at all, the safe side. Such a
    newest start is as old as its boot is known to have lived since (``alive``: the last write of the boot that last
    wrote the file), not younger: counted as now at every boot, a Pi rebooting every few minutes held its duty for
    ever (review73)."""
    marks = marks or [None] * len(starts)
    ages: list[float] = []
    stepped = False
    after: int | None = None
    for i in reversed(range(len(starts))):
        mark, exact = marks[i], False
        if after is None:
            if mark is not None and boot is not None and mono is not None and mark.boot == boot:
                age, exact = max(0.0, mono - mark.mono), True
            elif mark is not None and boot is not None and not (mark.synced and synced):
                # another boot's, a wall clock not known right at either end: as old as that boot lived since
                lived = alive.mono - mark.mono if alive is not None and alive.boot == mark.boot else 0.0
                age, exact, stepped = max(0.0, lived), True, True
            else:
                age = (wall - starts[i]).total_seconds()
        else:
            later = marks[after]
            if mark is not None and later is not None and mark.boot == later.boot and later.mono >= mark.mono:
                gap, exact = later.mono - mark.mono, True
            elif mark is not None and later is not None and mark.boot != later.boot \
                    and not (mark.synced and later.synced):
                gap, exact, stepped = 0.0, True, True  # two boots the wall clock does not link
            else:
                gap = (starts[after] - starts[i]).total_seconds()
            age = ages[-1] + gap
        if not exact and (not ages and age < 0 or ages and age < ages[-1]):
            stepped = True
            age = max(age, ages[-1] if ages else 0.0)
        ages.append(age)
        after = i
    return ages[::-1], stepped


def _off_wall(saved: list[str], ages: list[float], wall: datetime, window: float) -> bool:
    """The wall clock reads a saved start more than a second off its age within ``window`` (counted on the monotonic
    clock): it stepped since. Saved again as it reads now (``_on_wall``), the next boot, which has only the wall clock,
    reads them right; one a window old or more counts nothing either way, and is not written again."""
    return any(abs(min((wall - parse_iso(t)).total_seconds(), window) - min(a, window)) > 1.0
               for t, a in zip(saved, ages))


def _anchored(ages: list[float], boot: str, mono: float, window: float, synced: bool) -> list[StartMark | None]:
    """The starts of ``ages`` marked on this boot's monotonic clock (``mono`` now), as ``_on_wall`` puts them on its
    wall clock: a restart later in this boot reads them as aged since, exactly. Left with another boot's marks (or
    none), each restart in this boot placed them again as if new — a start taken as now (a wall clock not known right)
    was taken as now at every restart, and a crash loop whose start's drive the duty held never drove it."""
    return [StartMark(boot, mono - min(a, window), synced) for a in ages]


def _on_wall(ages: list[float], wall: datetime, window: float) -> list[str]:
    """The starts of ``ages`` put on ``wall`` as it reads now (``Interlock._restore_duty``), in the same order; one
    older than ``window`` counts nothing and is kept a window old. At its age, a start from before the calendar's
    start (year 1 beside year 9999 in a file edited by hand: any time with an offset parses) raised
    ``OverflowError`` in the interlock's start, at every start: the agent died before its locks were read (review59)."""
    return [iso(wall - timedelta(seconds=min(a, window))) for a in ages]
