"""Sinks that print the bus: JSON lines (``run`` until MQTT exists) and the demo's story."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from edge_agent.clock import Clock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, Event
from edge_agent.owndb import WHY, NotOwnFile

log = logging.getLogger(__name__)


# What json.dumps leaves raw (it escapes U+0000-U+001F) and must not be: a lock command's ``operator`` / ``reason``
# (free text from whoever may publish a command) carried DEL or C1 controls (0x9b: a terminal's CSI) to the terminal
# ``run`` prints events on, and U+0085 / U+2028 / U+2029, at which ``str.splitlines`` (a reader's usual way through
# events.jsonl) cut one event into two broken lines; and the bidirectional controls (U+202E showed the rest of an
# event's line reversed on that terminal). As ``\uXXXX`` each line reads back the same.
_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
EVENTS_LOG_MAX_BYTES = 32 * 1024 * 1024  # ``run``'s events.jsonl; with its one older file at most ~64 MiB


class JsonLinesSink:
    """Every event (and bay state, when ``states``) as one JSON line to a stream and a log file.

    ``max_bytes``: once the file reaches it, it becomes ``<name>.1`` (replacing the older one) and a
    new file starts. Why: a device appends every event and bay state for months on an SD card (about
    3.6 KB a visit); unbounded, the file grew past any budget and, once the card filled, the evidence
    store pruned photos to make room for it. ``None`` (replay's output, the demo's): never rotated.

    ``own``: the file is the agent's own in its data dir (``run``'s ``events.jsonl``): opened through no link and never
    a FIFO or device (``NotOwnFile``). Why: ``run`` refuses one planted there before it starts (``planted_problem``),
    then opened it by name seconds later, after the models loaded: one swapped in meanwhile (or at a rotation) hung
    the start for ever on a FIFO, or had the events (plates) appended wherever a link led.

    ``max_age_s`` (with ``clock``): no line is kept longer (``expire``, called every minute): the file turns over
    once its first line is half that old, and the older file goes once its last line is. Why: each event names
    the plate, and a plate tied to a place and a time is personal information, kept as long as the evidence
    photos (``evidence.max_age_days``); the size bound alone kept a quiet site's plates for a year or more.
    ``age_now``: the time measured against, the evidence store's (``EvidenceStore.age_now``): an unsynchronised clock
    40 days ahead dropped the lines of the hour before (probe chaos38)."""

    def __init__(self, bus: EventBus, path: Path | None, stream: IO[str] | None, states: bool = True,
                 max_bytes: int | None = None, max_age_s: float | None = None, clock: Clock | None = None,
                 own: bool = False, age_now: Callable[[], float] | None = None) -> None:
        self.bus, self.path, self.stream, self.states = bus, path, stream, states
        self.age_now = age_now  # the time ages are measured against (the evidence store's bound); None: ``clock``'s
        self.own = own
        self.max_bytes = max_bytes
        self.max_age_s, self.clock = max_age_s, clock
        self._first: float | None = None  # when the file's first line was written (epoch), None while empty
        self._size = 0
        self._file: IO[str] | None = None
        self._unsub: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._started = False
        self.failed = 0  # lines the log file could not take (disk full): counted, not a traceback per event
        self.turns_failed = 0  # turns that found no new file (a rename refused, a plant at the name): their line kept

    def start(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._open()
            _end_torn_line(self._file, self.path, self.own)
            self._size = os.fstat(self._file.fileno()).st_size
            self._first = _line_epoch(self.path, first=True, nofollow=self.own) if self._size else None
            self._started = True
            self.expire()
        self._unsub.append(self.bus.subscribe(lambda e: self._write({"kind": "event", **e.to_dict()})))
        if self.states:
            self._unsub.append(self.bus.subscribe_state(lambda s: self._write({"kind": "state", **s.to_dict()})))

    def stop(self) -> None:
        for u in self._unsub:
            u()
        self._unsub.clear()
        self._started = False
        if self._file:
            file, self._file = self._file, None
            try:
                file.close()  # writes the lines a failing card refused once more
            except OSError as exc:  # a card turned read-only: say so once, not as a traceback of the stop
                log.error("event log %s: %s at stop (%d line(s) not written in all)", self.path, exc.strerror or exc,
                          self.failed)

    def _write(self, obj: dict) -> None:
        with self._lock:
            self._write_locked(obj)

    def _write_locked(self, obj: dict) -> None:
        """One line to the stream and the file (called under the lock). A stream that cannot take it (a non-UTF-8
        locale's stdout and a Chinese plate: ``UnicodeEncodeError``) costs the stream its line, never the file's."""
        line = _RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, ensure_ascii=False, default=str))
        if self._started and self._file is None:  # its file could not be opened again at a turn: counted
            self.failed += 1
        for out in (self.stream, self._file):
            if out is None:
                continue
            try:
                out.write(line + "\n")
                out.flush()
            except (OSError, ValueError) as exc:  # ValueError: an encoding the line does not fit
                self.failed += 1
                if self.failed == 1 or self.failed % 100 == 0:
                    log.error("event log %s: %s (%d line(s) not written)", self.path if out is self._file else
                              "stream", getattr(exc, "strerror", None) or exc, self.failed)
                continue
            if out is self._file:
                self._size += len(line.encode()) + 1
                if self._first is None:
                    self._first = _epoch_of(obj)
                try:
                    self._rotate()
                except OSError as exc:  # this line is in the file turned over: only the lines after it are lost
                    self.turns_failed += 1
                    if self.turns_failed == 1 or self.turns_failed % 100 == 0:
                        log.error("event log %s: no new file at its turn: %s (%d turn(s) failed; a line that "
                                  "finds no file is counted as not written, the file tried again each minute)",
                                  self.path, exc.strerror or exc, self.turns_failed)

    def resent(self, events: list[Event]) -> int:
        """The events the start puts into the MQTT outbox because a kill kept them out (``MqttLink.put_missing``),
        written as the bus would have: this sink hears the bus after the outbox, so it never wrote them either —
        events.jsonl showed a departure with its violation still open, and then a second ``violation_started``
        (probe chaos35). Those among the file's last lines are not written again: the start hands them here before
        the outbox takes them, so a kill between leaves them for the next start to hand again; and an outbox that
        lost one to a full disk has it missing after this file took it. The reads and the writes hold the sink's lock:
        read outside it, a line another thread wrote between ``.1``'s read and this file's turned the file over, and
        the event it held, moved to ``.1`` unread, was written twice (probe review60). Returns how many were written."""
        with self._lock:  # no turn between the reads and the writes: the sink's own lines (other threads') wait
            if self.path is not None:
                have: set[str] = set()
                for path in (self.path.with_name(self.path.name + ".1"), self.path):  # a turn may have just come
                    have |= _tail_event_ids(path, RESENT_TAIL_BYTES, self.own)
                events = [ev for ev in events if ev.event_id not in have]
            for ev in events:
                self._write_locked({"kind": "event", **ev.to_dict()})
        return len(events)

    def expire(self) -> None:
        """Drop what is older than ``max_age_s`` (see the class): the older file once its last line is half that
        old, the current one turned over once its first line is. First, a file a turn could not open (a FIFO or a
        link put at its name: ``NotOwnFile``) is tried again: before, the log stayed shut for the rest of the run
        after one line said so, and every later event's line went nowhere, uncounted."""
        self._open_again()
        if self.max_age_s is None or self.clock is None or self.path is None:
            return
        half = self.max_age_s / 2
        now = self.age_now() if self.age_now is not None else self.clock.now().timestamp()
        older = self.path.with_name(self.path.name + ".1")
        with self._lock:
            last = _line_epoch(older, first=False, nofollow=self.own) if older.is_file() else None
            if last is not None and now - last >= half:
                older.unlink(missing_ok=True)
            if self._first is not None and now - self._first >= half:
                self._rotate(force=True)

    def _open_again(self) -> None:
        if not self._started or self.path is None:
            return
        with self._lock:
            if self._file is not None or not self._started:
                return
            try:
                self._file = self._open()
            except OSError as exc:
                log.error("event log %s: still cannot be opened: %s (%d line(s) not written)", self.path,
                          exc.strerror or exc, self.failed)
                return
            _end_torn_line(self._file, self.path, self.own)
            self._size = os.fstat(self._file.fileno()).st_size
            self._first = _line_epoch(self.path, first=True, nofollow=self.own) if self._size else None
            log.warning("event log %s: open again (%d line(s) not written)", self.path, self.failed)

    def _rotate(self, force: bool = False) -> None:
        """The full (or, ``force``, aged) file becomes ``<name>.1`` and a new one starts (called under the lock)."""
        if self._file is None or self.path is None or not force and (
                self.max_bytes is None or self._size < self.max_bytes):
            return
        self._file.close()
        self._file = None
        try:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self._size, self._first = 0, None
        finally:  # a failed rename (a card gone read-only) still appends to the file it has, when it can
            self._file = self._open()

    def _open(self) -> IO[str]:
        assert self.path is not None
        if not self.own:
            return self.path.open("a", encoding="utf-8")
        return append_own(self.path)


def append_own(path: Path) -> IO[str]:
    """``path`` opened to append, made when missing, through no link and never a FIFO or device: ``NotOwnFile``
    naming it. ``O_NONBLOCK``: a FIFO with no reader is refused at once (``ENXIO``), where a plain open waited for
    one for ever."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    why = WHY
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise NotOwnFile(exc.errno, why, str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotOwnFile(errno.EINVAL, why, str(path))
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8")


def _end_torn_line(file: IO[str], path: Path, nofollow: bool) -> None:
    """End the file's last line where it was cut short, so that the lines appended now read back each alone. Why: a
    power cut takes the unsynced tail of the file, and a kill on a full disk the rest of a line still in the buffer;
    the next run's first line was glued onto what was left of it and lost to every reader too (probe chaos36). Read
    through a descriptor of its own, checked to be the very file appended to; anything else (a stream, a file that
    cannot be read) is left as it is, and a disk too full for the line break gets it with the next line."""
    st = os.fstat(file.fileno())
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        same = os.fstat(fd)
        last = os.pread(fd, 1, st.st_size - 1) if (same.st_dev, same.st_ino) == (st.st_dev, st.st_ino) else b"\n"
    except OSError:
        last = b"\n"
    finally:
        os.close(fd)
    if last not in (b"", b"\n"):
        log.warning("event log %s: its last line was cut short (a power cut or a kill on a full disk); the lines "
                    "from here on start on a line of their own", path)
        file.write("\n")
        try:
            file.flush()
        except OSError:
            pass  # kept in the buffer: written before the next line, when the disk takes it


def _epoch_of(obj: dict) -> float | None:
    """A line's time: an event's ``ts``, a state's ``ts`` (or ``since``)."""
    for key in ("ts", "since"):
        try:
            return datetime.fromisoformat(str(obj[key])).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _line_epoch(path: Path, first: bool, nofollow: bool = False) -> float | None:
    """The time of a file's first or last line; its modification time when that line tells none. Read never from a
    FIFO (``O_NONBLOCK``, a regular file only: one swapped in by name hung the start or the minute's expiry), and
    through no link when ``nofollow`` (the agent's own file)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # unreadable: its modification time, as before
        try:
            st = os.stat(path, follow_symlinks=not nofollow)
        except OSError:
            return None
        return st.st_mtime if stat.S_ISREG(st.st_mode) else None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if first:
                raw = fh.readline()
            else:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - TAIL_BYTES))
                lines = fh.read().rstrip(b"\n").split(b"\n")
                raw = lines[-1] if lines else b""
            mtime = os.fstat(fh.fileno()).st_mtime
    except OSError:
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return mtime
    when = _epoch_of(obj) if isinstance(obj, dict) else None
    return when if when is not None else mtime


TAIL_BYTES = 64 * 1024  # more than one line: an event is ~1 KB
#: how much of each file ``resent`` reads for the ids it holds: the start looks at the previous run's last 32 events
#: (``events/unsent.UNSENT_LOOK``), ~1 KB each with their bays' states — a few tens of KB; read once, at a start
RESENT_TAIL_BYTES = 1024 * 1024


def _tail_event_ids(path: Path, nbytes: int, nofollow: bool) -> set[str]:
    """The ``event_id`` of each event line in the last ``nbytes`` of ``path`` (none where it cannot be read: missing,
    not a regular file, a link where ``nofollow``; never a FIFO, ``O_NONBLOCK``)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return set()
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return set()
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - nbytes))
            lines = fh.read().split(b"\n")
    except OSError:
        return set()
    ids = set()
    for raw in lines:
        try:
            obj = json.loads(raw)
        except ValueError:  # the first, cut by the bound; one a kill cut
            continue
        if isinstance(obj, dict) and obj.get("kind") == "event" and isinstance(obj.get("event_id"), str):
            ids.add(obj["event_id"])
    return ids

