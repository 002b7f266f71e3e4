"""The violation log: every bus event, the violations built from them, and managers' decisions.

It lives in the evidence store's SQLite file (its own tables: ``events``, ``violations``,
``decisions``) so one backup holds the photos' index and the story around them. It
subscribes to the event bus and keeps a row per violation (bay, plate, colour, NEV verdict
and why, start / end, evidence ids) that the review page lists, filters and decides on.
Indexed on start time, bay, decision and plate so 10,000 rows list in a few milliseconds.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from edge_agent.clock import Clock, iso
from edge_agent.durable import read_small
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.age import AgeClock, keep_mark, newest_epoch
from edge_agent.evidence.violation_records import Page, Violation, ViolationFilter
from edge_agent.ids import is_uuid
from edge_agent.jsondepth import MAX_DEPTH, too_deep
from edge_agent.masking import MASK
from edge_agent.owndb import connect_own
from edge_agent.plates import PLATE_VOCAB, normalise_plate
from edge_agent.sqlite_damage import is_no_space, is_unavailable

__all__ = ["DECISIONS", "EXPIRED", "STATES", "Page", "StaleDecision", "Violation", "ViolationFilter", "ViolationLog"]

DECISIONS = ("open", "confirmed", "dismissed")  # what a reviewer decides
# what retention sets on a violation nobody decided within ``evidence.open_days`` (``expire_open``): no reviewer's word,
# so not one of DECISIONS; a reviewer may still confirm, dismiss or reopen it
EXPIRED = "expired"
STATES = (*DECISIONS, EXPIRED)  # what the list filters on
RETENTION_USER = "retention"  # who an expiry's decision and audit rows name
EXPIRED_NAMED = 50  # violations an expiry's audit row names by id at most (a first pass after an upgrade meets years)
LOCK_PREFIX = "lock_"
LOCK_MARGIN_S = 5.0  # lock moves a moment after the departure still belong to the visit
# the page's reads wait this long on a busy database: a reader in WAL waits only for a moment's recovery or checkpoint
READ_WAIT_S = 5.0
HELD_MAX = 10_000  # events held in memory while the disk is full (hours of a busy pole); beyond, the oldest go
# while events are held for a lock, a later try waits this long for it, not the connection's 10 s: the recorder runs on
# the frame loop, and a backup may hold the lock for minutes (a page's write holds it for milliseconds)
HELD_RETRY_WAIT_S = 0.1
# a start's first writes (the events the last stop kept, the run ledger's row) wait this long for a lock, not 10 s:
# what a lock keeps out is put off to when it goes anyway, and the wait held the frame loop's start — a real process
# holding the lock made ``run`` look at its first frame 10 s late, 20 s with kept events (probe chaos41). A second
# covers this agent's own writers on a slow card (a synced commit: ~0.3-1 s)
START_WAIT_S = 1.0
# beside the database: the events still held when the log closed (a backup held the lock through the stop), written
# into the log at the next start. Named here for ``evidence forget``, which takes the forgotten car's lines out
HELD_FILE = "held-events.jsonl"
# what the start reads of it: HELD_MAX events of a few KiB; a larger file is not the agent's (a sparse file of 20 GB
# costs no disk and was read whole, the start killed for memory)
HELD_FILE_MAX_BYTES = 64 << 20

log = logging.getLogger(__name__)

AGE_MARK = "events"  # the passes' row in ``age_marks`` (``age.py``): the evidence store keeps its own
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, ts TEXT NOT NULL, ts_epoch REAL NOT NULL,
    bay_id TEXT, visit_id TEXT, evidence_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_visit ON events(visit_id, ts_epoch);
CREATE INDEX IF NOT EXISTS events_bay ON events(bay_id, ts_epoch);
CREATE INDEX IF NOT EXISTS events_type ON events(type, ts_epoch);
CREATE TABLE IF NOT EXISTS violations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL,
    bay_id TEXT NOT NULL, visit_id TEXT, plate TEXT NOT NULL DEFAULT '', colour TEXT, nev INTEGER,
    nev_reason TEXT, reason TEXT, type_code TEXT, confidence REAL,
    started_at TEXT NOT NULL, started_epoch REAL NOT NULL, ended_at TEXT, ended_epoch REAL,
    evidence_id TEXT, end_evidence_id TEXT,
    decision TEXT NOT NULL DEFAULT 'open', decision_reason TEXT, decided_by TEXT, decided_at TEXT);
CREATE INDEX IF NOT EXISTS violations_started ON violations(started_epoch, id);
CREATE INDEX IF NOT EXISTS violations_bay ON violations(bay_id, started_epoch, id);
CREATE INDEX IF NOT EXISTS violations_decision ON violations(decision, started_epoch, id);
CREATE INDEX IF NOT EXISTS violations_plate ON violations(plate);
CREATE INDEX IF NOT EXISTS violations_visit ON violations(visit_id);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, violation_id INTEGER NOT NULL, decision TEXT NOT NULL,
    reason TEXT, user TEXT NOT NULL, ts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, detail TEXT, ip TEXT);
"""


class StaleDecision(Exception):
    """The violation was decided since the reviewer's page showed it; ``current`` is what stands."""

    def __init__(self, current: Violation) -> None:
        super().__init__(f"violation {current.id} is {current.decision} now")
        self.current = current


class Windows:
    """Closed time intervals, merged and sorted: ``cover(t)`` in O(log n). ``prune`` asks it for every
    old lock event of a bay; scanning the bay's violation windows instead took 33 s of CPU for 40,000
    lock events against 20,000 violations, on the frame loop (the bus thread), and never finished under
    the watchdog, so it was rolled back and began again at every start."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        for lo, hi in sorted(spans):
            if self.ends and lo <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], hi)
            else:
                self.starts.append(lo)
                self.ends.append(hi)

    def cover(self, t: float) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t <= self.ends[i]


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def _epoch_or(ts: str | None, default: float) -> float:
    """``ts``'s instant; ``default`` for none or one that does not parse (kept rather than guessed old)."""
    try:
        return _epoch(ts) if ts else default
    except ValueError:
        return default


_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no number an event carries")


