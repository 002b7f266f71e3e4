"""What an operator must clear stays on disk: each lock's latched FAULT and maintenance mode; and a rise in
progress, which nobody may be watching when the process dies.

Why: both live until an operator ends them (``cmd/lock-reset``, ``maintenance`` with ``on: false``).
Kept in memory only, a restart (a crash and systemd, a power cut, ``systemctl restart``) forgot
them: an arm a fault said must not be trusted (``arm_drift``, ``motor_timeout``…) was raised by the
policy again with nobody having looked, and a lock held down for a technician rose under their hands.

``{data_dir}/lock-latches.json``, keyed by lock id (the fault belongs to the hardware, not the bay)::

    {"version": 1, "locks": {"lock-01": {"fault": {"code": "arm_drift", "message": "…",
                                                   "since": "2026-01-01T08:00:00.000+08:00",
                                                   "lowering_timed_out": "…"},
                                         "maintenance": {"since": "…", "operator": "ops"},
                                         "rising": {"since": "…"}}},
     "held": {"lock-01": {"lowering": {"since": "…", "asked": {"reason": "NEV 粤B12345D identified"}},
                          "presence_blind": {"since": "…", "reason": "…"}}},
     "rest": {"lock-01": {"position": "down", "since": "…"}},
     "starts": {"lock-01": ["2026-01-03T07:12:40.031+08:00", "…"]},
     "start_marks": {"lock-01": [{"boot": "0f3c…", "mono": 812.402, "synced": true}, "…"]},
     "alive": {"boot": "0f3c…", "mono": 1504.118}}

``starts`` are the motor's last starts (at most ``max_moves``): its duty (``max_moves`` starts a
``max_moves_window_s``) holds across a restart. Kept in memory only, a crash loop killing the agent during a start's
own drive (a restored fault's lowering, an unproven start's run-on) drove the motor again at every start, with no
bound: 30 kills in 3.7 minutes, 30 starts and 71 s against a stall or a stop (probe lock36). Noted at each start and
written with the move's own record (``rising`` before the UP line, ``lowering`` once the DOWN line is on): no extra
write a stroke. Its own key, for the same reason as ``rest``. A start the wall clock now reads as ahead of it (set
back since: a Pi without an RTC at boot, NTP) has no known age and is dropped at the start (review56).

``start_marks`` lie beside ``starts``, one for each (null where none was known): the boot the start was made in (the
kernel's boot id, given by the caller) and the monotonic clock then. Within one boot a start's age is that clock's, exact
whatever the wall clock does since; across boots only the wall clock links them (``Interlock._restore_duty``). On the
wall clock alone, a crash loop in one boot whose wall clock stepped between starts (NTP, a flapping time source) found
the saved starts a step old at each forward step, its duty empty (probe lock37). Their own key again: 0.25.0's reader
passes it over, and its writer drops it with the marks' meaning (the next start reads its ``starts`` on the wall).
A mark's ``synced`` (written only when true) says the wall clock was synchronised when the start was saved: another
boot's start is placed by its wall time only where both that clock and this one are; otherwise its age is not known,
and it counts as no older than the newest start the wall can place (probe lock38: a Pi reset by its own motor at each
boot, its clock right on some boots only, read the starts of a boot whose clock was behind as hours old: 22 in a
window). 0.26.0's reader passes the field over; its writer drops it, the start then read as not synchronised.
``alive`` is the boot that wrote the file and its monotonic clock then, at every write (and at least every fifth of a
window while the motor's duty holds: ``Interlock.check``): that boot lived at least so long, so a start it made or
counted as now is at least that much older at the next boot (review73: counted as just made at every boot, a Pi
rebooting every few minutes with its clock never synchronised held its duty for ever). Its own key: 0.26.0's reader
passes it over and its writer drops it (no age credited); one that makes no sense is read as not known.

``asked`` in a ``lowering`` record says whose it is: an NEV's, an operator's (``unlock``, maintenance turned on), asked
in this run with no fault. The start that finds such a lowering owed drives it at once, not held by the motor's duty
(DOWN is always allowed), and once: its own drive's record is the start's, so a crash loop killing that drive too is
held by the duty again. Not said, the start held an NEV's lowering behind a crash loop's duty, the arm up in front of
it for up to a window (probe lock37). 0.25.0's and older readers pass a field inside ``lowering`` over.

``rest`` is where the arm last came to rest with its switches proven in that run (a watched move ended at the switch
it drove toward): a start that reads the other end (the switches' wires or pins swapped while the agent was
stopped) does not take that reading at its word (``Interlock.start``). Its own key beside ``locks`` and ``held``:
0.22.0's and 0.23.0's readers refuse a new key under either but pass one beside them over.

``rising`` is written before the UP line is switched on and dropped once the rise has ended (at its up
switch, aborted, faulted): a process killed mid-rise leaves the relay on and the arm runs on to its end stop
with nothing checking the bay (``Interlock.start`` lowers an arm whose rise nobody saw end).

``lowering`` stands while a lowering is owed or under way (an NEV's, an ``unlock``'s, an aborted rise's) — with
``"down_doubted": true`` while the down switch is no witness (a fault said a switch lies, and the reset's run-on for the
arm's stroke is not done: ``Interlock.reset``; read back a restart drives it again, whatever the switch says; 0.22.0
passes the key over) — and
``presence_blind`` while the presence sensor's "clear" is no witness (``Interlock._judge_blindness``): both end only
by what happens at the bay, so a restart must not end them either. Forgotten, an arm whose lowering's write had
failed came back ``up`` in front of the NEV that was owed it, and a sensor known blind to parked cars was trusted
again for ``presence.disagree_s``, the arm rising on the camera's word alone (probe lock31). Both lie under
``held``, not in ``locks``: 0.22.0 and older refuse an entry in ``locks`` with a key they do not know (the whole file
unreadable: every lock FAULT ``fault_record_unreadable``, the file moved aside, its faults' codes and maintenance
gone, and these records with them on the way forward again) but pass over a key beside ``locks``. Going back, they
keep every fault and maintenance as saved and lose only what 0.22.0 never kept (probe review38).

Written whole on every change: a temp file, fsync, rename over the old one, fsync of the folder
(a power cut leaves the old file or the new one, never half of one). Faults are rare; the cost is nil.

Failing safe: a file that cannot be read or makes no sense is never "no fault". It is moved aside
(``.corrupt-<time>``, for whoever investigates) and every configured lock starts in FAULT
``fault_record_unreadable`` until an operator has looked at it and reset it. Entries of locks no
longer configured are dropped, each record named in the log; a lock new to the config has none. A dropped unfinished
rise or owed lowering may be a renamed lock's: a lock found up with no record of its own is then lowered
(``unclaimed_move``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_agent.clock import Clock, iso
from edge_agent.durable import read_small, write_durably
from edge_agent.sqlite_damage import move_aside, prune_aside

log = logging.getLogger(__name__)

LATCH_FILE = "lock-latches.json"
# what a start reads of it at most: a few hundred bytes a lock; more is no file the agent wrote
LATCH_FILE_MAX_BYTES = 1 << 20
VERSION = 1
UNWRITTEN_SAY_S = 600  # a latch file that cannot be written is said again this often (seconds) while it lasts
# what only waits to be written (a rest, a motor start: ``_save_unsaved``) is tried again after 1 s, 2 s, 4 s … at most
# this often while writes fail; a change is tried at once whatever the back-off
UNSAVED_RETRY_MAX_S = 60.0
# the policy's own rise, its record refused, is tried again after 1 s, 2 s, 4 s … at most this often (``set_rising``):
# shorter than a waiting record's cap, as the rise is the lock's job once the card has room again
RISE_RETRY_MAX_S = 10.0
UNREADABLE = "fault_record_unreadable"  # the lock_fault code when the file could not be trusted


@dataclass(frozen=True)
class SavedFault:
    code: str
    message: str
    since: str  # wall time, ISO-8601 with offset: for people, never for timers
    # when a lowering in this fault timed out: the motor could not bring the arm down and is not driven again until
    # a reset, over a restart too (``Interlock.start``). Inside ``fault``, where 0.22.0's and 0.23.0's readers pass
    # an unknown field over (a new key under ``held`` is refused by 0.23.0's: going back faulted every lock)
    lowering_timed_out: str | None = None


@dataclass(frozen=True)
class SavedBlind:
    since: str
    reason: str


@dataclass(frozen=True)
class StartMark:
    """When a motor start was made on the monotonic clock, and in which boot that clock counts (its age exact within
    that boot, whatever the wall clock did)."""

    boot: str
    mono: float
    # the wall clock was synchronised (NTP) when the start was saved: only then does its wall time place it for a
    # later boot (``Interlock._restore_duty``); 0.26.0's reader passes the field over, its writer drops it (not known:
    # the safe side)
    synced: bool = False


@dataclass(frozen=True)
class Asked:
    """Whose a lowering owed is: asked for in this run, with no fault (an NEV's, an operator's)."""

    reason: str
    operator: str | None = None


@dataclass(frozen=True)
class SavedMaintenance:
    since: str
    operator: str | None = None
    # the lock, no longer configured, whose record this lock took at a start (``_inherit``): the operator must know why
    # an arm is held (probe locks45). A key older readers pass over
    inherited_from: str | None = None


class Latches:
    """The latched state of every lock, in memory only: tests and tools that must not write a data dir.

    ``LatchFile`` is the same, written through to disk; the interlock and controller do not know which.
    """

    def __init__(self, clock: Clock, boot_id: str | None = None) -> None:
        self.clock = clock
        # the boot ``clock.monotonic()`` counts in (Linux: ``/proc/sys/kernel/random/boot_id``); None: not known, the
        # starts noted without a mark and read on the wall clock alone
        self.boot_id = boot_id
        self._lock = threading.Lock()
        self._faults: dict[str, SavedFault] = {}
        self._maintenance: dict[str, SavedMaintenance] = {}
        self._rising: dict[str, str] = {}  # lock id → when its unfinished rise began (wall time, for people)
        self._lowering: dict[str, str] = {}  # lock id → since when a lowering is owed or under way
        self._doubted: set[str] = set()  # locks whose lowering owed ends only by a run-on (the down switch doubted)
        self._blind: dict[str, SavedBlind] = {}  # lock id → why its presence sensor is no witness, since when
        self._rest: dict[str, tuple[str, str]] = {}  # lock id → (up / down, since): where proven switches left it
        self._rest_unsaved = False  # a rest noted at a move's end, for the end of its record's write (``set_rest``)
        self._starts: dict[str, list[str]] = {}  # lock id → its motor's last starts (wall time): its duty over restarts
        self._starts_unsaved = False  # a start noted for the write of its move's record (``note_start``)
        self._marks: dict[str, list[StartMark | None]] = {}  # beside ``_starts``, one each: boot and monotonic time
        self._asked: dict[str, Asked] = {}  # lock id → whose the lowering owed is (an NEV's, an operator's)
        # an unfinished rise or an owed lowering read for a lock no longer configured (renamed, or removed) — the arm
        # it names may be any of this run's that has no record of its own (``unclaimed_move``) — and the locks told
        self._orphaned_moves: dict[str, str] = {}
        self._told: set[str] = set()
        self._unwritten = 0  # writes failed since the last one that went through (a full or read-only card)
        self._unwritten_said: float | None = None  # when (monotonic) the failure was last said
        self._failed_tries = 0  # writes failed in a row (a change's, a rise's or a waiting record's): the back-off
        self._failed_at = float("-inf")  # monotonic time of the last of them
        self._last_error: OSError | None = None  # a rise's record's last failed write: what a backed-off rise says
        # a motor start noted since the last try: a change, tried at once whatever the back-off (review69)
        self._start_untried = False
        # how long the boot that last wrote the file is known to have lived (``alive``: read at ``open``), and when
        # (monotonic) this one last wrote it (every write says so)
        self._alive_read: StartMark | None = None
        self._alive_written = float("-inf")

    def fault(self, lock_id: str) -> SavedFault | None:
        with self._lock:
            return self._faults.get(lock_id)

    def maintenance(self, lock_id: str) -> SavedMaintenance | None:
        with self._lock:
            return self._maintenance.get(lock_id)

    def rising(self, lock_id: str) -> str | None:
        """When the lock's last rise began, if no run saw it end (None: no rise in progress)."""
        with self._lock:
            return self._rising.get(lock_id)

    def set_rising(self, lock_id: str, on: bool, keep_starts: int = 0, backed_off: bool = False) -> None:
        """Note a rise begun (before its motor starts; with ``keep_starts``, the motor's start noted in the same write,
        the last ``keep_starts`` kept: ``note_start``) or ended; saved at once either way.

        A rise's record that cannot be written raises ``OSError`` and is not kept: a rise nobody could see end
        after a kill must not start (the interlock refuses it; the next raise tries the write again). An end's
        that cannot be written is only logged: the record left on disk lowers an arm found up at the next start,
        the safe side.

        ``backed_off`` (the policy's own rise, nobody waiting for its answer): while writes fail, a rise is tried again
        only after 1 s, 2 s, 4 s … ``RISE_RETRY_MAX_S``, and meanwhile refused with the last failure unwritten. The
        policy asks at every tick: 5,811 temporary files and fsyncs in 10 minutes on a card kept full (note45; 1,921
        in a real ``run``). A commanded rise is tried at once."""
        with self._lock:
            if on and backed_off and lock_id not in self._rising and self._last_error is not None \
                    and self._backing_off(RISE_RETRY_MAX_S):
                raise OSError(self._last_error.errno, self._last_error.strerror)
            if on == (lock_id in self._rising):
                if on and keep_starts:  # a record left standing (its end's write failed): the start is noted still
                    self._note_start(lock_id, keep_starts)
                    self._save()
                return
            if not on:
                del self._rising[lock_id]
                self._save()
                return
            self._rising[lock_id] = iso(self.clock.now())
            starts, marks = list(self._starts.get(lock_id, [])), list(self._marks.get(lock_id, []))
            starts_unsaved = self._starts_unsaved
            if keep_starts:
                self._note_start(lock_id, keep_starts)
            try:
                self._write()
                self._rest_unsaved = self._starts_unsaved = False
                self._written_again()
            except OSError as exc:
                self._write_failed()
                self._last_error = exc
                del self._rising[lock_id]
                # the rise is refused: the motor did not start, and nothing is left to write. Left flagged unsaved,
                # every decision's end rewrote the file on the full card and logged it (probe chaos36)
                self._starts[lock_id], self._marks[lock_id] = starts, marks
                self._starts_unsaved = starts_unsaved
                raise

    def lowering(self, lock_id: str) -> str | None:
        """Since when a lowering is owed or under way, if no run saw it end (None: none)."""
        with self._lock:
            return self._lowering.get(lock_id)

    def lowering_doubted(self, lock_id: str) -> bool:
        """The lowering owed is a run-on whatever the down switch says (that switch in doubt)."""
        with self._lock:
            return lock_id in self._doubted

    def lowering_asked(self, lock_id: str) -> Asked | None:
        """Whose the lowering owed is, where someone asked for it with no fault (an NEV, an operator); None: the
        interlock's own (a fault's, a start's, an aborted rise's) or none owed."""
        with self._lock:
            return self._asked.get(lock_id) if lock_id in self._lowering else None

    def set_lowering(self, lock_id: str, on: bool, doubted: bool = False, asked: Asked | None = None) -> None:
        """Note a lowering owed (or under way; ``doubted``: a run-on, the down switch no witness; ``asked``: whose it
        is) or ended; a failed write is only logged (``_save``)."""
        doubted = on and doubted
        # written as its reader takes it: a reason left empty (``Agent.unlock`` does not refuse one) made the whole file
        # unreadable at the next start, every lock faulted (review64)
        asked = None if not on or asked is None else asked if asked.reason else Asked("asked", asked.operator)
        with self._lock:
            if on == (lock_id in self._lowering) and doubted == (lock_id in self._doubted) \
                    and asked == self._asked.get(lock_id):
                self._save_unsaved()
                return
            if not on:
                del self._lowering[lock_id]
            elif lock_id not in self._lowering:
                self._lowering[lock_id] = iso(self.clock.now())
            if doubted:
                self._doubted.add(lock_id)
            else:
                self._doubted.discard(lock_id)
            if asked is not None:
                self._asked[lock_id] = asked
            else:
                self._asked.pop(lock_id, None)
            self._save()

    def rest(self, lock_id: str) -> str | None:
        """Where the arm last came to rest (``up`` / ``down``) with its switches proven; None: not known."""
        with self._lock:
            r = self._rest.get(lock_id)
            return r[0] if r is not None else None

    def set_rest(self, lock_id: str, position: str) -> None:
        """Note where the arm rests now (its switches proven); written only when it changes — and not at a move's end
        while its ``rising`` / ``lowering`` record stands: that record's end, written in the same decision
        (``Interlock.guard``), carries it. Written on its own, each stroke cost a third fsync'd rewrite of the file
        (an SD card's wear); lost with that record's write, the restart has the record to act on (it lowers)."""
        with self._lock:
            r = self._rest.get(lock_id)
            if r is not None and r[0] == position:
                return
            self._rest[lock_id] = (position, iso(self.clock.now()))
            if lock_id not in self._rising and lock_id not in self._lowering:
                self._save()
            else:
                self._rest_unsaved = True

    def _save_unsaved(self) -> None:
        """A rest noted at a move's end, or a motor start, whose record's write changed nothing (``_lock`` held): a
        lowering record that stands on (a fault that doubts the down switch keeps it) carried no rest to the file — a
        faulted arm driven down, its rest left ``up`` there, was lowered again at every restart (review49); a lowering
        owed before it started (a reversal's, a retry, one waiting for the duty) carried no start.

        While writes fail, backed off (``UNSAVED_RETRY_MAX_S``): nothing changed since the last try, and each try is a
        temporary file and an fsync on a full or failing card — 2,888 silent tries in one episode (probe chaos36). A
        kill meanwhile loses what a kill during the failure lost anyway; the write after room returns waits ≤ 60 s.
        A start noted since the last try is no such wait: it is tried at once (a new start of an owed lowering, backed
        off, reached the file up to 60 s after the card had room, and a kill then left the next start's duty short of
        it: review69); the duty bounds those tries to ``max_moves`` a window."""
        if (self._rest_unsaved or self._starts_unsaved) and (
                self._start_untried or not self._backing_off(UNSAVED_RETRY_MAX_S)):
            self._save()

    def _backing_off(self, cap: float) -> bool:
        """Writes have failed and the next try is not due: 1 s after the first failure, then 2 s, 4 s … ``cap``."""
        if not self._failed_tries:
            return False
        wait = min(cap, 2.0 ** min(self._failed_tries - 1, 16))
        return self.clock.monotonic() - self._failed_at < wait

    def _write_failed(self) -> None:
        self._failed_tries += 1
        self._start_untried = False  # the failed write carried it: it waits with the rest now
        self._failed_at = self.clock.monotonic()

    def starts(self, lock_id: str) -> list[str]:
        """The motor's last starts saved (wall time, oldest first): its duty over a restart (``Interlock.start``)."""
        with self._lock:
            return list(self._starts.get(lock_id, []))

    def start_marks(self, lock_id: str) -> list[StartMark | None]:
        """Beside ``starts``, one each: the boot and the monotonic time of the start (None: not known)."""
        with self._lock:
            n = len(self._starts.get(lock_id, []))
            return (list(self._marks.get(lock_id, [])) + [None] * n)[:n]

    def alive(self) -> StartMark | None:
        """The boot that last wrote the file and its monotonic time then (read at ``open``; None: not known): that boot
        lived at least that long, so a start it made or counted at an earlier monotonic time is at least the
        difference old (``Interlock._restore_duty``)."""
        with self._lock:
            return self._alive_read

    def note_alive(self, every: float) -> None:
        """Write the file (its ``alive`` stamp) if it was last written ``every`` seconds ago or more: called while the
        motor's duty holds (``Interlock.check``). Without it, a boot whose wall clock is not known right counted the
        last boot's starts as just made however long that boot had lived, and a Pi rebooting every few minutes held
        its duty — the lowering of an arm found up included — for ever (review73)."""
        with self._lock:
            if self.boot_id is None or self.clock.monotonic() - self._alive_written < every \
                    or self._backing_off(UNSAVED_RETRY_MAX_S):
                return
            self._alive_written = self.clock.monotonic()  # (``Latches`` in memory writes no document)
            self._save()

    def keep_starts(self, lock_id: str, starts: list[str], marks: list[StartMark | None] | None = None) -> None:
        """Save ``starts`` as the lock's, at once: the saved ones put on the wall clock as it reads now, after it was
        set back (``Interlock._restore_duty``). Left to the next write, a crash loop whose start's drive the duty held
        (no write) read them ahead again at every start, as now again: the held lowering never started. The same
        starts in the same order: their marks are kept, or replaced by ``marks`` (put on this boot's clock)."""
        with self._lock:
            if len(starts) != len(self._starts.get(lock_id, [])) or marks is not None and len(marks) != len(starts):
                raise ValueError("keep_starts: the same starts, put on the wall clock again")
            self._starts[lock_id] = list(starts)
            if marks is not None:
                self._marks[lock_id] = list(marks)
            self._starts_unsaved = True
            self._save()

    def note_start(self, lock_id: str, keep: int) -> None:
        """Note a start of the motor now (the last ``keep`` kept); written with the move's record — the lowering's,
        at the end of the decision that switched the DOWN line on (``Interlock.guard``): no extra write a stroke. A
        rise's goes with its ``rising`` record, before the UP line (``set_rising``)."""
        with self._lock:
            self._note_start(lock_id, keep)

    def _note_start(self, lock_id: str, keep: int) -> None:
        starts = self._starts.get(lock_id, [])
        marks = (self._marks.get(lock_id, []) + [None] * len(starts))[:len(starts)]
        mark = StartMark(self.boot_id, self.clock.monotonic(), self.clock.synced() is True) if self.boot_id else None
        self._starts[lock_id] = (starts + [iso(self.clock.now())])[-keep:]
        self._marks[lock_id] = (marks + [mark])[-keep:]
        self._starts_unsaved = self._start_untried = True

    def unclaimed_move(self, lock_id: str) -> str | None:
        """Once per lock: the unfinished rises and owed lowerings the start dropped for locks no longer configured,
        in words (None: none). A lock renamed in the config is the same arm under another id, and which one the
        file cannot say: its record, dropped, left an arm that rose unwatched (or was owed a lowering in front of
        an NEV) taken as resting up (probe leftovers34). A start that finds its arm up with no record of its own
        lowers it when one was dropped: the safe side, and the policy raises it again on fresh evidence."""
        with self._lock:
            if not self._orphaned_moves or lock_id in self._told:
                return None
            self._told.add(lock_id)
            return "; ".join(f"lock {k}'s {v}" for k, v in sorted(self._orphaned_moves.items()))

    def presence_blind(self, lock_id: str) -> SavedBlind | None:
        with self._lock:
            return self._blind.get(lock_id)

    def set_presence_blind(self, lock_id: str, reason: str | None) -> None:
        """Note the presence sensor no witness (``reason``) or trusted again (None)."""
        with self._lock:
            if reason is None:
                if self._blind.pop(lock_id, None) is not None:
                    self._save()
                return
            if lock_id in self._blind:
                return
            self._blind[lock_id] = SavedBlind(iso(self.clock.now()), reason)
            self._save()

    def set_fault(self, lock_id: str, code: str, message: str, since: str | None = None) -> None:
        """Latch a fault (a restored one keeps its ``since``; a fresh one is stamped now)."""
        with self._lock:
            old = self._faults.get(lock_id)
            if old is not None and (old.code, old.message) == (code, message) and since in (None, old.since):
                return
            # a fault latched over another keeps its timed-out lowering: the motor is the same (``Interlock``)
            self._faults[lock_id] = SavedFault(code, message, since or iso(self.clock.now()),
                                               old.lowering_timed_out if old is not None else None)
            self._save()

    def set_lowering_timed_out(self, lock_id: str) -> None:
        """Note that a lowering in the lock's fault timed out (kept with the fault, ended by its reset)."""
        with self._lock:
            old = self._faults.get(lock_id)
            if old is None or old.lowering_timed_out is not None:
                return
            self._faults[lock_id] = replace(old, lowering_timed_out=iso(self.clock.now()))
            self._save()

    def clear_fault(self, lock_id: str) -> None:
        with self._lock:
            if self._faults.pop(lock_id, None) is not None:
                self._save()

    def set_maintenance(self, lock_id: str, on: bool, operator: str | None = None) -> None:
        with self._lock:
            if on and lock_id not in self._maintenance:
                self._maintenance[lock_id] = SavedMaintenance(iso(self.clock.now()), operator)
            elif not on and lock_id in self._maintenance:
                del self._maintenance[lock_id]
            else:
                return
            self._save()

    def _save(self) -> None:
        """Called with ``_lock`` held after every change; a failed write is logged, the change kept in memory (and
        written with the next change, or the next decision's end where a rest or a start waits). The failure is said
        once per episode (again every ``UNWRITTEN_SAY_S`` while it lasts, with the count), and the write that goes
        through again says so. Why: a card kept full retried at every decision's end, and each retry was an error
        line — 3,412 in 104 s of a real ``run`` (probe chaos36), into the journal of that full card."""
        try:
            self._write()
            self._rest_unsaved = self._starts_unsaved = False
        except OSError as exc:
            self._unwritten += 1
            now = self.clock.monotonic()
            self._write_failed()
            if self._unwritten_said is None or now - self._unwritten_said >= UNWRITTEN_SAY_S:
                self._unwritten_said = now
                log.error("saved lock faults %s not written (%s): a restart now would forget what changed (%d "
                          "write(s) failed; tried again at each change, said again every %d s while it lasts)",
                          self.where(), exc.strerror or exc, self._unwritten, UNWRITTEN_SAY_S)
            else:
                log.debug("saved lock faults %s not written (%s)", self.where(), exc.strerror or exc)
            return
        self._written_again()

    def _written_again(self) -> None:
        """A write went through after failed ones: said once (``_lock`` held)."""
        if self._unwritten:
            log.warning("saved lock faults %s written again (%d write(s) had failed)", self.where(), self._unwritten)
            self._unwritten, self._unwritten_said = 0, None
        self._failed_tries = 0
        self._start_untried = False
        # a later episode's backed-off rise tries its own write first: kept, it said this one's failure, untried
        # (a full card's "No space left" for a worn card's I/O error: probe review80)
        self._last_error = None

    def _write(self) -> None:
        """Save the whole state (``_lock`` held); raises ``OSError``. Nothing to do in memory."""

    def where(self) -> str:
        """Where the state is kept, for messages."""
        return "(in memory)"

    def _document(self) -> dict[str, Any]:
        locks: dict[str, dict[str, Any]] = {}
        for lock_id, f in self._faults.items():
            locks.setdefault(lock_id, {})["fault"] = {k: v for k, v in asdict(f).items() if v is not None}
        for lock_id, m in self._maintenance.items():
            locks.setdefault(lock_id, {})["maintenance"] = {k: v for k, v in asdict(m).items() if v is not None}
        for lock_id, since in self._rising.items():
            locks.setdefault(lock_id, {})["rising"] = {"since": since}
        held: dict[str, dict[str, Any]] = {}  # beside ``locks``, where 0.22.0's reader passes it over
        for lock_id, since in self._lowering.items():
            held.setdefault(lock_id, {})["lowering"] = {"since": since, **({"down_doubted": True}
                                                                          if lock_id in self._doubted else {})}
            if (a := self._asked.get(lock_id)) is not None:
                held[lock_id]["lowering"]["asked"] = {k: v for k, v in asdict(a).items() if v is not None}
        for lock_id, b in self._blind.items():
            held.setdefault(lock_id, {})["presence_blind"] = asdict(b)
        doc: dict[str, Any] = {"version": VERSION, "locks": dict(sorted(locks.items()))}
        if held:
            doc["held"] = dict(sorted(held.items()))
        if self._rest:  # its own key: 0.22.0's and 0.23.0's readers refuse a new one under locks or held
            doc["rest"] = {k: {"position": p, "since": since} for k, (p, since) in sorted(self._rest.items())}
        if any(self._starts.values()):  # its own key too (``rest``)
            doc["starts"] = {k: list(v) for k, v in sorted(self._starts.items()) if v}
            marks = {k: self._marks.get(k, []) for k in doc["starts"]}
            if any(m is not None for ms in marks.values() for m in ms):  # beside it (0.25.0 passes it over)
                doc["start_marks"] = {k: [None if m is None else _mark(m) for m in
                                          (ms + [None] * len(doc["starts"][k]))[:len(doc["starts"][k])]]
                                      for k, ms in marks.items()}
        if self.boot_id is not None:  # this boot lived at least until now (``alive``); 0.26.0 passes the key over
            self._alive_written = self.clock.monotonic()
            doc["alive"] = {"boot": self.boot_id, "mono": self._alive_written}
        return doc


