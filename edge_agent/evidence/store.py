"""Evidence on disk + an SQLite (WAL) index, with retention by age and total size.

Files live under ``root/YYYY-MM-DD/``; the index is ``root/evidence.db`` (the web helper's
violations log shares the file, so every table here is named ``evidence*``). When space
runs out, plain identification pictures go before violation pictures: a reviewer may
still need those.

A damaged index (a power cut mid-write, a bad SD card; never a full disk, which is retried) must not stop the agent on every
start: like the outbox, the file is moved aside for inspection, a fresh index is started and
the photos still on disk are indexed again (kind ``reindexed``); ``recovered`` says what
happened so the runtime can announce it.

Events outrank photos: a save never takes the file system under ``min_free_bytes`` (the
outbox's reserve). Short of space, the oldest evidence goes first (plain before protected,
as retention does); if that is not enough the new photo is skipped (``EvidenceSkipped``),
counted in ``space``, and the runtime announces it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from edge_agent.clock import Clock, iso
from edge_agent.durable import fsync_dir, write_durably
from edge_agent.evidence.age import AgeClock, keep_mark, newest_epoch
from edge_agent.evidence.held_rows import HELD_PHOTOS_FILE, HeldRows
from edge_agent.ids import UUID_TEXT
from edge_agent.owndb import connect_own
from edge_agent.sqlite_damage import (
    Damaged,
    adopt_built,
    is_corruption,
    is_no_space,
    is_unavailable,
    prune_aside,
    rebuild_beside,
    rows_past_damage,
    salvage_from,
)

AGE_MARK = "evidence"  # retention's row in ``age_marks`` (``age.py``)
SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence (
    id TEXT PRIMARY KEY,
    bay_id TEXT,
    visit_id TEXT,
    kind TEXT NOT NULL,
    ts TEXT NOT NULL,
    epoch REAL NOT NULL,
    plate TEXT,
    protected INTEGER NOT NULL DEFAULT 0,
    frame_file TEXT,
    crop_file TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS evidence_epoch ON evidence(protected, epoch);
CREATE INDEX IF NOT EXISTS evidence_visit ON evidence(visit_id);
CREATE INDEX IF NOT EXISTS evidence_kind ON evidence(kind, epoch);
"""

PROTECTED_KINDS = ("violation", "violation_started", "overstay_started")
REINDEXED = "reindexed"
# Snapshots (the installer's and the live page's pictures, MQTT ``snapshot``) show the view at a moment and are
# disposable; a violation's photos and the visits' identifications are what a property manager reviews and
# disputes. A signed-in client taking one every 2 s all day filled the size budget with them, and retention, oldest
# plain record first, took the identifications (of violating visits too) to make room. Snapshots now keep a budget
# of their own, trimmed at each snapshot's save, oldest first, and they are the first to go for anything else.
SNAPSHOT = "snapshot"
SNAPSHOT_SHARE = 0.05  # of max_bytes (2 GiB: ~100 MB, some 300 pictures of a 1080p view)
SNAPSHOT_KEEP = 200  # at most, whatever the budget: 6–7 minutes of one client at the rate limit's one per 2 s
# A violating visit's other photos (its identification: the plate read as the car arrived) are part of the case: a
# reviewer upholds the violation with them. They rank with the violation's photos, not with every visit's
# identifications, under ``max_mb`` and a full disk alike; snapshots stay disposable.
_PROTECT_VISITS = (f"UPDATE evidence SET protected=1 WHERE protected=0 AND kind <> '{SNAPSHOT}' AND visit_id IN "
                   f"(SELECT visit_id FROM evidence WHERE kind IN ({','.join('?' * len(PROTECTED_KINDS))}) "
                   "AND visit_id IS NOT NULL)")
_UNPROTECTED_VISITS = _PROTECT_VISITS.replace("UPDATE evidence SET protected=1 WHERE", "SELECT 1 FROM evidence WHERE", 1) \
    + " LIMIT 1"
RETENTION_BATCH = 50  # records one retention call deletes at most: it runs on the frame loop, ~5 ms a photo file
ORPHAN_AGE_S = 3600.0  # an unindexed photo file this old is a crash's leftover, not a save in flight
# while photo rows are held for a lock, a later try waits this long for it, not the connection's 5 s: the minute's
# retry runs on the frame loop, and a backup may hold the lock for minutes (as ``violations.HELD_RETRY_WAIT_S``)
HELD_RETRY_WAIT_S = 0.1
LOCK_WAIT_S = 5.0  # how long a write waits for another program's lock on the index (sqlite3's default)
# matched whole (``fullmatch``), as ``ids.is_uuid``: ``$`` also matches before a final line break, and a row naming
# ``2026-01-01/<uuid>.jpg\n`` was taken for a name the store writes
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # the folder of one day's photos
_PHOTO = re.compile(rf"({UUID_TEXT})(_crop)?\.jpg")

log = logging.getLogger(__name__)


