"""The violation log as an agent component: every bus event recorded, from start to stop.

Its own component (not a side job of the web page) because ``review`` and the statistics read
the log whether or not the page is served. It also forgets bay events older than
``history_days`` once an hour (a violation's own story stays with it), takes the plate out of the events of
visits with no violation after ``plate_days`` (the photos' ``evidence.max_age_days``), closes as ``expired`` the
violations nobody decided within ``open_days``, and forgets decided violations, their decisions and the audit log older
than ``review_days``: on an SD card that runs for years, a table that only grows is a disk that fills. And it keeps the run ledger
(``runs.py``): what the previous run left open is ended at this run's start.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable

from edge_agent.clock import Clock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType, OutboxSeen
from edge_agent.evidence.runs import AliveMarks, RunLedger
from edge_agent.evidence.violations import HELD_RETRY_WAIT_S, START_WAIT_S, ViolationLog
from edge_agent.sqlite_damage import is_no_space, is_unavailable

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
#: visits unnamed per event at most (``ViolationLog.unname``): ~20 ms here; a backlog goes on at the next event
UNNAME_BATCH = 100
#: the stop's wait for a put-off start another thread is recording (its 0.1 s glance, then its closing events)
STOP_WAIT_S = 5.0


class ViolationRecorder:
    """``start()`` subscribes the log to the bus; ``stop()`` unsubscribes and closes it."""

    def __init__(self, db_path: str | Path, clock: Clock, bus: EventBus, history_days: float | None = None,
                 review_days: float | None = None, plate_days: float | None = None,
                 open_days: float | None = None, mark_thread: bool = False) -> None:
        """``mark_thread`` (``run``, ``demo``): the run ledger's minute mark is written off the frame loop
        (``runs.AliveMarks``); without it (tests) at once, on the loop."""
        self.log = ViolationLog(db_path, clock)  # open now: the web page is built on it before start
        self.runs = RunLedger(db_path, clock)
        self.marks = AliveMarks(self.runs, thread=mark_thread)
        self.bus = bus
        self.clock = clock
        self.history_days = history_days
        self.review_days = review_days
        self.plate_days = plate_days
        self.open_days = open_days  # None (or 0 in the config): undecided violations wait for a decision for ever
        self._pruned_at: float | None = None
        self._unname_more = False  # the last pass hit UNNAME_BATCH: the next event goes on, not in an hour
        self._unsubscribe: Callable[[], None] | None = None
        self._started: datetime | None = None  # this run's start (``close_previous_run``)
        self._started_mono: float | None = None
        # while a lock puts the run's start off: the visits this run opened (never the previous run's to end), and
        # the bus subscription collecting them
        self._opened: set[str] = set()
        self._track: Callable[[], None] | None = None
        self._put_off_full = False  # what put it off: a full disk, not a lock (said so in its lines, review63)
        # one put-off start at a time (the loop's minute, an event from another thread, the stop): never two rows
        self._beginning = threading.Lock()
        self._event_tries = True  # False after a try at an event failed other than by a lock: the minute retries
        # the MQTT link's ``put_missing`` (``assemble``): given the log, the previous run's start as the ledger has
        # it and this run's, at the start, before the previous run's visits are ended
        self.unsent: Callable[[ViolationLog, str | None, str], int] | None = None
        # the MQTT link's ``check_outbox`` (``assemble``): given the outbox the ledger remembers, at the start
        self.outbox_check: Callable[[tuple[OutboxSeen, str] | None], bool] | None = None

    def start(self) -> None:
        self.log.attach(self.bus)
        if any(d is not None for d in (self.history_days, self.review_days, self.plate_days, self.open_days)):
            self._unsubscribe = self.bus.subscribe(self._maybe_prune)

    def close_previous_run(self) -> set[str]:
        """At start, every sink listening: end the stories the previous run left open (``runs.py``).

        Another program holding ``evidence.db``'s lock (a backup, a ``sqlite3`` shell) past the wait, or events of
        the previous run still held for it (``ViolationLog.held_from_before``: a departure among them must be read
        first, or its visit would be "ended" again as ``agent_stopped``), puts this off to the minute once it is free
        (``mark_alive``); the visits this run opens meanwhile are its own, never ended. Until 2026-12-06 such a
        start logged a traceback and the previous run's visits and violations stayed open for good.

        Returns the bays the previous run left a visit open in that this start did not end (put off, or failed):
        the start counts them as left holding a car (``Agent._watch_left_grounds``), as it does the bays of the
        ``agent_stopped`` departures published here. Put off, those came a minute later, after that look: a bay
        redrawn while the agent was stopped read its new outline beside the parked car free and the arm rose under
        the car (review30)."""
        self._started = self.clock.now()
        self._started_mono = self.clock.monotonic()  # the run ledger places the start by it once NTP steps the clock
        if self.outbox_check is not None:  # before the ledger notes this run's outbox (``begin``)
            self.outbox_check(self._known_outbox())
        if self.unsent is not None:  # the log is written first: a kill between it and the outbox left these out
            self.unsent(self.log, self._previous_start(), self._this_start())
        if self.log.held_from_before:
            self._begin_later("events of the last run are held for it")
        elif self._begin(HELD_RETRY_WAIT_S if self.log.held else START_WAIT_S):  # the log just waited for it
            return set()
        elif self._track is not None:
            self._end_before_begin()
        return self._left_open()

    def _known_outbox(self) -> tuple[OutboxSeen, str] | None:
        try:
            return self.runs.known_outbox()
        except sqlite3.Error as exc:
            log.warning("run ledger: the last run's MQTT outbox cannot be read (%s): a vanished one is not told", exc)
            return None

    def _previous_start(self) -> str | None:
        """The previous run's start as the ledger recorded it (None: none, or unreadable): the MQTT outbox compares
        the log with what it took only where that run started with it (``events/unsent.py``)."""
        try:
            return self.runs.last_started()
        except sqlite3.Error as exc:
            log.warning("run ledger: the previous run cannot be read (%s): events a kill kept from the MQTT outbox "
                        "are not looked for", exc)
            return None

    def _this_start(self) -> str:
        """This run as ``_previous_start`` will read it at the next start (its start and ledger row)."""
        assert self._started is not None
        try:
            return self.runs.next_started(self._started)
        except sqlite3.Error as exc:  # the next start then finds no match: it looks for nothing (the safe side)
            log.warning("run ledger: this run's row cannot be read (%s): the next start will not look for events a "
                        "kill kept from the MQTT outbox", exc)
            return iso(self._started)

    def _end_before_begin(self) -> None:
        """Put off by a lock, with nothing of an earlier run held: the visits the previous run left open are ended
        now, from a read (WAL lets it through), before this run's first event. The log holds these events until the
        lock goes and writes them before the start is recorded (``_while_put_off`` waits for ``held`` to empty), so
        that start finds them ended and ends nothing twice. Why: ended only once the lock went, a bay's
        ``agent_stopped`` departure (stamped an hour ago) came after this run's arrival in it — a consumer reading
        one bay's events in order saw the new car leave (leftovers32). A read that fails leaves them to the start."""
        self.log.lock_seen()  # the ledger just waited for it: the first of these glances, not 10 s more
        with self._beginning:  # an event from another thread does not record the start while these go out
            try:
                closing = self.runs.closing()
            except sqlite3.Error as exc:
                log.warning("violation log %s: the visits the previous run left open cannot be read (%s): they are "
                            "ended once the lock goes", self.log.db_path, exc)
                return
            for ev in closing:
                self.bus.publish(ev)
        if closing:
            log.info("ended %d visit(s) the previous run left open (reason agent_stopped), recorded once the %s",
                     sum(ev.type == "vehicle_departed" for ev in closing),
                     "disk has room" if self._put_off_full else "lock goes")
        if not self.log.held:  # the lock went meanwhile: recorded now, not at the next event
            self._begin_put_off()

    def _left_open(self) -> set[str]:
        """The bays with a visit open, as far as the index (read only) and the events held for it say: a departure
        still held leaves its bay in (a car counted that is gone only waits for its ground to be seen empty)."""
        bays = self.log.held_bays(EventType.VEHICLE_ARRIVED)
        try:
            bays |= self.runs.open_bays()
        except sqlite3.Error as exc:
            log.warning("violation log %s: the visits the previous run left open cannot be read (%s): no bay counts "
                        "as left holding a car", self.log.db_path, exc)
        return bays

    def _begin(self, wait_s: float | None) -> bool:
        """Record this run's start and end what the previous run left open; False: not recorded (put off where a lock
        kept it out)."""
        try:
            closing = self.runs.begin(self._started, self._opened, wait_s, self._started_mono)
        except sqlite3.OperationalError as exc:
            # a full disk is put off as a lock is: the visits ended from a read now, the start recorded at the minute
            # once there is room. Before, one traceback, the previous run's visits left open beside this run's, and
            # this run never recorded (probe chaos36)
            full = is_no_space(exc)
            if not (full or is_unavailable(exc)):
                return self._failed()
            if self._track is None:
                self._begin_later(str(exc), full)
            return False
        except Exception:  # noqa: BLE001 - a damaged index must not keep the agent from starting
            return self._failed()
        if self._track is not None:
            self._track()
            self._track = None
            log.warning("violation log %s: %s again, this run's start recorded", self.log.db_path,
                        "room" if self._put_off_full else "free")
        for ev in closing:
            self.bus.publish(ev)
        if closing:
            log.info("ended %d visit(s) the previous run left open (reason agent_stopped)",
                     sum(ev.type == "vehicle_departed" for ev in closing))
        return True

    def _failed(self) -> bool:
        log.exception("could not end what the previous run left open; its visits stay open")
        self._event_tries = False  # not a lock: put off, it is tried again each minute, not at each event
        return False

    def _begin_later(self, why: str, full: bool = False) -> None:
        log.warning("violation log %s %s (%s): this run's start, and the end of the visits the previous run left "
                    "open, are recorded once it is %s (checked at each event written, each minute and at the stop)",
                    self.log.db_path, "has no room: disk full" if full else "is locked by another program", why,
                    "written" if full else "free")
        self._put_off_full = full
        self._track = self.bus.subscribe(self._while_put_off)

    def _while_put_off(self, event: Event) -> None:
        """Each event while the start is put off (after every other subscriber: the event is out first): an arrival's
        visit is this run's own; and when the log has just written it with nothing left held, the lock is gone and
        the start is recorded now, not at the minute's mark. Why: a run stopped (or killed) within that minute
        recorded no run; the next start ended its visits at their last event and the statistics counted its time as
        the agent's absence (leftovers29)."""
        if event.type == EventType.VEHICLE_ARRIVED and event.visit_id:
            self._opened.add(event.visit_id)
        if self._event_tries and not self.log.held:
            self._begin_put_off()

    def _begin_put_off(self) -> None:
        """The put-off start recorded if the lock let it (a glance), once: whoever is already at it (another
        thread; this one publishing its closing events) is left to it, never waited for."""
        if not self._beginning.acquire(blocking=False):
            return
        try:
            if self._track is not None:
                self._begin(HELD_RETRY_WAIT_S)
        finally:
            self._beginning.release()

    def mark_alive(self) -> None:
        """Once a minute (from the loop): events a full disk kept from the log are written once there is room (also
        without a new event; their synced rows stay on the loop, as every event's), then the ledger notes this run
        alive as of now — on the marks' thread where there is one (``AliveMarks``). A start a lock put off
        (``close_previous_run``) is recorded first, once the log holds nothing more (a glance at the lock)."""
        held = self.log.write_held()
        if self._track is not None and not held:
            self._begin_put_off()
        self.marks.request(self.clock.now())

    def _stop_put_off(self) -> None:
        """A stop while the start is still put off: recorded now if the lock has gone (the sinks before this one, the
        MQTT link among them, still listen: ``assemble`` stops the recorder before them, so its closing events go
        out). Before, the start waited for the minute's mark and a stop within that minute recorded no run: the
        next start ended this run's visits at their last event, not at this stop, and the statistics counted its
        time as the agent's absence."""
        try:
            held = self.log.write_held()
        except Exception:  # noqa: BLE001 - the log's close tries them again and says what it keeps
            log.exception("violation log %s: held events not written at stop", self.log.db_path)
            held = self.log.held
        if not held:
            self._begin(HELD_RETRY_WAIT_S)  # ``_beginning`` is the stop's (``stop``)
        if self._track is not None:
            self._track()
            self._track = None
            log.warning("violation log %s: %s at stop, this run's start not recorded: the next start ends "
                        "its visits at their last event", self.log.db_path,
                        "disk still full" if self._put_off_full else "still locked")

    def _maybe_prune(self, _event: Event) -> None:
        """At the first event and then hourly (monotonic): events are what make the tables grow. Not while the log
        holds events for a lock or a full disk: the pass runs at the first event after they are written. Before, it
        waited the log's 10 s a second time on the frame loop, logged a traceback and was put off an hour (updown38)."""
        if self.log.held:
            return
        now = self.clock.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
            if self._unname_more:
                self._unname()
            return
        self._pruned_at = now
        try:  # the decided violations first: their visits' events are then bay events like any other
            if self.open_days is not None:
                expired = self.log.expire_open(self.open_days)
                if expired:
                    log.warning("closed %d violation(s) nobody decided within %g days as expired "
                                "(evidence.open_days; audit log: violations_expired)", len(expired), self.open_days)
            if self.review_days is not None:
                cases, audit = self.log.forget_decided(self.review_days)
                if cases or audit:
                    log.info("forgot %d decided violation(s) and %d audit entr(ies) older than %g days "
                             "(evidence.review_days)", cases, audit, self.review_days)
            self._unname()
            if self.history_days is not None:
                gone = self.log.prune(self.history_days)
                self.runs.prune(self.history_days)
                if gone:
                    log.info("forgot %d bay events older than %g days (evidence.history_days)", gone,
                             self.history_days)
        except Exception:  # noqa: BLE001 - housekeeping never stops the publisher (the frame loop)
            log.exception("pruning the event history failed; retrying in an hour")

    def _unname(self) -> None:
        if self.plate_days is None:
            return
        try:
            unnamed = self.log.unname(self.plate_days, UNNAME_BATCH)
        except Exception:  # noqa: BLE001 - housekeeping never stops the publisher (the frame loop)
            self._unname_more = False
            log.exception("taking plates out of old visits failed; retrying in an hour")
            return
        self._unname_more = self.log.unname_more
        if unnamed:
            log.info("took the plate out of %d visit(s) without a violation older than %g days "
                     "(evidence.max_age_days)%s", unnamed, self.plate_days, "; more at the next event"
                     if self._unname_more else "")

    def stop(self) -> None:
        # A put-off start another thread is recording (an MQTT command's lock event, a charger status) is waited
        # for: not waited for, the stop said "not recorded" and closed the log before that thread's closing events
        # went out (the backend got the previous run's departures, the log did not, and the next start sent them
        # again), or closed the ledger under it (no run recorded though the lock had gone) (review33).
        mine = self._beginning.acquire(timeout=STOP_WAIT_S)
        try:
            if self._track is not None and mine:
                self._stop_put_off()
            elif self._track is not None:
                log.warning("violation log %s: this run's start still being recorded at stop after %g s",
                            self.log.db_path, STOP_WAIT_S)
        finally:
            if mine:
                self._beginning.release()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.marks.close()  # a minute's mark being written finishes first: the connection closes below
        try:
            self.runs.mark_alive()  # a clean stop: the next run ends what is open at this moment
        except Exception:  # noqa: BLE001 - a full or read-only card must not keep the others from stopping
            log.exception("could not note the end of this run")
        self.runs.close()
        self.log.close()