class LatchFile(Latches):
    """``Latches`` kept in ``path``; build with :meth:`open`, which reads what the last run left."""

    def __init__(self, path: Path, clock: Clock, boot_id: str | None = None) -> None:
        super().__init__(clock, boot_id)
        self.path = Path(path)

    @classmethod
    def open(cls, path: Path, lock_ids: list[str], clock: Clock, boot_id: str | None = None) -> LatchFile:
        """Read ``path`` for the configured ``lock_ids``: missing → nothing latched; unreadable → every
        lock faulted (and the file moved aside); entries of other locks dropped. ``boot_id``: the boot
        ``clock.monotonic()`` counts in (``Latches``)."""
        self = cls(path, clock, boot_id)
        try:
            doc = json.loads(_read(self.path))
            faults, maintenance, rising, lowering, blind, doubted = _parse(doc)
            asked = _parse_asked(doc)
            rest = _parse_rest(doc)
            starts = _parse_starts(doc)
            marks = _parse_start_marks(doc, starts)
            alive = _parse_alive(doc)
        except FileNotFoundError:
            return self  # first start: nothing latched yet
        except (OSError, ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
            self._fail_safe(lock_ids, exc)
            return self
        known = set(lock_ids)
        stale = sorted((faults.keys() | maintenance.keys() | rising.keys() | lowering.keys() | blind.keys()
                        | rest.keys() | starts.keys()) - known)
        heirs = sorted(known - set().union(faults, maintenance, blind, rising, lowering, rest, starts))
        took = _inherit(stale, heirs, faults, maintenance, blind)
        for lock_id in stale:
            what = _records(lock_id, faults, maintenance, rising, lowering, blind) or \
                [w for k, w in ((rest, "rest position"), (starts, "motor starts")) if lock_id in k]
            # which locks took the holds, by name: an operator finding an arm held must know why (probe locks45)
            taken = _taken(took[lock_id])
            log.warning("lock %s is no longer configured: its saved %s dropped (configured: %s; a lock renamed "
                        "starts under its new id without them%s)", lock_id, ", ".join(what),
                        ", ".join(lock_ids) or "none", taken)
            moves = [w for w in what if w.startswith(("unfinished rise", "owed lowering"))]
            if moves:
                self._orphaned_moves[lock_id] = " and ".join(moves)
        with self._lock:
            self._faults = {k: v for k, v in faults.items() if k in known}
            # a kept ``inherited_from`` naming a lock configured again says "no longer configured" no more
            self._maintenance = {k: replace(v, inherited_from=None) if v.inherited_from in known else v
                                 for k, v in maintenance.items() if k in known}
            self._rising = {k: v for k, v in rising.items() if k in known}
            self._lowering = {k: v for k, v in lowering.items() if k in known}
            self._doubted = doubted & known
            self._blind = {k: v for k, v in blind.items() if k in known}
            self._rest = {k: v for k, v in rest.items() if k in known}
            self._starts = {k: v for k, v in starts.items() if k in known}
            self._marks = {k: v for k, v in marks.items() if k in known}
            self._alive_read = alive
            self._asked = {k: v for k, v in asked.items() if k in self._lowering}
            if stale:
                self._save()
        for lock_id, f in self._faults.items():
            log.warning("lock %s: FAULT %s since %s, saved before the restart: kept until a reset (%s)",
                        lock_id, f.code, f.since, f.message)
        for lock_id, m in self._maintenance.items():
            log.warning("lock %s: in maintenance mode since %s (%s), saved before the restart%s: kept until "
                        "turned off", lock_id, m.since, m.operator or "no operator named",
                        f" for lock {m.inherited_from}, no longer configured (renamed?)" if m.inherited_from else "")
        return self

    def _fail_safe(self, lock_ids: list[str], exc: Exception) -> None:
        try:  # numbered when the name is taken: two in one second (a crash loop) kept the second copy only
            aside = move_aside(self.path, f".corrupt-{self.clock.now().strftime('%Y%m%dT%H%M%S')}")
            kept = f"moved to {aside.name}"
            # bounded (a card that damages it at every start kept one a start), the first kept: only it holds what was
            # latched, the later ones are this fail-safe's own document damaged again (probe review102)
            prune_aside(self.path, first=True)
        except OSError as move_exc:
            kept = f"left in place ({move_exc.strerror or move_exc})"
        reason = f"{type(exc).__name__}: {exc}"[:200]
        log.error("saved lock faults %s unreadable (%s), %s: every lock starts in FAULT %s until an operator "
                  "checks it and resets it", self.path, reason, kept, UNREADABLE)
        message = (f"saved lock faults unreadable ({reason}): a fault from before the restart may be lost; "
                   "check the lock, then reset it")
        with self._lock:
            since = iso(self.clock.now())
            self._faults = {lock_id: SavedFault(UNREADABLE, message, since) for lock_id in lock_ids}
            self._save()

    def _write(self) -> None:
        """Replace the file atomically (raises ``OSError``, the old file as it was)."""
        text = json.dumps(self._document(), ensure_ascii=False, indent=1) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(self.path, text.encode("utf-8"))

    def where(self) -> str:
        return str(self.path)


def _mark(m: StartMark) -> dict[str, Any]:
    """A start's mark as saved: ``synced`` only where true (a start saved with the clock unsynchronised, or by 0.26.0,
    reads alike: not placed by its wall time)."""
    return {"boot": m.boot, "mono": m.mono, **({"synced": True} if m.synced else {})}


def _inherit(stale: list[str], heirs: list[str], faults: dict[str, SavedFault],
             maintenance: dict[str, SavedMaintenance], blind: dict[str, SavedBlind]) -> dict[str, dict[str, list[str]]]:
    """A fault, maintenance mode or a blind sensor's hold saved for a lock no longer configured falls on every
    configured lock with no record of its own (``heirs``; in place), each naming the lock it came from: the id the
    file held it under, never an earlier one kept from a rename before (probe review105: a rename undone named the
    lock itself as "no longer configured"). A lock renamed in the
    config is the same arm under another id, among those: until probe locks43 its records were dropped, and a sensor
    known blind to parked cars was a witness again, the arm up 40 s after the start. The cost: a lock added beside
    the rename starts held too, until a reset (or maintenance turned off). Returns, for each stale lock, each hold
    it had → the locks that took it: a lock takes one fault (or hold) only, the first stale lock's, so a second
    one's is taken by none (until probe review105 its warning named them all the same)."""
    took: dict[str, dict[str, list[str]]] = {}
    for lock_id in stale:
        got = took[lock_id] = {w: [] for k, w in ((faults, "fault"), (maintenance, "maintenance"),
                                                  (blind, "blind sensor's hold")) if lock_id in k}
        for heir in heirs:
            if (f := faults.get(lock_id)) is not None and heir not in faults:
                faults[heir] = replace(f, message=f"lock {lock_id}'s, no longer configured (renamed?): {f.message}")
                got["fault"].append(heir)
            if (m := maintenance.get(lock_id)) is not None and heir not in maintenance:
                maintenance[heir] = replace(m, inherited_from=lock_id)
                got["maintenance"].append(heir)
            if (b := blind.get(lock_id)) is not None and heir not in blind:
                blind[heir] = replace(b, reason=f"lock {lock_id}'s, no longer configured (renamed?): {b.reason}")
                got["blind sensor's hold"].append(heir)
    return took


def _taken(took: dict[str, list[str]]) -> str:
    """The start's words for which locks took a removed lock's holds (``_inherit``), holds taken alike together."""
    by: dict[tuple[str, ...], list[str]] = {}
    for what, heirs in took.items():
        by.setdefault(tuple(heirs), []).append(what)
    return "".join(f"; its {' and '.join(what)} taken by " + (
        f"{', '.join(heirs)} (no record of their own: a lock renamed is among them), held until an operator clears "
        "each: check their arms" if heirs else "no lock (each has one of its own, or took another lock's first)")
        for heirs, what in by.items())


def _records(lock_id: str, faults: dict[str, SavedFault], maintenance: dict[str, SavedMaintenance],
             rising: dict[str, str], lowering: dict[str, str], blind: dict[str, SavedBlind]) -> list[str]:
    """What the file keeps for ``lock_id``, in words for the log: each record, since when."""
    out = []
    if (f := faults.get(lock_id)) is not None:
        out.append(f"FAULT {f.code} (since {f.since})")
    if (m := maintenance.get(lock_id)) is not None:
        out.append(f"maintenance mode (since {m.since}, by {m.operator or 'no operator named'})")
    if lock_id in rising:
        out.append(f"unfinished rise (begun {rising[lock_id]})")
    if lock_id in lowering:
        out.append(f"owed lowering (since {lowering[lock_id]})")
    if (b := blind.get(lock_id)) is not None:
        out.append(f"blind presence sensor's hold (since {b.since})")
    return out


def _parse(doc: object) -> tuple[dict[str, SavedFault], dict[str, SavedMaintenance], dict[str, str], dict[str, str],
                                 dict[str, SavedBlind], set[str]]:
    """The file's content, checked field by field; anything unexpected raises ``ValueError``."""
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("locks"), dict):
        raise ValueError(f"not a version {VERSION} lock latch file")
    faults: dict[str, SavedFault] = {}
    maintenance: dict[str, SavedMaintenance] = {}
    rising: dict[str, str] = {}
    lowering: dict[str, str] = {}
    blind: dict[str, SavedBlind] = {}
    doubted: set[str] = set()
    for lock_id, entry in doc["locks"].items():
        if not isinstance(entry, dict) or not entry.keys() <= {"fault", "maintenance", "rising"}:
            raise ValueError(f"locks.{lock_id}: not an object with fault / maintenance / rising")
        if "fault" in entry:
            f = entry["fault"]
            if not isinstance(f, dict) or not all(isinstance(f.get(k), str) and f[k] for k in ("code", "message")):
                raise ValueError(f"locks.{lock_id}.fault: code and message must be text")
            timed_out = f.get("lowering_timed_out")
            faults[lock_id] = SavedFault(f["code"], f["message"], _since(f.get("since"), f"locks.{lock_id}.fault"),
                                         None if timed_out is None else
                                         _since(timed_out, f"locks.{lock_id}.fault.lowering_timed_out"))
        if "maintenance" in entry:
            m = entry["maintenance"]
            op, heir_of = (m.get("operator"), m.get("inherited_from")) if isinstance(m, dict) else (None, None)
            if not isinstance(m, dict) or not all(v is None or isinstance(v, str) for v in (op, heir_of)):
                raise ValueError(f"locks.{lock_id}.maintenance: operator and inherited_from must be text")
            maintenance[lock_id] = SavedMaintenance(_since(m.get("since"), f"locks.{lock_id}.maintenance"), op,
                                                    heir_of)
        if "rising" in entry:
            r = entry["rising"]
            rising[lock_id] = _since(r.get("since") if isinstance(r, dict) else None, f"locks.{lock_id}.rising")
    held = doc.get("held", {})
    if not isinstance(held, dict):
        raise ValueError("held: not an object")
    for lock_id, entry in held.items():
        if not isinstance(entry, dict) or not entry.keys() <= {"lowering", "presence_blind"}:
            raise ValueError(f"held.{lock_id}: not an object with lowering / presence_blind")
        if "lowering" in entry:
            lw = entry["lowering"]
            lowering[lock_id] = _since(lw.get("since") if isinstance(lw, dict) else None, f"held.{lock_id}.lowering")
            if lw.get("down_doubted", False) not in (True, False):
                raise ValueError(f"held.{lock_id}.lowering.down_doubted: not true or false")
            if lw.get("down_doubted"):
                doubted.add(lock_id)
        if "presence_blind" in entry:
            b = entry["presence_blind"]
            if not isinstance(b, dict) or not (isinstance(b.get("reason"), str) and b["reason"]):
                raise ValueError(f"held.{lock_id}.presence_blind: reason must be text")
            blind[lock_id] = SavedBlind(_since(b.get("since"), f"held.{lock_id}.presence_blind"), b["reason"])
    return faults, maintenance, rising, lowering, blind, doubted


