"""The agent's runs, and the bay stories a run left open when it stopped.

A visit ends when the camera sees the bay empty. A run that stops (a restart, a power cut, a device switched off
for a holiday) sees nothing more: without this ledger the visit it left open, and its violation, stayed open for
ever — on the review page (a violation with no end), in the statistics (a bay occupied every day since) and at the
backend. The next run starts knowing nothing of that car (a car still there is a new visit, ``parked_at_start``),
so it ends the old stories the way Frigate ends events left open at its start: at the last moment the previous run
is known to have been alive (``mark_alive`` once a minute and at a clean stop), with ``reason: agent_stopped``
— the departure was not seen, and this says so.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_agent.clock import Clock, iso
from edge_agent.events.types import Event, EventType, OutboxSeen
from edge_agent.owndb import connect_own
from edge_agent.sqlite_damage import is_no_space

log = logging.getLogger(__name__)

AGENT_STOPPED = "agent_stopped"
# the ``event_id`` of an event that ends a visit a run left open: derived from the visit (``_end_id``)
_ENDS = uuid.uuid5(uuid.NAMESPACE_URL, "edge-agent:agent_stopped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, alive_at TEXT NOT NULL,
    alive_epoch REAL NOT NULL);
"""
# the MQTT outbox the last run used, as its last mark saw it: a start that finds another one knows it vanished
# (``MqttLink.check_outbox``); a run without MQTT leaves it as it was. Made at ``begin`` (as ``_STARTED_EPOCH``),
# which holds the write lock anyway: made when the ledger opens, another program's lock stopped the start
_OUTBOX_SEEN = """
CREATE TABLE IF NOT EXISTS outbox_seen (
    one INTEGER PRIMARY KEY CHECK (one = 1), identity INTEGER NOT NULL, last_event_id TEXT,
    waiting INTEGER NOT NULL, at TEXT NOT NULL)
"""
# the run's start as the clock reads at its latest mark (its mark less its monotonic age): ``started_at`` is stamped
# at the start, before NTP sets a Pi's clock (no RTC: it boots at the time fake-hwclock saved, or at 1970), and the
# statistics read a run from then — merged with the run before, the days the device was off read as watched and
# free (probe review71). ``started_at`` itself stays as written: ``last_started`` names the run by it
_STARTED_EPOCH = "ALTER TABLE runs ADD COLUMN started_epoch REAL"
# the events tables are the violation log's (evidence/violations.py); read here, never written
# each arrival's departure is looked up by its visit (``events_visit``; ``+d.type``: not by ``events_type``, through
# which SQLite walked every departure for every arrival: 4,000 visits 6.5 s at each start, review99)
_OPEN_VISITS = """
SELECT a.visit_id, a.bay_id, a.ts_epoch FROM events a
 WHERE a.type = ? AND a.visit_id IS NOT NULL AND a.bay_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM events d WHERE d.visit_id = a.visit_id AND +d.type = ?)
 ORDER BY a.ts_epoch
"""


def _epoch(stamp: str) -> float:
    """``stamp``'s instant; +inf for one that does not parse (its run is kept rather than guessed old)."""
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return float("inf")