def remove_photo(root: Path, rel: str) -> bool:
    """Unlink the photo an index row names, ``rel`` under ``root``, only where it is a name the store writes
    (``YYYY-MM-DD/<uuid>[_crop].jpg``) in a day folder that is no link; True when the name was one (removed, or
    already gone). Why: the index is a file the agent's user writes, and root's ``evidence forget`` unlinked
    whatever its rows named — ``/etc/shadow``, ``../../../etc/passwd``, or a day folder linked to ``/etc`` — so
    whoever ran as the agent had root delete any file on the device. A link at the photo's own name is removed,
    not followed."""
    day, sep, name = rel.partition("/")
    if not sep or not _DAY.fullmatch(day) or not _PHOTO.fullmatch(name):
        return False
    try:
        fd = os.open(root / day, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return True
    except OSError as exc:  # ELOOP / ENOTDIR: a link or a file where the day folder should be
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return False
        raise
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)
    return True


MAX_PHOTO_BYTES = 64 * 2**20  # a 48 MP frame (the most a camera may send) as JPEG is well under this


def read_photo(root: Path, rel: str) -> bytes | None:
    """The bytes of the photo an index row names, ``rel`` under ``root``, read only as a regular file of a name the
    store writes (``YYYY-MM-DD/<uuid>[_crop].jpg``) in a day folder that is no link, opened through no link at any
    step (one open, no check before it that a swap could outrun); None when there is none such. Why: the page served
    ``root / rel`` with whatever it led to, and a link planted at a photo's name (the data folder may be written by
    others) handed any signed-in viewer a file only the agent may read: ``web.session_secret_file`` (every session
    forged), the command key, the users file."""
    fd = _open_photo(root, rel)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(MAX_PHOTO_BYTES)


def photo_is_whole(root: Path, rel: str) -> bool:
    """Whether the photo ``rel`` is there and whole (``read_photo``'s rules), from its first and last two bytes: a
    file deleted or cut short under the store (by hand, a copy that stopped, a card that lost its tail at a power
    cut) showed as a broken picture, the page saying nothing (probe chaos43)."""
    fd = _open_photo(root, rel)
    if fd is None:
        return False
    with os.fdopen(fd, "rb") as fh:
        head = fh.read(2)
        if os.fstat(fd).st_size < 4:
            return False
        fh.seek(-2, os.SEEK_END)
        return _is_whole_jpeg(head, fh.read(2))


def _is_whole_jpeg(head: bytes, tail: bytes) -> bool:
    """A JPEG starts with SOI (FF D8) and ends with EOI (FF D9); the store's encoder writes nothing after EOI."""
    return head == b"\xff\xd8" and tail == b"\xff\xd9"


def _open_photo(root: Path, rel: str) -> int | None:
    """A read-only descriptor of the regular file ``rel`` names (``read_photo``'s rules), or None."""
    day, sep, name = rel.partition("/")
    if not sep or not _DAY.fullmatch(day) or not _PHOTO.fullmatch(name):
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        folder = os.open(root / day, flags | os.O_DIRECTORY)
    except OSError:  # gone, or ELOOP / ENOTDIR: a link or a file where the day folder should be
        return None
    try:
        fd = os.open(name, flags, dir_fd=folder)
    except OSError:  # gone, or a link at the photo's name
        return None
    finally:
        os.close(folder)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_PHOTO_BYTES:  # a FIFO, a device
        os.close(fd)
        return None
    return fd


RESTORED_FACTOR = 1.5  # "low" ends when this multiple of the reserve is free again
INDEX_SLACK = 64 * 1024  # an index row and its WAL frames, beside the photo's own bytes


class PhotoQueue(Protocol):
    """Where ``save`` hands a photo to be written later (``evidence.writer.PhotoWriter``)."""

    def take(self, job: tuple[Any, ...]) -> bool: ...

    def holds(self, eid: str) -> bool: ...


class EvidenceSkipped(OSError):
    """Not saved: the disk is (nearly) full and the outbox's reserve comes first, or the card is read-only."""


@dataclass
class SpaceState:
    """How the free-space reserve has been defended (read by the runtime to announce it)."""

    low: bool = False  # the last save found less than the reserve before pruning
    pruned: int = 0  # records deleted early to keep the reserve
    skipped: int = 0  # photos not saved at all
    free_mb: float | None = None


@dataclass(frozen=True)
class EvidenceRecord:
    evidence_id: str
    bay_id: str | None
    visit_id: str | None
    kind: str
    ts: str
    plate: str | None
    protected: bool
    frame_file: str | None
    crop_file: str | None
    bytes: int
    meta: dict[str, Any]