def held_event(line: bytes) -> Event:
    """One line of ``HELD_FILE`` as the event the agent wrote there, or ValueError saying why not. Why checked as an
    MQTT payload is (docs/mqtt.md's event): the file is read at every start from a folder others may write in, and
    ``[[[[…`` was ``json``'s ``RecursionError`` (the start a traceback), ``NaN`` / ``Infinity`` were stored as a
    violation's confidence, a type that is no text an ``Error binding parameter``."""
    if too_deep(line):
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    d = json.loads(line, parse_constant=_no_constant)  # UnicodeDecodeError is a ValueError too
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    if not is_uuid(d.get("event_id")):
        raise ValueError("event_id is no UUID")
    if not (isinstance(d.get("type"), str) and _TYPE.fullmatch(d["type"])):
        raise ValueError("type is no event type")
    ts = d.get("ts")
    if not isinstance(ts, str):
        raise ValueError("ts is no timestamp")
    try:
        at = datetime.fromisoformat(ts)
        if at.tzinfo is None:
            raise ValueError("ts has no UTC offset")
        if not _SHOWN[0] <= at.astimezone(timezone.utc) <= _SHOWN[1]:
            raise ValueError("out of the range a page shows in any time zone")
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"ts {ts[:40]!r}: {exc}") from None
    for key in ("bay_id", "visit_id", "evidence_id"):
        if not isinstance(d.get(key), (str, type(None))):
            raise ValueError(f"{key} is neither text nor null")
    if not isinstance(d.get("data", {}), dict):
        raise ValueError("data is no JSON object")
    if d["type"] in _ROW_EVENTS and (problem := _row_problem(d.get("data", {}))):
        raise ValueError(problem)
    return Event.from_dict(d)


# a time the review page can show in the site's zone, any zone (±1 day off ``datetime``'s ends): ``9999-12-31T23:00
# -12:00`` passed ``timestamp()`` and its violation made the list, its page and the CSV export 500 (OverflowError)
_SHOWN = (datetime.min.replace(tzinfo=timezone.utc) + timedelta(days=1),
          datetime.max.replace(tzinfo=timezone.utc) - timedelta(days=1))
# the events whose data fill a violation's row and its page (``_open``), as the agent writes them
_ROW_EVENTS = (EventType.VIOLATION_STARTED, EventType.VEHICLE_IDENTIFIED)
_ROW_TEXT = ("plate", "colour", "reason", "nev_reason", "type_code")


def _row_problem(data: dict[str, Any]) -> str | None:
    """Why ``data`` of a violation's or an identification's event is no data the agent writes, or None. Why: from a
    held file, a ``confidence`` of ``"abc"`` or a ``reason`` of ``5`` reached the violation's row and its page was a
    500 for good (``'%.0f' % ('abc' * 100)``, ``5 .split``); a list was an ``Error binding parameter``."""
    for key in _ROW_TEXT:
        if not isinstance(data.get(key), (str, type(None))):
            return f"data.{key} is neither text nor null"
    conf = data.get("confidence")
    if conf is not None and (isinstance(conf, bool) or not isinstance(conf, (int, float))
                             or not (math.isfinite(conf) and 0.0 <= conf <= 1.0)):
        return "data.confidence is no number from 0 to 1"
    if not isinstance(data.get("nev"), (bool, type(None))):
        return "data.nev is neither true, false nor null"
    return None


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


_PLATE_CHARS = re.escape(PLATE_VOCAB + "?")  # what a plate, or a partial read's ``?``, is made of


def plate_pattern(plates: Iterable[str]) -> re.Pattern[str] | None:
    """Any of ``plates`` standing whole: not inside a longer plate. ``粤BD1234`` is a blue plate and the first seven
    characters of the NEV's ``粤BD12345``: matched as a substring, forgetting the one took the other's plate out of
    its events and deleted its undelivered messages. None for no plates."""
    texts = sorted({p for p in plates if p}, key=len, reverse=True)
    if not texts:
        return None
    return re.compile(f"(?<![{_PLATE_CHARS}])(?:{'|'.join(map(re.escape, texts))})(?![{_PLATE_CHARS}])")


def without_plates(data: dict[str, Any], plates: list[str]) -> dict[str, Any]:
    """``data`` with no ``plate`` key that holds one of ``plates``, and each of them masked in its text values
    (whole, ``plate_pattern``): another car's plate in the same document stays."""
    pattern = plate_pattern(plates)
    if pattern is None:
        return data
    named = set(plates)

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not (k == "plate" and v in named)}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value
    return scrub(data)


def says_something(text: str) -> bool:
    """Whether ``text`` holds a letter, digit, punctuation mark or symbol. A dismissal's reason of zero-width
    spaces or bidirectional marks (or NULs) passed ``strip()`` and was recorded as a reason nobody can read."""
    return any(unicodedata.category(c)[0] in "LNPS" for c in text)


def _holds(exc: BaseException) -> bool:
    """An event this error kept out is held and written later: a full disk, or a database another program holds
    locked past the wait (a backup, ``evidence forget``) or gone read-only. Such events were dropped ("not recorded:
    database is locked") after a batch's 10 s and their own 10 s: a violation begun meanwhile never reached the page."""
    return isinstance(exc, sqlite3.Error) and (is_no_space(exc) or is_unavailable(exc))