class RunLedger:
    """``begin()`` at start (the events that end what the previous run left open), ``mark_alive()`` once a
    minute and at stop. Its own connection to the evidence database (as the page's sessions have)."""

    def __init__(self, db_path: str | Path, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._run: int | None = None
        self._violations = False  # whether the violation log's table exists (begin() looks)
        self._full = False  # the last mark found the disk full (said once an episode)
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = connect_own(db_path, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._db:
            self._db.executescript(_SCHEMA)
        # added at ``begin``, which holds the write lock anyway: here another program's lock stopped the start
        self._has_epoch = "started_epoch" in {r[1] for r in self._db.execute("PRAGMA table_info(runs)")}
        self._mono0 = 0.0  # the monotonic clock at ``begin``, less the start's age then (``started`` before now)
        # this run's MQTT outbox as it is now (``MqttLink.outbox_seen``): noted with the start's row and each mark
        self.outbox_state: Callable[[], OutboxSeen | None] | None = None

    def begin(self, started: datetime | None = None, exclude: Collection[str] = (), wait_s: float | None = None,
              started_mono: float | None = None) -> list[Event]:
        """Record this run's start (``started``, default now); return the events that end the stories the runs
        before left open, in time order: per visit, ``violation_ended`` / ``overstay_ended`` where one is open, then
        ``vehicle_departed`` (all ``reason: agent_stopped``), stamped when that run was last alive (or at the
        bay's next arrival, if an older run's visit was never ended either). ``exclude``: visits this run opened
        before a lock let it begin (``ViolationRecorder``); ``wait_s``: how long to wait for another program's
        lock (the connection's 10 s by default); ``started_mono``: the monotonic clock at ``started`` (a start put
        off past an NTP step: the wall clock's difference holds the step). Raises, recording nothing, where the row
        cannot be written."""
        now = self._clock.now()
        started = started or now
        with self._lock:
            before = int(self._db.execute("PRAGMA busy_timeout").fetchone()[0])
            if wait_s is not None:
                self._db.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
            try:
                with self._db:
                    until = self._last_alive()
                    closing = self._closing(until, now, set(exclude)) if until is not None else []
                    stamp = iso(started)
                    if not self._has_epoch:  # a ledger from before the column (0.26.0 and older)
                        try:
                            self._db.execute(_STARTED_EPOCH)
                        except sqlite3.OperationalError as exc:
                            if "duplicate column" not in str(exc):  # another start added it meanwhile
                                raise
                        self._has_epoch = True
                    self._run = self._db.execute(
                        "INSERT INTO runs (started_at, alive_at, alive_epoch, started_epoch) VALUES (?,?,?,?)",
                        (stamp, iso(now), now.timestamp(), started.timestamp())).lastrowid
                    self._mono0 = started_mono if started_mono is not None else \
                        self._clock.monotonic() - (now - started).total_seconds()
                    self._note_outbox(now)
            finally:
                self._db.execute(f"PRAGMA busy_timeout={before}")
        return closing

    def _note_outbox(self, now: datetime) -> None:
        """This run's outbox as it is now, in the caller's transaction (none without MQTT, or unopenable)."""
        seen = self.outbox_state() if self.outbox_state is not None else None
        if seen is not None:
            self._db.execute(_OUTBOX_SEEN)
            self._db.execute("INSERT OR REPLACE INTO outbox_seen (one, identity, last_event_id, waiting, at) "
                             "VALUES (1, ?, ?, ?, ?)", (seen.identity, seen.last_event_id, seen.waiting, iso(now)))

    def known_outbox(self) -> tuple[OutboxSeen, str] | None:
        """The outbox the last run with MQTT used, as its last mark saw it, and when; None where none is known."""
        with self._lock:
            if not self._table("outbox_seen"):  # no run noted one yet (one from before the note, or none with MQTT)
                return None
            row = self._db.execute("SELECT identity, last_event_id, waiting, at FROM outbox_seen").fetchone()
        return None if row is None else (OutboxSeen(int(row[0]), row[1], int(row[2])), str(row[3]))

    def last_started(self) -> str | None:
        """The newest run (before ``begin``: the previous run) as recorded, ``"<start> #<row>"``; None where no run
        is. The row too: two runs' recorded starts can be the same (``demo``'s simulated clock starts every run at
        2026-01-01 08:00), and the start's look for events a kill kept from the outbox (``events/unsent.py``) took a
        0.24.0 demo run between two of this version's for the one that noted itself, and sent its events again."""
        with self._lock:
            row = self._db.execute("SELECT id, started_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else f"{row[1]} #{row[0]}"

    def next_started(self, started: datetime) -> str:
        """What ``last_started`` will say of this run once ``begin`` records it (before it): ``started`` and the row
        it will take — AUTOINCREMENT's, one past the highest ever used (``sqlite_sequence``). A row never written
        (a start put off for good) leaves the number to the next run: the note then names that run, whose start,
        on the wall clock, differs."""
        with self._lock:
            try:
                row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
            except sqlite3.OperationalError:  # no AUTOINCREMENT row written yet in this file
                row = None
            if row is None:
                row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()
        return f"{iso(started)} #{int(row[0]) + 1}"

    def closing(self) -> list[Event]:
        """The events ``begin`` would return, read only and recording nothing: where another program's write lock
        puts the start off, a read still goes through (WAL), so the previous run's visits are ended before this
        run's first event (``ViolationRecorder.close_previous_run``). One read transaction: a consistent picture."""
        now = self._clock.now()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                until = self._last_alive()
                return self._closing(until, now, set()) if until is not None else []
            finally:
                self._db.execute("COMMIT")

    def open_bays(self) -> set[str]:
        """The bays with a visit no departure ended, read only (as ``begin`` finds them): where another program's
        write lock puts the start off, a read still goes through (WAL)."""
        with self._lock:
            if not self._table("events"):
                return set()
            rows = self._db.execute(_OPEN_VISITS, (EventType.VEHICLE_ARRIVED, EventType.VEHICLE_DEPARTED)).fetchall()
        return {bay for _, bay, _ in rows}

    def mark_alive(self, at: datetime | None = None) -> None:
        """This run was alive at ``at`` (default now: a stop or a power cut comes after the last such mark; the minute's
        mark is stamped when the loop asked, ``AliveMarks``)."""
        if self._run is None:
            return
        wall = self._clock.now()
        now = at or wall
        start = wall.timestamp() - (self._clock.monotonic() - self._mono0)  # the clock's step since the start
        with self._lock:
            try:
                with self._db:
                    self._db.execute("UPDATE runs SET alive_at=?, alive_epoch=?, started_epoch=? WHERE id=?",
                                     (iso(now), now.timestamp(), start, self._run))
                    self._note_outbox(now)
            except sqlite3.Error as exc:
                if not is_no_space(exc):
                    raise
                if not self._full:  # once an episode, not a traceback a minute
                    log.error("run ledger: disk full (%s): this run's last sign of life stays at the previous "
                              "mark until there is room", exc)
                self._full = True
                return
            self._full = False

    def prune(self, max_age_days: float) -> int:
        """Forget runs last alive longer than ``max_age_days`` ago (one row per start: a device restarted daily
        for years, or a crash loop, only added rows) once the run after it started that long ago too. The newest
        run is kept (the next start ends what it left open), and so is a run whose following gap reaches into
        the kept history: the statistics read every run (``stats.source.load_runs``), and a gap whose start was
        forgotten — a device off for a holiday — turned its days still within ``history_days`` from unknown into
        free on the page."""
        cutoff = self._clock.now().timestamp() - max_age_days * 86400
        with self._lock, self._db:
            rows = self._db.execute("SELECT id, started_at, alive_epoch FROM runs ORDER BY id").fetchall()
            doomed = [(run,) for (run, _, alive), (_, next_start, _) in zip(rows, rows[1:])
                      if run != self._run and alive < cutoff and _epoch(next_start) < cutoff]
            self._db.executemany("DELETE FROM runs WHERE id=?", doomed)
            return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reading the previous runs -------------------------------------------------------------------
    def _last_alive(self) -> float | None:
        """When the previous run was last known alive; before this ledger existed (an upgrade), the newest
        event it recorded; None on a fresh device."""
        row = self._db.execute("SELECT alive_epoch FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:
            return float(row[0])
        if not self._table("events"):
            return None
        row = self._db.execute("SELECT MAX(ts_epoch) FROM events").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def _closing(self, until: float, now: datetime, exclude: set[str]) -> list[Event]:
        if not self._table("events"):
            return []
        opened = [row for row in self._db.execute(_OPEN_VISITS, (EventType.VEHICLE_ARRIVED,
                                                                 EventType.VEHICLE_DEPARTED)).fetchall()
                  if row[0] not in exclude]
        self._violations = self._table("violations")
        out: list[tuple[float, int, Event]] = []
        for n, (visit, bay, arrived) in enumerate(opened):
            nxt = self._db.execute("SELECT MIN(ts_epoch) FROM events WHERE bay_id=? AND type=? AND ts_epoch>?",
                                   (bay, EventType.VEHICLE_ARRIVED, arrived)).fetchone()[0]
            last = self._db.execute("SELECT MAX(ts_epoch) FROM events WHERE visit_id=?", (visit,)).fetchone()[0]
            end = max(min(until, nxt if nxt is not None else until), float(last or arrived))
            for k, ev in enumerate(self._visit_ends(visit, bay, arrived, end, now)):
                out.append((end, 3 * n + k, ev))
        return [ev for _, _, ev in sorted(out, key=lambda t: (t[0], t[1]))]

    def _visit_ends(self, visit: str, bay: str, arrived: float, end: float, now: datetime) -> list[Event]:
        ts = iso(datetime.fromtimestamp(end, now.tzinfo))
        events: list[Event] = []
        v = self._db.execute("SELECT reason, started_epoch FROM violations WHERE visit_id=? AND ended_at IS NULL "
                             "ORDER BY started_epoch DESC LIMIT 1", (visit,)).fetchone() if self._violations else None
        if v is not None:
            events.append(Event(EventType.VIOLATION_ENDED, ts, bay, visit, data={
                "reason": AGENT_STOPPED, "violation": v[0], "duration_s": round(max(0.0, end - v[1]), 1)},
                event_id=_end_id(visit, EventType.VIOLATION_ENDED, repr(v[1]))))
        if self._open_overstay(visit):
            events.append(Event(EventType.OVERSTAY_ENDED, ts, bay, visit, data={"reason": AGENT_STOPPED},
                                event_id=_end_id(visit, EventType.OVERSTAY_ENDED)))
        data: dict[str, Any] = {"stayed_s": round(max(0.0, end - arrived), 1), "reason": AGENT_STOPPED}
        plate = self._plate(visit)
        if plate:  # as the bay machine: a plate only when one was read
            data["plate"] = plate
        events.append(Event(EventType.VEHICLE_DEPARTED, ts, bay, visit, data=data,
                            event_id=_end_id(visit, EventType.VEHICLE_DEPARTED)))
        return events

    def _table(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() \
            is not None

    def _open_overstay(self, visit: str) -> bool:
        rows = self._db.execute("SELECT type FROM events WHERE visit_id=? AND type IN (?,?) ORDER BY ts_epoch",
                                (visit, EventType.OVERSTAY_STARTED, EventType.OVERSTAY_ENDED)).fetchall()
        return bool(rows) and rows[-1][0] == EventType.OVERSTAY_STARTED

    def _plate(self, visit: str) -> Any:
        row = self._db.execute("SELECT data FROM events WHERE visit_id=? AND type=? ORDER BY ts_epoch DESC LIMIT 1",
                               (visit, EventType.VEHICLE_IDENTIFIED)).fetchone()
        try:
            return json.loads(row[0]).get("plate") if row else None
        except (ValueError, AttributeError):
            return None


class AliveMarks:
    """The ledger's minute mark written on a thread of its own, off the frame loop (``thread=True``: ``run``,
    ``demo``); without it (tests, ``replay``) at once, on the caller's thread.

    Why: the mark is a synced commit (the evidence index's WAL at ``synchronous=FULL``) asked for by the frame loop
    once a minute. On a worn SD card (~0.3-1 s a sync, seconds while it collects garbage) each held the loop that
    long: the only loop pause of a quiet site, and a lock asked to rise meanwhile could be refused
    ``occupancy_stale`` with nothing happening in the bays (probe sdcard28). The stamp is taken when the loop asks
    (the loop was alive then), so a mark written late says no more than the loop did; one slot, newest wins: a card
    stalled for minutes holds one mark back, never a queue. Its durability is the same as before (synced). A clean
    stop's own mark (``ViolationRecorder.stop``) is written on the stopping thread after this one is closed. An
    event's violation-log row that falls during a mark's commit waits for it (one writer at a time; the log's
    connection waits up to 10 s): the old pause, only on such a coincidence."""

    def __init__(self, ledger: RunLedger, *, thread: bool = True) -> None:
        self.ledger = ledger
        self.failed = 0  # marks that raised (logged with their traceback)
        self._wanted: datetime | None = None
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._run, name="run-ledger-marks", daemon=True)
            self._thread.start()

    @property
    def pending(self) -> bool:
        """A mark is waiting or being written."""
        with self._cond:
            return self._wanted is not None or self._busy

    def request(self, at: datetime) -> None:
        """Mark the run alive at ``at``: queued for the thread (never waits for the card), or written now."""
        if self._thread is None:
            self._write(at)
            return
        with self._cond:
            if self._closed:
                return
            self._wanted = at
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """The mark asked for written (up to ``timeout``); True when none is left. Tests join the thread with it."""
        with self._cond:
            return self._cond.wait_for(lambda: self._wanted is None and not self._busy, timeout)

    def close(self) -> None:
        """No more marks: a mark not yet taken is dropped (the stop's own mark follows it), one being written is
        waited for, so the ledger's connection is free to close."""
        with self._cond:
            self._closed, self._wanted = True, None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _write(self, at: datetime) -> None:
        try:
            self.ledger.mark_alive(at)
        except Exception:  # noqa: BLE001 - as the loop's minute hooks: logged, the next minute tries again
            self.failed += 1
            log.exception("run ledger: marking this run alive failed; trying again in a minute")

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted is not None or self._closed)
                if self._closed:
                    return
                at, self._wanted, self._busy = self._wanted, None, True
            try:
                if at is not None:
                    self._write(at)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _end_id(visit: str, kind: str, *more: str) -> str:
    """The ``event_id`` of the event that ends ``visit`` (an open violation: ``more``, its start) for a run that left
    it open: the same however often it is told. Why: a start put off by a full card (or a lock) tells the end at once
    from a read; stopped or killed before it could record it, the next start found the visit open and told its end
    again with a new id, which no consumer's de-duplication absorbs — two departures of one car (probe review63)."""
    return str(uuid.uuid5(_ENDS, "/".join((visit, kind, *more))))