def _salvage(source: Path, db: sqlite3.Connection) -> dict[str, int]:
    """Copy every table's rows that can still be read from the damaged ``source`` into ``db``, keeping
    their ids; returns the rows copied per table (none when even its table list is unreadable).

    Why: the file holds more than the photos' index. The violation log (``violations``, ``decisions``,
    ``audit``, ``events``) and the run ledger share it, and a fresh file without them lost every
    reviewer's decision, the audit log and the bay history to one bad page (a power cut, a worn card, a
    backup copied while the agent wrote). Tables the fresh file lacks are made from the old file's own
    statement (their owners add their indexes when they open it). A damaged page costs its own rows, as the outbox's
    salvage (``sqlite_damage.rows_past_damage``): read up to the first bad page, one in the middle of the photos' index
    lost every row behind it, and the hourly sweep then deleted their photos as files no row names (probe chaos38)."""
    copied: dict[str, int] = {}
    with salvage_from(source, db) as src:
        if src is None:
            return {}
        try:
            tables = src.execute("SELECT name, sql FROM sqlite_master WHERE type='table' AND sql IS NOT NULL"
                                 " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
        except sqlite3.Error as exc:
            log.warning("evidence index salvage from %s: its table list is unreadable (%s)", source, exc)
            return {}
        for name, sql in tables:
            n = 0
            try:
                if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is None:
                    db.execute(sql)
                have = {r[1] for r in src.execute(f'PRAGMA table_info("{name}")')}
                cols = [r[1] for r in db.execute(f'PRAGMA table_info("{name}")') if r[1] in have]
                names = ", ".join('"' + c + '"' for c in cols)
                insert = f'INSERT OR IGNORE INTO "{name}" ({names}) VALUES ({", ".join("?" * len(cols))})'
                skipped = [0]
                for row in rows_past_damage(src, name, names, skipped):  # a bad page costs its own rows
                    n += db.execute(insert, row).rowcount
                if skipped[0]:
                    log.error("evidence index salvage: table %s lost about %d row(s) on damaged pages", name,
                              skipped[0])
            except sqlite3.Error as exc:
                if is_no_space(exc):
                    raise
                log.warning("evidence index salvage: table %s read up to a damaged row (%s)", name, exc)
            copied[name] = n
    return copied


class EvidenceStore:
    def __init__(self, root: Path, clock: Clock, max_age_days: float = 30.0, max_bytes: int = 2 * 1024**3,
                 min_free_bytes: int = 0) -> None:
        self.root = Path(root)
        self.min_free_bytes = min_free_bytes
        self.space = SpaceState()
        self._unwritable = 0  # photos a read-only or failing card refused (each logged once per 100)
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.max_age_days = max_age_days
        self.max_bytes = max_bytes
        self.db_path = self.root / "evidence.db"
        self._lock = threading.Lock()
        self.recovered: dict[str, Any] | None = None  # set when an unreadable index was replaced
        self.undeletable = 0  # photos retention or pruning could not delete (kept, retried)
        self.behind = False  # the last retention stopped at its batch limit: more is due
        self._saved_at: dict[str, float] = {}  # monotonic save time of this process's records (retention)
        self.writer: PhotoQueue | None = None  # ``run``: the photos written off the frame loop (``save``)
        adopt_built(self.db_path)  # a recovery a kill cut short (``_recover``)
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):  # a full disk is no damage: keep the index, fail, retry later
                raise
            self._db = self._recover(exc)
        # photo rows another program's lock kept out, on disk until written (``held_rows.py``); those a stop, a kill
        # or a power cut left are written now
        self.held = HeldRows(self.root / HELD_PHOTOS_FILE, self.db_path, PROTECTED_KINDS)
        self.held.load()
        # an unsynced clock is believed no further than the newest record at the start plus the uptime (``age.py``)
        self._age = AgeClock(self.clock, self._newest_epoch(), "evidence retention", self._keep_age)
        try:
            self.write_held()
        except sqlite3.Error as exc:  # a row that cannot go in must not keep the agent from starting: it stays held
            log.error("evidence index: the photo rows held at the last stop not written: %s", exc)

    def _connect(self, path: Path | None = None) -> sqlite3.Connection:
        db = connect_own(path or self.db_path, check_same_thread=False, isolation_level=None, timeout=LOCK_WAIT_S)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit syncs the WAL. The event naming a photo goes into the (synced) outbox right after
            # ``save`` returns; at NORMAL the row sat unsynced in the WAL, a power cut kept the event and lost the
            # row, and ``sweep_orphans`` then deleted the violation's photo as a crash's leftover. One fsync a
            # photo more, beside the photo's own (``docs/bays.md``, crashes and power cuts).
            db.execute("PRAGMA synchronous=FULL")
            # a few writes a minute: fold the WAL in often and keep it short, so on a small disk the
            # index holds ~0.5 MB, not the ~4 MB SQLite's defaults allow
            db.execute("PRAGMA wal_autocheckpoint=100")
            db.execute("PRAGMA journal_size_limit=524288")
            db.execute("PRAGMA secure_delete=ON")  # plates retention deletes are overwritten, not left in free pages
            bad = [r[0] for r in db.execute("PRAGMA quick_check")]
            if bad != ["ok"]:
                raise Damaged("; ".join(bad[:3]))
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        # an index an older version wrote ranked a violating visit's identifications as plain. A write: another
        # program holding the lock (a backup, a sqlite3 shell) must not keep the agent from starting, so it is done
        # before the first retention or row instead (``_protect_visits``); until 2026-12-06 the start failed
        # after 5 s ("database is locked", exit 1) while every read and the rows held for a lock would have worked
        self._protect_due = db.execute(_UNPROTECTED_VISITS, PROTECTED_KINDS).fetchone() is not None
        if self._protect_due:
            try:
                self._protect_visits(db)
            except sqlite3.OperationalError as exc:
                if not is_unavailable(exc):
                    db.close()
                    raise
                log.warning("evidence index %s is locked by another program (%s): it opens all the same; a violating "
                            "visit's older photos are ranked with its violation's once it is free", self.db_path, exc)
        return db

    def _protect_visits(self, db: sqlite3.Connection | None = None) -> None:
        """The protection ``_connect`` could not write for a lock, written now (before any row goes in or out)."""
        if self._protect_due:
            (db or self._db).execute(_PROTECT_VISITS, PROTECTED_KINDS)
            self._protect_due = False

    def _violating(self, visit_id: str) -> bool:
        """Whether ``visit_id`` has a violation's photo already (its later photos rank with it)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM evidence WHERE visit_id=? AND protected=1 LIMIT 1",
                                    (visit_id,)).fetchone() is not None

    def _recover(self, exc: Exception) -> sqlite3.Connection:
        """Start afresh beside the damaged index (``sqlite_damage.rebuild_beside``), copy what can still be read from it (``_salvage``),
        index the photos still on disk that no copied row names; then move it aside and give the fresh one its name.
        Why in that order: the fresh index took the name first, and a kill during the copy (seconds on a Pi) left it
        empty and healthy for the next start: the history stayed in the copy set aside and the first retention's
        sweep deleted every photo as a file no row names (probe review80)."""
        aside, (salvaged, n) = rebuild_beside(self.db_path, self._connect,
                                              lambda fresh: (_salvage(self.db_path, fresh), self._reindex(fresh)),
                                              f".corrupt-{int(time.time())}")
        db = self._connect()
        self.recovered = {"reason": str(exc)[:200], "moved_to": str(aside), "reindexed": n, "salvaged": salvaged}
        log.error("evidence index %s is unreadable (%s); moved to %s, started a fresh one, copied the rows still "
                  "readable (%s) and re-indexed %d photo record(s) from disk", self.db_path, exc, aside,
                  ", ".join(f"{t}: {k}" for t, k in salvaged.items()) or "none", n)
        prune_aside(self.db_path)
        return db

    def _reindex(self, db: sqlite3.Connection) -> int:
        """One row per photo (frame and/or crop) found under ``root/*/`` that no row names; what the old
        index knew beyond the files (bay, plate, visit) is gone for these, so those stay empty. Returns
        how many rows it added."""
        found: dict[str, dict[str, Path]] = {}
        for p in self.root.glob("*/*.jpg"):
            m = _PHOTO.fullmatch(p.name)
            if m:
                found.setdefault(m.group(1), {})["crop" if m.group(2) else "frame"] = p
        db.execute("BEGIN")
        n = 0
        for eid, files in found.items():
            paths = list(files.values())
            epoch = min(p.stat().st_mtime for p in paths)
            rel = {k: str(v.relative_to(self.root)) for k, v in files.items()}
            n += db.execute("INSERT OR IGNORE INTO evidence VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (eid, None, None, REINDEXED, iso(datetime.fromtimestamp(epoch, timezone.utc)), epoch, None, 0,
                        rel.get("frame"), rel.get("crop"), sum(p.stat().st_size for p in paths),
                        json.dumps({"reindexed": True}))).rowcount
        db.execute("COMMIT")
        return n

    def close(self) -> None:
        with self._lock:
            if self.held:  # the lock may have gone since the last photo or minute: written now, not at the next start
                with contextlib.suppress(sqlite3.Error):
                    self._write_held()
            if self.held:
                log.warning("evidence index %s still locked at close: %d photo row(s) held in %s, written at the "
                            "next start", self.db_path, len(self.held), self.held.path)
            self._db.close()

    def save(self, bay_id: str | None, visit_id: str | None, kind: str, image_jpeg: bytes | None,
             crop_jpeg: bytes | None, plate: str | None = None, meta: dict[str, Any] | None = None) -> str:
        """The record's id, its time fixed now; written now (``write``), or, with a ``writer`` attached (``run``),
        queued to it in order and written on its thread: the frame loop publishes the event naming the id at once,
        not after four syncs (``evidence/writer.py``). Snapshots are written now, on the caller's thread (the page
        shows the picture it asked for)."""
        eid = str(uuid.uuid4())
        at = (self.clock.now(), self.clock.monotonic())
        writer = self.writer
        if writer is not None and kind != SNAPSHOT and writer.take(
                (eid, at, bay_id, visit_id, kind, image_jpeg, crop_jpeg, plate, meta)):
            return eid
        return self.write(eid, at, bay_id, visit_id, kind, image_jpeg, crop_jpeg, plate, meta)

    def write(self, eid: str, at: tuple[datetime, float], bay_id: str | None, visit_id: str | None, kind: str,
              image_jpeg: bytes | None, crop_jpeg: bytes | None, plate: str | None = None,
              meta: dict[str, Any] | None = None) -> str:
        """Write the files (synced, renamed into place, their folder synced), then the index row, synced
        (``synchronous=FULL``): a crash or power cut leaves an orphan file (``sweep_orphans`` removes it), never
        a row naming a truncated or missing photo; and once this returns, both are on the card, so the event the
        caller then puts in the outbox names a photo and a row a power cut cannot take back (the sweep would
        delete a photo whose row was lost). Raises ``EvidenceSkipped`` when the reserve cannot be kept."""
        now, mono = at
        protected = kind in PROTECTED_KINDS or (kind != SNAPSHOT and visit_id is not None and self._violating(visit_id))
        self._make_room(len(image_jpeg or b"") + len(crop_jpeg or b"") + INDEX_SLACK, protected, kind == SNAPSHOT)
        day = self.root / now.strftime("%Y-%m-%d")
        files: dict[str, str | None] = {"frame": None, "crop": None}
        size = 0
        written: list[Path] = []
        try:
            self._make_day(day)
            for which, data in (("frame", image_jpeg), ("crop", crop_jpeg)):
                if data:
                    p = day / f"{eid}{'' if which == 'frame' else '_crop'}.jpg"
                    written += [p, p.with_suffix(".tmp")]
                    try:
                        write_durably(p, data, p.with_suffix(".tmp"), sync_dir=False)  # the sweep knows .tmp
                    except FileNotFoundError:
                        if day.is_dir():
                            raise
                        # the sweep (``_remove_empty_days``, outside the lock) removed the still empty folder
                        # between its mkdir and this first file: a clock stepped forward made it look old. Made
                        # again; once a file is in it, rmdir refuses it
                        self._make_day(day)
                        write_durably(p, data, p.with_suffix(".tmp"), sync_dir=False)
                    files[which] = str(p.relative_to(self.root))
                    size += len(data)
            if written:
                fsync_dir(day)  # the renames of both: one folder sync, before the row that names them
        except OSError as exc:
            for p in written:  # a half-written photo is worth nothing and holds space the events need
                with contextlib.suppress(OSError):  # a read-only card refuses this too
                    p.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self.space.skipped += 1
                raise EvidenceSkipped(exc.errno, f"disk full writing evidence: {exc.strerror}") from None
            if exc.errno in (errno.EROFS, errno.EIO):  # the kernel turned the card read-only: no bug of ours
                self.space.skipped += 1
                self._unwritable += 1
                if self._unwritable == 1 or self._unwritable % 100 == 0:
                    log.error("evidence cannot be written in %s (%s): the card is read-only or failing; evidence "
                              "skipped (%d so far), the events go on without it", self.root, exc.strerror,
                              self._unwritable)
                raise EvidenceSkipped(exc.errno, f"cannot write evidence: {exc.strerror}") from None
            raise
        row = (eid, bay_id, visit_id, kind, iso(now), now.timestamp(), plate, int(protected), files["frame"],
               files["crop"], size, json.dumps(meta or {}, ensure_ascii=False, default=str))
        with self._lock:
            try:
                if self.held:  # rows held for a lock go in first, in order; while it holds, this one joins them
                    self._write_held()
                if self.held:
                    self._hold(row)
                else:
                    self._insert([row], wait=False)
            except sqlite3.Error as exc:
                if is_unavailable(exc):  # another program holds the lock past the wait: held, never swept
                    self._hold(row)
                    self._saved_at[eid] = mono
                    return eid
                if not is_no_space(exc):
                    raise
                # the photo fitted, its row did not: a photo no row names is worth nothing and holds the room
                # the events need (it waited for the hourly sweep, after a traceback on the frame loop)
                for p in written:
                    p.unlink(missing_ok=True)
                self.space.skipped += 1
                if self.space.skipped == 1 or self.space.skipped % 100 == 0:
                    log.error("disk full writing the evidence index (%s): evidence skipped (%d so far)", exc,
                              self.space.skipped)
                raise EvidenceSkipped(errno.ENOSPC, f"disk full writing the evidence index: {exc}") from None
            self._saved_at[eid] = mono
            if kind == SNAPSHOT:
                self._trim_snapshots(eid)
        return eid

    def _insert(self, rows: list[tuple[Any, ...]], wait: bool) -> None:
        """The rows in one transaction, each violation's visit protected with it; ``wait=False``: glance at a lock
        held rows already wait for (``HELD_RETRY_WAIT_S``), not the connection's 5 s."""
        glance = not wait and bool(self.held)
        before = int(self._db.execute("PRAGMA busy_timeout").fetchone()[0]) if glance else 0  # (a photo's row alone:
        if glance:  # no extra query)
            self._db.execute(f"PRAGMA busy_timeout={min(before, int(HELD_RETRY_WAIT_S * 1000))}")
        try:
            with self._transaction():
                self._protect_visits()
                for row in rows:
                    self._db.execute("INSERT OR IGNORE INTO evidence VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
                    if row[3] in PROTECTED_KINDS and row[2] is not None:  # the visit's identifications: the same case
                        self._db.execute(_PROTECT_VISITS + " AND visit_id=?", (*PROTECTED_KINDS, row[2]))
        finally:
            if glance:
                self._db.execute(f"PRAGMA busy_timeout={before}")

    def _hold(self, row: tuple[Any, ...]) -> None:
        """Another program holds the index's lock: the row waits in ``held`` (and its file) for ``write_held``."""
        if not self.held:
            log.error("evidence index %s is locked by another program (a backup, a sqlite3 shell in a transaction): "
                      "photo rows are held in %s and written when it is free; the photos stay", self.db_path,
                      self.held.path)
        gone = self.held.add(row)
        if gone is not None:  # more than HELD_PHOTOS_MAX: the oldest plain photo goes, counted as skipped
            self.space.skipped += 1
            for rel in (gone[8], gone[9]):
                if rel:
                    with contextlib.suppress(OSError):
                        remove_photo(self.root, rel)
            log.error("evidence index still locked: %d photo rows held, the oldest (%s of %s) given up and its photo "
                      "deleted (%d skipped so far)", len(self.held), gone[3], gone[1] or "-", self.space.skipped)

    def write_held(self) -> int:
        """Write the photo rows held for a lock (once a minute from the loop, at start, and before each photo's
        row); returns how many still wait. A glance while the lock holds (``HELD_RETRY_WAIT_S``)."""
        if not self.held:
            return 0
        with self._lock:
            try:
                self._write_held()
            except sqlite3.Error as exc:
                if not (is_unavailable(exc) or is_no_space(exc)):
                    raise
            return len(self.held)

    def _write_held(self) -> None:
        waiting = len(self.held)
        self._insert(list(self.held.rows.values()), wait=False)
        self.held.clear()
        log.warning("evidence index %s: writable again, %d held photo row(s) written", self.db_path, waiting)

    def holds(self, eid: str) -> bool:
        """Photo ``eid``'s row is held for a lock: on disk, not in the index yet (the page says "being written")."""
        return self.held.holds(eid)

    def _make_day(self, day: Path) -> None:
        try:
            day.mkdir()
            fsync_dir(self.root)  # the day's new folder: its name is on the card before the photos in it
        except FileExistsError:
            pass

    def _trim_snapshots(self, newest: str) -> None:
        """Delete the oldest snapshots past their budget (``SNAPSHOT_SHARE`` of ``max_bytes``, at most
        ``SNAPSHOT_KEEP``), never the one just saved: they never grow into the room of other evidence."""
        budget = int(self.max_bytes * SNAPSHOT_SHARE)
        rows = self._db.execute("SELECT id,frame_file,crop_file,bytes FROM evidence WHERE kind=? ORDER BY epoch DESC",
                                (SNAPSHOT,)).fetchall()
        total, over = 0, []
        for i, (eid, frame, crop, size) in enumerate(rows):
            total += size
            if eid != newest and (i >= SNAPSHOT_KEEP or total > budget):
                over.append((eid, frame, crop))
        if over:
            self._delete(over)

    def _free(self) -> int:
        return shutil.disk_usage(self.root).free

    def _make_room(self, need: int, protected: bool, snapshot: bool = False) -> None:
        """Keep ``min_free_bytes`` free after writing ``need`` bytes: prune the oldest evidence
        (snapshots first, then plain; protected only for a protected photo; for a snapshot, older
        snapshots only), else skip this one."""
        if self.min_free_bytes <= 0:
            return
        free = self._free()
        self.space.free_mb = round(free / 1e6, 1)
        if free - need >= self.min_free_bytes:
            if free - need >= self.min_free_bytes * RESTORED_FACTOR:  # hysteresis: one low/restored pair, no flapping
                self.space.low = False
            return
        with self._lock:
            self._fold_wal()  # the index's WAL grows to ~4 MB before SQLite folds it in by itself
            free = self._free()
            if free - need >= self.min_free_bytes:
                return
            was_low, before = self.space.low, self.space.pruned
            self.space.low = True  # evidence has to give way: announced by the runtime
            self._protect_visits()  # a lock kept it out at the start: the ranking comes before any deletion
            # snapshots first; a snapshot takes room from older snapshots only
            rows = self._db.execute(
                "SELECT id,frame_file,crop_file FROM evidence WHERE protected <= ? AND (kind = ? OR ?) "
                "ORDER BY protected, kind <> ?, epoch", (int(protected), SNAPSHOT, int(not snapshot), SNAPSHOT)
            ).fetchall()
            for i, row in enumerate(rows):
                try:
                    self.space.pruned += self._delete([row])
                except sqlite3.Error as exc:  # the row's deletion needs WAL room too: a card kept full by another
                    if not is_no_space(exc):  # writer refuses it — this photo is skipped (below), not a traceback
                        raise  # on the frame loop (probe chaos36)
                    break
                if i % 8 == 7:
                    self._fold_wal()
                free = self._free()
                if free - need >= self.min_free_bytes:
                    break
            self._fold_wal()
            free = self._free()
        # once an episode begins, then every 100 pruned: a card kept full by evidence prunes at every save
        if rows and free - need >= self.min_free_bytes and (not was_low or before // 100 != self.space.pruned // 100):
            log.warning("disk nearly full: pruned the oldest evidence to keep %.1f MB free for events "
                        "(%d pruned so far)", self.min_free_bytes / 1e6, self.space.pruned)
        self.space.free_mb = round(free / 1e6, 1)
        if free - need < self.min_free_bytes:
            self.space.skipped += 1
            if self.space.skipped == 1 or self.space.skipped % 100 == 0:
                log.error("disk nearly full (%.1f MB free, reserve %.1f MB): evidence skipped (%d so far)",
                          free / 1e6, self.min_free_bytes / 1e6, self.space.skipped)
            raise EvidenceSkipped(errno.ENOSPC, f"evidence skipped: {free / 1e6:.1f} MB free, the outbox's "
                                  f"reserve is {self.min_free_bytes / 1e6:.1f} MB")

    def _fold_wal(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:  # best effort: pruning goes on without it
            log.debug("evidence index checkpoint failed: %s", exc)

    def get(self, evidence_id: str) -> EvidenceRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id,bay_id,visit_id,kind,ts,plate,protected,frame_file,crop_file,bytes,meta "
                "FROM evidence WHERE id=?", (evidence_id,)).fetchone()
        if row is None:
            return None
        return EvidenceRecord(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7], row[8], row[9],
                              json.loads(row[10]))

    def for_visit(self, visit_id: str) -> list[EvidenceRecord]:
        with self._lock:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM evidence WHERE visit_id=? ORDER BY epoch", (visit_id,))]
        return [r for r in map(self.get, ids) if r]

    def image_path(self, evidence_id: str, which: str = "frame") -> Path | None:
        if which not in ("frame", "crop"):
            raise ValueError("which must be 'frame' or 'crop'")
        rec = self.get(evidence_id)
        rel = None if rec is None else (rec.frame_file if which == "frame" else rec.crop_file)
        return None if rel is None else self.root / rel

    def read_image(self, evidence_id: str, which: str = "frame") -> bytes | None:
        """The photo's bytes (``read_photo``: never through a link), None when it is gone or not the store's."""
        if which not in ("frame", "crop"):
            raise ValueError("which must be 'frame' or 'crop'")
        rec = self.get(evidence_id)
        rel = None if rec is None else (rec.frame_file if which == "frame" else rec.crop_file)
        return None if rel is None else read_photo(self.root, rel)

    def frame_damaged(self, evidence_id: str) -> bool:
        """Whether the index names a frame for ``evidence_id`` whose file is gone or not whole (``photo_is_whole``)."""
        rec = self.get(evidence_id)
        return rec is not None and rec.frame_file is not None and not photo_is_whole(self.root, rec.frame_file)

    def total_bytes(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(bytes),0) FROM evidence").fetchone()[0])

    def sweep_orphans(self, min_age_s: float = ORPHAN_AGE_S) -> int:
        """Delete photo files (and ``.tmp`` leftovers) no index row names, untouched for ``min_age_s``.

        A crash between a photo's write and its row leaves such a file; nothing else would ever
        delete it, and ``max_mb`` does not count it. The age spares a save in flight in another
        process (``review`` opens the same store); the writer's photo in flight is asked about (``holds``)."""
        cutoff = time.time() - min_age_s  # file times are the filesystem's wall clock
        removed = 0
        writer = self.writer
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT id FROM evidence")}
            for p in self.root.glob("*/*"):
                m = _PHOTO.fullmatch(p.name) or _PHOTO.fullmatch(p.name.removesuffix(".tmp") + ".jpg")
                if m is None or (p.suffix == ".jpg" and m.group(1) in known):
                    continue
                # the writer's photo between its files and its row: a clock stepped forward makes its files look an
                # hour old, and deleted here, the row the writer then adds named a photo not on disk
                if writer is not None and writer.holds(m.group(1)):
                    continue
                # nor one whose row waits for another program's lock (``held_rows.py``): until 2026-12-06 it went an
                # hour after a backup's lock kept its row out, a violation's photo its event named with it
                if self.held.holds(m.group(1)):
                    continue
                try:
                    if p.is_file() and p.stat().st_mtime < cutoff:
                        p.unlink()
                        removed += 1
                except OSError:
                    continue  # retried at the next pass
        if removed:
            log.warning("removed %d evidence file(s) no index row names (left by a crash or power cut)", removed)
        self._remove_empty_days(cutoff)
        return removed

    def _remove_empty_days(self, cutoff: float) -> None:
        """Remove the day folders retention has emptied: one a day stayed for ever (a folder costs a block on
        the card, and every hourly sweep lists them all). Only an empty folder whose last change is older than
        ``cutoff``: a save in flight has just made or written in its folder, and the writer makes it again if it
        went between its mkdir and the photo (a clock stepped forward). The folder's name is not compared with the
        store's today: a ``site.timezone`` moved west (Asia/Shanghai to UTC) names today the folder the old zone
        named after the next midnight, and that guard kept it, emptied, for up to the offsets' difference (26 h
        from UTC+14 to UTC-12). The photos in a folder go by their own recorded time (the index's ``epoch``),
        never by the folder's name, so no zone change takes one early, and ``rmdir`` removes only empty ones."""
        for d in self.root.iterdir():
            if not _DAY.fullmatch(d.name):
                continue
            try:
                if d.is_dir() and d.stat().st_mtime < cutoff:
                    d.rmdir()  # refused unless empty
            except OSError:
                continue

    def enforce_retention(self, limit: int = RETENTION_BATCH) -> int:
        """Delete evidence older than ``max_age_days`` (except an undecided violation's, or one expired less than
        ``max_age_days`` ago), then the
        oldest (unprotected first) until the total fits ``max_bytes``. Returns how many records went.

        At most ``limit`` records a call, in one transaction: the frame loop runs this, and a backlog
        (an agent switched off for weeks, a lowered ``max_mb`` or ``max_age_days``) deleted in one go
        held the loop for 22 s per 10,000 photos here, nearly all of it in ``unlink`` (the watchdog's
        limit is 30 s). ``behind`` says that more is due: the caller comes back soon, not in an hour.

        Age is the wall clock's, which NTP steps: a Pi boots with its clock behind (1970, or when
        it was switched off) and jumps forward at sync, or a wrong clock runs ahead for a while.
        Records this process saved are also timed on the monotonic clock and none goes by age
        before ``max_age_days`` have really passed, so a step forward cannot take photos of minutes
        ago. A step backwards only keeps evidence longer."""
        max_age_s = self.max_age_days * 86400
        cutoff = self._age.now() - max_age_s
        mono = self.clock.monotonic()
        removed, self.behind = 0, False
        with self._lock:
            self._protect_visits()  # a lock kept it out at the start: the ranking comes before any deletion
            self._saved_at = {k: t for k, t in self._saved_at.items() if mono - t < max_age_s}
            held = self._undecided(cutoff)
            old: list[tuple[str, str | None, str | None]] = []
            cur = self._db.execute(
                "SELECT id,frame_file,crop_file,visit_id,kind FROM evidence WHERE epoch < ? ORDER BY epoch", (cutoff,))
            for eid, frame, crop, visit, kind in cur:
                # a snapshot is no part of the case (``_PROTECT_VISITS``): one of a bay taken during a violating
                # visit was kept, the whole view with it, for as long as nobody decided the violation
                if eid in self._saved_at or eid in held or (visit in held and kind != SNAPSHOT):
                    continue
                if len(old) >= limit:
                    self.behind = True
                    break
                old.append((eid, frame, crop))
            cur.close()
            removed += self._delete(old)
            total = int(self._db.execute("SELECT COALESCE(SUM(bytes),0) FROM evidence").fetchone()[0])
            room = limit - len(old)
            if total > self.max_bytes and room <= 0:
                self.behind = True
            elif total > self.max_bytes:
                rows = self._db.execute(  # snapshots first, then plain identifications, then violations
                    "SELECT id,frame_file,crop_file,bytes FROM evidence ORDER BY protected, kind <> ?, epoch LIMIT ?",
                    (SNAPSHOT, room)).fetchall()
                over, excess = [], total - self.max_bytes
                for r in rows:  # the fewest that bring the total under the cap, deleted in one commit
                    if excess <= 0:
                        break
                    over.append(r[:3])
                    excess -= r[3]
                removed += self._delete(over)
                # measured again: one that cannot be deleted keeps its row and does not count as freed
                total = int(self._db.execute("SELECT COALESCE(SUM(bytes),0) FROM evidence").fetchone()[0])
                self.behind = total > self.max_bytes and len(rows) == room
        self.behind = self.behind and removed > 0  # a batch of photos it cannot delete waits an hour, as before
        self._age.keep()  # the time measured, for the next start's bound (``age.py``)
        return removed

    def age_now(self) -> float:
        """The time retention measures age against (``age.py``: a synchronised clock's, else no later than the records
        allow). Why: the damaged copies set aside and the older ``events.jsonl`` name plates too; aged by the raw
        clock, a restart 40 days ahead and unsynced deleted what this store keeps (note45, "left alone")."""
        return self._age.now()

    def _newest_epoch(self) -> float | None:
        """The newest record's time or the time an earlier run's retention measured, whichever is later."""
        return newest_epoch(self._db, "SELECT MAX(epoch) FROM evidence", AGE_MARK)

    def _keep_age(self, epoch: float, synced: bool, first: bool) -> None:
        with self._lock:
            keep_mark(self._db, AGE_MARK, epoch, synced, first)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One commit for a batch of deletions' rows, not one per photo (the connection autocommits)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled it back itself (a full disk)
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _undecided(self, cutoff: float) -> set[str]:
        """Evidence ids and visit ids of violations still open on the review page (the violation log
        shares this database; without it, none). Their photos are the case a property manager has not
        judged yet: the calendar does not take them, only ``max_mb`` and a full disk do. So are those of
        a violation retention closed as ``expired`` (``ViolationLog.expire_open``) after ``cutoff`` (epoch):
        the expiry goes by the wall clock, and one a clock run ahead made must not take the photos with it
        (the reviewer reopens the case); they go ``max_age_days`` after it."""
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='violations'").fetchone() is None:
            return set()
        rows = self._db.execute(  # julianday reads the ISO time with its offset; NULL (unreadable) holds nothing
            "SELECT evidence_id, end_evidence_id, visit_id FROM violations WHERE decision='open' OR (decision="
            "'expired' AND (julianday(decided_at) - 2440587.5) * 86400.0 >= ?)", (cutoff,)).fetchall()
        return {v for r in rows for v in r if v}

    def _delete(self, rows: list) -> int:
        """Delete records ``(id, frame_file, crop_file)``: their rows first, in one commit, then their files;
        returns how many went. Why this order: the two cannot be one atomic step, and with the files first a
        process killed (or a power cut) before the commit left rows naming photos no longer on disk — the review
        page showed a broken picture; now a crash leaves files no row names, which ``sweep_orphans`` deletes.
        A photo that cannot be deleted (read-only folder, wrong owner) gets its row back, so the next pass tries
        again: it must not stop the frame loop, which runs retention, on every start."""
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        saved = {r[0]: r for r in self._db.execute(f"SELECT * FROM evidence WHERE id IN ({marks})", ids)}
        with self._transaction():
            self._db.execute(f"DELETE FROM evidence WHERE id IN ({marks})", ids)
        removed = 0
        for eid, frame, crop in rows:
            try:
                for rel in (frame, crop):
                    if rel:
                        (self.root / rel).unlink(missing_ok=True)
            except OSError as exc:
                self.undeletable += 1
                if self.undeletable == 1 or self.undeletable % 100 == 0:
                    log.error("evidence %s cannot be deleted (%s): kept, retried at the next retention "
                              "(%d such so far)", eid, exc, self.undeletable)
                if eid in saved:
                    self._db.execute(f"INSERT OR IGNORE INTO evidence VALUES ({','.join('?' * len(saved[eid]))})",
                                     saved[eid])
                continue
            removed += 1
        return removed