EVENT_WORDS = {
    "vehicle_arrived": "arrived", "vehicle_identified": "identified", "violation_started": "VIOLATION",
    "violation_ended": "violation ended", "overstay_started": "OVERSTAY", "overstay_ended": "overstay ended",
    "vehicle_departed": "departed", "camera_lost": "CAMERA LOST", "camera_restored": "camera back",
}


def describe(ev: Event) -> str:
    """One readable line for an event (the demo's story)."""
    d = ev.data
    what = EVENT_WORDS.get(ev.type, ev.type)
    if ev.type == "vehicle_identified":
        nev = {True: "NEV", False: "not an NEV", None: "undecided"}[d.get("nev")]
        partial = ", partial: no identity" if d.get("partial") else ""
        what += f": {d.get('plate')} ({d.get('colour')} plate{partial}) → {nev} [{d.get('reason')}], " \
                f"{d.get('reads')} reads, confidence {d.get('confidence')}"
    elif ev.type == "violation_started":
        what += f": {d.get('reason')}" + (f" {d['plate']}" if d.get("plate") else "") + f" after {d.get('parked_s')} s"
    elif ev.type == "violation_ended":
        what += f" ({d.get('reason')}, lasted {d.get('duration_s')} s)"
    elif ev.type == "vehicle_departed":
        what += f" after {d.get('stayed_s')} s" + (f" ({d['plate']}{', partial' if d.get('partial') else ''})"
                                                   if d.get("plate") else "")
    elif ev.type == "lock_moved":
        what = f"lock {d.get('state')}" + (f" ({d['reason']})" if d.get("reason") else "")
    elif ev.type == "lock_maintenance":
        what = f"lock maintenance {'on' if d.get('on') else 'off'}" + (f" ({d['operator']})" if d.get("operator") else "")
    elif ev.type in ("lock_warning", "lock_refused", "lock_fault", "lock_tamper"):
        what = ev.type.replace("_", " ").upper() + f": {d.get('reason') or d.get('message') or d.get('code')}"
    elif ev.type.startswith("camera_"):
        what += f" ({', '.join(f'{k}={v}' for k, v in d.items())})"
    where = f"bay {ev.bay_id}" if ev.bay_id else "camera"
    tail = f"  evidence {ev.evidence_id[:8]}" if ev.evidence_id else ""
    return f"{where:<7} {what}{tail}"


def describe_state(s: BayState) -> str:
    plate = f" {s.plate}" if s.plate else ""
    return f"bay {s.bay_id}: {s.state}{plate}"