def _parse_asked(doc: dict[str, Any]) -> dict[str, Asked]:
    """Whose each owed lowering is (``held.*.lowering.asked``: none in a file 0.25.0 or older wrote); anything
    unexpected raises ``ValueError``. ``_parse`` has checked ``held``'s shape."""
    out: dict[str, Asked] = {}
    for lock_id, entry in doc.get("held", {}).items():
        a = entry.get("lowering", {}).get("asked")
        if a is None:
            continue
        op = a.get("operator") if isinstance(a, dict) else None
        if not isinstance(a, dict) or not (isinstance(a.get("reason"), str) and a["reason"]) \
                or not (op is None or isinstance(op, str)):
            raise ValueError(f"held.{lock_id}.lowering.asked: reason (and operator) must be text")
        out[lock_id] = Asked(a["reason"], op)
    return out


def _parse_rest(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The ``rest`` key (none in a file 0.23.0 or older wrote); anything unexpected raises ``ValueError``."""
    rest = doc.get("rest", {})
    if not isinstance(rest, dict):
        raise ValueError("rest: not an object")
    out: dict[str, tuple[str, str]] = {}
    for lock_id, r in rest.items():
        if not isinstance(r, dict) or r.get("position") not in ("up", "down"):
            raise ValueError(f"rest.{lock_id}: position must be up or down")
        out[lock_id] = (r["position"], _since(r.get("since"), f"rest.{lock_id}"))
    return out


def _parse_starts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """The ``starts`` key (none in a file 0.24.0 or older wrote); anything unexpected raises ``ValueError``."""
    starts = doc.get("starts", {})
    if not isinstance(starts, dict):
        raise ValueError("starts: not an object")
    out: dict[str, list[str]] = {}
    for lock_id, times in starts.items():
        if not isinstance(times, list):
            raise ValueError(f"starts.{lock_id}: not a list of times")
        out[lock_id] = [_since(t, f"starts.{lock_id}") for t in times]
    return out


def _parse_start_marks(doc: dict[str, Any], starts: dict[str, list[str]]) -> dict[str, list[StartMark | None]]:
    """The ``start_marks`` key (none in a file 0.25.0 or older wrote, or rewrote): one mark (or null) for each saved
    start, in order; anything unexpected raises ``ValueError``."""
    marks = doc.get("start_marks", {})
    if not isinstance(marks, dict):
        raise ValueError("start_marks: not an object")
    out: dict[str, list[StartMark | None]] = {}
    for lock_id, ms in marks.items():
        if not isinstance(ms, list) or len(ms) != len(starts.get(lock_id, [])):
            raise ValueError(f"start_marks.{lock_id}: not one mark for each saved start")
        row: list[StartMark | None] = []
        for m in ms:
            if m is None:
                row.append(None)
                continue
            boot, mono = m.get("boot") if isinstance(m, dict) else None, m.get("mono") if isinstance(m, dict) else None
            synced = m.get("synced", False) if isinstance(m, dict) else None
            if not (isinstance(boot, str) and 0 < len(boot) <= 64) or isinstance(mono, bool) \
                    or not isinstance(mono, (int, float)) or not math.isfinite(mono) or synced not in (True, False):
                raise ValueError(f"start_marks.{lock_id}: each a boot id, a finite monotonic time (and synced true "
                                 "or false), or null")
            row.append(StartMark(boot, float(mono), synced is True))
        out[lock_id] = row
    return out


def _parse_alive(doc: dict[str, Any]) -> StartMark | None:
    """The ``alive`` key (none in a file 0.26.0 or older wrote): a boot id and a finite monotonic time. Only a lower
    bound on an age, never needed: anything unexpected reads as not known (no age credited), not as a bad file."""
    a = doc.get("alive")
    boot, mono = (a.get("boot"), a.get("mono")) if isinstance(a, dict) else (None, None)
    if not (isinstance(boot, str) and 0 < len(boot) <= 64) or isinstance(mono, bool) \
            or not isinstance(mono, (int, float)) or not math.isfinite(mono):
        return None
    return StartMark(boot, float(mono))


def _since(value: object, where: str) -> str:
    if not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is None:
        raise ValueError(f"{where}.since: not an ISO-8601 time with offset")
    return value


def _read(path: Path) -> str:
    """The file's text, read as the agent's own regular file through no link (``OSError`` otherwise, which fails
    safe). Why: a FIFO planted at its name (the data folder may be written by others) held ``run``'s start for ever
    before a lock was driven, and a link to ``/dev/zero`` was read until memory ran out."""
    data = read_small(path, LATCH_FILE_MAX_BYTES, nofollow=True)
    if len(data) > LATCH_FILE_MAX_BYTES:
        raise ValueError(f"larger than {LATCH_FILE_MAX_BYTES >> 20} MiB: no file the agent wrote")
    return data.decode("utf-8")