class ViolationLog:
    """Records bus events and answers the review page's queries. Thread-safe: one locked connection writes, another
    reads (``_reading``)."""

    def __init__(self, db_path: str | Path, clock: Clock) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = connect_own(self.db_path, check_same_thread=False, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # each commit syncs the WAL: the row is on the card before the outbox (synced) holds the event (``attach``);
        # at NORMAL a power cut kept the event the backend got and lost the violation from the review page
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")  # retention's deleted plates overwritten, not left in free pages
        self._db.executescript(_SCHEMA)
        # retention's cutoffs: an unsynced clock believed no further than the newest event plus the uptime (``age.py``)
        self._age = AgeClock(clock, self._newest_epoch(), "event history retention", self._keep_age)
        # the page's reads: a connection of their own, so that none queues behind a write (the recorder's, waiting up
        # to 10 s for another connection's lock while holding ``_lock``): in WAL a write lock holds up no reader
        self._read_lock = threading.Lock()
        self._reader = connect_own(self.db_path, check_same_thread=False, timeout=READ_WAIT_S)
        self._reader.row_factory = sqlite3.Row
        self._reader.execute("PRAGMA query_only=ON")
        self._unsubscribe: Callable[[], None] | None = None
        self._held: deque[Event] = deque()  # recorded on the bus, not yet written (a full disk)
        self._held_for_lock = False  # the last try was kept out by a lock: the next ones only glance (HELD_RETRY_WAIT_S)
        self.held_dropped = 0  # held events given up beyond HELD_MAX
        self._held_why = "disk full"  # why the held events wait: the last write's failure, for the lines that follow
        # unname's place in the departures, oldest first: (ts_epoch, rowid) of the last one it looked at
        self._unnamed_upto: tuple[float, int] = (float("-inf"), -1)
        self.unname_more = False  # the last unname pass stopped at its limit: departures old enough wait
        self.held_path = self.db_path.with_name(HELD_FILE)
        # monotonic time this process opened each violation (by its event id): ``expire_open`` times them on it too
        self._opened_at: dict[str, float] = {}
        self._held_kept = False  # ``held_path`` holds events not yet written: removed once they are
        # bytes in ``held_path`` a held event may be appended after (None: write it whole first); False once a spill
        # failed: the rest of the episode's events wait in memory only (one line said, not one per event)
        self._spilled: int | None = None
        self._spilled_lines = 0  # events in ``held_path``: written again from memory at twice ``HELD_MAX``
        self._spill_ok = True
        self._last_kept: Event | None = None  # the newest event the last stop kept (``held_from_before``)
        # the ids of the events the last stop kept (``HELD_FILE``), oldest first: the MQTT outbox's start look leaves
        # them out, the run that kept them not being known (``events/unsent.py``)
        self.kept_ids: list[str] = []
        self._load_held()
        # the last row written before this run's first event (the last stop's held events in): the MQTT outbox
        # compares the rows up to it with what it took (``events/unsent.py``); None where it cannot be read
        self.opened_upto = self._last_rowid()

    # -- writing -------------------------------------------------------------------------------
    def attach(self, bus: Any) -> None:
        """Subscribe to every event on ``bus`` (call once; ``close`` unsubscribes), before every other subscriber:
        the MQTT link subscribes as it is built and put each event into its (synced) outbox before this log wrote
        it, so a power cut between kept the event the backend got and lost the violation from the review page."""
        self._unsubscribe = bus.subscribe(self.record, first=True)

    def record(self, event: Event) -> None:
        """Store ``event``; violation_started / _ended open and close a violation row. Idempotent.

        A full disk does not lose it: the event is held in memory (in order, at most ``HELD_MAX``) and
        written with the next one that fits. Before, each such event raised (a traceback per event) and was
        gone: the page lost the violation or its end, and the next start "ended" a visit whose departure had
        been delivered long before, with ``reason: agent_stopped`` and the wrong stay."""
        with self._lock:
            self._held.append(event)
            if len(self._held) > HELD_MAX:
                self._held.popleft()
                self.held_dropped += 1
                if self.held_dropped == 1 or self.held_dropped % 1000 == 0:
                    log.error("violation log: still %s, %d held event(s) given up (the oldest)",
                              self._held_why, self.held_dropped)
            if self.write_held():
                self._spill(event)

    def _spill(self, event: Event) -> None:
        """A held event goes into ``HELD_FILE`` at once (appended, synced), not only at a stop: a power cut or a
        SIGKILL while events were held (a backup's lock, a full disk) lost them from the review page — the violations
        they begin or end, a departure then ended again as ``agent_stopped`` — though the outbox had them. The file
        is written whole for an episode's first event, and again when an append would take it past what the next
        start reads (then with the newest held events that fill half of it); where it cannot be written (the disk full for it too) the episode's events wait in memory only,
        as before."""
        if not self._spill_ok:
            return
        line = (json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n").encode("utf-8")
        # past twice HELD_MAX lines the file is written again from memory (HELD_MAX): appended on, a long episode
        # grew it to the cap, ~250 000 events a start parsed to keep the newest HELD_MAX (4 s and 330 MiB on a desktop core)
        if (self._held_kept and self._spilled is not None and self._spilled + len(line) <= HELD_FILE_MAX_BYTES
                and self._spilled_lines < 2 * HELD_MAX):
            try:  # never through a link planted there (the file is written whole otherwise)
                fd = os.open(self.held_path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
                with os.fdopen(fd, "ab") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
                self._spilled += len(line)
                self._spilled_lines += 1
                return
            except FileNotFoundError:
                pass  # removed meanwhile: written whole below
            except OSError as exc:
                return self._spill_failed(exc)
        try:  # half the cap: the appends after have room (written whole at each event past the cap, the file cost a
            # rewrite of up to 64 MiB per event)
            self._spilled_lines = self._keep_held(HELD_FILE_MAX_BYTES // 2, say=False) or 0
            self._spilled = self.held_path.stat().st_size
        except OSError as exc:
            self._spill_failed(exc)

    def _spill_failed(self, exc: OSError) -> None:
        """Said once an episode, a warning: the episode's error line said the events are held in memory (a full disk
        fails this too); what it adds is that a power cut would lose them from the page."""
        self._spill_ok, self._spilled = False, None
        log.warning("violation log: cannot keep the held events in %s as well (%s): they wait in memory only, and a "
                    "power cut loses them from the review page (they are in the MQTT outbox)", self.held_path, exc)

    def write_held(self, wait_s: float | None = None) -> int:
        """Write the events held for a full disk or a locked database, in order, in one transaction; returns how many
        are still held (0: all written). Any other error is raised once each event was tried on its own. ``wait_s``:
        the longest wait for a lock (default: the connection's, or a glance while one holds)."""
        with self._lock:
            if not self._held:
                return 0
            waiting = len(self._held)
            glance = self._held_for_lock or wait_s is not None
            wait_ms = int(1000 * (HELD_RETRY_WAIT_S if self._held_for_lock else wait_s or 0))
            before = int(self._db.execute("PRAGMA busy_timeout").fetchone()[0]) if glance else 0
            try:
                if glance:
                    self._db.execute(f"PRAGMA busy_timeout={min(before, wait_ms)}")
                with self._db:
                    for e in self._held:
                        self._record(e)
            except Exception as exc:  # noqa: BLE001 - sorted out below: a full disk or a lock holds, anything else drops
                self._held_for_lock = isinstance(exc, sqlite3.Error) and is_unavailable(exc)
                if not _holds(exc):
                    return self._write_one_by_one(exc)
                self._held_why = "disk full" if is_no_space(exc) else "locked by another program, or read-only"
                if waiting == 1:  # the first of an episode
                    log.error("violation log %s: %s (%s): events are held in memory (at most %d) and "
                              "written when it can be", self.db_path, self._held_why, exc, HELD_MAX)
                return waiting
            finally:
                if glance:
                    self._db.execute(f"PRAGMA busy_timeout={before}")
            self._held_for_lock = False
            self._held.clear()
            self._spill_ok = True
            if waiting > 1:
                log.warning("violation log %s: writable again, %d held event(s) written", self.db_path, waiting)
            self._drop_kept()
            return 0

    def _drop_kept(self) -> None:
        """The events kept at the last stop are in the database now: their file goes (it names plates)."""
        if self._held_kept:
            try:
                self.held_path.unlink(missing_ok=True)
                self._held_kept, self._spilled = False, None
            except OSError as exc:  # written again at the next start: INSERT OR IGNORE, no harm
                log.warning("violation log: cannot remove %s: %s", self.held_path, exc)

    def _load_held(self) -> None:
        """At start: the events a stop kept (``HELD_FILE``) are held first and written now, before the run ledger
        ends what the last run left open (a departure among them is not ended again as ``agent_stopped``)."""
        try:  # never through a link planted there, nor a FIFO's wait for a writer
            raw = read_small(self.held_path, HELD_FILE_MAX_BYTES, nofollow=True)
            if len(raw) > HELD_FILE_MAX_BYTES:
                raise OSError(f"more than the {HELD_FILE_MAX_BYTES >> 20} MiB a stop writes")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("violation log: cannot read the events kept at the last stop (%s): %s", self.held_path, exc)
            return
        kept: list[Event] = []
        # only the newest HELD_MAX are held (and a torn last line): a file of an older agent's long episode held up to
        # ~250 000, each parsed and checked before the rest were dropped
        lines = raw.rsplit(b"\n", HELD_MAX + 1)
        older = raw.count(b"\n", 0, len(lines[0]) + 1) if len(lines) > HELD_MAX + 1 else 0
        if older:
            log.error("violation log: %s: the %d oldest event(s) not read (more than the %d held)", self.held_path,
                      older, HELD_MAX)
            lines = lines[1:]
        for n, line in enumerate(lines, older + 1):
            if not line:
                continue
            try:
                kept.append(held_event(line))
            except ValueError as exc:
                log.error("violation log: %s line %d is no event, skipped: %s", self.held_path, n, exc)
        self._held_kept = True
        self._spilled = len(raw) if raw.endswith(b"\n") else None  # a torn last line: appended to, it took the next
        self._spilled_lines = raw.count(b"\n")
        self._held.extend(kept[-HELD_MAX:])
        self._last_kept = kept[-1] if kept else None
        self.kept_ids = [e.event_id for e in kept]
        log.info("violation log: %d event(s) held at the last stop to be written (%s)", len(kept), self.held_path)
        try:
            self.write_held(START_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - an event that cannot be written must not stop the start
            log.error("violation log: events kept at the last stop not all written: %s", exc)
        if not self._held:
            self._drop_kept()

    def _keep_held(self, limit: int | None = None, say: bool = True) -> int | None:
        """At stop, with events still held: keep them in ``HELD_FILE`` (synced) for the next start; returns how many
        were kept (None: none could be). Why: a stop while a backup held the database lost them (the violations they
        begin or end never reached the page). At most what the next start reads (``HELD_FILE_MAX_BYTES``): a larger
        file was written whole and then refused whole, every event lost; the newest are kept (as in memory past
        ``HELD_MAX``: the latest violations and their ends are what the page is missing), the oldest named.
        ``limit``: fewer bytes than that (``_spill``: room to append after); ``say=False``: the oldest not named (they
        are still in memory: the stop names what it cannot keep), and OSError raised, not said."""
        from edge_agent.durable import write_durably

        limit = HELD_FILE_MAX_BYTES if limit is None else limit
        lines = [(json.dumps(e.to_dict(), ensure_ascii=False, default=str) + "\n").encode("utf-8") for e in self._held]
        first, size = len(lines), 0
        while first and size + len(lines[first - 1]) <= limit:
            first -= 1
            size += len(lines[first])
        if first and say:
            gone = list(self._held)[:first]
            log.error("violation log: %d held event(s), the oldest (%s to %s), not kept: more than the %d MiB the "
                      "next start reads (the violations they begin or end are not on the review page; the events "
                      "themselves are in events.jsonl and the MQTT outbox)", first, gone[0].ts, gone[-1].ts,
                      HELD_FILE_MAX_BYTES >> 20)
        try:  # readable by whom the database is (it names plates as the database does)
            write_durably(self.held_path, b"".join(lines[first:]), like=os.stat(self.db_path))
        except OSError as exc:
            if not say:
                raise
            log.error("violation log: cannot keep the held events in %s: %s", self.held_path, exc)
            return None
        self._held_kept = True
        return len(lines) - first

    def _write_one_by_one(self, first: Exception) -> int:
        """A batch failed for another reason than space: write its events one at a time; one that fails so is
        dropped (as it was before events were held), so it cannot block every later one. Raises ``first`` once
        done (the bus logs it), unless the disk turned out to be full: then what is left stays held."""
        while self._held:
            e = self._held[0]
            try:
                with self._db:
                    self._record(e)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the log
                if _holds(exc):
                    self._held_for_lock = isinstance(exc, sqlite3.Error) and is_unavailable(exc)
                    return len(self._held)
                log.error("violation log: event %s (%s) not recorded: %s", e.event_id, e.type, exc)
            self._held.popleft()
        raise first

    @property
    def held(self) -> int:
        """Events waiting in memory for room on the disk."""
        with self._lock:
            return len(self._held)

    @property
    def held_from_before(self) -> bool:
        """Events the last run kept (``HELD_FILE``) are still held, unwritten: what the index says of that run's
        visits is not all of it. Events of this run held behind them (a lock's start-up ``lock_moved``) are not
        the last run's: they leave its visits as the index has them (``ViolationRecorder.close_previous_run``)."""
        with self._lock:
            last = self._last_kept
            return last is not None and any(e is last for e in self._held)

    def lock_seen(self) -> None:
        """Another connection to the index was just kept out by a lock: the next write only glances for it
        (``HELD_RETRY_WAIT_S``), as after a write of this log's own kept out. Why: the put-off start's closing
        events, written right after the run ledger waited its 10 s for the lock, waited 10 s more."""
        with self._lock:
            self._held_for_lock = True

    def held_bays(self, type_: str) -> set[str]:
        """The bays of the held events of ``type_`` (``ViolationRecorder``: the visits a put-off start cannot read)."""
        with self._lock:
            return {e.bay_id for e in self._held if e.type == type_ and e.bay_id}

    def newest_events(self, n: int, after: int, upto: int) -> list[Event]:
        """The ``n`` events written last in rows ``after`` < row <= ``upto`` (in the order written, oldest first): what
        the start compares with the MQTT outbox, which takes each event after this log (``MqttLink.put_missing``). []
        where it cannot be read."""
        try:
            with self._read_lock:  # a read: never queued behind another program's write lock
                rows = self._reader.execute("SELECT event_id, type, ts, bay_id, visit_id, evidence_id, data FROM "
                                            "events WHERE rowid > ? AND rowid <= ? ORDER BY rowid DESC LIMIT ?",
                                            (after, upto, n)).fetchall()
        except sqlite3.Error as exc:
            log.warning("violation log %s: its newest events cannot be read (%s)", self.db_path, exc)
            return []
        out = []
        for r in reversed(rows):
            try:
                data = json.loads(r[6])
            except ValueError:
                continue
            out.append(Event(type=r[1], ts=r[2], bay_id=r[3], visit_id=r[4], evidence_id=r[5],
                             data=data if isinstance(data, dict) else {}, event_id=r[0]))
        return out

    def _last_rowid(self) -> int | None:
        try:
            with self._read_lock:
                row = self._reader.execute("SELECT MAX(rowid) FROM events").fetchone()
        except sqlite3.Error as exc:
            log.warning("violation log %s: its newest row cannot be read (%s)", self.db_path, exc)
            return None
        return int(row[0] or 0)

    def record_many(self, events: list[Event]) -> None:
        """One transaction for many events (bulk import, benchmarks)."""
        with self._lock, self._db:
            for e in events:
                self._record(e)

    def _record(self, e: Event) -> None:
        at = _epoch(e.ts)
        cur = self._db.execute(
            "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?)",
            (e.event_id, e.type, e.ts, at, e.bay_id, e.visit_id, e.evidence_id,
             json.dumps(e.data, ensure_ascii=False, default=str)),
        )
        if cur.rowcount == 0:
            return  # a duplicate delivery
        self._unname_again(e, at)
        if e.type == EventType.VIOLATION_STARTED:
            self._open(e)
        elif e.type == EventType.VIOLATION_ENDED:
            self._close(e)

    def _unname_again(self, e: Event, at: float) -> None:
        """Send ``unname`` back to the first departure when ``e`` (written at epoch ``at``) lands where it has
        been already.

        Why: ``unname`` goes on from the departure it stopped at (``_unnamed_upto``), so it sees only rows
        written past it. A row written with an older time — held for a full disk (``write_held``), an
        ``agent_stopped`` departure written at the next start, a clock stepped back (a Pi without a clock
        before NTP) — or a plate logged for a visit whose departure it has passed, was never looked at
        again: that visit kept its plate for good. Such rows are rare; a pass from the start costs one
        walk over the old departures in batches, as after every start."""
        after_ts = self._unnamed_upto[0]
        if after_ts == float("-inf"):
            return
        if at <= after_ts or (e.visit_id is not None and self._db.execute(
                "SELECT 1 FROM events WHERE visit_id=? AND type=? AND ts_epoch<=? LIMIT 1",
                (e.visit_id, EventType.VEHICLE_DEPARTED, after_ts)).fetchone()):
            self._unnamed_upto = (float("-inf"), -1)

    def _identified(self, visit_id: str | None) -> dict[str, Any]:
        if not visit_id:
            return {}
        row = self._db.execute(
            "SELECT data FROM events WHERE visit_id=? AND type=? ORDER BY ts_epoch DESC LIMIT 1",
            (visit_id, EventType.VEHICLE_IDENTIFIED),
        ).fetchone()
        return json.loads(row["data"]) if row else {}

    def _open(self, e: Event) -> None:
        # violation_started carries plate and colour when known; the verdict and its reason come
        # from the visit's vehicle_identified ("reason" there is the NEV reason, here the violation's)
        ident = self._identified(e.visit_id)
        d = e.data

        def pick(key: str, ident_key: str | None = None) -> Any:
            v = d.get(key)
            return v if v is not None else ident.get(ident_key or key)

        nev = pick("nev")
        cur = self._db.execute(
            """INSERT OR IGNORE INTO violations (event_id, bay_id, visit_id, plate, colour, nev, nev_reason,
               reason, type_code, confidence, started_at, started_epoch, evidence_id)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (e.event_id, e.bay_id or "", e.visit_id, normalise_plate(str(pick("plate") or "")),
             pick("colour"), None if nev is None else int(bool(nev)), pick("nev_reason", "reason"),
             d.get("reason"), pick("type_code"), pick("confidence"), e.ts, _epoch(e.ts), e.evidence_id),
        )
        if cur.rowcount:
            self._opened_at[e.event_id] = self._clock.monotonic()

    def _close(self, e: Event) -> None:
        if e.visit_id:
            where, args = "visit_id=?", [e.visit_id]
        else:
            where, args = "bay_id=?", [e.bay_id]
        self._db.execute(
            f"""UPDATE violations SET ended_at=?, ended_epoch=?, end_evidence_id=?
                WHERE id=(SELECT id FROM violations WHERE {where} AND ended_at IS NULL
                          ORDER BY started_epoch DESC LIMIT 1)""",
            (e.ts, _epoch(e.ts), e.evidence_id, *args),
        )

    def _newest_epoch(self) -> float | None:
        """The newest event's time or the time an earlier run's passes measured, whichever is later."""
        return newest_epoch(self._db, "SELECT MAX(ts_epoch) FROM events", AGE_MARK)

    def _keep_age(self, epoch: float, synced: bool, first: bool) -> None:
        with self._lock:
            keep_mark(self._db, AGE_MARK, epoch, synced, first)

    def prune(self, max_age_days: float) -> int:
        """Forget events older than ``max_age_days`` unless they tell a violation's story (its visit's events and the
        bay's lock moves during that visit stay as long as the violation row) or a visit not yet departed's."""
        cutoff = self._age.now() - max_age_days * 86400
        with self._lock, self._db:
            spans: dict[str, list[tuple[float, float]]] = {}
            for bay, lo, hi in self._db.execute(
                "SELECT v.bay_id, MIN(e.ts_epoch), MAX(e.ts_epoch) FROM violations v"
                " JOIN events e ON e.visit_id = v.visit_id GROUP BY v.id"):
                spans.setdefault(bay, []).append((lo, hi + LOCK_MARGIN_S))
            windows = {bay: Windows(w) for bay, w in spans.items()}
            none = Windows([])
            # nor a visit still in progress: its arrival stamped before NTP set a Pi's clock (a boot at 1970) read
            # 56 years old and went while the car stood there (probe chaos41). In progress: an arrival and no
            # departure, as a start ends visits (``runs.py``); a visit with neither no start ends, and was kept
            # for good, its plate with it (review99)
            doomed = [r["event_id"] for r in self._db.execute(
                "SELECT event_id, bay_id, type, ts_epoch FROM events WHERE ts_epoch < ? AND (visit_id IS NULL"
                " OR (visit_id NOT IN (SELECT visit_id FROM violations WHERE visit_id IS NOT NULL)"
                " AND visit_id NOT IN (SELECT visit_id FROM events WHERE type = ? AND visit_id IS NOT NULL"
                " EXCEPT SELECT visit_id FROM events WHERE type = ?)))",
                (cutoff, EventType.VEHICLE_ARRIVED, EventType.VEHICLE_DEPARTED))
                if not (r["type"].startswith(LOCK_PREFIX) and windows.get(r["bay_id"], none).cover(r["ts_epoch"]))]
            self._db.executemany("DELETE FROM events WHERE event_id=?", [(i,) for i in doomed])
        self._age.keep()
        return len(doomed)

    def unname(self, max_age_days: float, limit: int = -1) -> int:
        """Take the plate out of the events of visits that ended more than ``max_age_days`` ago with no violation:
        the ``plate`` field goes, and the plate's text in any other field (a lock move's ``reason: NEV 粤BD12345
        identified``) becomes ``***``. Times, bays and verdicts stay: the statistics and timelines need no plate.
        Returns how many visits were unnamed.

        Ended means departed: the visit's ``vehicle_departed`` (seen, or ``agent_stopped`` from the run ledger) is
        older than ``max_age_days``; what the visit logged after it goes with it. A quiet visit is not an ended one: a car parked for a month logs
        nothing after its identification, and taking its plate then left the car still in the bay unnamed.

        Why: a plate tied to a place and a time is personal information (PIPL, GDPR), kept only as long as its
        purpose needs. The photos of a visit went at ``evidence.max_age_days`` (30) while its plate stayed in
        these events ``history_days`` (400): every car that ever charged, legally or not, by plate and time. A
        violation's visit keeps its plate as long as the violation row (``forget_decided``).

        ``limit``: at most this many visits (the oldest first; -1: all). The pass runs on the event publisher (the
        frame loop): the first one after an upgrade met a year of named visits (400 000 events: 13 s here, more on a
        Pi, past systemd's 30 s watchdog, and a killed pass starts over at the restart). Each pass goes on from the
        departure the last one stopped at (``unname_more``: it stopped at ``limit``) through the ``events_type``
        index: a pass that looked again at every old event from the start cost more the more of them were done
        (0.24 s per batch of 100 at 400 000 events here, the same for each hourly pass after). A row written
        behind that place (an older time, or a plate for a visit whose departure it passed) sends the next pass
        back to the start (``_unname_again``)."""
        cutoff = self._age.now() - max_age_days * 86400
        with self._lock, self._db:
            after_ts, after_row = self._unnamed_upto
            departures = self._db.execute(
                "SELECT rowid, visit_id, ts_epoch FROM events WHERE type = ? AND ts_epoch < ?"
                " AND (ts_epoch > ? OR (ts_epoch = ? AND rowid > ?)) AND visit_id IS NOT NULL"
                " ORDER BY ts_epoch, rowid LIMIT ?",
                (EventType.VEHICLE_DEPARTED, cutoff, after_ts, after_ts, after_row, limit)).fetchall()
            unnamed = 0
            for d in departures:
                visit = d["visit_id"]
                if self._db.execute("SELECT 1 FROM violations WHERE visit_id=? LIMIT 1", (visit,)).fetchone():
                    continue  # kept with the violation row (forget_decided lets unname look again)
                rows = self._db.execute("SELECT event_id, data FROM events WHERE visit_id=?", (visit,)).fetchall()
                docs = {r[0]: _json_or_none(r[1]) for r in rows}
                plates = sorted({str(d["plate"]) for d in docs.values() if isinstance(d, dict) and d.get("plate")},
                                key=len, reverse=True)
                if not plates:
                    continue  # no plate, or unnamed before
                self._db.executemany("UPDATE events SET data=? WHERE event_id=?", [
                    (json.dumps(without_plates(d, plates), ensure_ascii=False), eid)
                    for eid, d in docs.items() if isinstance(d, dict)])
                unnamed += 1
            if departures:
                self._unnamed_upto = (departures[-1]["ts_epoch"], departures[-1]["rowid"])
            self.unname_more = 0 <= limit <= len(departures)
        self._age.keep()
        return unnamed

    def forget_decided(self, max_age_days: float) -> tuple[int, int]:
        """Forget violations decided (confirmed or dismissed) longer than ``max_age_days`` ago that also ended
        (or, never ended, started) that long ago, with their decision history; and audit entries that old.
        Returns (violations, audit entries) forgotten.

        Why: the rows, the decisions and the audit log only grew (plates are personal data a property manager
        keeps for a dispute window, not for the device's life). A violation still ``open`` is never forgotten
        by the calendar: nobody has judged it yet (its photos wait for the decision too). Once its row is gone,
        its visit's events are no longer a violation's story and ``prune`` forgets them by ``history_days``."""
        cutoff = self._age.now() - max_age_days * 86400
        with self._lock, self._db:
            doomed = [(r["id"],) for r in self._db.execute(
                "SELECT id, started_epoch, ended_epoch, decided_at FROM violations"
                " WHERE decision != 'open' AND started_epoch < ? AND COALESCE(ended_epoch, started_epoch) < ?",
                (cutoff, cutoff)) if _epoch_or(r["decided_at"], float("inf")) < cutoff]
            self._db.executemany("DELETE FROM decisions WHERE violation_id=?", doomed)
            self._db.executemany("DELETE FROM violations WHERE id=?", doomed)
            if doomed:  # their visits' plates are unname's again, wherever their departures lie
                self._unnamed_upto = (float("-inf"), -1)
            old_audit: list[tuple[int]] = []
            for r in self._db.execute("SELECT id, ts FROM audit ORDER BY id"):  # oldest first: stop at a young one
                if _epoch_or(r["ts"], float("inf")) >= cutoff:
                    break
                old_audit.append((r["id"],))
            self._db.executemany("DELETE FROM audit WHERE id=?", old_audit)
        self._age.keep()
        return len(doomed), len(old_audit)

    def expire_open(self, max_age_days: float) -> list[int]:
        """Close as ``expired`` the violations still ``open`` that started and ended (or, never ended, started) more
        than ``max_age_days`` ago and were not reopened within them; returns their ids. Each gets a decision row
        (user ``retention``, the reason) and the pass one audit row naming them, in the same transaction.

        Why: a site nobody reviews kept every violation open for ever, and with it its row, its visit's events (the
        plate among them: ``unname`` spares a violation's visit) and its photos (the calendar spared them; only
        ``max_mb`` took them, and then every other visit's photo first): ~4.2 KB of ``evidence.db`` and two photos
        per violation, 77 MB a year at 50 a day, never shrinking. Expired, it is a decided violation: its photos go
        ``max_age_days`` after the expiry (``EvidenceStore._undecided``), its row ``review_days`` after it.

        Clock steps: age is the wall clock's, as the store's; a violation this process opened is also timed on the
        monotonic clock and none expires before ``max_age_days`` have really passed. A clock run ahead can still
        expire older ones, but expiring deletes nothing: the reviewer reopens it, and its photos stay held while the
        expiry is younger than ``max_age_days`` by the wall clock (a step back keeps them longer)."""
        max_age_s = max_age_days * 86400
        now = self._clock.now()
        cutoff = self._age.now() - max_age_s
        mono = self._clock.monotonic()
        with self._lock, self._db:
            self._opened_at = {k: t for k, t in self._opened_at.items() if mono - t < max_age_s}
            # reopened by a reviewer (``decided_at``: when): counted from then; an unreadable time keeps it open
            ids = [int(r["id"]) for r in self._db.execute(
                "SELECT id, event_id, decided_at FROM violations WHERE decision='open' AND started_epoch < ?"
                " AND COALESCE(ended_epoch, started_epoch) < ? ORDER BY id", (cutoff, cutoff))
                if r["event_id"] not in self._opened_at
                and (r["decided_at"] is None or _epoch_or(r["decided_at"], float("inf")) < cutoff)]
            if not ids:
                self._age.keep()
                return []
            at = iso(now)
            reason = f"undecided for {max_age_days:g} days (evidence.open_days)"
            self._db.executemany("UPDATE violations SET decision=?, decision_reason=NULL, decided_by=?, decided_at=?"
                                 " WHERE id=? AND decision='open'", [(EXPIRED, RETENTION_USER, at, i) for i in ids])
            self._db.executemany("INSERT INTO decisions (violation_id, decision, reason, user, ts) VALUES (?,?,?,?,?)",
                                 [(i, EXPIRED, reason, RETENTION_USER, at) for i in ids])
            named = ", ".join(f"#{i}" for i in ids[:EXPIRED_NAMED])
            more = f" and {len(ids) - EXPIRED_NAMED} more" if len(ids) > EXPIRED_NAMED else ""
            self._db.execute("INSERT INTO audit (ts, user, action, target, detail, ip) VALUES (?,?,?,?,?,?)",
                             (at, RETENTION_USER, "violations_expired", f"violations:{len(ids)}",
                              f"{reason}: {named}{more}", ""))
        self._age.keep()
        return ids

    def count(self, decision: str) -> int:
        """How many violations stand at ``decision`` (the list's note of expired ones)."""
        with self._reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM violations WHERE decision=?", (decision,)).fetchone()[0])

    def decide(self, violation_id: int, decision: str, user: str, reason: str = "",
               seen: str | None = None, audit_ip: str | None = None, wait_s: float | None = None) -> Violation:
        """Set the decision (``open`` re-opens); every change is kept in ``decisions``.

        ``seen``: the decision the reviewer's page showed. When another tab or reviewer has decided
        since (or the same form was sent twice), nothing changes and ``StaleDecision`` says what
        stands: last-writer-wins silently overturned a colleague's dismissal and lost its reason.

        ``audit_ip``: the audit row (``violation_<decision>``, from that address) is written in the same transaction:
        no decision without its row (the page wrote it after, and a log that took the decision but not the row
        kept a decision nobody is recorded as having made). ``wait_s``: see ``_waiting``."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        if decision == "dismissed" and not says_something(reason):
            raise ValueError("a dismissal needs a reason")
        now = iso(self._clock.now())
        with self._waiting(wait_s), self._db:
            cur = self._db.execute(
                "UPDATE violations SET decision=?, decision_reason=?, decided_by=?, decided_at=?"
                " WHERE id=? AND (? IS NULL OR decision=?)",
                (decision, reason.strip() or None, user, now, violation_id, seen, seen),
            )
            if cur.rowcount == 0:
                current = self.get(violation_id)
                if current is None:
                    raise KeyError(violation_id)
                raise StaleDecision(current)
            self._db.execute(
                "INSERT INTO decisions (violation_id, decision, reason, user, ts) VALUES (?,?,?,?,?)",
                (violation_id, decision, reason.strip() or None, user, now),
            )
            if audit_ip is not None:
                self._db.execute("INSERT INTO audit (ts, user, action, target, detail, ip) VALUES (?,?,?,?,?,?)",
                                 (now, user, f"violation_{decision}", f"violation:{violation_id}", reason.strip(),
                                  audit_ip))
        v = self.get(violation_id)
        assert v is not None
        return v

    def audit(self, user: str, action: str, target: str = "", detail: str = "", ip: str = "",
              wait_s: float | None = None) -> int:
        """Who did what, when (every web action, failed logins included); the row's id. ``wait_s``: ``_waiting``."""
        with self._waiting(wait_s), self._db:
            cur = self._db.execute(
                "INSERT INTO audit (ts, user, action, target, detail, ip) VALUES (?,?,?,?,?,?)",
                (iso(self._clock.now()), user, action, target, detail, ip),
            )
        return int(cur.lastrowid or 0)

    def amend_audit(self, row: int, detail: str, wait_s: float | None = None) -> None:
        """A coalesced row's detail brought up to date (``web/views.py``: the views of one window)."""
        with self._waiting(wait_s), self._db:
            self._db.execute("UPDATE audit SET detail=? WHERE id=?", (detail, row))

    @contextmanager
    def _waiting(self, wait_s: float | None) -> Iterator[None]:
        """Hold ``self._lock`` for a write that waits at most ``wait_s`` in all (None: as long as it takes, then the
        connection's 10 s) for this connection's turn and another connection's write lock. Why: the page's writes
        share this connection, and its lock, with the recorder, which writes every bus event on the camera loop. A
        page write waiting out 10 s behind a locked database held the loop's next event as long, and each page
        request queued behind it 10 s more (three: 30 s); and a page write queued behind the recorder's own 10 s
        wait on such a lock (an audit row's 503 came after 41.7 s with three events recorded meanwhile)."""
        if wait_s is None:
            with self._lock:
                yield
            return
        deadline = time.monotonic() + wait_s  # real time: a wait on real locks, not the site's clock
        if not self._lock.acquire(timeout=max(0.0, wait_s)):
            raise sqlite3.OperationalError("database is locked (the violation log is busy writing events)")
        try:
            before = int(self._db.execute("PRAGMA busy_timeout").fetchone()[0])
            left = max(0.0, deadline - time.monotonic())
            self._db.execute(f"PRAGMA busy_timeout={min(before, int(left * 1000))}")
            try:
                yield
            finally:
                self._db.execute(f"PRAGMA busy_timeout={before}")
        finally:
            self._lock.release()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The page's reads' connection (``_reader``), one thread at a time."""
        with self._read_lock:
            yield self._reader

    def audit_entries(self, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first: ``limit`` rows after skipping the ``offset`` newest."""
        with self._reading() as db:
            rows = db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [dict(r) for r in rows]

    def audit_count(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    # -- reading -------------------------------------------------------------------------------
    def get(self, violation_id: int) -> Violation | None:
        with self._reading() as db:
            row = db.execute("SELECT * FROM violations WHERE id=?", (violation_id,)).fetchone()
        return Violation.from_row(row) if row else None

    def id_of_event(self, event_id: str) -> int | None:
        """The violation row opened by ``violation_started`` event ``event_id`` (notification links)."""
        with self._reading() as db:
            row = db.execute("SELECT id FROM violations WHERE event_id=?", (event_id,)).fetchone()
        return int(row[0]) if row else None

    def query(self, flt: ViolationFilter, page: int = 1, page_size: int = 50) -> Page:
        """Newest first, one page of ``page_size`` (pages count from 1). A page past the end is the last one:
        the list shrinks under a reviewer paging through open violations as others decide them, and an
        empty page past the end showed "none match" beside the total, with no link back."""
        where, args = flt.where()
        with self._reading() as db:
            total = db.execute(f"SELECT COUNT(*) FROM violations{where}", args).fetchone()[0]
            page = min(max(1, page), max(1, -(-total // page_size)))
            rows = db.execute(
                f"SELECT * FROM violations{where} ORDER BY started_epoch DESC, id DESC LIMIT ? OFFSET ?",
                [*args, page_size, (page - 1) * page_size],
            ).fetchall()
        return Page([Violation.from_row(r) for r in rows], total, page, page_size)

    def iter_all(self, flt: ViolationFilter, batch: int = 500):
        """Every matching violation, newest first, in batches (CSV export without loading all).

        Each batch continues after the last row of the one before (by ``started_epoch, id``), not at a
        page number: an export of 30,000 takes seconds, and a violation recorded (or, under a decision
        filter, decided) meanwhile shifted every later page by one, so a page number gave one row twice
        (or skipped one). Paging by offset also read every skipped row again on each page."""
        where, args = flt.where()
        after: tuple[float, int] | None = None
        while True:
            cond, more = where, list(args)
            if after is not None:
                cond += (" AND " if where else " WHERE ") + "(started_epoch < ? OR (started_epoch = ? AND id < ?))"
                more += [after[0], after[0], after[1]]
            with self._reading() as db:
                rows = db.execute(
                    f"SELECT * FROM violations{cond} ORDER BY started_epoch DESC, id DESC LIMIT ?", [*more, batch],
                ).fetchall()
            yield from (Violation.from_row(r) for r in rows)
            if len(rows) < batch:
                return
            after = (rows[-1]["started_epoch"], rows[-1]["id"])

    def timeline(self, visit_id: str | None, bay_id: str | None = None,
                 start: str | None = None, end: str | None = None) -> list[Event]:
        """The visit's events in order, plus the bay's lock events that carry no visit id (a move while the bay had
        no visit in progress: the arm rising after the car left) from the visit's first event until shortly after
        its last (or now, while the car is still there)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM events WHERE visit_id=? ORDER BY ts_epoch", (visit_id,)
            ).fetchall() if visit_id else []
            lo = rows[0]["ts_epoch"] if rows else (_epoch(start) if start else None)
            departed = any(r["type"] == EventType.VEHICLE_DEPARTED for r in rows)
            if departed:
                hi = rows[-1]["ts_epoch"] + LOCK_MARGIN_S
            else:
                hi = _epoch(end) + LOCK_MARGIN_S if end and not rows else self._clock.now().timestamp()
            if bay_id and lo is not None:
                rows += db.execute(
                    "SELECT * FROM events WHERE bay_id=? AND visit_id IS NULL AND type LIKE 'lock\\_%' ESCAPE '\\'"
                    " AND ts_epoch BETWEEN ? AND ?", (bay_id, lo, hi),
                ).fetchall()
        rows.sort(key=lambda r: r["ts_epoch"])
        return [Event(type=r["type"], ts=r["ts"], bay_id=r["bay_id"], visit_id=r["visit_id"],
                      evidence_id=r["evidence_id"], data=json.loads(r["data"]), event_id=r["event_id"])
                for r in rows]

    def event_data(self, event_id: str) -> dict[str, Any] | None:
        """The ``data`` of one recorded event (a charger warning's evidence, for the live page's words)."""
        with self._reading() as db:
            row = db.execute("SELECT data FROM events WHERE event_id=?", (event_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def lock_actions(self, v: Violation) -> list[Event]:
        return [e for e in self.timeline(v.visit_id, v.bay_id, v.started_at, v.ended_at)
                if e.type.startswith(LOCK_PREFIX)]

    def decisions(self, violation_id: int) -> list[dict[str, Any]]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT decision, reason, user, ts FROM decisions WHERE violation_id=? ORDER BY id", (violation_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    def last_evidence(self, bay_id: str) -> str | None:
        """The live page's picture of ``bay_id``: the newest of the evidence its events point at and the snapshots
        taken of it. A snapshot is no event: "take snapshot" on the live page stored one and the page went on
        showing the last visit's photo — a car in a bay it called free, and the button seemed to do nothing
        (newuser35)."""
        with self._reading() as db:
            row = db.execute(
                "SELECT evidence_id, ts_epoch FROM events WHERE bay_id=? AND evidence_id IS NOT NULL"
                " ORDER BY ts_epoch DESC LIMIT 1", (bay_id,),
            ).fetchone()
            try:  # the evidence store's table, in the same file (absent where the log runs without a store)
                snap = db.execute("SELECT id, epoch FROM evidence WHERE kind='snapshot' AND bay_id=?"
                                  " ORDER BY epoch DESC LIMIT 1", (bay_id,)).fetchone()
            except sqlite3.OperationalError:
                snap = None
        if snap is not None and (row is None or snap["epoch"] > row["ts_epoch"]):
            return str(snap["id"])
        return row["evidence_id"] if row else None

    def bay_ids(self) -> list[str]:
        with self._reading() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT bay_id FROM violations ORDER BY bay_id")]

    def close(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            try:
                left = self.write_held()
            except Exception as exc:  # noqa: BLE001 - closing must close, whatever an event did
                left = len(self._held)
                log.error("violation log %s: held events not written at stop: %s", self.db_path, exc)
            kept = self._keep_held() if left else None  # until 2026-12-05 they were lost (a backup's lock, a stop)
            if kept is not None:
                log.warning("violation log %s: %s at stop: %d held event(s) kept in %s, written at the next start",
                            self.db_path, self._held_why, kept, self.held_path)
            elif left:  # a stop (an upgrade, going back) during a backup's lock said "disk still full" until 2026-12-05
                log.error("violation log %s: %s at stop: %d held event(s) not recorded (the violations they begin or "
                          "end are not on the review page; the events themselves are in events.jsonl and the MQTT "
                          "outbox)", self.db_path, self._held_why, left)
            self._db.close()
        with self._read_lock:
            self._reader.close()
